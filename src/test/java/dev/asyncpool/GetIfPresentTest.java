package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** {@link Pool#getIfPresent} and {@link Pool#keys()}: looking without creating. */
class GetIfPresentTest extends PoolTestSupport {

  @Test
  void answersNullForAColdKeyAndNeverCreates() {
    newPool(Duration.ofSeconds(10));
    try (Lease<TestResource> lease = pool.getIfPresent("cold")) {
      assertThat(lease).isNull(); // and try-with-resources skips the null
    }
    assertThat(factory.created).isEmpty();
    assertThat(pool.keys()).isEmpty();
  }

  @Test
  void leasesTheOpenInstanceAndTheLeaseHoldsItPastItsTtl() {
    newPool(Duration.ofSeconds(10));
    TestResource open = lease("k");
    Lease<TestResource> lease = pool.getIfPresent("k");
    assertThat(lease).isNotNull();
    assertThat(lease.get()).isSameAs(open);
    scheduler.advance(Duration.ofSeconds(30));
    assertThat(open.closes).as("never closed while leased").hasValue(0);
    lease.close();
    scheduler.advance(Duration.ofSeconds(11));
    assertThat(open.closes).hasValue(1);
    assertThat(pool.getIfPresent("k")).as("expired: gone").isNull();
    assertThat(factory.created).hasSize(1);
  }

  @Test
  void aCreationInProgressIsNotPresent() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    pool = settings().ttl(Duration.ofSeconds(10)).build(prepared(r -> r.onOpen = () -> open));
    CompletableFuture<Lease<TestResource>> waiting = pool.acquire("k");
    assertThat(pool.getIfPresent("k")).isNull();
    assertThat(pool.keys()).as("not open yet").isEmpty();
    open.complete(null);
    waiting.join().close();
    try (Lease<TestResource> lease = pool.getIfPresent("k")) {
      assertThat(lease).isNotNull();
    }
    assertThat(factory.created).hasSize(1);
  }

  @Test
  void keysListsOpenInstancesOnlyAsAnUnmodifiableSnapshot() {
    newPool(Duration.ofSeconds(10));
    lease("a");
    Lease<TestResource> held = pool.get("b");
    lease("c");
    pool.invalidate("c");
    var keys = pool.keys();
    assertThat(keys).containsExactlyInAnyOrder("a", "b");
    assertThatThrownBy(() -> keys.add("d")).isInstanceOf(UnsupportedOperationException.class);
    pool.invalidate("b"); // retired, still leased: no longer a key with an instance to lease
    assertThat(pool.keys()).containsExactly("a");
    assertThat(keys).as("a snapshot").containsExactlyInAnyOrder("a", "b");
    held.close();
  }

  @Test
  void invalidatedAndClosedPoolsHaveNothingPresent() {
    newPool(Duration.ofSeconds(10));
    lease("k");
    pool.invalidate("k");
    assertThat(pool.getIfPresent("k")).isNull();
    lease("k");
    pool.close();
    assertThat(pool.getIfPresent("k")).isNull();
    assertThat(pool.keys()).isEmpty();
    assertThatThrownBy(() -> pool.getIfPresent(null)).hasMessage("key");
  }
}
