package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.RepeatedTest;

/** Semantics 2: concurrent first use runs the factory and openAsync once. */
class ConcurrentFirstUseTest {

  @RepeatedTest(30)
  void concurrentColdRequestsShareOneCreation() throws Exception {
    AtomicInteger factoryCalls = new AtomicInteger();
    CountDownLatch inFactory = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    TestFactory made = new TestFactory();
    Pool<String, TestResource> pool =
        Pool.newBuilder()
            .ttl(Duration.ofMinutes(1))
            .build(key -> {
                  factoryCalls.incrementAndGet();
                  inFactory.countDown();
                  try {
                    release.await(10, TimeUnit.SECONDS);
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                  return made.apply(key);
                });
    int threads = 8;
    ExecutorService executor = Executors.newFixedThreadPool(threads);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<TestResource>> results = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        boolean blocking = i % 2 == 0;
        results.add(
            executor.submit(
                () -> {
                  start.await();
                  if (blocking) {
                    try (Lease<TestResource> lease = pool.get("cold")) {
                      return lease.get();
                    }
                  }
                  try (Lease<TestResource> lease = pool.acquire("cold").get(10, TimeUnit.SECONDS)) {
                    return lease.get();
                  }
                }));
      }
      start.countDown();
      inFactory.await(10, TimeUnit.SECONDS);
      // Every caller has joined the creation before the factory may finish.
      org.awaitility.Awaitility.await().until(() -> pool.stats().misses() == threads);
      release.countDown();
      TestResource first = results.get(0).get(10, TimeUnit.SECONDS);
      for (Future<TestResource> result : results) {
        assertThat(result.get(10, TimeUnit.SECONDS)).isSameAs(first);
      }
      assertThat(factoryCalls).hasValue(1);
      assertThat(first.opens).hasValue(1);
    } finally {
      executor.shutdownNow();
      pool.closeAsync().get(10, TimeUnit.SECONDS);
    }
    assertThat(made.created).allSatisfy(r -> assertThat(r.closes).hasValue(1));
  }
}
