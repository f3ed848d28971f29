package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * {@link PoolBuilder#maxInstances}, {@link PoolBuilder#maxWeight} and {@link
 * PoolBuilder#maxConcurrentCreations}: what exists stays under the bound, an idle instance makes
 * room, a leased one never does, and waiting requests get room in arrival order or fail in time.
 */
class BoundedPoolTest extends PoolTestSupport {

  private final List<String> events = new ArrayList<>();

  private final PoolListener<String, TestResource> evictions =
      new PoolListener<>() {
        @Override
        public void onEvicted(String key, TestResource resource) {
          events.add("evicted " + key);
        }
      };

  private Pool<String, TestResource> bounded(int max) {
    pool =
        settings()
            .ttl(Duration.ofSeconds(60))
            .maxInstances(max)
            .acquireTimeout(Duration.ofSeconds(5))
            .listener(evictions)
            .build(this::counted);
    return pool;
  }

  @Test
  void atTheBoundTheLeastRecentlyReleasedIdleInstanceIsEvicted() {
    bounded(2);
    TestResource a = lease("a");
    scheduler.advance(Duration.ofSeconds(1));
    TestResource b = lease("b");
    scheduler.advance(Duration.ofSeconds(1));
    lease("a"); // a is now released after b: b is the least recently released
    CompletableFuture<Lease<TestResource>> c = pool.acquire("c");
    scheduler.runDue(); // the expiry task evicts
    assertThat(c).isCompleted();
    assertThat(b.closes).as("b, the least recently released, made room").hasValue(1);
    assertThat(a.closes).hasValue(0);
    assertThat(events).containsExactly("evicted b");
    assertThat(pool.stats().evictions()).isEqualTo(1);
    assertThat(mostExisting).as("never above the bound").hasValue(2);
    c.join().close();
  }

  @Test
  void whenEverythingIsLeasedARequestWaitsForAReleaseThenEvicts() {
    bounded(1);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    scheduler.runDue();
    assertThat(b).as("a is leased: never closed to make room").isNotDone();
    assertThat(a.get().closes).hasValue(0);
    assertThat(pool.stats().waiting()).isEqualTo(1);
    a.close();
    scheduler.runDue();
    assertThat(b).isCompleted();
    assertThat(factory.createdFor("b")).isEqualTo(1);
    assertThat(mostExisting).hasValue(1);
    assertThat(pool.stats().waiting()).isZero();
    b.join().close();
  }

  @Test
  void aRequestForAnOpenInstanceNeverWaitsForRoom() {
    bounded(1);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    try (Lease<TestResource> again = pool.get("a")) {
      assertThat(again.get()).isSameAs(a.get());
    }
    assertThat(b).isNotDone();
    a.close();
  }

  @Test
  void pastTheAcquireTimeoutTheWaiterFailsNamingTheBound() {
    bounded(1);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    scheduler.advance(Duration.ofSeconds(5));
    assertThat(b).isCompletedExceptionally();
    assertThatThrownBy(b::join)
        .cause()
        .isInstanceOf(PoolExhaustedException.class)
        .hasMessageContaining("test-pool")
        .hasMessageContaining("maxInstances 1")
        .hasMessageContaining("1 waiting")
        .hasMessageContaining("PT5S");
    assertThat(factory.createdFor("b")).isZero();
    assertThat(pool.stats().waiting()).isZero();
    a.close();
    // The key is free again, and the bound counted nothing for the failed request.
    CompletableFuture<Lease<TestResource>> again = pool.acquire("b");
    scheduler.runDue();
    assertThat(again).isCompleted();
    again.join().close();
  }

  @Test
  void aZeroAcquireTimeoutFailsAtOnceWhenNothingCanBeEvicted() {
    pool =
        settings()
            .maxInstances(1)
            .acquireTimeout(Duration.ZERO)
            .build(this::counted);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    scheduler.runDue();
    assertThatThrownBy(b::join).cause().isInstanceOf(PoolExhaustedException.class);
    a.close();
    // With a idle now, a zero timeout still evicts it: only a wait for a lease is refused.
    CompletableFuture<Lease<TestResource>> c = pool.acquire("c");
    scheduler.runDue();
    try (Lease<TestResource> lease = c.join()) {
      assertThat(lease.get().key).isEqualTo("c");
    }
  }

  @Test
  void aKeyHeavierThanTheBoundFailsAtOnceAndANegativeWeightFailsItsRequest() {
    pool =
        settings()
            .weigher((String key) -> key.equals("neg") ? -1 : key.length())
            .maxWeight(4)
            .build(this::counted);
    assertThatThrownBy(() -> pool.get("heavy"))
        .isInstanceOf(PoolExhaustedException.class)
        .hasMessageContaining("weight 5")
        .hasMessageContaining("maxWeight 4");
    assertThatThrownBy(() -> pool.get("neg"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("-1")
        .hasMessageContaining("neg");
    try (Lease<TestResource> ok = pool.get("four")) {
      assertThat(ok.get().key).isEqualTo("four");
      assertThat(pool.stats().weightInUse()).isEqualTo(4);
    }
    assertThat(factory.created).extracting(r -> r.key).containsExactly("four");
  }

  @Test
  void weightsAddUpAgainstMaxWeight() {
    pool =
        settings()
            .weigher((String key) -> key.length())
            .maxWeight(5)
            .acquireTimeout(Duration.ofSeconds(5))
            .build(this::counted);
    Lease<TestResource> ab = pool.get("ab");
    Lease<TestResource> cde = pool.get("cde");
    CompletableFuture<Lease<TestResource>> f = pool.acquire("f");
    scheduler.runDue();
    assertThat(f).as("2 + 3 + 1 > 5").isNotDone();
    ab.close();
    scheduler.runDue();
    assertThat(f).isCompleted();
    assertThat(pool.stats().weightInUse()).isEqualTo(4);
    cde.close();
    f.join().close();
  }

  @Test
  void anInvalidatedLeasedInstanceCountsUntilItsCloseEnds() {
    bounded(1);
    Lease<TestResource> a = pool.get("a");
    pool.invalidate("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    scheduler.runDue();
    assertThat(b).as("a still exists: leased").isNotDone();
    a.close();
    scheduler.runDue();
    assertThat(b).isCompleted();
    assertThat(mostExisting).hasValue(1);
    b.join().close();
  }

  @Test
  void aCancelledAcquireGivesUpItsPlace() {
    bounded(1);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    assertThat(pool.stats().waiting()).isEqualTo(1);
    b.cancel(false);
    assertThat(pool.stats().waiting()).as("its only requester left").isZero();
    a.close();
    scheduler.advance(Duration.ofSeconds(10));
    assertThat(factory.createdFor("b")).as("nobody wanted it any more").isZero();
    assertThat(pool.stats().live()).isEqualTo(1);
    assertThatThrownBy(b::join).isInstanceOf(CancellationException.class);
  }

  @Test
  void aPlaceIsKeptWhileAnotherRequesterOfTheKeyStillWaits() {
    bounded(1);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b1 = pool.acquire("b");
    CompletableFuture<Lease<TestResource>> b2 = pool.acquire("b");
    assertThat(pool.stats().waiting()).as("one place per key").isEqualTo(1);
    b1.cancel(false);
    a.close();
    scheduler.runDue();
    assertThat(b2).isCompleted();
    assertThat(factory.createdFor("b")).isEqualTo(1);
    b2.join().close();
  }

  @Test
  void waitersGetRoomInArrivalOrder() {
    bounded(1);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    CompletableFuture<Lease<TestResource>> c = pool.acquire("c");
    assertThat(pool.stats().waiting()).isEqualTo(2);
    a.close();
    scheduler.runDue();
    assertThat(b).isCompleted();
    assertThat(c).isNotDone();
    b.join().close();
    scheduler.runDue();
    assertThat(c).isCompleted();
    c.join().close();
  }

  @Test
  void shutdownFailsEveryWaiterAtOnce() {
    bounded(1);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    CompletableFuture<Void> closed = pool.closeAsync();
    assertThatThrownBy(b::join)
        .isInstanceOf(CompletionException.class)
        .cause()
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
    assertThat(closed).isNotDone();
    a.close();
    assertThat(closed).isCompleted();
    assertThat(factory.createdFor("b")).isZero();
  }

  @Test
  void maxConcurrentCreationsQueuesCreationsInArrivalOrder() {
    CompletableFuture<Void> openA = new CompletableFuture<>();
    CompletableFuture<Void> openB = new CompletableFuture<>();
    pool =
        settings()
            .maxConcurrentCreations(1)
            .build(
                prepared(
                    r -> r.onOpen = () -> r.key.equals("a") ? openA : r.key.equals("b") ? openB
                        : CompletableFuture.completedFuture(null)));
    CompletableFuture<Lease<TestResource>> a = pool.acquire("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    CompletableFuture<Lease<TestResource>> c = pool.acquire("c");
    assertThat(factory.created).extracting(r -> r.key).containsExactly("a");
    assertThat(pool.stats().waiting()).isEqualTo(2);
    openA.complete(null);
    assertThat(factory.created).extracting(r -> r.key).containsExactly("a", "b");
    openB.completeExceptionally(new IllegalStateException("b's open failed"));
    assertThat(factory.created).extracting(r -> r.key).containsExactly("a", "b", "c");
    assertThat(a).isCompleted();
    assertThat(b).isCompletedExceptionally();
    assertThat(c).isCompleted();
    a.join().close();
    c.join().close();
  }

  @Test
  void aCloseThatTimesOutStopsCountingAtItsTimeout() {
    CompletableFuture<Void> neverCloses = new CompletableFuture<>();
    pool =
        settings()
            .maxInstances(1)
            .closeTimeout(Duration.ofSeconds(3))
            .acquireTimeout(Duration.ofSeconds(30))
            .build(prepared(r -> r.onClose = () -> neverCloses));
    lease("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    scheduler.runDue(); // a evicted; its close hangs
    assertThat(b).isNotDone();
    scheduler.advance(Duration.ofSeconds(3));
    assertThat(b).as("a stopped counting at its close timeout").isCompleted();
    b.join().close();
  }

  @Test
  void theBuilderChecksTheBoundsSettings() {
    assertThatThrownBy(() -> Pool.newBuilder().maxInstances(2).maxWeight(3))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("exclude each other");
    assertThatThrownBy(() -> Pool.newBuilder().maxWeight(3).build(TestResource::new))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("needs a weigher");
    assertThatThrownBy(
            () -> Pool.newBuilder().weigher((String k) -> 1).build(TestResource::new))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("needs maxWeight");
    assertThatThrownBy(() -> Pool.newBuilder().maxInstances(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxInstances must be positive: 0");
    assertThatThrownBy(() -> Pool.newBuilder().acquireTimeout(Duration.ofSeconds(-1)))
        .hasMessage("acquireTimeout must not be negative: PT-1S");
    assertThatThrownBy(() -> Pool.newBuilder().maxConcurrentCreations(-2))
        .hasMessage("maxConcurrentCreations must be positive: -2");
  }
}
