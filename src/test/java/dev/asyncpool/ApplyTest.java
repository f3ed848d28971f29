package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** {@link Pool#apply}: a lease without the lease object, released when the action ends. */
class ApplyTest extends PoolTestSupport {

  @Test
  void appliesTheActionToTheSharedInstanceAndReturnsItsResult() {
    newPool(Duration.ofSeconds(10));
    TestResource viaGet = lease("k");
    AtomicReference<TestResource> seen = new AtomicReference<>();
    String result =
        pool.apply(
            "k",
            r -> {
              seen.set(r);
              return "applied to " + r.key;
            });
    assertThat(result).isEqualTo("applied to k");
    assertThat(seen.get()).isSameAs(viaGet);
    assertThat(factory.created).hasSize(1);
  }

  @Test
  void createsAColdKeyAndCountsAMiss() {
    pool = settings().ttl(Duration.ofSeconds(10)).recordStats().build(factory);
    TestResource created = pool.apply("cold", r -> r);
    assertThat(created.opens).hasValue(1);
    TestResource again = pool.apply("cold", r -> r);
    assertThat(again).isSameAs(created);
    assertThat(pool.stats())
        .extracting(PoolStats::misses, PoolStats::hits)
        .containsExactly(1L, 1L);
  }

  @Test
  void holdsTheInstanceWhileTheActionRunsAndReleasesItAfter() {
    newPool(Duration.ZERO); // closes at the last release
    TestResource resource =
        pool.apply(
            "k",
            r -> {
              assertThat(r.closes).as("leased while the action runs").hasValue(0);
              return r;
            });
    assertThat(resource.closes).as("released when the action returned").hasValue(1);
  }

  @Test
  void ttlCountsFromTheActionsEnd() {
    newPool(Duration.ofSeconds(10));
    TestResource resource = lease("k"); // queued at t=0, precise stamp
    scheduler.advance(Duration.ofSeconds(1));
    pool.apply(
        "k",
        r -> {
          scheduler.advance(Duration.ofSeconds(30)); // held through three TTLs
          return r;
        });
    assertThat(resource.closes).as("leased the whole time").hasValue(0);
    scheduler.advance(Duration.ofSeconds(10).minusMillis(1));
    assertThat(resource.closes).as("never before the TTL since the action ended").hasValue(0);
    scheduler.advance(Duration.ofMillis(1).plus(LeaseAndTtlTest.mostLate(Duration.ofSeconds(10))));
    assertThat(resource.closes).hasValue(1);
  }

  @Test
  void releasesOnceAndRethrowsWhenTheActionThrows() {
    newPool(Duration.ZERO);
    AtomicReference<TestResource> seen = new AtomicReference<>();
    IllegalArgumentException boom = new IllegalArgumentException("boom");
    assertThatThrownBy(
            () ->
                pool.apply(
                    "k",
                    r -> {
                      seen.set(r);
                      throw boom;
                    }))
        .isSameAs(boom);
    assertThat(seen.get().closes).as("released (TTL zero: closed)").hasValue(1);
    // The count is right: a new apply creates a new instance and closes it once.
    TestResource next = pool.apply("k", r -> r);
    assertThat(next).isNotSameAs(seen.get());
    assertThat(next.closes).hasValue(1);
    assertThat(seen.get().closes).hasValue(1);
  }

  @Test
  void aFailingOpenReachesTheCallerAndIsNotRemembered() {
    AtomicReference<RuntimeException> openFailure =
        new AtomicReference<>(new IllegalStateException("open failed"));
    pool =
        settings()
            .build(prepared(
                    r -> {
                      RuntimeException failure = openFailure.get();
                      if (failure != null) {
                        r.onOpen = () -> CompletableFuture.failedFuture(failure);
                      }
                    }));
    assertThatThrownBy(() -> pool.apply("k", r -> r)).hasMessage("open failed");
    openFailure.set(null);
    String key = pool.apply("k", r -> String.valueOf(r.key));
    assertThat(key).isEqualTo("k");
    assertThat(factory.created).hasSize(2);
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG test-pool: creating the instance for key k failed | IllegalStateException");
  }

  @Test
  void badInputAndAClosedPool() {
    newPool(Duration.ofSeconds(10));
    assertThatThrownBy(() -> pool.apply(null, r -> r))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("key");
    assertThatThrownBy(() -> pool.apply("k", null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("action");
    pool.close();
    assertThatThrownBy(() -> pool.apply("k", r -> r))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
  }
}
