package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Field;
import java.time.Duration;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Review of per-key TTLs (issue 12): faults found in {@link TimedExpiry}, each shown on the fake
 * clock.
 */
class PerKeyTtlReviewTest extends PoolTestSupport {

  private static Duration ttlOf(String key) {
    return switch (key) {
      case "century" -> Duration.ofDays(100 * 365L);
      case "hour" -> Duration.ofHours(1);
      case "brief" -> Duration.ofMillis(10);
      case "blink" -> Duration.ofNanos(500_000); // 0.5 ms
      case "pinned" -> Duration.ofNanos(Long.MAX_VALUE);
      default -> Duration.ofSeconds(1);
    };
  }

  // ---- 1. superseded runs pile up in the scheduler -------------------------------------------

  /**
   * A long TTL's class makes the task sleep for an epoch of it (a 64th of its TTL); a short key
   * released cold meanwhile claims an earlier run, and the long sleep's run is superseded but
   * stays scheduled until its time. A short key used now and then leaves one such run behind per
   * use: with a 100-year key (epochs of 1.1 years) they are never run off.
   */
  @Test
  void supersededRunsDoNotPileUpInTheScheduler() {
    newPool(ticker, PerKeyTtlReviewTest::ttlOf);
    lease("century");
    scheduler.advance(Duration.ofMillis(5));
    for (int i = 0; i < 500; i++) {
      lease("brief");
      scheduler.advance(Duration.ofMillis(30)); // brief expires; its class stops
    }
    assertThat(factory.created).hasSize(501);
    assertThat(scheduler.pending())
        .as("tasks the pool left scheduled after 500 uses of a short key")
        .isLessThanOrEqualTo(3);
  }

  /** The same with an hour-long key: superseded runs live an epoch (34 s) each. */
  @Test
  void supersededRunsOfAnHourLongKeyDoNotPileUpEither() {
    newPool(ticker, PerKeyTtlReviewTest::ttlOf);
    lease("hour");
    scheduler.advance(Duration.ofMillis(5));
    int most = 0;
    for (int i = 0; i < 2000; i++) {
      lease("brief");
      scheduler.advance(Duration.ofMillis(20));
      most = Math.max(most, scheduler.pending());
    }
    assertThat(most).as("most tasks scheduled at once over 40 s").isLessThanOrEqualTo(3);
  }

  // ---- 2. a claim of unknown time blocks earlier claims ----------------------------------------

  /**
   * The ticker fails once, in the cold release of an hour-long key: idle() then claims a run
   * "at Long.MIN_VALUE" with a delay of that class's epoch (34 s). That claim supersedes the 10 ms
   * key's run claimed just before it, and closes the 10 ms key 34 s late.
   */
  @Test
  void aTickerFailureInALongKeysReleaseMustNotSupersedeAShortKeysRun() {
    FlakyTicker flaky = new FlakyTicker();
    newPool(flaky, PerKeyTtlReviewTest::ttlOf);
    TestResource brief = lease("brief");
    long released = ticker.read();
    Lease<TestResource> hour = pool.get("hour");
    flaky.fail(0, 1); // the release's read of the clock
    hour.close();
    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly(
            "ERROR test-pool: the ticker failed while key hour went idle | IllegalStateException");
    assertThat(closedAfter(brief, released))
        .as("the 10 ms key closed after (never early, at most its lateness late)")
        .isBetween(Duration.ofMillis(10), Duration.ofMillis(10).plus(LeaseAndTtlTest.mostLate(Duration.ofMillis(10))));
  }

  /** The other order: the claim of unknown time comes first, and the short key cannot get in. */
  @Test
  void aTickerFailureInALongKeysReleaseMustNotBlockAShortKeysClaim() {
    FlakyTicker flaky = new FlakyTicker();
    newPool(flaky, PerKeyTtlReviewTest::ttlOf);
    Lease<TestResource> hour = pool.get("hour");
    flaky.fail(0, 1);
    hour.close();
    PoolLog.events(Level.ERROR);
    TestResource brief = lease("brief");
    long released = ticker.read();
    assertThat(closedAfter(brief, released))
        .as("the 10 ms key closed after (never early, at most its lateness late)")
        .isBetween(Duration.ofMillis(10), Duration.ofMillis(10).plus(LeaseAndTtlTest.mostLate(Duration.ofMillis(10))));
  }

