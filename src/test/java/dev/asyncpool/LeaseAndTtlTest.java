package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Semantics 1 and 3: memoization by key, ref-counted leases, TTL from the last release. */
class LeaseAndTtlTest extends PoolTestSupport {

  /** The seed's example, step by step. */
  @Test
  void seedExample() {
    newPool(Duration.ofSeconds(5));
    TestResource first;
    try (Lease<TestResource> lease = pool.get("hello, world")) {
      first = lease.get();
      assertThat(first.key).isEqualTo("hello, world");
    }
    assertThat(first.closes).hasValue(0);
    TestResource second = lease("hello, world");
    assertThat(second).isSameAs(first);

    scheduler.advance(Duration.ofSeconds(10));

    TestResource third = lease("hello, world");
    assertThat(third).isNotSameAs(first);
    assertThat(first.closes).hasValue(1);
    assertThat(first.opens).hasValue(1);

    pool.close();
    assertThat(third.closes).hasValue(1);
  }

  record CollidingKey(String name) {
    @Override
    public int hashCode() {
      return 42;
    }
  }

  @Test
  void keysWithEqualHashesAreDifferentInstances() {
    Pool<CollidingKey, TestResource> colliding =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .build(factory);
    try (Lease<TestResource> a = colliding.get(new CollidingKey("a"));
        Lease<TestResource> b = colliding.get(new CollidingKey("b"));
        Lease<TestResource> a2 = colliding.get(new CollidingKey("a"))) {
      assertThat(a.get()).isNotSameAs(b.get());
      assertThat(a2.get()).isSameAs(a.get());
      assertThat(a.get().key).isEqualTo(new CollidingKey("a"));
      assertThat(b.get().key).isEqualTo(new CollidingKey("b"));
    }
    assertThat(factory.created).hasSize(2);
    colliding.close();
  }

  @Test
  void neverClosedWhileLeasedAndTtlCountsFromLastRelease() {
    newPool(Duration.ofSeconds(10));
    Lease<TestResource> held = pool.get("k");
    TestResource resource = held.get();
    Lease<TestResource> other = pool.get("k");
    other.close();

    scheduler.advance(Duration.ofHours(1));
    assertThat(resource.closes).as("leased, however long").hasValue(0);

    held.close(); // last release: the TTL starts here
    scheduler.advance(Duration.ofSeconds(9));
    assertThat(resource.closes).hasValue(0);
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(resource.closes).hasValue(1);
  }

  @Test
  void releaseInTheMiddleOfTheTtlRestartsIt() {
    newPool(Duration.ofSeconds(10));
    TestResource resource = lease("k"); // idle from t=0, queued
    scheduler.advance(Duration.ofSeconds(5));
    assertThat(lease("k")).isSameAs(resource); // idle again from t=5
    scheduler.advance(Duration.ofSeconds(5)); // t=10: 10 s after the first release, 5 after last
    assertThat(resource.closes).hasValue(0);
    scheduler.advance(Duration.ofMillis(4_999));
    assertThat(resource.closes).as("never before the TTL").hasValue(0);
    scheduler.advance(Duration.ofMillis(1).plus(mostLate(Duration.ofSeconds(10))));
    assertThat(resource.closes).hasValue(1);
  }

  /**
   * How late an entry released while the expiry task owns it may close: it is stamped with the
   * task's epoch rather than the clock (see KeyedPool's "Idle stamps"), so up to one epoch, a 64th
   * of the TTL but at least 1 ms, plus the task's 1 ms batching.
   */
  static Duration mostLate(Duration ttl) {
    Duration epoch = ttl.dividedBy(Epochs.EPOCHS_PER_TTL);
    Duration atLeast = Duration.ofMillis(1);
    return (epoch.compareTo(atLeast) < 0 ? atLeast : epoch).plusMillis(1);
  }

  @Test
  void epochStampedReleaseIsNeverEarlyAndAtMostAnEpochLate() {
    Duration ttl = Duration.ofSeconds(64); // epochs of 1 s
    newPool(ttl);
    TestResource resource = lease("k"); // t=0: queued, the task owns it from now on
    scheduler.advance(Duration.ofMillis(10_500));
    assertThat(lease("k")).isSameAs(resource); // t=10.5, mid-epoch: idle again from here
    scheduler.advance(ttl.minusMillis(1)); // t=74.499
    assertThat(resource.closes).as("never before the TTL").hasValue(0);
    scheduler.advance(Duration.ofMillis(1).plus(mostLate(ttl)));
    assertThat(resource.closes).hasValue(1);
  }

