package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/** Issue 4's faults: resources, factories, schedulers and executors that misbehave. */
class MisbehavingResourceTest extends PoolTestSupport {

  @Test
  void closeThatNeverCompletesTimesOutAndShutdownNamesTheKey() {
    pool = settings().ttl(Duration.ofSeconds(1)).closeTimeout(Duration.ofSeconds(5)).build(factory);
    TestResource stuck = lease("stuck");
    TestResource fine = lease("fine");
    stuck.onClose = CompletableFuture::new; // never completes
    CompletableFuture<Void> closed = pool.closeAsync();
    assertThat(fine.closes).hasValue(1);
    assertThat(stuck.closes).hasValue(1);
    assertThat(closed).isNotDone();
    scheduler.advance(Duration.ofSeconds(5));
    assertThat(closed).isCompletedExceptionally();
    assertThatThrownBy(closed::join)
        .hasCauseInstanceOf(TimeoutException.class)
        .hasMessageContaining("stuck")
        .hasMessageNotContaining("fine");
    assertThat(pool.stats().closeFailures()).isEqualTo(1);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: the close of key stuck did not complete within PT5S; moving on");
    assertThatThrownBy(pool::close).isInstanceOf(CompletionException.class);
  }

  @Test
  void closeThatCompletesAfterItsTimeoutIsForgiven() {
    pool = settings().ttl(Duration.ofSeconds(1)).closeTimeout(Duration.ofSeconds(5)).build(factory);
    TestResource slow = lease("slow");
    CompletableFuture<Void> close = new CompletableFuture<>();
    slow.onClose = () -> close;
    scheduler.advance(Duration.ofSeconds(1)); // expires; close starts
    scheduler.advance(Duration.ofSeconds(5)); // times out; the pool moves on
    assertThat(pool.stats().live()).isZero();
    close.complete(null); // late
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(PoolLog.lines())
        .containsExactly(
            "WARN test-pool: the close of key slow did not complete within PT5S; moving on",
            "INFO test-pool: the close of key slow completed after its timeout",
            "DEBUG test-pool: shutting down, 0 live instances");
  }

  @Test
  void openThatNeverCompletesTimesOutClosesTheInstanceAndFreesTheKey() {
    AtomicInteger calls = new AtomicInteger();
    pool =
        settings()
            .openTimeout(Duration.ofSeconds(3))
            .build(prepared(
                    r -> {
                      if (calls.incrementAndGet() == 1) {
                        r.onOpen = CompletableFuture::new;
                      }
                    }));
    CompletableFuture<Lease<TestResource>> first = pool.acquire("k");
    CompletableFuture<Lease<TestResource>> second = pool.acquire("k");
    scheduler.advance(Duration.ofSeconds(3));
    for (CompletableFuture<Lease<TestResource>> waiter : java.util.List.of(first, second)) {
      assertThat(waiter)
          .failsWithin(Duration.ZERO)
          .withThrowableOfType(ExecutionException.class)
          .withCauseInstanceOf(TimeoutException.class)
          .withMessageContaining("key k");
    }
    assertThat(factory.created.get(0).closes).hasValue(1);
    assertThat(lease("k")).isSameAs(factory.created.get(1));
    assertThat(PoolLog.lines())
        .as("the waiters got the time-out; the pool notes it once")
        .containsExactly(
            "DEBUG test-pool: creating the instance for key k failed | TimeoutException");
  }

  @Test
  void factoryAcquiringItsOwnKeyOnTheExecutorFailsInsteadOfDeadlocking() {
    Pool<String, TestResource>[] holder = newPoolArray();
    holder[0] =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .build(key -> holder[0].acquire(key).join().get());
    pool = holder[0];
    assertThat(pool.acquire("loop"))
        .failsWithin(Duration.ofSeconds(5))
        .withThrowableOfType(ExecutionException.class)
        .withRootCauseInstanceOf(IllegalStateException.class)
        .withMessageContaining("same key");
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG asyncpool: creating the instance for key loop failed | CompletionException");
    assertThat(PoolLog.causes(Level.DEBUG).get(0))
        .hasRootCauseMessage(
            "asyncpool: the factory for key loop asked the pool for that same key");
  }

  @SuppressWarnings("unchecked")
  private static Pool<String, TestResource>[] newPoolArray() {
    return (Pool<String, TestResource>[]) new Pool<?, ?>[1];
  }

