package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/** Semantics 4 and 5: failures reach the waiters, are not remembered, never wedge the pool. */
class FailureTest extends PoolTestSupport {

  private Pool<String, TestResource> poolWith(java.util.function.Function<String, TestResource> f) {
    pool = settings().ttl(Duration.ofSeconds(1)).build(f);
    return pool;
  }

  @Test
  void factoryThatThrowsUncheckedIsRethrownAsItIsAndNotRemembered() {
    AtomicInteger calls = new AtomicInteger();
    IllegalArgumentException boom = new IllegalArgumentException("boom");
    poolWith(
        key -> {
          if (calls.incrementAndGet() == 1) {
            throw boom;
          }
          return new TestResource(key);
        });
    assertThatThrownBy(() -> pool.get("k")).isSameAs(boom);
    assertThat(lease("k").key).isEqualTo("k");
    assertThat(calls).hasValue(2);
    assertThat(pool.stats().creationFailures()).isEqualTo(1);
    // The caller got it: the pool only notes it at DEBUG, once, with the pool, key and cause.
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG test-pool: creating the instance for key k failed | IllegalArgumentException");
    assertThat(PoolLog.causes(Level.DEBUG)).containsExactly(boom);
  }

  @Test
  void factoryReturningNullFailsWithNpeNamingTheKey() {
    poolWith(key -> null);
    assertThatThrownBy(() -> pool.get("tenant-7"))
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("tenant-7");
    assertThat(pool.acquire("tenant-7"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(java.util.concurrent.ExecutionException.class)
        .withCauseInstanceOf(NullPointerException.class);
    assertThat(pool.stats().live()).isZero();
    String line = "DEBUG test-pool: creating the instance for key tenant-7 failed";
    assertThat(PoolLog.lines())
        .containsExactly(line + " | NullPointerException", line + " | NullPointerException");
  }

  @Test
  void checkedOpenFailureIsWrappedForBlockingGetAndTheInstanceIsClosed() {
    AtomicInteger calls = new AtomicInteger();
    poolWith(
        prepared(
            r -> {
              if (calls.incrementAndGet() == 1) {
                r.onOpen = () -> CompletableFuture.failedFuture(new IOException("cannot connect"));
              }
            }));
    assertThatThrownBy(() -> pool.get("k"))
        .isInstanceOf(CompletionException.class)
        .hasCauseInstanceOf(IOException.class)
        .hasRootCauseMessage("cannot connect");
    assertThat(factory.created.get(0).closes).as("a created instance is closed once").hasValue(1);
    TestResource next = lease("k");
    assertThat(next).isSameAs(factory.created.get(1));
    assertThat(PoolLog.lines())
        .containsExactly("DEBUG test-pool: creating the instance for key k failed | IOException");
    assertThat(PoolLog.causes(Level.DEBUG))
        .extracting(Throwable::getMessage)
        .containsExactly("cannot connect");
  }

  @Test
  void openReturningNullOrThrowingFails() {
    AtomicInteger calls = new AtomicInteger();
    poolWith(
        prepared(
            r -> {
              int n = calls.incrementAndGet();
              if (n == 1) {
                r.onOpen = () -> null;
              } else if (n == 2) {
                r.onOpen =
                    () -> {
                      throw new IllegalStateException("open threw");
                    };
              }
            }));
    assertThatThrownBy(() -> pool.get("k"))
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("openAsync returned null for key k");
    assertThatThrownBy(() -> pool.get("k")).hasMessage("open threw");
    assertThat(lease("k")).isSameAs(factory.created.get(2));
    assertThat(factory.created.get(0).closes).hasValue(1);
    assertThat(factory.created.get(1).closes).hasValue(1);
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG test-pool: creating the instance for key k failed | NullPointerException",
            "DEBUG test-pool: creating the instance for key k failed | IllegalStateException");
  }

  @Test
  void everyWaiterOfAFailedAttemptGetsTheFailure() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    poolWith(
        prepared(
            r -> {
              if (factory.created.size() == 1) {
                r.onOpen = () -> open;
              }
            }));
    CompletableFuture<Lease<TestResource>> first = pool.acquire("k");
    CompletableFuture<Lease<TestResource>> second = pool.acquire("k");
    assertThat(factory.created).hasSize(1);
    RuntimeException failure = new RuntimeException("open failed");
    open.completeExceptionally(failure);
    assertThat(first).isCompletedExceptionally();
    assertThat(second).isCompletedExceptionally();
    assertThatThrownBy(first::join).hasCause(failure);
    assertThatThrownBy(second::join).hasCause(failure);
    assertThat(PoolLog.causes(Level.DEBUG))
        .as("logged once, not once per waiter")
        .containsExactly(failure);
    assertThat(pool.acquire("k").join().get()).isSameAs(factory.created.get(1));
  }