  @Test
  void epochStampIsNeverEarlyWhenTheExpiryTaskRunsLate() {
    Duration ttl = Duration.ofSeconds(10);
    newPool(ttl);
    TestResource resource = lease("k"); // t=0: queued
    scheduler.advance(Duration.ofSeconds(1)); // the task has started a few epochs
    // The clock jumps 5 s while the task is held up: no epoch starts meanwhile, so the release
    // below carries an epoch that began 5 s before it. Its bound is the task's next clock read.
    ticker.advance(Duration.ofSeconds(5));
    assertThat(lease("k")).isSameAs(resource); // t=6
    scheduler.advance(ttl.minusMillis(1)); // t=15.999
    assertThat(resource.closes).as("never before the TTL").hasValue(0);
    scheduler.advance(Duration.ofMillis(1).plus(mostLate(ttl)));
    assertThat(resource.closes).hasValue(1);
  }

  @Test
  void aTouchedEntryDoesNotDelayTheOnesBehindIt() {
    newPool(Duration.ofSeconds(10));
    TestResource a = lease("a"); // queued first, t=0
    scheduler.advance(Duration.ofSeconds(1));
    TestResource b = lease("b"); // queued second, t=1
    scheduler.advance(Duration.ofSeconds(1));
    lease("a"); // a touched at t=2: due at 12, but still ahead of b in the queue
    scheduler.advance(Duration.ofSeconds(9)); // t=11: b is due, a is not
    assertThat(b.closes).hasValue(1);
    assertThat(a.closes).hasValue(0);
    scheduler.advance(Duration.ofMillis(999)); // t=11.999
    assertThat(a.closes).hasValue(0);
    scheduler.advance(Duration.ofMillis(1).plus(mostLate(Duration.ofSeconds(10))));
    assertThat(a.closes).hasValue(1);
  }

  @Test
  void entryLeasedWhenTheReaperLooksIsDroppedAndRequeuedOnRelease() {
    newPool(Duration.ofSeconds(10));
    TestResource resource = lease("k");
    Lease<TestResource> held = pool.get("k");
    scheduler.advance(Duration.ofSeconds(30)); // reaper sees it busy and lets go of it
    assertThat(resource.closes).hasValue(0);
    held.close();
    scheduler.advance(Duration.ofSeconds(10));
    assertThat(resource.closes).hasValue(1);
  }

  @Test
  void zeroTtlClosesAtLastRelease() {
    newPool(Duration.ZERO);
    Lease<TestResource> first = pool.get("k");
    Lease<TestResource> second = pool.get("k");
    TestResource resource = first.get();
    first.close();
    assertThat(resource.closes).hasValue(0);
    second.close();
    assertThat(resource.closes).hasValue(1);
    assertThat(lease("k")).isNotSameAs(resource);
    assertThat(pool.stats().expirations()).isEqualTo(2);
  }

  @Test
  void hugeTtlNeverExpiresAndSchedulesNothing() {
    pool = settings().ttl(Duration.ofSeconds(Long.MAX_VALUE)).build(factory);
    TestResource resource = lease("k");
    scheduler.advance(Duration.ofDays(365 * 100));
    assertThat(resource.closes).hasValue(0);
    assertThat(lease("k")).isSameAs(resource);
    assertThat(scheduler.pending()).isZero();
  }

  @Test
  void leaseClosedTwiceReleasesOnce() {
    newPool(Duration.ZERO);
    Lease<TestResource> first = pool.get("k");
    Lease<TestResource> second = pool.get("k");
    TestResource resource = first.get();
    first.close();
    first.close();
    assertThat(resource.closes).as("second lease still open").hasValue(0);
    second.close();
    assertThat(resource.closes).hasValue(1);
  }

  @Test
  void leaseGetAfterCloseThrows() {
    newPool(Duration.ofSeconds(1));
    Lease<TestResource> lease = pool.get("k");
    lease.close();
    assertThatThrownBy(lease::get)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("key k");
  }

