package dev.asyncpool;

import static java.util.concurrent.TimeUnit.NANOSECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Issue 12, {@code retryBackoff(initial, max)}: a key whose creation failed is refused at once,
 * with the failure as cause and the time of the next try, until a wait drawn from a delay that
 * doubles per failure in a row (up to max) has passed; a success resets it, and a key no request
 * asked for during max is forgotten. Failures that are not the key's own start nothing.
 */
class RetryBackoffTest extends PoolTestSupport {

  private static final Duration INITIAL = Duration.ofSeconds(1);
  private static final Duration MAX = Duration.ofSeconds(8);

  /** What the pool logs, at DEBUG, for each failed creation of key k. */
  private static final String FAILED_K = "DEBUG test-pool: creating the instance for key k failed";

  private final AtomicInteger calls = new AtomicInteger();

  /** What the factory throws, or null for it to make an instance. */
  private volatile RuntimeException failure = new IllegalStateException("connection refused");

  private TestResource make(String key) {
    calls.incrementAndGet();
    RuntimeException f = failure;
    if (f != null) {
      throw f;
    }
    return factory.apply(key);
  }

  private Pool<String, TestResource> backoffPool(Duration initial, Duration max) {
    pool = settings().retryBackoff(initial, max).build(this::make);
    return pool;
  }

  /** The wait the next request for {@code key} is told, refused at once. */
  private Duration refusedFor(String key) {
    RetryBackoffException refused =
        catchThrowableOfType(RetryBackoffException.class, () -> pool.get(key));
    assertThat(refused).as("a request for %s within its backoff", key).isNotNull();
    return refused.retryIn();
  }

  // ---- Fail fast, then a retry ---------------------------------------------------------------