  @Test
  void closeFailuresAreCountedAndNeverStopOtherCloses() {
    newPool(Duration.ofSeconds(1));
    TestResource throwing = lease("throws");
    TestResource nulling = lease("null");
    TestResource failing = lease("fails");
    TestResource fine = lease("fine");
    throwing.onClose =
        () -> {
          throw new IllegalStateException("close threw");
        };
    nulling.onClose = () -> null;
    failing.onClose = () -> CompletableFuture.failedFuture(new IOException("close failed"));
    scheduler.advance(Duration.ofSeconds(1));
    for (TestResource r : new TestResource[] {throwing, nulling, failing, fine}) {
      assertThat(r.closes).as(r.toString()).hasValue(1);
    }
    PoolStats stats = pool.stats();
    assertThat(stats.closeFailures()).isEqualTo(3);
    assertThat(stats.closes()).isEqualTo(1);
    assertThat(stats.live()).isZero();
    assertThat(pool.closeAsync()).isCompleted();
    // Nobody else sees a failed close: each is a WARN that names the pool, the key and the cause.
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactlyInAnyOrder(
            "WARN test-pool: closing the instance for key throws failed | IllegalStateException",
            "WARN test-pool: closing the instance for key null failed | NullPointerException",
            "WARN test-pool: closing the instance for key fails failed | IOException");
    assertThat(PoolLog.causes(Level.WARN))
        .extracting(Throwable::getMessage)
        .containsExactlyInAnyOrder(
            "close threw", "closeAsync returned null for key null", "close failed");
    assertThat(PoolLog.lines()).noneMatch(line -> line.contains("key fine"));
  }

  @Test
  void closeRunsOffTheReleasingThread() throws Exception {
    pool = Pool.newBuilder().ttl(Duration.ZERO).build(factory);
    TestResource resource = lease("k");
    pool.closeAsync().get(10, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(resource.closes).hasValue(1);
    assertThat(resource.closedOn).isNotNull().isNotSameAs(Thread.currentThread());
  }

  @Test
  void asyncFactoryFailuresAndSuccess() {
    AtomicInteger calls = new AtomicInteger();
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .buildAsync(key -> {
                  int n = calls.incrementAndGet();
                  if (n == 1) {
                    return CompletableFuture.failedFuture(new IOException("no"));
                  }
                  if (n == 2) {
                    return null;
                  }
                  CompletionStage<TestResource> stage =
                      CompletableFuture.completedFuture(factory.apply(key));
                  return stage;
                });
    assertThatThrownBy(() -> pool.get("k")).hasCauseInstanceOf(IOException.class);
    assertThatThrownBy(() -> pool.get("k")).isInstanceOf(NullPointerException.class);
    assertThat(pool.acquire("k").join().get().key).isEqualTo("k");
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG asyncpool: creating the instance for key k failed | IOException",
            "DEBUG asyncpool: creating the instance for key k failed | NullPointerException");
  }

  @Test
  void withResourceReleasesWhenTheStageEndsOrTheActionThrows() {
    newPool(Duration.ZERO);
    CompletableFuture<String> work = new CompletableFuture<>();
    CompletableFuture<String> result = pool.withResource("k", r -> work);
    TestResource resource = factory.created.get(0);
    assertThat(resource.closes).as("leased while the stage runs").hasValue(0);
    work.complete("done");
    assertThat(result.join()).isEqualTo("done");
    assertThat(resource.closes).hasValue(1);

    CompletableFuture<String> thrown =
        pool.withResource(
            "j",
            r -> {
              throw new IllegalStateException("action threw");
            });
    assertThat(thrown).isCompletedExceptionally();
    assertThat(factory.created.get(1).closes).hasValue(1);
    assertThat(pool.<String>withResource("i", r -> null)).isCompletedExceptionally();
    assertThat(factory.created.get(2).closes).hasValue(1);
    assertThat(PoolLog.lines()).as("the action's failure is the caller's, not logged").isEmpty();
  }
}
