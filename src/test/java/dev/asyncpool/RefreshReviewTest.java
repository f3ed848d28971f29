package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Review of issue 12's refresh: failing tests, one per bug found. */
@Timeout(30)
class RefreshReviewTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofMinutes(5);

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

  /**
   * Bug: a grace period's end scans the map and {@code draining}; a refresh's replacement is in
   * neither while it is created, so closeAsync(ZERO) does not end it: the shutdown waits for its
   * open, or its openTimeout (60 s by default), where a cold key's creation is ended at once.
   */
  @Test
  void gracePeriodEndAlsoEndsAReplacementStillBeingCreated() {
    pool = settings().ttl(TTL).build(laterOpensPending());
    lease("a");
    CompletableFuture<Void> refreshed = pool.refresh("a");
    assertThat(factory.created).hasSize(2);

    CompletableFuture<Void> shutdown = pool.closeAsync(Duration.ZERO);

    assertThat(refreshed).as("the replacement's creation ended with the grace period").isDone();
    assertThat(shutdown).as("a grace period of zero ends every creation at once").isDone();
    pendingOpens.get(0).complete(null);
    assertThat(factory.created.get(1).closes).as("never handed out, closed once").hasValue(1);
    assertThat(pool.stats().live()).isZero();
  }

  /**
   * Bug: {@code refresh} removes its future from {@code refreshing} in a whenComplete registered
   * before the copy it returns; CompletableFuture runs dependents last-in first-out, so the caller
   * sees its refresh complete while it is still listed. A refresh asked for then (in a callback,
   * or on another thread woken by join()) is handed the completed one's copy: nothing is created.
   */
  @Test
  void aRefreshAskedForAfterTheLastOneCompletedRunsAgain() {
    pool = settings().ttl(TTL).build(laterOpensPending());
    lease("a");
    AtomicReference<CompletableFuture<Void>> second = new AtomicReference<>();
    CompletableFuture<Void> first = pool.refresh("a");
    first.thenRun(() -> second.set(pool.refresh("a")));

    pendingOpens.get(0).complete(null); // the first refresh completes; its caller asks again

    assertThat(first).succeedsWithin(Duration.ZERO);
    assertThat(factory.created)
        .as("the second refresh, asked for after the first completed, made an instance")
        .hasSize(3);
    pendingOpens.get(1).complete(null);
    assertThat(second.get()).succeedsWithin(Duration.ZERO);
  }

  /**
   * Bug: when the swap itself fails (the key's hashCode throws in swapIn), the replacement is
   * closed unused and the old instance stays, yet the refresh's future completes normally. The
   * contract: on failure the old instance stays in service and the future fails with the cause.
   */
  @Test
  void aSwapThatFailsFailsTheRefresh() {
    InvalidateFaultsTest.TrippingKey key = new InvalidateFaultsTest.TrippingKey();
    Pool<InvalidateFaultsTest.TrippingKey, TestResource> keyed =
        settings()
            .ttl(TTL)
            .build(
                k -> {
                  TestResource r = factory.apply(k);
                  if (factory.created.size() == 2) {
                    key.throwOnCall(1); // the next hashCode: swapIn's map.replace
                  }
                  return r;
                });
    keyed.get(key).close();
    TestResource old = factory.created.get(0);

    CompletableFuture<Void> refreshed = keyed.refresh(key);

    assertThat(factory.created.get(1).closes).as("the replacement, closed unused").hasValue(1);
    try (Lease<TestResource> lease = keyed.get(key)) {
      assertThat(lease.get()).as("the old instance stays in service").isSameAs(old);
    }
    assertThat(refreshed)
        .as("nothing was replaced: the refresh must fail with the cause")
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withRootCauseInstanceOf(IllegalStateException.class);
    keyed.closeAsync();
  }

  /**
   * Bug: swapIn hands an idle old instance to closeLater before it tells onRefreshed, whose
   * comment says "event: before the old instance's close". With a direct executor the listener
   * hears onClosed(old) first, then onRefreshed(old -> new), about an instance already closed.
   */
  @Test
  void onRefreshedComesBeforeTheOldInstancesClose() {
    List<String> events = new CopyOnWriteArrayList<>();
    pool =
        settings()
            .ttl(TTL)
            .listener(
                new PoolListener<String, TestResource>() {
                  @Override
                  public void onRefreshed(String k, TestResource previous, TestResource fresh) {
                    events.add("refreshed " + factory.created.indexOf(previous));
                  }

                  @Override
                  public void onClosed(String k, TestResource resource, Duration closeTime) {
                    events.add("closed " + factory.created.indexOf(resource));
                  }
                })
            .build(factory);
    lease("a");

    pool.refresh("a").join();

    assertThat(events).containsExactly("refreshed 0", "closed 0");
  }

  /**
   * Bug: a factory (or openAsync) asking for a refresh of its own key is handed the running
   * refresh's future, which can only complete after that factory returns: joined, it deadlocks
   * until openTimeout, then fails the refresh and starts the key's backoff. get() and acquire()
   * refuse such a request at once (the creation's runsOn check); refresh does not.
   */
  @Test
  void aFactoryAskingToRefreshItsOwnKeyIsRefusedAtOnce() {
    AtomicReference<CompletableFuture<Void>> inner = new AtomicReference<>();
    AtomicReference<Pool<String, TestResource>> self = new AtomicReference<>();
    pool =
        settings()
            .ttl(TTL)
            .build(
                k -> {
                  TestResource r = factory.apply(k);
                  if (factory.created.size() == 2) {
                    inner.set(self.get().refresh(k)); // from inside the refresh's own factory
                  }
                  return r;
                });
    self.set(pool);
    lease("a");

    CompletableFuture<Void> refreshed = pool.refresh("a");

    assertThat(refreshed).succeedsWithin(Duration.ZERO);
    assertThat(inner.get())
        .as("refused at once, not a future only its own caller's return can complete")
        .isCompletedExceptionally();
  }

  /**
   * Bug: scheduleLifetime's task is never cancelled, and it holds the pool strongly (only the
   * entry weakly). After shutdown (and after an instance closes for any other reason) it stays
   * scheduled until the lifetime would have ended, keeping the closed pool reachable; with TTL
   * churn the scheduler holds one such task per instance ever opened in the last maxLifetime.
   * Backoff cancels its tasks at shutdown for this very reason.
   */
  @Test
  void shutdownLeavesNoLifetimeTaskScheduled() {
    pool = settings().ttl(TTL).maxLifetime(Duration.ofHours(1)).build(factory);
    for (int i = 0; i < 3; i++) {
      lease("a");
      pool.invalidate("a"); // closed: its lifetime no longer matters
    }
    lease("a");

    assertThat(pool.closeAsync()).succeedsWithin(Duration.ZERO);
    scheduler.advance(TTL.plusMinutes(1)); // the expiry task's last run: it finds the pool closed

    assertThat(scheduler.pending())
        .as("nothing keeps the closed pool reachable (an hour of lifetime tasks)")
        .isZero();
  }

}
