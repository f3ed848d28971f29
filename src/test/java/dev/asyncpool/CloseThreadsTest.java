package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Blocking closes of {@link AutoCloseable} clients run on a few threads of the pool's own: a mass
 * expiry queues its closes instead of starting a thread each, and none of the threads outlives
 * the pool's shutdown.
 */
class CloseThreadsTest {

  private final FakeTicker ticker = new FakeTicker();
  private final ManualScheduler scheduler = new ManualScheduler(ticker);
  private final CountDownLatch closesMayEnd = new CountDownLatch(1);
  private final AtomicInteger closing = new AtomicInteger();
  private final AtomicInteger mostAtOnce = new AtomicInteger();

  /** A client whose close blocks until the test lets it go, counting closes running at once. */
  final class SlowClient implements AutoCloseable {
    final AtomicInteger closes = new AtomicInteger();

    @Override
    public void close() {
      mostAtOnce.accumulateAndGet(closing.incrementAndGet(), Math::max);
      try {
        closesMayEnd.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        closing.decrementAndGet();
        closes.incrementAndGet();
      }
    }
  }

  private static List<Thread> closeThreadsOf(String poolName) {
    List<Thread> found = new ArrayList<>();
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.isAlive() && thread.getName().startsWith("asyncpool-close-" + poolName + "-")) {
        found.add(thread);
      }
    }
    return found;
  }

  @Test
  void aMassExpiryRunsOnABoundedSetOfThreadsThatEndWithThePool() throws Exception {
    List<SlowClient> clients = new ArrayList<>();
    Pool<Integer, SlowClient> pool =
        Pool.newBuilder()
            .name("mass-expiry")
            .ticker(ticker)
            .scheduler(scheduler)
            .ttl(Duration.ofSeconds(1))
            .buildCloseable(
                key -> {
                  SlowClient client = new SlowClient();
                  clients.add(client);
                  return client;
                });
    int tenants = 500;
    for (int tenant = 0; tenant < tenants; tenant++) {
      pool.get(tenant).close();
    }
    scheduler.advance(Duration.ofSeconds(2)); // all 500 expire together
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> closing.get() == CloseThreads.MAX_THREADS);
    assertThat(closeThreadsOf("mass-expiry")).hasSize(CloseThreads.MAX_THREADS);
    assertThat(mostAtOnce).hasValue(CloseThreads.MAX_THREADS);

    closesMayEnd.countDown();
    pool.closeAsync().get(30, TimeUnit.SECONDS);
    assertThat(clients).hasSize(tenants).allSatisfy(c -> assertThat(c.closes).hasValue(1));
    assertThat(mostAtOnce).as("never more at once").hasValue(CloseThreads.MAX_THREADS);
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> assertThat(closeThreadsOf("mass-expiry")).as("after close()").isEmpty());
  }

  @Test
  void aPoolGivenAnExecutorStartsNoThreadsOfItsOwn() throws Exception {
    List<Thread> closedOn = new ArrayList<>();
    Pool<String, AutoCloseable> pool =
        Pool.newBuilder()
            .name("own-executor")
            .executor(Runnable::run)
            .ttl(Duration.ZERO)
            .buildCloseable(key -> () -> closedOn.add(Thread.currentThread()));
    pool.get("k").close();
    pool.close();
    assertThat(closedOn).containsExactly(Thread.currentThread());
    assertThat(closeThreadsOf("own-executor")).isEmpty();
  }
}
