package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.event.Level;

/**
 * The listener's promises under concurrency and random faults: each instance's events come in
 * the documented order, it gets exactly one close event, and every event count equals its
 * {@link PoolStats} counter once the pool has shut down.
 */
@ExtendWith(PoolLog.Capture.class)
class ListenerUnderLoadTest {

  static final int THREADS = 4;
  static final int OPS_PER_THREAD = 5_000;

  /** Opens and closes at random: fails, throws, returns null, or completes later. */
  static final class Flaky implements AsyncResource {
    @Override
    public CompletionStage<Void> openAsync() {
      int dice = ThreadLocalRandom.current().nextInt(100);
      if (dice < 4) {
        return CompletableFuture.failedFuture(new IllegalStateException("open failed"));
      }
      if (dice < 15) {
        return CompletableFuture.runAsync(() -> {});
      }
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      int dice = ThreadLocalRandom.current().nextInt(100);
      if (dice < 3) {
        throw new IllegalStateException("close threw");
      }
      if (dice < 6) {
        return CompletableFuture.failedFuture(new IllegalStateException("close failed"));
      }
      if (dice < 20) {
        return CompletableFuture.runAsync(() -> {});
      }
      return CompletableFuture.completedFuture(null);
    }
  }

  /** Each instance's events in arrival order, and the failures that had no instance. */
  static final class Journal implements PoolListener<String, Flaky> {
    final Map<Flaky, List<String>> byInstance = new ConcurrentHashMap<>();
    final AtomicInteger createFailures = new AtomicInteger();

    private void add(Flaky resource, String event) {
      byInstance.computeIfAbsent(resource, r -> new CopyOnWriteArrayList<>()).add(event);
    }

    @Override
    public void onCreated(String key, Flaky resource, Duration createTime) {
      add(resource, "created");
    }

    @Override
    public void onOpened(String key, Flaky resource, Duration openTime) {
      add(resource, "opened");
    }

    @Override
    public void onCreationFailed(String key, Phase phase, Flaky resource, Throwable cause) {
      if (phase == Phase.CREATE) {
        assertThat(resource).isNull();
        createFailures.incrementAndGet();
      } else {
        add(resource, "openFailed");
      }
    }

    @Override
    public void onExpired(String key, Flaky resource) {
      add(resource, "expired");
    }

    @Override
    public void onInvalidated(String key, Flaky resource) {
      if (resource != null) {
        add(resource, "invalidated");
      }
    }

    @Override
    public void onClosed(String key, Flaky resource, Duration closeTime) {
      add(resource, "closed");
    }

    @Override
    public void onCloseFailed(String key, Flaky resource, Throwable cause, Duration closeTime) {
      add(resource, "closeFailed");
    }

    long count(String event) {
      return byInstance.values().stream().flatMap(List::stream).filter(event::equals).count();
    }
  }

  @ParameterizedTest(name = "ttl={0}ms")
  @ValueSource(longs = {0, 2})
  void eventsAreOrderedCompleteAndMatchTheStats(long ttlMillis) throws Exception {
    Journal journal = new Journal();
    Pool<String, Flaky> pool =
        Pool.newBuilder()
            .ttl(Duration.ofMillis(ttlMillis))
            .listener(journal)
            .build(key -> {
                  if (ThreadLocalRandom.current().nextInt(100) < 3) {
                    throw new IllegalStateException("factory failed");
                  }
                  return new Flaky();
                });
    String[] keys = {"a", "b", "c", "d", "e", "f", "g", "h"};
    ExecutorService threads = Executors.newFixedThreadPool(THREADS);
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      long seed = ttlMillis * 17 + t;
      futures.add(
          threads.submit(
              () -> {
                SplittableRandom random = new SplittableRandom(seed);
                for (int i = 0; i < OPS_PER_THREAD; i++) {
                  String key = keys[random.nextInt(keys.length)];
                  if (random.nextInt(500) == 0) {
                    LockSupport.parkNanos(random.nextLong(1, 4) * 1_000_000); // let keys expire
                  }
                  int op = random.nextInt(100);
                  try {
                    if (op < 3) {
                      pool.invalidate(key);
                    } else if (op < 60) {
                      pool.get(key).close();
                    } else {
                      pool.acquire(key).get(10, TimeUnit.SECONDS).close();
                    }
                  } catch (IllegalStateException | ExecutionException injected) {
                    // a failure we injected
                  }
                }
                return null;
              }));
    }
    for (Future<?> future : futures) {
      future.get(60, TimeUnit.SECONDS);
    }
    threads.shutdown();
    if (ttlMillis > 0) {
      // Nothing is leased now: every instance expires, so the TTL path is always exercised.
      await().atMost(Duration.ofSeconds(10)).until(() -> pool.stats().live() == 0);
    }
    pool.closeAsync().get(30, TimeUnit.SECONDS);

    PoolStats stats = pool.stats();
    assertThat(stats.live()).isZero();
    assertThat(journal.count("opened")).isEqualTo(stats.creations());
    assertThat(journal.count("openFailed") + journal.createFailures.get())
        .isEqualTo(stats.creationFailures());
    assertThat(journal.count("expired")).isEqualTo(stats.expirations());
    assertThat(journal.count("closed")).isEqualTo(stats.closes());
    assertThat(journal.count("closeFailed")).isEqualTo(stats.closeFailures());
    assertThat(journal.count("invalidated")).isLessThanOrEqualTo(stats.invalidations());
    // The journal asserts inside its callbacks; a failed one would be caught, and logged as the
    // listener's WARN. Every WARN is a failed close, and nothing is an ERROR.
    assertThat(PoolLog.lines(Level.ERROR)).isEmpty();
    assertThat(PoolLog.lines(Level.WARN))
        .hasSize((int) stats.closeFailures())
        .allMatch(
            line ->
                line.matches(
                    "WARN asyncpool: closing the instance for key [a-h] failed"
                        + " \\| IllegalStateException"),
            "a close failure");
    if (ttlMillis == 0) {
      // Every lease creates an instance: thousands, so each injected fault shows up.
      assertThat(journal.createFailures.get()).as("the CREATE phase was exercised").isPositive();
      assertThat(journal.count("openFailed")).as("the OPEN phase was exercised").isPositive();
      assertThat(journal.count("closeFailed")).as("close failures were exercised").isPositive();
    } else {
      assertThat(stats.expirations()).as("the TTL path was exercised").isPositive();
    }

    for (List<String> events : journal.byInstance.values()) {
      // invalidate's event may trail the close (documented); check the order without it.
      List<String> ordered = new ArrayList<>(events);
      ordered.remove("invalidated");
      assertThat(ordered.get(0)).as("%s", events).isEqualTo("created");
      assertThat(ordered.get(1)).as("%s", events).isIn("opened", "openFailed");
      String last = ordered.get(ordered.size() - 1);
      assertThat(last).as("%s", events).isIn("closed", "closeFailed");
      assertThat(ordered).as("%s", events).hasSizeBetween(3, 4);
      if (ordered.size() == 4) {
        assertThat(ordered.get(1)).as("%s", events).isEqualTo("opened");
        assertThat(ordered.get(2)).as("%s", events).isEqualTo("expired");
        assertThat(events).as("%s", events).doesNotContain("invalidated");
      }
      assertThat(events.stream().filter("invalidated"::equals).count()).isLessThanOrEqualTo(1);
    }
  }
}
