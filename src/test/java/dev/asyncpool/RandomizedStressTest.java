package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.slf4j.event.Level;

/**
 * Several threads, few keys, TTLs of 0 and a few milliseconds, random failures injected into
 * create, open and close. Checks semantics 2 and 3 while it runs (including that no instance closes
 * before the TTL since its last release) and, after the pool's close, that every created instance
 * was closed exactly once. Also run for minutes with {@code -Dasyncpool.stress.ops=...}.
 */
@ExtendWith(PoolLog.Capture.class)
class RandomizedStressTest {

  static final int OPS_PER_THREAD = Integer.getInteger("asyncpool.stress.ops", 15_000);
  static final int THREADS = Integer.getInteger("asyncpool.stress.threads", 4);

  /** How long the threads of one run may take; the long run of {@code -Pstress} needs more. */
  static final long TIMEOUT_SECONDS = Long.getLong("asyncpool.stress.timeoutSeconds", 120);

  /**
   * Whether a run keeps every event the pool logs, to count them; a long run (-Pstress) logs
   * hundreds of thousands of injected failures, and keeps only ERRORs, which must not occur.
   */
  static final boolean KEEP_EVERY_EVENT = (long) THREADS * OPS_PER_THREAD <= 100_000;

  /** Faults injected so far in this run, by kind, for the summary line. */
  static final Map<String, LongAdder> injected = new ConcurrentSkipListMap<>();

  static void inject(String kind) {
    injected.computeIfAbsent(kind, k -> new LongAdder()).increment();
  }

  /** A resource whose open and close misbehave at random. */
  static final class FaultyResource implements AsyncResource {
    final String key;
    final AtomicInteger opens = new AtomicInteger();
    final AtomicInteger closes = new AtomicInteger();
    volatile boolean openCompleted;
    final AtomicInteger leasedNow = new AtomicInteger();
    /** The latest time a lease was about to be released: at or before the real last release. */
    final AtomicLong releasingAt = new AtomicLong(Long.MIN_VALUE);

    FaultyResource(String key) {
      this.key = key;
    }

    @Override
    public CompletionStage<Void> openAsync() {
      opens.incrementAndGet();
      int dice = ThreadLocalRandom.current().nextInt(100);
      if (dice < 4) {
        inject("open failed");
        return CompletableFuture.failedFuture(new IllegalStateException("open failed: " + key));
      }
      if (dice < 6) {
        inject("open threw");
        throw new IllegalStateException("open threw: " + key);
      }
      if (dice < 20) {
        return CompletableFuture.runAsync(() -> openCompleted = true);
      }
      openCompleted = true;
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      closes.incrementAndGet();
      existing.decrementAndGet(); // before the pool stops counting it: at its close's end
      if (leasedNow.get() != 0) {
        violations.add("closed while leased: " + key);
      }
      long releasing = releasingAt.get();
      if (expiryOnly
          && releasing != Long.MIN_VALUE
          && System.nanoTime() - releasing < ttlNanosOf(key)) {
        violations.add("closed before the TTL since its last release: " + key);
      }
      int dice = ThreadLocalRandom.current().nextInt(100);
      if (dice < 4) {
        inject("close threw");
        throw new IllegalStateException("close threw");
      }
      if (dice < 8) {
        inject("close returned null");
        return null;
      }
      if (dice < 12) {
        inject("close failed");
        return CompletableFuture.failedFuture(new IllegalStateException("close failed"));
      }
      if (dice < 30) {
        return CompletableFuture.runAsync(() -> {});
      }
      return CompletableFuture.completedFuture(null);
    }
  }

  static final List<String> violations = new CopyOnWriteArrayList<>();

  /** The TTL of the running test; the pool's ticker is the system one, like System.nanoTime. */
  static volatile long ttlNanos;

  /** True if the running test gives each key its own TTL ({@link #PER_KEY_TTLS}). */
  static volatile boolean perKey;

  /**
   * Per-key TTLs of keys "a" to "l", when {@link #perKey}: zero, a few milliseconds (shorter and
   * longer than the 1 ms batching, several classes of TTLs), and one pinned key ("g").
   */
  static final Duration[] PER_KEY_TTLS = {
    Duration.ZERO,
    Duration.ofMillis(1),
    Duration.ofMillis(2),
    Duration.ofMillis(3),
    Duration.ofMillis(5),
    Duration.ofNanos(8_300_000),
    java.time.temporal.ChronoUnit.FOREVER.getDuration(),
    Duration.ofNanos(700_000),
    Duration.ofMillis(2),
    Duration.ofMillis(3),
    Duration.ofMillis(13),
    Duration.ofMillis(21)
  };

  static Duration perKeyTtl(String key) {
    return PER_KEY_TTLS[key.charAt(0) - 'a'];
  }

  static long ttlNanosOf(String key) {
    return perKey ? PoolConfig.saturatedNanos(perKeyTtl(key)) : ttlNanos;
  }

  /** True while only the TTL may close an instance (no invalidate, no shutdown yet). */
  static volatile boolean expiryOnly;

