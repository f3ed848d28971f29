package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Issue 10, items 4 and 5: a creation that cannot finish (a factory stage that never completes,
 * an {@code openAsync} waiting for its own key) must neither wedge its key nor shutdown.
 */
class CreationDeadlineTest extends PoolTestSupport {

  /** Bounds every wait on another thread: a test that would hang fails instead. */
  private static final Duration BOUND = Duration.ofSeconds(5);

  /** What the pool logs when a factory returns after its creation ended. */
  private static final String LATE_INSTANCE =
      "WARN test-pool: the factory for key k returned after its creation had ended;"
          + " closing the instance";

  @Test
  void openAsyncAskingForItsOwnKeyOnTheThreadThatCompletedTheFactoryFailsInsteadOfDeadlocking()
      throws InterruptedException {
    AtomicReference<Pool<String, TestResource>> self = new AtomicReference<>();
    CompletableFuture<TestResource> made = new CompletableFuture<>();
    pool = settings().buildAsync(key -> made);
    self.set(pool);
    TestResource resource = new TestResource("loop");
    resource.onOpen =
        () -> {
          self.get().get("loop").close();
          return CompletableFuture.completedFuture(null);
        };
    CompletableFuture<Lease<TestResource>> waiter = pool.acquire("loop"); // the stage is pending

    // Another thread completes the factory's stage, and so runs openAsync.
    Thread completer = new Thread(() -> made.complete(resource), "stage-completer");
    completer.setDaemon(true); // before the fix it blocks for good
    completer.start();

    assertThat(waiter)
        .failsWithin(BOUND)
        .withThrowableOfType(ExecutionException.class)
        .withRootCauseInstanceOf(IllegalStateException.class)
        .withMessageContaining("loop")
        .withMessageContaining("same key");
    completer.join(BOUND.toMillis()); // it fails the waiters, then closes the instance
    assertThat(resource.closes).as("the instance whose open failed is closed").hasValue(1);
    assertThat(PoolLog.lines(Level.DEBUG))
        .contains(
            "DEBUG test-pool: creating the instance for key loop failed | IllegalStateException");
    assertThat(PoolLog.lines(Level.WARN)).isEmpty();
    assertThat(pool.closeAsync()).succeedsWithin(Duration.ZERO);
  }

  @Test
  void factoryStageThatNeverCompletesFailsItsWaitersAtTheOpenTimeoutAndFreesTheKey() {
    CompletableFuture<TestResource> never = new CompletableFuture<>();
    AtomicInteger calls = new AtomicInteger();
    pool =
        settings()
            .openTimeout(Duration.ofSeconds(3))
            .buildAsync(
                key ->
                    calls.incrementAndGet() == 1
                        ? never
                        : CompletableFuture.completedFuture(factory.apply(key)));
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
    assertThat(lease("k")).as("the key starts afresh").isSameAs(factory.created.get(0));
    TestResource late = new TestResource("k");
    never.complete(late);
    assertThat(late.closes).as("what the factory returns after the deadline is closed").hasValue(1);
    assertThat(late.opens).as("never opened, never handed out").hasValue(0);
    assertThat(PoolLog.lines(Level.DEBUG))
        .contains("DEBUG test-pool: creating the instance for key k failed | TimeoutException");
    assertThat(PoolLog.lines(Level.WARN)).containsExactly(LATE_INSTANCE);
    assertThat(pool.closeAsync()).succeedsWithin(Duration.ZERO);
  }