  /** Advances the clock 100 us at a time (for at most a minute) until {@code r} is closed. */
  private Duration closedAfter(TestResource r, long released) {
    for (int i = 0; i < 600_000 && r.closes.get() == 0; i++) {
      scheduler.advance(Duration.ofNanos(100_000));
    }
    return Duration.ofNanos(ticker.read() - released);
  }

  // ---- 3. a run that fails after claiming entries loses them ---------------------------------

  /**
   * reap() claims due entries (takeQueued, wheel.advance) before its second tendClasses(), which
   * reads the clock to start the classes just brought in. If that read throws, runTask's finally
   * sets {@code expired = null}: the claimed entries are never handed to the sink. The instance
   * is claimed (no lease can have it, shutdown skips it) and is never closed.
   */
  @Test
  void aTickerFailureAfterTheTaskClaimedAnEntryMustNotLeakIt() {
    FlakyTicker flaky = new FlakyTicker();
    newPool(flaky, PerKeyTtlReviewTest::ttlOf);
    TestResource blink = lease("blink"); // 0.5 ms: due when the task first takes it
    TestResource other = lease("other"); // 1 s: a class the same run must start
    // The run at 0.5 ms: its first read (now) passes, the read that starts other's class throws.
    flaky.fail(1, 1);
    scheduler.advance(Duration.ofMillis(1));
    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly("ERROR test-pool: the expiry task failed; retrying | IllegalStateException");
    scheduler.advance(Duration.ofSeconds(5));
    assertThat(other.closes).hasValue(1);
    assertThat(blink.closes).as("the 0.5 ms key, long past its ttl").hasValue(1);
    pool.close();
    assertThat(blink.closes).as("closed by the pool's close at the latest").hasValue(1);
  }

  // ---- 4. retired pinned entries of a bounded pool are kept for ever -------------------------

  /**
   * In a bounded pool a pinned key's idle entry is filed in TimedExpiry's {@code pinned} list.
   * Only an eviction ever walks that list: an entry retired there (invalidate, refresh, a
   * maxLifetime replacement) stays linked, with its closed instance, for as long as the pool
   * lives. Here 200 invalidations leave 200 dead entries in the list.
   */
  @Test
  void retiredPinnedEntriesOfABoundedPoolAreLetGo() throws Exception {
    pool =
        settings()
            .maxInstances(10)
            .ttl((String key) -> ttlOf(key))
            .build(factory);
    for (int i = 0; i < 200; i++) {
      lease("pinned");
      lease("other"); // a cold release of a key that expires: the task runs and files "pinned"
      scheduler.advance(Duration.ofMillis(10)); // a run (other's epochs: 8 ms) files "pinned"
      pool.invalidate("pinned");
    }
    scheduler.advance(Duration.ofSeconds(2));
    assertThat(factory.created.stream().filter(r -> r.key.equals("pinned")))
        .hasSize(200)
        .allSatisfy(r -> assertThat(r.closes).hasValue(1));
    // Pruned when it doubles (at least 16 long): at most half of it, or 16, is ever dead.
    assertThat(pinnedListLength())
        .as("entries TimedExpiry still holds in its pinned list, all retired")
        .isLessThanOrEqualTo(16);
  }

  // ---- 5. a pinned key is evicted before an idle key that expires ----------------------------

