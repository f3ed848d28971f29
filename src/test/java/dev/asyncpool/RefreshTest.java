package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.event.Level;

/**
 * Issue 12: {@link Pool#refresh} replaces an open instance with no gap, once per key at a time,
 * keeps the old one when the new one fails, and loses no instance to a race with invalidate or
 * shutdown. On the fake clock and the manual scheduler; closes run inline.
 */
@Timeout(30) // a lost wake-up would block a lease forever: fail instead
class RefreshTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofMinutes(5);

  /** Records refresh events as "key: previous -> new" and failures as "key: kept ...". */
  final List<String> events = new CopyOnWriteArrayList<>();

  final PoolListener<String, TestResource> recorder =
      new PoolListener<>() {
        @Override
        public void onRefreshed(String key, TestResource previous, TestResource resource) {
          events.add(key + ": " + index(previous) + " -> " + index(resource));
        }

        @Override
        public void onRefreshFailed(String key, TestResource resource, Throwable cause) {
          events.add(key + ": kept " + index(resource) + " (" + cause.getMessage() + ")");
        }
      };

  private int index(TestResource resource) {
    return factory.created.indexOf(resource);
  }

  /** Instances after the first open only when the test completes their open. */
  final List<CompletableFuture<Void>> pendingOpens = new CopyOnWriteArrayList<>();

  private Function<String, TestResource> laterOpensPending() {
    return prepared(
        r -> {
          if (factory.created.size() > 1) {
            CompletableFuture<Void> open = new CompletableFuture<>();
            pendingOpens.add(open);
            r.onOpen = () -> open;
          }
        });
  }

  @Test
  void anIdleInstanceIsReplacedAndClosed() {
    pool = settings().ttl(TTL).recordStats().listener(recorder).build(factory);
    TestResource old = lease("a");

    assertThat(pool.refresh("a")).succeedsWithin(Duration.ZERO);

    assertThat(old.closes).as("the replaced idle instance is closed at once").hasValue(1);
    TestResource fresh = lease("a");
    assertThat(fresh).isNotSameAs(old);
    assertThat(fresh.closes).hasValue(0);
    assertThat(events).containsExactly("a: 0 -> 1");
    PoolStats stats = pool.stats();
    assertThat(stats.refreshes()).isEqualTo(1);
    assertThat(stats.creations()).isEqualTo(2);
    assertThat(stats.live()).isEqualTo(1);
  }

  @Test
  void aLeasedInstanceKeepsServingItsLeaseAndClosesAtItsLastRelease() {
    pool = settings().ttl(TTL).build(factory);
    Lease<TestResource> held = pool.get("a");
    TestResource old = held.get();

    assertThat(pool.refresh("a")).succeedsWithin(Duration.ZERO);

    assertThat(old.closes).as("never closed under its lease").hasValue(0);
    assertThat(lease("a")).as("a lease after the swap gets the new one").isNotSameAs(old);
    held.close();
    assertThat(old.closes).as("closed at its last release").hasValue(1);
  }

  @Test
  void requestsWhileTheNewInstanceOpensGetTheOldOne() {
    pool = settings().ttl(TTL).build(laterOpensPending());
    TestResource old = lease("a");

    CompletableFuture<Void> refreshed = pool.refresh("a");

    assertThat(refreshed).isNotDone();
    assertThat(factory.created).hasSize(2);
    assertThat(lease("a")).as("no gap: the old instance serves meanwhile").isSameAs(old);
    pendingOpens.get(0).complete(null);
    assertThat(refreshed).succeedsWithin(Duration.ZERO);
    assertThat(lease("a")).isSameAs(factory.created.get(1));
    assertThat(old.closes).hasValue(1);
  }

  @Test
  void aFailedRefreshLeavesTheOldInstanceInServiceAndSaysSo() {
    AtomicInteger calls = new AtomicInteger();
    pool =
        settings()
            .ttl(TTL)
            .listener(recorder)
            .build(
                key -> {
                  if (calls.incrementAndGet() == 2) {
                    throw new IllegalStateException("password rejected");
                  }
                  return factory.apply(key);
                });
    TestResource old = lease("a");

    CompletableFuture<Void> refreshed = pool.refresh("a");

    assertThat(refreshed)
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(IllegalStateException.class)
        .withMessage("password rejected");
    assertThat(lease("a")).isSameAs(old);
    assertThat(old.closes).hasValue(0);
    assertThat(events).containsExactly("a: kept 0 (password rejected)");
    assertThat(pool.stats().refreshFailures()).isEqualTo(1);
    assertThat(pool.stats().refreshes()).isZero();
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: refreshing key a failed; its current instance stays in service"
                + " | IllegalStateException");

    assertThat(pool.refresh("a")).as("a later refresh may succeed").succeedsWithin(Duration.ZERO);
    assertThat(old.closes).hasValue(1);
  }

  @Test
  void withNoInstanceItCreatesOne() {
    pool = settings().ttl(TTL).listener(recorder).build(factory);

    assertThat(pool.refresh("cold")).succeedsWithin(Duration.ZERO);

    assertThat(factory.created).hasSize(1);
    assertThat(pool.getIfPresent("cold")).as("warmed up: open, and idle").isNotNull().satisfies(
        Lease::close);
    assertThat(events).as("a warm-up replaces nothing").isEmpty();
    assertThat(pool.stats().refreshes()).isZero();
  }

  @Test
  void concurrentRefreshesOfOneKeyMakeOneInstance() {
    pool = settings().ttl(TTL).build(laterOpensPending());
    lease("a");

    CompletableFuture<Void> first = pool.refresh("a");
    CompletableFuture<Void> second = pool.refresh("a");
    first.cancel(false); // a caller that gives up stops nobody else's refresh

    assertThat(factory.created).as("one replacement").hasSize(2);
    pendingOpens.get(0).complete(null);
    assertThat(second).succeedsWithin(Duration.ZERO);
    assertThat(lease("a")).isSameAs(factory.created.get(1));
  }

  @Test
  void aRefreshJoinsACreationUnderWay() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    pool = settings().ttl(TTL).build(prepared(r -> r.onOpen = () -> open));
    CompletableFuture<Lease<TestResource>> request = pool.acquire("a");

    CompletableFuture<Void> refreshed = pool.refresh("a");

    assertThat(factory.created).as("single flight with the creation").hasSize(1);
    open.complete(null);
    assertThat(refreshed).succeedsWithin(Duration.ZERO);
    assertThat(request).succeedsWithin(Duration.ZERO).satisfies(Lease::close);
    assertThat(factory.created).hasSize(1);
  }

  @Test
  void aClosedPoolRefusesARefresh() {
    pool = settings().ttl(TTL).build(factory);
    pool.close();

    assertThat(pool.refresh("a"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(IllegalStateException.class)
        .withMessage("pool 'test-pool' is closed");
  }

  @Test
  void shutdownWhileTheNewInstanceOpensClosesBothOnceAndFailsTheRefresh() {
    pool = settings().ttl(TTL).build(laterOpensPending());
    Lease<TestResource> held = pool.get("a");
    CompletableFuture<Void> refreshed = pool.refresh("a");

    CompletableFuture<Void> shutdown = pool.closeAsync();
    pendingOpens.get(0).complete(null);

    assertThat(refreshed).failsWithin(Duration.ZERO);
    assertThat(factory.created.get(1).closes).as("the new instance, never in service").hasValue(1);
    assertThat(shutdown).isNotDone();
    held.close();
    assertThat(factory.created.get(0).closes).hasValue(1);
    assertThat(shutdown).succeedsWithin(Duration.ZERO);
    assertThat(PoolLog.lines(Level.WARN)).as("a refresh ended by shutdown is no failure").isEmpty();
  }

  @Test
  void invalidateWhileTheNewInstanceOpensLetsItTakeTheEmptyPlace() {
    pool = settings().ttl(TTL).build(laterOpensPending());
    TestResource old = lease("a");
    CompletableFuture<Void> refreshed = pool.refresh("a");

    assertThat(pool.invalidate("a")).isTrue();
    assertThat(old.closes).hasValue(1);
    pendingOpens.get(0).complete(null);

    assertThat(refreshed).succeedsWithin(Duration.ZERO);
    assertThat(lease("a")).isSameAs(factory.created.get(1));
    assertThat(factory.created).as("no third instance").hasSize(2);
    assertThat(old.closes).as("closed once").hasValue(1);
  }

  @Test
  void aNewerInstanceMadeMeanwhileWinsAndTheReplacementIsClosedUnused() {
    pool = settings().ttl(TTL).build(laterOpensPending());
    lease("a");
    CompletableFuture<Void> refreshed = pool.refresh("a");
    pool.invalidate("a");
    CompletableFuture<Lease<TestResource>> request = pool.acquire("a"); // a third instance
    pendingOpens.get(1).complete(null);
    TestResource third;
    try (Lease<TestResource> lease = request.join()) {
      third = lease.get();
    }

    pendingOpens.get(0).complete(null);

    assertThat(refreshed).succeedsWithin(Duration.ZERO);
    assertThat(factory.created.get(1).closes).as("the replacement, closed unused").hasValue(1);
    assertThat(third.closes).hasValue(0);
    assertThat(lease("a")).isSameAs(third);
  }

  @Test
  void theNewInstanceExpiresATtlAfterTheSwap() {
    pool = settings().ttl(TTL).build(factory);
    lease("a");
    scheduler.advance(TTL.minusMinutes(1));

    pool.refresh("a").join();
    scheduler.advance(Duration.ofMinutes(4));

    assertThat(factory.created.get(1).closes).as("idle 4 of its 5 minutes").hasValue(0);
    scheduler.advance(Duration.ofMinutes(1).plusSeconds(10));
    assertThat(factory.created.get(1).closes).hasValue(1);
  }

  @Test
  void inABoundedPoolTheReplacementWaitsForRoomAndFailsIfThereIsNone() {
    pool =
        settings()
            .ttl(TTL)
            .maxInstances(1)
            .acquireTimeout(Duration.ofSeconds(1))
            .listener(recorder)
            .build(factory);
    Lease<TestResource> held = pool.get("a"); // the only instance, leased: nothing to evict

    CompletableFuture<Void> refreshed = pool.refresh("a");
    assertThat(factory.created).as("no room for a second instance").hasSize(1);
    scheduler.advance(Duration.ofSeconds(1));

    assertThat(refreshed)
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(PoolExhaustedException.class);
    assertThat(held.get().closes).hasValue(0);
    assertThat(pool.stats().weightInUse()).isEqualTo(1);
    held.close();
    assertThat(PoolLog.lines(Level.WARN)).hasSize(1);
    assertThat(events).hasSize(1);
  }

  @Test
  void aGracePeriodsEndClosesAReplacedInstanceStillLeased() {
    pool = settings().ttl(TTL).build(factory);
    Lease<TestResource> held = pool.get("a"); // never closed by its holder
    pool.refresh("a").join();

    CompletableFuture<Void> shutdown = pool.closeAsync(Duration.ZERO);

    assertThat(held.get().closes).as("out of the map, still found and closed").hasValue(1);
    assertThat(factory.created.get(1).closes).hasValue(1);
    assertThat(shutdown).succeedsWithin(Duration.ZERO);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: closing the instance for key a with 1 lease(s) still open:"
                + " grace period over");
  }

  @Test
  void aFailedRefreshStartsTheKeysBackoffAndARefreshWithinItFailsAtOnce() {
    AtomicInteger calls = new AtomicInteger();
    pool =
        settings()
            .ttl(TTL)
            .retryBackoff(Duration.ofSeconds(10), Duration.ofMinutes(1))
            .build(
                key -> {
                  if (calls.incrementAndGet() == 2) {
                    throw new IllegalStateException("password rejected");
                  }
                  return factory.apply(key);
                });
    TestResource old = lease("a");
    assertThat(pool.refresh("a")).failsWithin(Duration.ZERO);

    assertThat(pool.refresh("a"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(RetryBackoffException.class)
        .withRootCauseInstanceOf(IllegalStateException.class);
    assertThat(calls).as("not tried again within the backoff").hasValue(2);
    assertThat(lease("a")).as("the old instance serves throughout").isSameAs(old);

    scheduler.advance(Duration.ofSeconds(10));
    assertThat(pool.refresh("a")).succeedsWithin(Duration.ZERO);
    assertThat(PoolLog.lines(Level.WARN)).hasSize(1);
  }
}
