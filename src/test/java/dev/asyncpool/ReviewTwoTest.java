package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.event.Level;

/** Review 2: failing tests for races in the inline eviction, maxLifetime and refresh. */
@Timeout(30)
class ReviewTwoTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofHours(1);

  /**
   * Bug: failImpatient withdraws every impatient ticket in the room queue as soon as the total
   * does not fit, including those at the head for which room is already being made. Request c
   * (acquireTimeout ZERO) evicts a on its own thread (evictHere); while that eviction runs (here:
   * its onEvicted, which runs inline with a direct executor) another thread asks for d: its
   * tryEvict finds the lock taken and asks for a scheduled run. c's failImpatient then sees
   * used 2 - evicting 1 + waiting 2 > 2 and fails both c, whose room is under way (a closing),
   * and d, for which b is idle and a run is already scheduled.
   */
  @Test
  void anImpatientRequestWhoseRoomIsBeingMadeIsNotFailedByALaterArrival() throws Exception {
    CompletableFuture<Void> aClose = new CompletableFuture<>();
    AtomicReference<CompletableFuture<Lease<TestResource>>> d = new AtomicReference<>();
    PoolListener<String, TestResource> onEvicted =
        new PoolListener<>() {
          @Override
          public void onEvicted(String key, TestResource resource) {
            if (key.equals("a") && d.get() == null) {
              Thread other = new Thread(() -> d.set(pool.acquire("d")));
              other.start();
              try {
                other.join();
              } catch (InterruptedException e) {
                throw new AssertionError(e);
              }
            }
          }
        };
    pool =
        settings()
            .ttl(TTL)
            .maxInstances(2)
            .acquireTimeout(Duration.ZERO)
            .listener(onEvicted)
            .build(
                prepared(
                    r -> {
                      if (r.key.equals("a")) {
                        r.onClose = () -> aClose;
                      }
                    }));
    lease("a");
    ticker.advance(Duration.ofSeconds(1));
    lease("b"); // both idle; a released first

    CompletableFuture<Lease<TestResource>> c = pool.acquire("c");

    assertThat(factory.created.get(0).closes).as("a evicted for c, closing").hasValue(1);
    assertThat(c).as("room for c is being made: a is closing for it").isNotCompletedExceptionally();
    aClose.complete(null);
    scheduler.runDue();
    assertThat(c).isCompleted();
    assertThat(d.get())
        .as("b was idle and a run was scheduled for d")
        .isNotCompletedExceptionally();
  }

  /**
   * Bug: lifetimeEnded's retry after a failed replacement is scheduled but never tracked in
   * `lifetimes`, so neither finish() nor shutdown cancels it: after shutdown it stays on the
   * scheduler (holding the pool) for up to the backoff's maximum. Same after the old instance
   * closed by another path (invalidate, TTL): the retry stays until it runs and finds it gone.
   */
  @Test
  void shutdownLeavesNoLifetimeRetryScheduled() {
    AtomicInteger calls = new AtomicInteger();
    pool =
        settings()
            .ttl(TTL)
            .maxLifetime(Duration.ofMinutes(10))
            .retryBackoff(Duration.ofHours(2), Duration.ofHours(2))
            .build(
                key -> {
                  if (calls.incrementAndGet() == 2) {
                    throw new IllegalStateException("token service down");
                  }
                  return factory.apply(key);
                });
    Lease<TestResource> held = pool.get("a");
    while (calls.get() < 2) {
      scheduler.advance(Duration.ofSeconds(1));
    }
    PoolLog.lines(Level.WARN); // the failed replacement, read
    // The retry a second later meets the key's backoff, and is put off until it ends: ~2 hours.
    scheduler.advance(Duration.ofSeconds(2));
    held.close();

    assertThat(pool.closeAsync()).succeedsWithin(Duration.ZERO);
    scheduler.advance(Duration.ofMinutes(2)); // the expiry task's last run, if any

    assertThat(scheduler.pending())
        .as("nothing keeps the closed pool reachable (the lifetime's retry: an hour or more)")
        .isZero();
  }

  /**
   * Bug: refresh's recursion check reads Refreshing.creation, which only startRefresh's replace
   * path sets. A refresh of a key with no instance warms it up through acquire(), leaving it null,
   * so a refresh of the same key from that creation's factory (or open) gets the running
   * refresh's result and, if it waits, waits for itself (forever without openTimeout). Started by
   * a get instead, the same factory's refresh fails at once with "asked the pool for that same
   * key".
   */
  @Test
  void aRefreshFromTheFactoryOfARefreshsWarmUpFailsAtOnce() {
    AtomicReference<String> seen = new AtomicReference<>();
    AtomicInteger calls = new AtomicInteger();
    pool =
        settings()
            .ttl(TTL)
            .build(
                key -> {
                  if (calls.incrementAndGet() == 1) {
                    CompletableFuture<Void> own = pool.refresh(key);
                    try {
                      own.get(500, TimeUnit.MILLISECONDS);
                      seen.set("completed");
                    } catch (TimeoutException e) {
                      seen.set("waited for itself");
                    } catch (Exception e) {
                      seen.set("failed: " + e.getCause());
                    }
                  }
                  return factory.apply(key);
                });

    pool.refresh("a").join();

    assertThat(seen.get()).startsWith("failed: ").contains("asked the pool for that same key");
  }
}