  /** Instances the factory made and whose close has not started; never above the bound. */
  static final AtomicInteger existing = new AtomicInteger();

  @ParameterizedTest(
      name = "ttl={0}ms, invalidate={1}, maxInstances={2}, refresh={3}, perKeyTtls={4}")
  @CsvSource({
    "0, false, 0, false, false",
    "2, false, 0, false, false",
    "0, true, 0, false, false",
    "3, true, 0, false, false",
    "3, false, 4, false, false",
    "1, true, 3, false, false",
    "3, false, 0, true, false",
    "1, true, 0, true, false",
    "3, false, 4, true, false",
    "-1, false, 0, false, true",
    "-1, true, 4, true, true"
  })
  void invariantsHoldUnderRandomFaults(
      long ttlMillis, boolean invalidate, int maxInstances, boolean refresh, boolean perKeyTtls)
      throws Exception {
    violations.clear();
    existing.set(0);
    if (!KEEP_EVERY_EVENT) {
      PoolLog.captureOnly(Level.ERROR);
    }
    ttlNanos = TimeUnit.MILLISECONDS.toNanos(ttlMillis);
    perKey = perKeyTtls;
    // Evictions close idle instances before their TTL, as they should: only without a bound is
    // the TTL the only way out.
    // A refresh or a lifetime's end closes a replaced instance before its TTL, too.
    expiryOnly = !invalidate && maxInstances == 0 && !refresh;
    injected.clear();
    long started = System.nanoTime();
    List<FaultyResource> created = new CopyOnWriteArrayList<>();
    PoolBuilder<Object, Object> builder =
        perKeyTtls
            ? Pool.newBuilder().ttl((Object key) -> perKeyTtl((String) key))
            : Pool.newBuilder().ttl(Duration.ofMillis(ttlMillis));
    if (maxInstances > 0) {
      builder.maxInstances(maxInstances).acquireTimeout(Duration.ofSeconds(10));
    }
    if (refresh) {
      builder.maxLifetime(Duration.ofMillis(5)); // replaced often, leased or not
    }
    Pool<String, FaultyResource> pool =
        builder.build(key -> {
                  if (ThreadLocalRandom.current().nextInt(100) < 4) {
                    inject("factory threw");
                    throw new IllegalStateException("factory failed: " + key);
                  }
                  FaultyResource r = new FaultyResource(key);
                  int now = existing.incrementAndGet();
                  if (maxInstances > 0 && now > maxInstances) {
                    violations.add(now + " instances exist, over the bound " + maxInstances);
                  }
                  created.add(r);
                  return r;
                });
    String[] keys = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"};
    // Without invalidate, two leases of a key that overlap in time must share one instance.
    Map<String, Set<FaultyResource>> leasedByKey = new ConcurrentHashMap<>();
    for (String key : keys) {
      leasedByKey.put(key, ConcurrentHashMap.newKeySet());
    }
    AtomicInteger leases = new AtomicInteger();
    AtomicInteger failures = new AtomicInteger();
    AtomicInteger invalidations = new AtomicInteger();
    AtomicInteger refreshes = new AtomicInteger();
    AtomicReference<Throwable> unexpected = new AtomicReference<>();
    ExecutorService threads = Executors.newFixedThreadPool(THREADS);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      long seed = ttlMillis * 31 + t;
      futures.add(
          threads.submit(
              () -> {
                SplittableRandom random = new SplittableRandom(seed);
                start.await();
                for (int i = 0; i < OPS_PER_THREAD; i++) {
                  // Half the time one of a few hot keys, else any: cold keys go idle and expire.
                  String key = keys[random.nextInt(random.nextBoolean() ? 3 : keys.length)];
                  if (random.nextInt(300) == 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(random.nextLong(1, 5) * 1_000_000);
                  }
                  int op = random.nextInt(100);
                  try {
                    if (invalidate && op < 3) {
                      pool.invalidate(key);
                      invalidations.incrementAndGet();
                      continue;
                    }
                    if (refresh && op >= 3 && op < 6) {
                      pool.refresh(key); // its outcome is checked through the instances' fate
                      refreshes.incrementAndGet();
                      continue;
                    }
                    java.util.function.Consumer<FaultyResource> use =
                        r -> {
                          r.leasedNow.incrementAndGet();
                          Set<FaultyResource> leased = leasedByKey.get(key);
                          leased.add(r);
                          check(r.closes.get() == 0, "handed out after close: " + key);
                          check(
                              r.opens.get() == 1 && r.openCompleted,
                              "handed out unopened: " + key);
                          // Any other instance seen in the set was leased at some moment while
                          // we hold r (size() is not a snapshot; iteration sees only members).
                          for (FaultyResource other : leased) {
                            check(
                                invalidate || refresh || other == r,
                                "two instances leased: " + key);
                          }
                          if (random.nextInt(8) == 0) {
                            Thread.yield();
                          }
                          check(r.closes.get() == 0, "closed while leased: " + key);
                          leased.remove(r);
                          r.releasingAt.accumulateAndGet(System.nanoTime(), Math::max);
                          r.leasedNow.decrementAndGet();
                        };
                    if (op >= 85) {
                      pool.apply(
                          key,
                          r -> {
                            use.accept(r);
                            return null;
                          });
                    } else {
                      Lease<FaultyResource> lease =
                          op < 60 ? pool.get(key) : pool.acquire(key).get(10, TimeUnit.SECONDS);
                      try (lease) {
                        use.accept(lease.get());
                      }
                    }
                    leases.incrementAndGet();
                  } catch (IllegalStateException | java.util.concurrent.ExecutionException e) {
                    failures.incrementAndGet(); // injected
                  } catch (Throwable e) {
                    unexpected.compareAndSet(null, e);
                  }
                }
                return null;
              }));
    }
    start.countDown();
    for (Future<?> future : futures) {
      future.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }
    threads.shutdown();
    expiryOnly = false; // shutdown closes idle instances at once
    pool.closeAsync().get(30, TimeUnit.SECONDS);

