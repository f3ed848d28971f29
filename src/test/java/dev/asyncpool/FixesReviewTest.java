package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Review 4: attacks on the last commits' fixes (an executor's Error caught and the work run
 * inline; an eviction that does not claim an entry by its stale filed deadline).
 */
class FixesReviewTest extends PoolTestSupport {

  // ---- An executor that queues the task, then throws -------------------------------------------
  //
  // ThreadPoolExecutor.execute() with no worker alive (corePoolSize 0, or all timed out) offers
  // the task to its queue first, then calls addWorker(null, false), whose Thread.start() throws
  // OutOfMemoryError ("unable to create native thread") when no thread can be started: the Error
  // reaches the caller, and the task stays queued, run by the next worker that does start. The
  // fixes run the work inline on any Error, so it runs twice.

  /** Tasks the executor accepted (queued) although its execute() threw. */
  private final Deque<Runnable> queued = new ArrayDeque<>();

  private final AtomicBoolean queueThenThrow = new AtomicBoolean();

  private final Executor queuesThenThrows =
      task -> {
        if (queueThenThrow.getAndSet(false)) {
          queued.add(task);
          throw new OutOfMemoryError("unable to create native thread");
        }
        task.run();
      };

  private PoolBuilder<Object, Object> queueing() {
    return Pool.newBuilder()
        .ticker(ticker)
        .scheduler(scheduler)
        .executor(queuesThenThrows)
        .name("test-pool");
  }

  /** A worker starts after all, and runs what was queued. */
  private void runQueued() {
    Runnable task;
    while ((task = queued.poll()) != null) {
      task.run();
    }
  }

  /**
   * Closing.closeLater (7e76494): the close runs inline, then again from the executor's queue:
   * closeAsync twice, two closes counted, live -1, and shutdown never completes ("shutting down,
   * -1 live instances").
   */
  @Test
  void aCloseTheExecutorQueuedBeforeThrowingMustNotRunAgainAfterTheInlineClose() {
    pool = queueing().ttl(Duration.ZERO).build(factory);
    queueThenThrow.set(true);
    TestResource r = lease("k"); // the release claims and closes it: execute() queues, throws
    assertThat(r.closes).as("closed inline").hasValue(1);
    runQueued();
    assertThat(PoolLog.lines(Level.WARN))
        .contains(
            "WARN test-pool: executor rejected the close of key k; closing inline"
                + " | OutOfMemoryError");
    assertThat(r.closes).as("closed exactly once").hasValue(1); // was 2
    assertThat(pool.stats().closes()).isEqualTo(1); // was 2
    assertThat(pool.stats().live()).isZero(); // was -1
    assertThat(pool.closeAsync()).as("shutdown completes").isCompleted(); // never did
  }

  /**
   * KeyedPool.closeRetired (4b36b38): the batch is closed inline, then again from the queue:
   * each instance closed twice, 4 closes counted for 2, live -2, shutdown never completes.
   */
  @Test
  void anExpiredBatchTheExecutorQueuedBeforeThrowingMustNotBeClosedTwice() {
    pool = queueing().ttl(Duration.ofSeconds(1)).build(factory);
    TestResource a = lease("a");
    TestResource b = lease("b");
    queueThenThrow.set(true);
    scheduler.advance(Duration.ofSeconds(2)); // the task claims both, hands them to closeRetired
    assertThat(a.closes).as("closed inline").hasValue(1);
    runQueued();
    assertThat(PoolLog.lines(Level.WARN))
        .contains("WARN test-pool: executor rejected 2 closes; closing inline | OutOfMemoryError");
    assertThat(a.closes).as("closed exactly once").hasValue(1); // was 2
    assertThat(b.closes).as("closed exactly once").hasValue(1); // was 2
    assertThat(pool.stats().expirations()).isEqualTo(2);
    assertThat(pool.stats().closes()).isEqualTo(2); // was 4
    assertThat(pool.stats().live()).isZero(); // was -2
    assertThat(pool.closeAsync()).as("shutdown completes").isCompleted(); // never did
  }

  /**
   * KeyedPool.execute (a3c6f96): the creation fails with the Error (settled), but the factory
   * step the executor queued ran later: it made and opened an instance for the creation that had
   * failed, which nothing closed (opens=1, closes=0, not counted as live; shutdown completed
   * without it). Now the step is a RunOnce that the failure claims: the queued copy does nothing.
   */
  @Test
  void aCreationStepTheExecutorQueuedBeforeThrowingMustNotLeakTheInstanceItMakesLater() {
    pool = queueing().ttl(Duration.ofSeconds(1)).build(factory);
    queueThenThrow.set(true);
    CompletableFuture<Lease<TestResource>> first = pool.acquire("k");
    assertThat(first)
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(OutOfMemoryError.class);
    runQueued(); // the step the executor queued: the creation failed, so it does nothing
    assertThat(factory.created).as("no factory call for a creation that failed").isEmpty();
    TestResource again = lease("k");
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(factory.created).containsExactly(again);
    assertThat(again.opens).hasValue(1);
    assertThat(again.closes).hasValue(1);
    assertThat(pool.stats().creationFailures()).isEqualTo(1);
    assertThat(pool.stats().live()).isZero();
    assertThat(PoolLog.lines(Level.WARN)).isEmpty();
    assertThat(PoolLog.lines(Level.ERROR)).isEmpty();
  }

  // ---- Eviction order after 80dc43c ------------------------------------------------------------

  /**
   * Two keys of 5 s TTL in a pool of 2. "a" is released at 0 (filed at level 2 by 5.0 s, a
   * bucket that comes up at 4.29 s), released again at 1 s (really due at about 6.07 s); "r" is
   * released at 4 s (due at 9 s, level 2 too). A request for "c" at 4 s needs room: "a" is due
   * 3 s before "r" and was released 3 s before it, so "a" must go. The walk finds "a" in its
   * level-2 bucket used since it was filed, and its look files it by 6.07 s, in level 1, which
   * the walk has passed: the walk goes on and claims "r".
   */
  @Test
  void anEvictionMustNotTakeALaterDueInstanceBecauseTheOlderOneWasRefiledBehindTheWalk() {
    pool =
        settings()
            .ttl((String key) -> Duration.ofSeconds(5))
            .maxInstances(2)
            .acquireTimeout(Duration.ofSeconds(5))
            .build(factory);
    TestResource a = lease("a");
    Lease<TestResource> rLease = pool.get("r");
    TestResource r = rLease.get();
    scheduler.advance(Duration.ofSeconds(1)); // the task files "a" by 5 s
    lease("a"); // a warm release: "a" stays filed by 5 s, really due about 6.07 s
    scheduler.advance(Duration.ofSeconds(3));
    rLease.close(); // "r" due at 9 s
    CompletableFuture<Lease<TestResource>> c = pool.acquire("c");
    scheduler.runDue();
    assertThat(c).isCompleted();
    c.join().close();
    assertThat(a.closes.get() + r.closes.get()).as("one made room").isEqualTo(1);
    assertThat(r.closes).as("r, released at 4 s, due at 9 s, must not go first").hasValue(0);
    assertThat(a.closes).as("a, released at 1 s, due at about 6.07 s, made room").hasValue(1);
  }
}
