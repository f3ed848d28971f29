package dev.asyncpool;

import java.time.Duration;
import java.util.concurrent.Executor;
import org.junit.jupiter.api.AfterEach;

/** A pool on a fake clock, a manual scheduler, and an executor that runs tasks at once. */
abstract class PoolTestSupport {
  final FakeTicker ticker = new FakeTicker();
  final ManualScheduler scheduler = new ManualScheduler(ticker);
  final TestFactory factory = new TestFactory();
  final Executor directExecutor = Runnable::run;
  Pool<String, TestResource> pool;

  Pool<String, TestResource> newPool(Duration ttl) {
    pool = builder().ttl(ttl).build();
    return pool;
  }

  PoolBuilder<String, TestResource> builder() {
    return Pool.<String, TestResource>builder(factory)
        .ticker(ticker)
        .scheduler(scheduler)
        .executor(directExecutor)
        .name("test-pool");
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