  @Test
  void neverHandedOutOnceItsCloseBegan() {
    newPool(Duration.ofSeconds(1));
    TestResource resource = lease("k");
    // The close is in progress (its stage never completes here).
    resource.onClose = java.util.concurrent.CompletableFuture::new;
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(resource.closes).hasValue(1);
    TestResource next = lease("k");
    assertThat(next).isNotSameAs(resource);
  }

  @Test
  void invalidateRetiresNowOrAtLastRelease() {
    newPool(Duration.ofMinutes(1));
    TestResource idle = lease("idle");
    assertThat(pool.invalidate("idle")).isTrue();
    assertThat(idle.closes).hasValue(1);
    assertThat(pool.invalidate("idle")).isFalse();

    Lease<TestResource> held = pool.get("held");
    TestResource leased = held.get();
    assertThat(pool.invalidate("held")).isTrue();
    assertThat(leased.closes).as("still leased").hasValue(0);
    TestResource fresh = lease("held");
    assertThat(fresh).isNotSameAs(leased);
    held.close();
    assertThat(leased.closes).hasValue(1);
    assertThat(fresh.closes).hasValue(0);
    assertThat(pool.stats().invalidations()).isEqualTo(2);
  }

  @Test
  void factoryMayUseThePoolForAnotherKey() {
    ConcurrentHashMap<String, Integer> depth = new ConcurrentHashMap<>();
    AtomicInteger made = new AtomicInteger();
    Pool<String, TestResource>[] holder = newPoolArray();
    holder[0] =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .build(key -> {
                  made.incrementAndGet();
                  if (key.startsWith("outer")) {
                    try (Lease<TestResource> inner = holder[0].get("inner-" + key)) {
                      depth.put(key, inner.get().key.toString().length());
                    }
                  }
                  return new TestResource(key);
                });
    pool = holder[0];
    assertThat(lease("outer-1").key).isEqualTo("outer-1");
    assertThat(pool.acquire("outer-2").join().get().key).isEqualTo("outer-2");
    assertThat(made).hasValue(4);
  }

  @Test
  void factoryAskingForItsOwnKeyFailsClearly() {
    Pool<String, TestResource>[] holder = newPoolArray();
    holder[0] =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .build(key -> {
                  try (Lease<TestResource> self = holder[0].get(key)) {
                    return self.get();
                  }
                });
    pool = holder[0];
    assertThatThrownBy(() -> pool.get("loop"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("loop")
        .hasMessageContaining("same key");
    assertThat(pool.stats().live()).isZero();
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG asyncpool: creating the instance for key loop failed | IllegalStateException");
  }

  @SuppressWarnings("unchecked")
  private static Pool<String, TestResource>[] newPoolArray() {
    return (Pool<String, TestResource>[]) new Pool<?, ?>[1];
  }

  @Test
  void statsCountWhatHappened() {
    pool = settings().ttl(Duration.ofSeconds(1)).recordStats().build(factory);
    lease("a");
    lease("a");
    lease("b");
    assertThat(pool.stats())
        .extracting(PoolStats::hits, PoolStats::misses, PoolStats::creations, PoolStats::live)
        .containsExactly(1L, 2L, 2L, 2);
    assertThat(pool.stats().idle()).isEqualTo(2);
    assertThat(pool.stats().leases()).as("hits + misses").isEqualTo(3);
    scheduler.advance(Duration.ofSeconds(1).plus(mostLate(Duration.ofSeconds(1))));
    PoolStats stats = pool.stats();
    assertThat(stats.expirations()).isEqualTo(2);
    assertThat(stats.closes()).isEqualTo(2);
    assertThat(stats.live()).isZero();
  }

  @Test
  void expiryTaskSleepsWhenNothingIsIdle() {
    newPool(Duration.ofSeconds(1));
    lease("a");
    assertThat(scheduler.pending()).isEqualTo(1);
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(scheduler.pending()).isZero();
    // Warm leases of an entry the task owns schedule nothing more.
    newPool(Duration.ofSeconds(10));
    for (int i = 0; i < 1_000; i++) {
      lease("b");
    }
    assertThat(scheduler.pending()).isEqualTo(1);
  }
}