  @Test
  void gracePeriodEndFailsAFactoryStageThatNeverCompletesAndShutdownCompletes() {
    CompletableFuture<TestResource> never = new CompletableFuture<>();
    pool = settings().buildAsync(key -> never);
    CompletableFuture<Lease<TestResource>> waiter = pool.acquire("k");

    CompletableFuture<Void> closed = pool.closeAsync(Duration.ZERO);

    assertThat(closed).succeedsWithin(Duration.ZERO);
    assertThat(waiter)
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(IllegalStateException.class)
        .withMessageContaining("closed");
    TestResource late = new TestResource("k");
    never.complete(late);
    assertThat(late.closes).as("what the factory returns after shutdown is closed").hasValue(1);
    assertThat(late.opens).hasValue(0);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: the creation of key k was still under way: grace period over",
            LATE_INSTANCE);
  }

  @Test
  void synchronousFactoryBlockedPastTheDeadlineFailsTheOtherWaitersAndItsInstanceIsClosed()
      throws InterruptedException {
    CountDownLatch inFactory = new CountDownLatch(1);
    CountDownLatch unblock = new CountDownLatch(1);
    pool = settings().openTimeout(Duration.ofSeconds(3)).build(blockingFactory(inFactory, unblock));
    CompletableFuture<Lease<TestResource>> creator = onDaemonThread(() -> pool.get("k"));
    assertThat(inFactory.await(BOUND.toSeconds(), TimeUnit.SECONDS)).isTrue();

    scheduler.advance(Duration.ofSeconds(1));
    CompletableFuture<Lease<TestResource>> waiter = pool.acquire("k");
    scheduler.advance(Duration.ofSeconds(2)); // 3 s from the creation's start, 2 s from the wait

    assertThat(waiter)
        .as("the other caller fails at the deadline, counted from the creation's start")
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(TimeoutException.class)
        .withMessageContaining("key k");
    unblock.countDown();
    assertThat(creator)
        .as("the caller running the factory learns of the deadline once it returns")
        .failsWithin(BOUND)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(TimeoutException.class);
    TestResource late = factory.created.get(0);
    assertThat(late.closes).as("closed, never handed out").hasValue(1);
    assertThat(late.opens).hasValue(0);
    assertThat(PoolLog.lines(Level.DEBUG))
        .contains("DEBUG test-pool: creating the instance for key k failed | TimeoutException");
    assertThat(PoolLog.lines(Level.WARN)).containsExactly(LATE_INSTANCE);
    assertThat(pool.closeAsync()).succeedsWithin(Duration.ZERO);
  }

  @Test
  void shutdownCompletesAtTheDeadlineOfACreationBlockedInItsFactory() throws InterruptedException {
    CountDownLatch inFactory = new CountDownLatch(1);
    CountDownLatch unblock = new CountDownLatch(1);
    pool = settings().openTimeout(Duration.ofSeconds(3)).build(blockingFactory(inFactory, unblock));
    CompletableFuture<Lease<TestResource>> creator = onDaemonThread(() -> pool.get("k"));
    assertThat(inFactory.await(BOUND.toSeconds(), TimeUnit.SECONDS)).isTrue();

    CompletableFuture<Void> closed = pool.closeAsync();
    assertThat(closed).isNotDone();
    scheduler.advance(Duration.ofSeconds(3));

    assertThat(closed).as("nobody waits for the creation, yet shutdown ends").isDone();
    unblock.countDown();
    assertThat(creator).failsWithin(BOUND);
    assertThat(factory.created.get(0).closes).as("closed, never handed out").hasValue(1);
    assertThat(PoolLog.lines(Level.WARN)).containsExactly(LATE_INSTANCE);
  }

  @Test
  void gracePeriodEndingInOnOpenedClosesTheNewInstanceInsteadOfHandingItOut() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    AtomicReference<CompletableFuture<Void>> shutdown = new AtomicReference<>();
    pool = poolEndingTheGracePeriodInOnOpened(shutdown, prepared(r -> r.onOpen = () -> open));
    CompletableFuture<Lease<TestResource>> waiter = pool.acquire("k");

    open.complete(null); // opened() runs here; onOpened ends the grace period inside it

    assertThat(waiter)
        .as("the grace period was over before the instance was handed out")
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(IllegalStateException.class);
    assertThat(factory.created.get(0).closes).hasValue(1);
    assertThat(shutdown.get()).succeedsWithin(Duration.ZERO);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: closing the instance for key k with 1 lease(s) still open:"
                + " grace period over");
  }

  @Test
  void gracePeriodEndingInOnOpenedAlsoFailsTheCallerThatRanTheFactory() {
    AtomicReference<CompletableFuture<Void>> shutdown = new AtomicReference<>();
    pool = poolEndingTheGracePeriodInOnOpened(shutdown, factory::apply);

    // The factory and a completed openAsync run inside this call: it is the creator.
    assertThatThrownBy(() -> pool.get("k"))
        .as("no lease on an instance whose close began")
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
    assertThat(factory.created.get(0).closes).hasValue(1);
    assertThat(shutdown.get()).succeedsWithin(Duration.ZERO);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: closing the instance for key k with 1 lease(s) still open:"
                + " grace period over");
  }

  /** A pool whose listener calls {@code closeAsync(ZERO)} from {@code onOpened}. */
  private Pool<String, TestResource> poolEndingTheGracePeriodInOnOpened(
      AtomicReference<CompletableFuture<Void>> shutdown,
      java.util.function.Function<String, TestResource> make) {
    AtomicReference<Pool<String, TestResource>> self = new AtomicReference<>();
    self.set(
        settings()
            .listener(
                new PoolListener<String, TestResource>() {
                  @Override
                  public void onOpened(String key, TestResource resource, Duration openTime) {
                    // Runs inside opened(), before the instance is handed to its waiters.
                    shutdown.set(self.get().closeAsync(Duration.ZERO));
                  }
                })
            .build(make));
    return self.get();
  }

  /** A factory that signals {@code entered}, then blocks until {@code unblock} (bounded). */
  private java.util.function.Function<String, TestResource> blockingFactory(
      CountDownLatch entered, CountDownLatch unblock) {
    return key -> {
      entered.countDown();
      try {
        if (!unblock.await(BOUND.toSeconds(), TimeUnit.SECONDS)) {
          throw new IllegalStateException("the test never unblocked the factory");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
      return factory.apply(key);
    };
  }

  /** Runs {@code call} on a new daemon thread (so a test that fails leaves nothing behind). */
  private static <T> CompletableFuture<T> onDaemonThread(Supplier<T> call) {
    CompletableFuture<T> result = new CompletableFuture<>();
    Thread thread =
        new Thread(
            () -> {
              try {
                result.complete(call.get());
              } catch (Throwable t) {
                result.completeExceptionally(t);
              }
            },
            "creator");
    thread.setDaemon(true);
    thread.start();
    return result;
  }
}