    assertThat(unexpected.get()).isNull();
    assertThat(violations).isEmpty();
    assertThat(leases.get()).isGreaterThan(THREADS * OPS_PER_THREAD / 2);
    if (ttlMillis > 0 || perKeyTtls) {
      assertThat(pool.stats().expirations()).as("the TTL path was exercised").isPositive();
    }
    for (FaultyResource r : created) {
      assertThat(r.closes.get()).as("closes of %s", r.key).isEqualTo(1);
      assertThat(r.opens.get()).as("opens of %s", r.key).isEqualTo(1);
    }
    PoolStats stats = pool.stats();
    assertThat(stats.live()).isZero();
    assertThat(stats.closes() + stats.closeFailures()).isEqualTo(created.size());
    assertLoggedOncePerFailure(stats, refresh);
    System.out.printf(
        "stress ttl=%s invalidate=%b maxInstances=%d refresh=%b, %d threads x %,d ops in"
            + " %.1f s: %,d leases, %,d invalidations, %,d refreshes asked,"
            + " %,d failures seen by callers, %,d instances created, %,d closed"
            + " (%,d of them by a close that failed), %,d expired; injected %s; %s%n",
        perKeyTtls ? "per key" : ttlMillis + "ms",
        invalidate,
        maxInstances,
        refresh,
        THREADS,
        OPS_PER_THREAD,
        (System.nanoTime() - started) / 1e9,
        leases.get(),
        invalidations.get(),
        refreshes.get(),
        failures.get(),
        created.size(),
        stats.closes() + stats.closeFailures(),
        stats.closeFailures(),
        stats.expirations(),
        injected,
        stats);
  }

  /**
   * Thousands of injected failures, checked in aggregate: each failed close is one WARN naming the
   * pool, its key and the cause, each failed creation one DEBUG; the shutdown is one DEBUG line,
   * and nothing is an ERROR (the pool's own invariants held) or anything else.
   */
  private static void assertLoggedOncePerFailure(PoolStats stats, boolean refresh) {
    assertThat(PoolLog.lines(Level.ERROR)).isEmpty();
    if (!KEEP_EVERY_EVENT) {
      return;
    }
    if (refresh) {
      // A failed replacement is a WARN (or a DEBUG once the pool is closing), beside the DEBUG of
      // its failed creation; a refresh asked within a creation of its key fails with it.
      String refreshFailed = "WARN asyncpool: refreshing key [a-l] failed; its current instance"
          + " stays in service \\| .*";
      assertThat(PoolLog.lines(Level.WARN))
          .filteredOn(line -> line.matches(refreshFailed))
          .hasSizeLessThanOrEqualTo((int) stats.refreshFailures());
      assertThat(PoolLog.lines(Level.WARN))
          .filteredOn(line -> !line.matches(refreshFailed))
          .hasSize((int) stats.closeFailures());
      assertThat(stats.refreshes()).as("instances replaced").isPositive();
      return;
    }
    String forKey = " for key [a-l] failed \\| ";
    assertThat(PoolLog.lines(Level.WARN))
        .hasSize((int) stats.closeFailures())
        .allMatch(
            line ->
                line.matches(
                    "WARN asyncpool: closing the instance"
                        + forKey
                        + "(IllegalStateException|NullPointerException)"),
            "a close failure");
    String shutdown = "DEBUG asyncpool: shutting down, ";
    assertThat(PoolLog.lines(Level.DEBUG))
        .filteredOn(line -> !line.startsWith(shutdown))
        .hasSize((int) stats.creationFailures())
        .allMatch(
            line ->
                line.matches(
                    "DEBUG asyncpool: creating the instance" + forKey + "IllegalStateException"),
            "a creation failure");
    assertThat(PoolLog.lines())
        .as("a failure per line, and one line for the shutdown")
        .hasSize((int) (stats.closeFailures() + stats.creationFailures()) + 1)
        .filteredOn(line -> line.startsWith(shutdown))
        .hasSize(1);
  }

  private static void check(boolean ok, String violation) {
    if (!ok) {
      violations.add(violation);
    }
  }
}