  @Test
  void aFailedKeyIsRefusedAtOnceWithTheFailureAsCauseAndTheTimeOfTheNextTry() {
    backoffPool(INITIAL, MAX);
    RuntimeException cause = failure;
    assertThatThrownBy(() -> pool.get("k")).as("the creation's own caller").isSameAs(cause);
    failure = null; // the factory would work now; the key is refused all the same

    RetryBackoffException refused =
        catchThrowableOfType(RetryBackoffException.class, () -> pool.get("k"));

    assertThat(refused).isInstanceOf(IllegalStateException.class).hasCause(cause);
    assertThat(refused.getCause()).isSameAs(cause);
    Duration wait = refused.retryIn();
    assertThat(wait).isBetween(INITIAL.dividedBy(2), INITIAL);
    assertThat(refused)
        .hasMessage(
            "test-pool: creating key k failed; retrying in "
                + Backoff.format(wait.toNanos()) // "734 ms": rounded up, see waitsAreShown...
                + " (retryBackoff)");
    // Every way to ask: get throws; acquire and withResource fail their future; apply, accept
    // and a get with a timeout throw. None calls the factory.
    assertThatThrownBy(() -> pool.get("k", Duration.ofSeconds(5)))
        .isInstanceOf(RetryBackoffException.class)
        .hasCause(cause);
    assertThat(pool.acquire("k"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(RetryBackoffException.class);
    assertThat(pool.withResource("k", r -> CompletableFuture.completedFuture(1)))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(RetryBackoffException.class);
    assertThatThrownBy(() -> pool.apply("k", r -> 1)).isInstanceOf(RetryBackoffException.class);
    assertThatThrownBy(() -> pool.accept("k", r -> {}))
        .isInstanceOf(RetryBackoffException.class);
    assertThat(pool.getIfPresent("k")).isNull();
    assertThat(calls).as("only the first request called the factory").hasValue(1);
    assertThat(lease("other").key).as("other keys are not held back").isEqualTo("other");
    assertThat(PoolLog.lines())
        .as("one creation failed, logged once; refusals are not logged")
        .containsExactly(FAILED_K + " | IllegalStateException");
  }

  @Test
  void theFirstRequestOnceTheWaitHasPassedTriesAgain() {
    backoffPool(INITIAL, MAX);
    assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);
    Duration wait = refusedFor("k");

    scheduler.advance(wait.minusNanos(1));
    assertThat(refusedFor("k")).isEqualTo(Duration.ofNanos(1));
    scheduler.advance(Duration.ofNanos(1));
    failure = null;

    assertThat(lease("k").key).isEqualTo("k");
    assertThat(calls).hasValue(2);
    assertThat(lease("k")).as("open now: leased as usual").isSameAs(factory.created.get(0));
  }

  @Test
  void theWaitersOfAFailingCreationGetItsFailureAndLaterRequestsAreRefused() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    pool =
        settings()
            .retryBackoff(INITIAL, MAX)
            .build(prepared(r -> r.onOpen = () -> open));
    CompletableFuture<Lease<TestResource>> first = pool.acquire("k");
    CompletableFuture<Lease<TestResource>> second = pool.acquire("k");
    RuntimeException openFailure = new IllegalStateException("open failed");

    open.completeExceptionally(openFailure);

    for (CompletableFuture<Lease<TestResource>> waiter : List.of(first, second)) {
      assertThatThrownBy(waiter::join).hasCause(openFailure);
    }
    assertThat(pool.acquire("k"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(RetryBackoffException.class)
        .withCause(openFailure);
    assertThat(factory.created).hasSize(1);
    assertThat(factory.created.get(0).closes).as("the instance whose open failed").hasValue(1);
    assertThat(PoolLog.lines()).containsExactly(FAILED_K + " | IllegalStateException");
  }

  @Test
  void theOpenTimeoutCountsAsAFailure() {
    pool =
        settings()
            .openTimeout(Duration.ofSeconds(3))
            .retryBackoff(INITIAL, MAX)
            .build(prepared(r -> r.onOpen = CompletableFuture::new)); // never opens
    CompletableFuture<Lease<TestResource>> waiter = pool.acquire("k");

    scheduler.advance(Duration.ofSeconds(3));

    assertThatThrownBy(waiter::join).hasCauseInstanceOf(TimeoutException.class);
    assertThatThrownBy(() -> pool.get("k"))
        .isInstanceOf(RetryBackoffException.class)
        .hasCauseInstanceOf(TimeoutException.class);
    assertThat(PoolLog.lines()).containsExactly(FAILED_K + " | TimeoutException");
  }

  @Test
  void theMessageShowsTheKeyAsTheKeyFormatterDoes() {
    pool =
        settings()
            .keyFormatter((String key) -> "tenant-7")
            .retryBackoff(INITIAL, MAX)
            .build(this::make);
    String secret = "jdbc:postgresql://db/t7?password=hunter2";
    assertThatThrownBy(() -> pool.get(secret)).isSameAs(failure);

    assertThatThrownBy(() -> pool.get(secret))
        .isInstanceOf(RetryBackoffException.class)
        .hasMessageStartingWith("test-pool: creating key tenant-7 failed; retrying in ")
        .message()
        .doesNotContain("hunter2");
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG test-pool: creating the instance for key tenant-7 failed"
                + " | IllegalStateException");
  }

  // ---- Doubling, jitter, reset ---------------------------------------------------------------

  @Test
  void eachFailureInARowDoublesTheDelayUpToMaxAndTheWaitIsDrawnFromItsUpperHalf() {
    Duration max = Duration.ofSeconds(5);
    backoffPool(INITIAL, max);
    long[] delaysSeconds = {1, 2, 4, 5, 5, 5};
    for (int i = 0; i < delaysSeconds.length; i++) {
      assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);
      Duration delay = Duration.ofSeconds(delaysSeconds[i]);
      Duration wait = refusedFor("k");
      assertThat(wait).as("failure %d in a row", i + 1).isBetween(delay.dividedBy(2), delay);
      RetryBackoffException refused =
          catchThrowableOfType(RetryBackoffException.class, () -> pool.get("k"));
      assertThat(refused.getMessage())
          .contains(i == 0 ? "failed; retrying" : "failed " + (i + 1) + " times in a row");
      scheduler.advance(wait);
    }
    assertThat(calls).hasValue(delaysSeconds.length);
  }