  @Test
  void rejectingSchedulerFallsBackToOurOwnAndInstancesStillExpire() {
    ScheduledExecutorService shutDown = Executors.newSingleThreadScheduledExecutor();
    shutDown.shutdown();
    pool =
        Pool.newBuilder()
            .scheduler(shutDown)
            .ttl(Duration.ofMillis(20))
            .build(factory);
    TestResource resource = lease("k"); // the release schedules expiry: rejected, not thrown
    await().atMost(Duration.ofSeconds(10)).until(resource::isClosed);
    // The application's scheduler failed, not the pool: a WARN, once; each later rejection (the
    // expiry task's every run is one) only at DEBUG, counted.
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN asyncpool: the scheduler failed to take a task; using asyncpool's own"
                + " | RejectedExecutionException");
    assertThat(PoolLog.lines(Level.DEBUG))
        .as("the expiry task ran more than once, each run's next rejected again")
        .isNotEmpty()
        .allMatch(
            line ->
                line.matches(
                    "DEBUG asyncpool: the scheduler failed to take a task again \\(\\d+ so far\\);"
                        + " using asyncpool's own"),
            "a later rejection, at DEBUG");
  }

  @Test
  void rejectingExecutorClosesInlineAndNeverThrowsAtTheReleasingCaller() {
    AtomicInteger rejected = new AtomicInteger();
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(
                task -> {
                  rejected.incrementAndGet();
                  throw new RejectedExecutionException("executor is shut down");
                })
            .ttl(Duration.ZERO)
            .build(factory);
    TestResource resource = lease("k"); // release closes: executor rejects, close runs inline
    assertThat(resource.closes).hasValue(1);
    assertThat(rejected).hasPositiveValue();
    assertThat(pool.acquire("j"))
        .as("a synchronous factory for acquire needs the executor: the creation fails")
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(RejectedExecutionException.class);
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(PoolLog.lines())
        .containsExactly(
            "WARN asyncpool: executor rejected the close of key k; closing inline"
                + " | RejectedExecutionException",
            "DEBUG asyncpool: creating the instance for key j failed | RejectedExecutionException",
            "DEBUG asyncpool: shutting down, 0 live instances");
  }

  /**
   * An executor that cannot start a thread throws OutOfMemoryError from execute(), not a
   * rejection: the instance was claimed already, so the close must still run (inline), or it
   * would never close and shutdown would never complete; and the releasing caller must not get
   * the Error.
   */
  @Test
  void anExecutorThatThrowsAnErrorClosesInlineToo() {
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(
                task -> {
                  throw new OutOfMemoryError("unable to create native thread");
                })
            .ttl(Duration.ZERO)
            .build(factory);
    TestResource resource = lease("k"); // release closes: execute() throws, close runs inline
    assertThat(resource.closes).hasValue(1);
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(PoolLog.lines())
        .containsExactly(
            "WARN asyncpool: executor rejected the close of key k; closing inline"
                + " | OutOfMemoryError",
            "DEBUG asyncpool: shutting down, 0 live instances");
  }

  /**
   * An executor whose execute() throws something other than a rejection (an Error, or an
   * IllegalStateException of its own) when a creation is handed to it: that creation fails with
   * it, and the key is not wedged: the next request creates again.
   */
  @Test
  void anExecutorThatThrowsOnACreationFailsThatCreationOnly() {
    AtomicInteger failuresLeft = new AtomicInteger(2);
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(
                task -> {
                  int left = failuresLeft.getAndDecrement();
                  if (left == 2) {
                    throw new IllegalStateException("executor broken");
                  }
                  if (left == 1) {
                    throw new OutOfMemoryError("unable to create native thread");
                  }
                  task.run();
                })
            .ttl(Duration.ofSeconds(1))
            .build(factory);
    assertThat(pool.acquire("k"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(IllegalStateException.class);
    assertThat(pool.acquire("k"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(OutOfMemoryError.class);
    CompletableFuture<Lease<TestResource>> third = pool.acquire("k");
    assertThat(third).as("the key is not wedged").isCompleted();
    third.join().close();
    assertThat(factory.created).hasSize(1);
    assertThat(PoolLog.lines(Level.DEBUG))
        .containsExactly(
            "DEBUG asyncpool: creating the instance for key k failed | IllegalStateException",
            "DEBUG asyncpool: creating the instance for key k failed | OutOfMemoryError");
  }

  /** A key whose hashCode changes after it was put in the pool: unsupported, but harmless. */
  static final class MutableKey {
    int hash;

    MutableKey(int hash) {
      this.hash = hash;
    }

    @Override
    public int hashCode() {
      return hash;
    }

    @Override
    public boolean equals(Object other) {
      return other == this;
    }
  }

  @Test
  void keyWhoseHashChangesCorruptsNoOtherKey() {
    Pool<Object, TestResource> mixed =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .ttl(Duration.ofSeconds(1))
            .build(factory);
    MutableKey bad = new MutableKey(1);
    mixed.get(bad).close();
    bad.hash = 2; // misuse
    try (Lease<TestResource> other = mixed.get("other")) {
      assertThat(other.get().key).isEqualTo("other");
    }
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(factory.created).allSatisfy(r -> assertThat(r.closes).hasValue(1));
    assertThat(mixed.closeAsync()).isCompleted();
    assertThat(PoolLog.lines()).containsExactly("DEBUG asyncpool: shutting down, 0 live instances");
  }

  /** A key whose hashCode throws once broken: user code the pool calls to remove it. */
  static final class BreakingKey {
    volatile boolean broken;

    @Override
    public int hashCode() {
      if (broken) {
        throw new IllegalStateException("hashCode broke");
      }
      return 7;
    }

    @Override
    public boolean equals(Object other) {
      return other == this;
    }

    @Override
    public String toString() {
      return "breaking-key";
    }
  }

  @Test
  void keyThatThrowsWhileRemovedIsStillClosedAndLoggedAsTheKeysFault() {
    Pool<Object, TestResource> keyed =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .ttl(Duration.ofSeconds(1))
            .build(factory);
    BreakingKey key = new BreakingKey();
    keyed.get(key).close();
    key.broken = true; // misuse: the expiry's removal from the map throws
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(factory.created.get(0).closes).as("closed all the same").hasValue(1);
    // The key's own code failed, as a resource's close may: a WARN, not the pool's ERROR.
    assertThat(PoolLog.lines())
        .containsExactly(
            "WARN asyncpool: removing key breaking-key from the map failed"
                + " | IllegalStateException");
    key.broken = false;
    assertThat(keyed.closeAsync()).isCompleted();
  }

  @Test
  void leakedLeaseIsReportedAndItsShareReleased() {
    pool = settings().ttl(Duration.ofSeconds(1)).leakDetection().build(factory);
    leakALease();
    TestResource resource = factory.created.get(0);
    await()
        .atMost(Duration.ofSeconds(20))
        .until(
            () -> {
              System.gc();
              return pool.stats().leakedLeases() == 1;
            });
    // The cleaner counts the leak, logs it, then gives the share back: wait for the last step.
    await().atMost(Duration.ofSeconds(10)).until(() -> pool.stats().idle() == 1);
    assertThat(PoolLog.lines())
        .containsExactly(
            "WARN test-pool: a lease of key k was garbage-collected without close(); releasing it"
                + " | LeakTrace");
    assertThat(PoolLog.causes(Level.WARN).get(0))
        .hasMessage("the leaked lease was acquired here")
        .satisfies(
            trace ->
                assertThat(trace.getStackTrace())
                    .as("where the lease was acquired")
                    .anyMatch(frame -> frame.getMethodName().equals("leakALease")));
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(resource.closes).as("the leaked share was given back; it expired").hasValue(1);
    // A closed tracked lease is not reported.
    try (Lease<TestResource> lease = pool.get("k")) {
      assertThat(lease.get()).isNotSameAs(resource);
    }
    System.gc();
    assertThat(pool.stats().leakedLeases()).isEqualTo(1);
    assertThat(PoolLog.lines(Level.WARN)).as("one leak, one warning").hasSize(1);
  }

  private void leakALease() {
    pool.get("k"); // never closed
  }

  @Test
  void timeoutsMustBePositive() {
    assertThatThrownBy(() -> settings().openTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("openTimeout must be positive: PT0S");
    assertThatThrownBy(() -> settings().closeTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("closeTimeout must be positive: PT-1S");
    assertThatThrownBy(() -> settings().closeTimeout(null)).hasMessage("closeTimeout");
  }

  @Test
  void durationsTooLongForNanosecondsMeanNever() {
    pool =
        settings()
            .ttl(Duration.ofSeconds(Long.MAX_VALUE))
            .openTimeout(Duration.ofSeconds(Long.MAX_VALUE))
            .closeTimeout(Duration.ofSeconds(Long.MAX_VALUE))
            .build(factory);
    TestResource resource = lease("k");
    scheduler.advance(Duration.ofDays(36_500));
    assertThat(resource.closes).hasValue(0);
    assertThat(pool.closeAsync(Duration.ofSeconds(Long.MAX_VALUE))).isCompleted();
    assertThat(resource.closes).hasValue(1);
  }
}