  /**
   * The contract: a pinned key "in a bounded pool is still evicted to make room, but only once no
   * idle instance that expires is left". claimSoonest(false) skips the wheel's entries released in
   * their class's current epoch, and then, still in that call, claims from the pinned list with
   * {@code recentToo = true}: the pinned instance goes while an instance that expires is idle.
   */
  @Test
  void aPinnedKeyIsEvictedOnlyOnceNoIdleInstanceThatExpiresIsLeft() {
    pool = settings().maxInstances(2).ttl((String key) -> ttlOf(key)).build(factory);
    TestResource pinned = lease("pinned");
    TestResource other = lease("other"); // 1 s: its cold release wakes the task
    scheduler.advance(Duration.ofMillis(20)); // the task owns both; other's class is active
    assertThat(lease("other")).isSameAs(other); // a warm release: stamped with the current epoch
    java.util.concurrent.CompletableFuture<Lease<TestResource>> third = pool.acquire("third");
    scheduler.runDue();
    assertThat(third).isCompleted();
    third.join().close();
    assertThat(other.closes).as("the idle instance that expires").hasValue(1);
    assertThat(pinned.closes).as("the pinned instance, kept while one that expires was idle").hasValue(0);
  }

  // ---- held up: warm releases on real threads racing the task --------------------------------

  /**
   * Real threads, the system clock and a real scheduler, bounded and not: keys of TTLs from zero
   * to pinned leased and released at random while the task files, expires and evicts them. No
   * timing is asserted: never handed out closed, every instance closed exactly once by the end.
   */
  @Test
  void racingReleasesNeverHandOutAClosedInstanceAndCloseEachOnce() throws Exception {
    for (int bounded = 0; bounded < 2; bounded++) {
      TestFactory made = new TestFactory();
      java.util.concurrent.ScheduledExecutorService real =
          java.util.concurrent.Executors.newScheduledThreadPool(1);
      PoolBuilder<Object, Object> builder = Pool.newBuilder().name("stress").scheduler(real);
      if (bounded == 1) {
        builder.maxInstances(6);
      }
      String[] keys = {"zero", "blink", "k1", "k3", "k20", "k200", "pinned"};
      Pool<String, TestResource> stress =
          builder
              .ttl(
                  (String key) ->
                      switch (key) {
                        case "zero" -> Duration.ZERO;
                        case "blink" -> Duration.ofNanos(300_000);
                        case "pinned" -> Duration.ofNanos(Long.MAX_VALUE);
                        default -> Duration.ofMillis(Long.parseLong(key.substring(1)));
                      })
              .build(made);
      java.util.concurrent.atomic.AtomicInteger bad = new java.util.concurrent.atomic.AtomicInteger();
      long end = System.nanoTime() + Duration.ofMillis(1500).toNanos();
      Thread[] threads = new Thread[3];
      for (int t = 0; t < threads.length; t++) {
        long seed = t;
        threads[t] =
            new Thread(
                () -> {
                  java.util.Random random = new java.util.Random(seed);
                  while (System.nanoTime() - end < 0) {
                    String key = keys[random.nextInt(keys.length)];
                    try (Lease<TestResource> lease =
                        stress.get(key, Duration.ofSeconds(5))) {
                      if (lease.get().isClosed()) {
                        bad.incrementAndGet();
                      }
                      if (random.nextInt(8) == 0) {
                        java.util.concurrent.locks.LockSupport.parkNanos(random.nextInt(2_000_000));
                      }
                      if (lease.get().isClosed()) {
                        bad.incrementAndGet();
                      }
                    }
                    if (random.nextInt(4) == 0) {
                      java.util.concurrent.locks.LockSupport.parkNanos(random.nextInt(3_000_000));
                    }
                  }
                });
        threads[t].start();
      }
      for (Thread thread : threads) {
        thread.join();
      }
      stress.closeAsync().get(10, java.util.concurrent.TimeUnit.SECONDS);
      real.shutdown();
      assertThat(bad).as("leases that saw a closed instance").hasValue(0);
      assertThat(made.created)
          .as("bounded=%s: %s instances", bounded, made.created.size())
          .allSatisfy(r -> assertThat(r.closes).as("%s", r).hasValue(1));
    }
  }

  private int pinnedListLength() throws ReflectiveOperationException {
    Field timedExpiry = KeyedPool.class.getDeclaredField("timedExpiry");
    timedExpiry.setAccessible(true);
    Object expiry = timedExpiry.get(pool);
    Field pinned = TimedExpiry.class.getDeclaredField("pinned");
    pinned.setAccessible(true);
    return ((java.util.List<?>) pinned.get(expiry)).size();
  }
}