  @Test
  void waitsAreSpreadUniformlyOverTheUpperHalfOfTheDelay() {
    backoffPool(INITIAL, MAX);
    List<Long> waits = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      String key = "k" + i;
      assertThatThrownBy(() -> pool.get(key)).isSameAs(failure);
      waits.add(refusedFor(key).toNanos());
    }
    long half = INITIAL.toNanos() / 2;
    assertThat(waits).allSatisfy(w -> assertThat(w).isBetween(half, INITIAL.toNanos()));
    // 200 uniform draws: each tenth of the range is missed with probability 0.9^200 < 1e-9.
    assertThat(waits).anySatisfy(w -> assertThat(w).isLessThan(half + half / 10));
    assertThat(waits).anySatisfy(w -> assertThat(w).isGreaterThan(INITIAL.toNanos() - half / 10));
    assertThat(new HashSet<>(waits)).as("keys that failed together").hasSizeGreaterThan(190);
    assertThat(scheduler.pending()).as("one forget task per failing key").isEqualTo(200);
  }

  @Test
  void aSuccessResetsTheBackoff() {
    backoffPool(INITIAL, MAX);
    for (int i = 0; i < 3; i++) { // delays 1, 2, 4 s
      assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);
      scheduler.advance(refusedFor("k"));
    }
    failure = null;
    assertThat(lease("k").key).isEqualTo("k");
    pool.invalidate("k"); // the next request creates anew
    failure = new IllegalStateException("down again");

    assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);

    assertThat(refusedFor("k")).as("a first failure again").isLessThanOrEqualTo(INITIAL);
  }

  // ---- Forgetting ----------------------------------------------------------------------------

  @Test
  void aKeyNoRequestAskedForDuringMaxIsForgotten() {
    backoffPool(INITIAL, MAX);
    for (int i = 0; i < 3; i++) { // delays 1, 2, 4 s
      assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);
      if (i < 2) {
        scheduler.advance(refusedFor("k"));
      }
    }
    assertThat(scheduler.pending()).as("one task for the failing key").isEqualTo(1);

    scheduler.advance(MAX); // no request meanwhile

    assertThat(scheduler.pending()).as("forgotten, and its task is done").isZero();
    assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);
    assertThat(refusedFor("k")).as("a first failure again").isLessThanOrEqualTo(INITIAL);
  }

  @Test
  void refusedRequestsKeepAFailingKeyRemembered() {
    backoffPool(Duration.ofSeconds(4), MAX); // delays 4, 8 s
    assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);
    Duration wait = refusedFor("k"); // in [2 s, 4 s]
    scheduler.advance(wait.minusMillis(100));
    refusedFor("k"); // asked now

    // More than max after the failure, less than max after the last request.
    scheduler.advance(MAX.minusMillis(50));

    assertThatThrownBy(() -> pool.get("k")).as("the wait is over: a retry").isSameAs(failure);
    assertThat(refusedFor("k"))
        .as("the second failure in a row: delay 8 s")
        .isBetween(Duration.ofSeconds(4), MAX);
  }

  @Test
  void withoutTheSettingAFailureIsForgottenAtOnce() {
    pool = settings().build(this::make);
    RuntimeException cause = failure;
    assertThatThrownBy(() -> pool.get("k")).isSameAs(cause);
    assertThatThrownBy(() -> pool.get("k")).isSameAs(cause);
    failure = null;
    assertThat(scheduler.pending()).as("nothing to forget").isZero();
    assertThat(lease("k").key).isEqualTo("k");
    assertThat(calls).hasValue(3);
    assertThat(PoolLog.lines())
        .containsExactly(
            FAILED_K + " | IllegalStateException", FAILED_K + " | IllegalStateException");
  }

  // ---- What is not the key's fault -----------------------------------------------------------

  @Test
  void shutdownCancelsTheBackoffsTasksAndAFailureAfterItStartsNone() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    pool =
        settings()
            .retryBackoff(INITIAL, MAX)
            .build(
                key -> {
                  calls.incrementAndGet();
                  if (key.equals("k")) {
                    throw failure;
                  }
                  TestResource r = factory.apply(key);
                  r.onOpen = () -> open;
                  return r;
                });
    assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);
    CompletableFuture<Lease<TestResource>> opening = pool.acquire("slow");
    assertThat(scheduler.pending()).as("k's forget task, slow's deadline").isEqualTo(2);

    CompletableFuture<Void> closed = pool.closeAsync();
    open.completeExceptionally(new IllegalStateException("open failed after shutdown"));

    assertThat(closed).succeedsWithin(Duration.ZERO);
    assertThatThrownBy(opening::join).hasCauseInstanceOf(IllegalStateException.class);
    assertThat(scheduler.pending()).as("nothing keeps the pool reachable").isZero();
    assertThat(PoolLog.lines(Level.WARN)).isEmpty();
    assertThat(PoolLog.lines(Level.ERROR)).isEmpty();
  }

  @Test
  void requestsThatAllGaveUpWhileTheCreationWaitedForRoomStartNoBackoff() {
    pool = settings().maxInstances(1).retryBackoff(INITIAL, MAX).build(factory);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    scheduler.runDue();

    b.cancel(false);
    a.close();

    CompletableFuture<Lease<TestResource>> again = pool.acquire("b");
    scheduler.runDue(); // evicts a
    assertThat(again).succeedsWithin(Duration.ZERO).satisfies(Lease::close);
    assertThat(factory.createdFor("b")).isEqualTo(1);
  }

  @Test
  void theAcquireTimeoutStartsNoBackoff() {
    pool =
        settings()
            .maxInstances(1)
            .acquireTimeout(Duration.ofSeconds(1))
            .retryBackoff(INITIAL, MAX)
            .build(factory);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    scheduler.advance(Duration.ofSeconds(1));
    assertThatThrownBy(b::join).hasCauseInstanceOf(PoolExhaustedException.class);

    a.close();

    CompletableFuture<Lease<TestResource>> again = pool.acquire("b");
    scheduler.runDue();
    assertThat(again).succeedsWithin(Duration.ZERO).satisfies(Lease::close);
  }

  @Test
  void anOpenTimeoutThatPassedWhileTheCreationWaitedForRoomStartsNoBackoff() {
    pool =
        settings()
            .maxInstances(1)
            .acquireTimeout(Duration.ofSeconds(30))
            .openTimeout(Duration.ofSeconds(2))
            .retryBackoff(INITIAL, MAX)
            .build(factory);
    Lease<TestResource> a = pool.get("a");
    CompletableFuture<Lease<TestResource>> b = pool.acquire("b");
    scheduler.advance(Duration.ofSeconds(2));
    assertThatThrownBy(b::join).hasCauseInstanceOf(TimeoutException.class);

    a.close();

    CompletableFuture<Lease<TestResource>> again = pool.acquire("b");
    scheduler.runDue();
    assertThat(again).succeedsWithin(Duration.ZERO).satisfies(Lease::close);
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG test-pool: creating the instance for key b failed | TimeoutException");
  }

  @Test
  void aFactoryAskingForItsOwnKeyStartsNoBackoff() {
    AtomicReference<Pool<String, TestResource>> self = new AtomicReference<>();
    AtomicBoolean loop = new AtomicBoolean(true);
    pool =
        settings()
            .retryBackoff(INITIAL, MAX)
            .build(
                (String key) -> {
                  if (loop.getAndSet(false)) {
                    self.get().get(key).close();
                  }
                  return factory.apply(key);
                });
    self.set(pool);

    assertThatThrownBy(() -> pool.get("k"))
        .isInstanceOf(IllegalStateException.class)
        .isNotInstanceOf(RetryBackoffException.class)
        .hasMessageContaining("same key");

    assertThat(lease("k").key).as("tried again at once").isEqualTo("k");
    assertThat(PoolLog.lines()).containsExactly(FAILED_K + " | IllegalStateException");
  }

  @Test
  void anExecutorsRejectionStartsNoBackoff() {
    AtomicBoolean reject = new AtomicBoolean(true);
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .name("test-pool")
            .executor(
                task -> {
                  if (reject.getAndSet(false)) {
                    throw new RejectedExecutionException("no threads left");
                  }
                  task.run();
                })
            .retryBackoff(INITIAL, MAX)
            .build(factory);

    assertThat(pool.acquire("k"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(RejectedExecutionException.class);

    assertThat(scheduler.pending()).as("nothing to forget").isZero();
    assertThat(pool.acquire("k")).succeedsWithin(Duration.ZERO).satisfies(Lease::close);
    assertThat(PoolLog.lines()).containsExactly(FAILED_K + " | RejectedExecutionException");
  }

  // ---- Racing requests -----------------------------------------------------------------------

  @RepeatedTest(10)
  void requestsRacingOnceTheWaitHasPassedStartOneCreation() throws Exception {
    raceAfterTheWait(true);
  }

  @RepeatedTest(10)
  void requestsRacingOnceTheWaitHasPassedShareOneFailureAndLaterOnesAreRefused()
      throws Exception {
    raceAfterTheWait(false);
  }

  /**
   * Fails key k once; once its wait has passed, 8 threads ask for it together while the retry's
   * factory is held. One creation runs; all share its instance, or its failure.
   */
  private void raceAfterTheWait(boolean retrySucceeds) throws Exception {
    CountDownLatch inFactory = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    RuntimeException second = new IllegalStateException("still refused");
    pool =
        settings()
            .retryBackoff(INITIAL, MAX)
            .build(
                (String key) -> {
                  if (calls.incrementAndGet() == 1) {
                    throw failure;
                  }
                  inFactory.countDown();
                  try {
                    release.await(10, SECONDS);
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                  if (!retrySucceeds) {
                    throw second;
                  }
                  return factory.apply(key);
                });
    assertThatThrownBy(() -> pool.get("k")).isSameAs(failure);
    scheduler.advance(refusedFor("k"));

    int threads = 8;
    ExecutorService executor = Executors.newFixedThreadPool(threads);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<Object>> results = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        boolean blocking = i % 2 == 0;
        results.add(
            executor.submit(
                () -> {
                  start.await();
                  try (Lease<TestResource> lease =
                      blocking ? pool.get("k") : pool.acquire("k").get(10, SECONDS)) {
                    return lease.get();
                  } catch (RuntimeException | ExecutionException e) {
                    return e instanceof ExecutionException ? e.getCause() : e;
                  }
                }));
      }
      start.countDown();
      assertThat(inFactory.await(10, SECONDS)).isTrue();
      // Every thread has installed or joined the one creation: the first failure was one miss.
      await().atMost(Duration.ofSeconds(10)).until(() -> pool.stats().misses() == 1 + threads);
      release.countDown();
      Set<Object> outcomes = new HashSet<>();
      for (Future<Object> result : results) {
        outcomes.add(result.get(10, SECONDS));
      }
      assertThat(calls).as("one creation after the wait").hasValue(2);
      assertThat(outcomes)
          .containsExactly(retrySucceeds ? factory.created.get(0) : second);
    } finally {
      executor.shutdownNow();
    }
    if (retrySucceeds) {
      assertThat(PoolLog.lines()).containsExactly(FAILED_K + " | IllegalStateException");
    } else {
      assertThat(refusedFor("k")).as("the second failure in a row").isBetween(INITIAL, MAX);
      assertThat(PoolLog.lines())
          .containsExactly(
              FAILED_K + " | IllegalStateException", FAILED_K + " | IllegalStateException");
    }
  }

  // ---- Settings ------------------------------------------------------------------------------

  @Test
  void theBuilderRefusesBadSettingsNamingTheValue() {
    PoolBuilder<Object, Object> builder = Pool.newBuilder();
    assertThatThrownBy(() -> builder.retryBackoff(null, MAX))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("initial");
    assertThatThrownBy(() -> builder.retryBackoff(INITIAL, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("max");
    assertThatThrownBy(() -> builder.retryBackoff(Duration.ZERO, MAX))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("retryBackoff initial must be positive: PT0S");
    assertThatThrownBy(() -> builder.retryBackoff(Duration.ofMillis(-5), MAX))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("retryBackoff initial must be positive: PT-0.005S");
    assertThatThrownBy(() -> builder.retryBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("retryBackoff max must be at least initial PT2S: PT1S");
    builder.retryBackoff(INITIAL, INITIAL); // max may equal initial: a constant delay
    assertThatThrownBy(() -> builder.retryBackoff(INITIAL, MAX))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("retryBackoff was already set to PT1S, PT1S");
  }

  @Test
  void aSerializedCopyKeepsTheBackoff() throws Exception {
    Function<String, TestResource> down =
        (Function<String, TestResource> & Serializable)
            key -> {
              throw new IllegalStateException("down");
            };
    Pool<String, TestResource> original =
        Pool.newBuilder()
            .retryBackoff(Duration.ofMinutes(1), Duration.ofMinutes(2))
            .build(down);
    Pool<String, TestResource> copy = SerializationTest.roundTrip(original);
    try {
      assertThatThrownBy(() -> copy.get("k")).hasMessage("down");
      assertThatThrownBy(() -> copy.get("k"))
          .isInstanceOf(RetryBackoffException.class)
          .hasMessageContaining("retrying in ");
    } finally {
      copy.close();
      original.close();
    }
    assertThat(PoolLog.lines())
        .containsOnlyOnce(
            "DEBUG asyncpool: creating the instance for key k failed | IllegalStateException");
  }

  // ---- Backoff itself, with a fixed jitter ---------------------------------------------------

  private ScheduledFuture<?> scheduleOnTheManualScheduler(Runnable task, long delayNanos) {
    return scheduler.schedule(task, delayNanos, NANOSECONDS);
  }

  private Backoff backoff(Duration initial, Duration max, double jitter) {
    return new Backoff(
        initial,
        max,
        ticker,
        () -> jitter,
        this::scheduleOnTheManualScheduler,
        "b",
        String::valueOf);
  }

  /**
   * The waits of five failures in a row, each asked for halfway and retried once its wait has
   * passed.
   */
  private List<Duration> waitsOfFiveFailures(Backoff backoff) {
    RuntimeException cause = new IllegalStateException("down");
    List<Duration> waits = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      backoff.failed("k", cause);
      RetryBackoffException refused =
          catchThrowableOfType(RetryBackoffException.class, () -> backoff.check("k"));
      waits.add(refused.retryIn());
      // Asked again halfway: at max, a wait as long as max would otherwise be its last.
      scheduler.advance(refused.retryIn().dividedBy(2));
      assertThatThrownBy(() -> backoff.check("k")).isInstanceOf(RetryBackoffException.class);
      scheduler.advance(refused.retryIn().minus(refused.retryIn().dividedBy(2)));
      backoff.check("k"); // over: no throw
    }
    return waits;
  }

  @Test
  void theDelayDoublesUpToMaxAndTheJitterTakesUpToHalfOfIt() {
    Duration max = Duration.ofSeconds(5);
    assertThat(waitsOfFiveFailures(backoff(INITIAL, max, 0)))
        .containsExactly(
            Duration.ofSeconds(1),
            Duration.ofSeconds(2),
            Duration.ofSeconds(4),
            Duration.ofSeconds(5),
            Duration.ofSeconds(5));
    assertThat(waitsOfFiveFailures(backoff(INITIAL, max, 1)))
        .containsExactly(
            Duration.ofMillis(500),
            Duration.ofSeconds(1),
            Duration.ofSeconds(2),
            Duration.ofMillis(2500),
            Duration.ofMillis(2500));
  }

  @Test
  void aSpellIsForgottenMaxAfterItsLastRequestByItsOneTask() {
    Backoff backoff = backoff(INITIAL, Duration.ofSeconds(4), 0);
    backoff.failed("k", new IllegalStateException("down"));
    assertThat(backoff.size()).isEqualTo(1);
    assertThat(scheduler.pending()).isEqualTo(1);

    scheduler.advance(Duration.ofSeconds(3));
    backoff.check("k"); // its wait is over; a request all the same
    scheduler.advance(Duration.ofSeconds(3)); // the task ran at 4 s and looks again at 7 s

    assertThat(backoff.size()).isEqualTo(1);
    assertThat(scheduler.pending()).isEqualTo(1);
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(backoff.size()).isZero();
    assertThat(scheduler.pending()).isZero();
  }

  @Test
  void aSuccessAndShutdownEndTheSpellAndCancelItsTask() {
    Backoff backoff = backoff(INITIAL, MAX, 0);
    backoff.failed("k", new IllegalStateException("down"));
    backoff.failed("j", new IllegalStateException("down"));
    assertThat(scheduler.pending()).isEqualTo(2);

    backoff.succeeded("k");
    assertThat(backoff.size()).isEqualTo(1);
    assertThat(scheduler.pending()).isEqualTo(1);
    backoff.check("k"); // no throw

    backoff.shutdown();
    assertThat(backoff.size()).isZero();
    assertThat(scheduler.pending()).isZero();
    backoff.failed("k", new IllegalStateException("after shutdown"));
    assertThat(backoff.size()).isZero();
    assertThat(scheduler.pending()).isZero();
  }

  @Test
  void waitsAreShownRoundedUp() {
    assertThat(Backoff.format(1)).isEqualTo("1 ms");
    assertThat(Backoff.format(250_000_000L)).isEqualTo("250 ms");
    assertThat(Backoff.format(1_000_000_000L)).isEqualTo("1.0 s");
    assertThat(Backoff.format(1_550_000_001L)).isEqualTo("1.6 s");
    assertThat(Backoff.format(99_950_000_000L)).isEqualTo("100.0 s");
    assertThat(Backoff.format(300_000_000_000L)).isEqualTo("300 s");
  }
}
