package dev.asyncpool;

import java.time.Duration;
import java.util.concurrent.Executor;
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
    return Pool.newBuilder()
        .ticker(ticker)
        .scheduler(scheduler)
        .executor(directExecutor)
        .name("test-pool");
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
