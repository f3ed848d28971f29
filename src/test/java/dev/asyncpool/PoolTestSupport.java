package dev.asyncpool;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A pool on a fake clock, a manual scheduler, and an executor that runs tasks at once; what the
 * pool logs is in {@link PoolLog}, cleared before each test.
 */
@ExtendWith(PoolLog.Capture.class)
abstract class PoolTestSupport {
  final FakeTicker ticker = new FakeTicker();
  final ManualScheduler scheduler = new ManualScheduler(ticker);
  final TestFactory factory = new TestFactory();
  final Executor directExecutor = Runnable::run;
  Pool<String, TestResource> pool;

  Pool<String, TestResource> newPool(Duration ttl) {
    pool = settings().ttl(ttl).build(factory);
    return pool;
  }

  /** The test pool's clock, scheduler, executor and name; the test adds the rest and a factory. */
  PoolBuilder<Object, Object> settings() {
    return settings(ticker);
  }

  /** {@link #settings()} with another clock over the fake one: a flaky or counting one. */
  PoolBuilder<Object, Object> settings(Ticker clock) {
    return Pool.newBuilder()
        .ticker(clock)
        .scheduler(scheduler)
        .executor(directExecutor)
        .name("test-pool");
  }

  /** A pool of {@link #factory} on {@code clock}, with each key's TTL from {@code ttlByKey}. */
  Pool<String, TestResource> newPool(Ticker clock, Function<String, Duration> ttlByKey) {
    pool = settings(clock).ttl(ttlByKey).build(factory);
    return pool;
  }

  /** A ticker over the fake one that throws on chosen reads, as a broken clock source would. */
  final class FlakyTicker implements Ticker {
    private int skip = -1;
    private int failures;
    private boolean alternate;
    private boolean lastFailed;

    @Override
    public synchronized long read() {
      if (skip > 0) {
        skip--;
      } else if (skip == 0 && failures > 0) {
        if (!alternate || !lastFailed) {
          failures--;
          lastFailed = true;
          throw new IllegalStateException("ticker hiccup");
        }
      }
      lastFailed = false;
      return ticker.read();
    }

    /** Failures still to come. */
    synchronized int failuresLeft() {
      return failures;
    }

    /**
     * After {@code skip} good reads, {@code count} reads throw: in a row, or, if {@code
     * alternate}, every other read (a flaky clock: the expiry task's first read passes, the one
     * that starts an epoch fails).
     */
    synchronized void fail(int skip, int count, boolean alternate) {
      this.skip = skip;
      this.failures = count;
      this.alternate = alternate;
      this.lastFailed = false;
    }

    /** After {@code skip} good reads, the next {@code count} throw. */
    void fail(int skip, int count) {
      fail(skip, count, false);
    }
  }

  /**
   * {@link #factory}, with each new resource handed to {@code prepare} (to set how it opens or
   * closes) before the pool opens it.
   */
  Function<String, TestResource> prepared(Consumer<TestResource> prepare) {
    return key -> {
      TestResource r = factory.apply(key);
      prepare.accept(r);
      return r;
    };
  }

  /** Instances made by {@link #counted} whose close has not ended. */
  final AtomicInteger existing = new AtomicInteger();

  /** The most instances made by {@link #counted} that existed at once. */
  final AtomicInteger mostExisting = new AtomicInteger();

  /**
   * A factory for bounded pools: {@link #factory}'s instance, counted in {@link #existing} from
   * the factory's call to the end of its close.
   */
  TestResource counted(String key) {
    mostExisting.accumulateAndGet(existing.incrementAndGet(), Math::max);
    TestResource r = factory.apply(key);
    r.onClose =
        () -> {
          existing.decrementAndGet();
          return CompletableFuture.completedFuture(null);
        };
    return r;
  }

  /** A TTL by key, for the bounded per-key tests: "pinned..." never expires, "name=N" N seconds. */
  static Duration ttlFromKey(String key) {
    return key.startsWith("pinned")
        ? java.time.temporal.ChronoUnit.FOREVER.getDuration()
        : Duration.ofSeconds(Long.parseLong(key.substring(key.indexOf('=') + 1)));
  }

  /**
   * A pool of at most {@code max} instances with per-key TTLs, counting its instances ({@link
   * #counted}), that adds each evicted key to {@code evicted}.
   */
  void boundedPerKey(int max, Function<String, Duration> ttl, List<String> evicted) {
    pool =
        settings()
            .ttl(ttl)
            .maxInstances(max)
            .acquireTimeout(Duration.ofSeconds(5))
            .listener(evictionsInto(evicted))
            .build(this::counted);
  }

  /**
   * A pool bounded by weight, {@code maxWeight}, with per-key TTLs by {@link #ttlFromKey}: a key
   * starting with "X" weighs {@code heavy}, any other 1. It counts its instances ({@link
   * #counted}) and adds each evicted key to {@code evicted}.
   */
  void weightedPerKey(long heavy, long maxWeight, List<String> evicted) {
    pool =
        settings()
            .ttl(PoolTestSupport::ttlFromKey)
            .weigher((String key) -> key.startsWith("X") ? heavy : 1)
            .maxWeight(maxWeight)
            .acquireTimeout(Duration.ofSeconds(5))
            .listener(evictionsInto(evicted))
            .build(this::counted);
  }

  /** Leases {@code key} in a full pool: room must be made for it at once; then releases it. */
  void requestRoom(String key) {
    CompletableFuture<Lease<TestResource>> lease = pool.acquire(key);
    scheduler.runDue();
    org.assertj.core.api.Assertions.assertThat(lease).as("room was made for %s", key).isCompleted();
    lease.join().close();
  }

  /** A listener that adds each evicted key to {@code keys}, in order. */
  static PoolListener<String, TestResource> evictionsInto(List<String> keys) {
    return new PoolListener<>() {
      @Override
      public void onEvicted(String key, TestResource resource) {
        keys.add(key);
      }
    };
  }

  TestResource lease(String key) {
    try (Lease<TestResource> lease = pool.get(key)) {
      return lease.get();
    }
  }

  @AfterEach
  void closePool() {
    if (pool != null) {
      pool.closeAsync();
    }
  }
}
