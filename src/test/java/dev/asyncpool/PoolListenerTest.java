package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.NotSerializableException;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/** Issue 6: every listener event, its timings on the fake ticker, and a listener that throws. */
class PoolListenerTest extends PoolTestSupport {

  /** Records each event as one line, timings in whole seconds of the fake ticker. */
  static class Recorder implements PoolListener<String, TestResource> {
    final List<String> events = new CopyOnWriteArrayList<>();
    final List<Object> resources = new CopyOnWriteArrayList<>();
    final List<Throwable> causes = new CopyOnWriteArrayList<>();

    @Override
    public void onCreated(String key, TestResource resource, Duration createTime) {
      record("created " + key + " " + createTime.toSeconds() + "s", resource, null);
    }

    @Override
    public void onOpened(String key, TestResource resource, Duration openTime) {
      record("opened " + key + " " + openTime.toSeconds() + "s", resource, null);
    }

    @Override
    public void onCreationFailed(
        String key, Phase phase, TestResource resource, Throwable cause) {
      record("creationFailed " + key + " " + phase, resource, cause);
    }

    @Override
    public void onExpired(String key, TestResource resource) {
      record("expired " + key, resource, null);
    }

    @Override
    public void onInvalidated(String key, TestResource resource) {
      record("invalidated " + key, resource, null);
    }

    @Override
    public void onClosed(String key, TestResource resource, Duration closeTime) {
      record("closed " + key + " " + closeTime.toSeconds() + "s", resource, null);
    }

    @Override
    public void onCloseFailed(
        String key, TestResource resource, Throwable cause, Duration closeTime) {
      record("closeFailed " + key + " " + closeTime.toSeconds() + "s", resource, cause);
    }

    private void record(String event, Object resource, Throwable cause) {
      events.add(event);
      resources.add(resource == null ? "null" : resource);
      if (cause != null) {
        causes.add(cause);
      }
    }
  }

  final Recorder recorder = new Recorder();

  /** How long the factory takes on the fake clock, and what its instances' open/close return. */
  Duration createTime = Duration.ZERO;

  Supplier<CompletionStage<Void>> onOpen = () -> CompletableFuture.completedFuture(null);
  Supplier<CompletionStage<Void>> onClose = () -> CompletableFuture.completedFuture(null);
  RuntimeException factoryFailure;

  final Function<String, TestResource> timedFactory =
      key -> {
        ticker.advance(createTime);
        if (factoryFailure != null) {
          throw factoryFailure;
        }
        TestResource resource = factory.apply(key);
        resource.onOpen = onOpen;
        resource.onClose = onClose;
        return resource;
      };

  PoolBuilder<String, TestResource> listened(PoolListener<? super String, ? super TestResource> l) {
    return Pool.newBuilder()
        .ticker(ticker)
        .scheduler(scheduler)
        .executor(directExecutor)
        .name("test-pool")
        .listener(l);
  }

  @Test
  void createdOpenedExpiredClosedWithTheirTimings() {
    createTime = Duration.ofSeconds(1);
    CompletableFuture<Void> open = new CompletableFuture<>();
    onOpen = () -> open;
    CompletableFuture<Void> close = new CompletableFuture<>();
    onClose = () -> close;
    pool = listened(recorder).ttl(Duration.ofSeconds(10)).build(timedFactory);

    CompletableFuture<Lease<TestResource>> lease = pool.acquire("a");
    assertThat(recorder.events).containsExactly("created a 1s");
    ticker.advance(Duration.ofSeconds(2));
    open.complete(null);
    assertThat(recorder.events).containsExactly("created a 1s", "opened a 2s");
    TestResource instance = lease.join().get();
    lease.join().close();

    scheduler.advance(Duration.ofSeconds(10));
    assertThat(recorder.events).containsExactly("created a 1s", "opened a 2s", "expired a");
    ticker.advance(Duration.ofSeconds(3));
    close.complete(null);
    assertThat(recorder.events)
        .containsExactly("created a 1s", "opened a 2s", "expired a", "closed a 3s");
    assertThat(recorder.resources).containsOnly(instance);
  }

  /**
   * An adapter's factory is its open (a DataSource connects in its constructor): onOpened reports
   * the factory's time, not the zero of an open that does nothing.
   */
  @Test
  void anAdaptersOpenTimeIsItsFactorysTime() {
    List<String> events = new ArrayList<>();
    PoolListener<String, AutoCloseable> timings =
        new PoolListener<>() {
          @Override
          public void onCreated(String key, AutoCloseable client, Duration took) {
            events.add("created " + took.toMillis() + "ms");
          }

          @Override
          public void onOpened(String key, AutoCloseable client, Duration took) {
            events.add("opened " + took.toMillis() + "ms");
          }
        };
    Pool<String, AutoCloseable> clients =
        settings()
            .listener(timings)
            .buildCloseable(
                key -> {
                  ticker.advance(Duration.ofMillis(2300)); // connecting
                  return () -> {};
                });
    clients.get("tenant").close();
    Pool<String, AutoCloseable> closedBy =
        settings()
            .listener(timings)
            .build(
                key -> {
                  ticker.advance(Duration.ofMillis(700));
                  return (AutoCloseable) () -> {};
                },
                client -> CompletableFuture.completedFuture(null));
    closedBy.get("tenant").close();
    assertThat(events)
        .containsExactly("created 2300ms", "opened 2300ms", "created 700ms", "opened 700ms");
    clients.close();
    closedBy.close();
  }

  @Test
  void leasingAnOpenInstanceNeverCallsTheListener() {
    AtomicInteger calls = new AtomicInteger();
    PoolListener<String, TestResource> counting =
        new PoolListener<>() {
          @Override
          public void onCreated(String key, TestResource resource, Duration createTime) {
            calls.incrementAndGet();
          }

          @Override
          public void onOpened(String key, TestResource resource, Duration openTime) {
            calls.incrementAndGet();
          }
        };
    pool = listened(counting).ttl(Duration.ofSeconds(10)).build(timedFactory);
    lease("a");
    assertThat(calls).hasValue(2);
    int scheduled = scheduler.pending();
    for (int i = 0; i < 1_000; i++) {
      lease("a");
      pool.acquire("a").join().close();
    }
    assertThat(calls).as("warm leases and their release tell the listener nothing").hasValue(2);
    assertThat(scheduler.pending()).isEqualTo(scheduled);
  }

  @Test
  void factoryFailureIsPhaseCreateWithNoResource() {
    factoryFailure = new IllegalStateException("no tenant");
    pool = listened(recorder).build(timedFactory);
    assertThatThrownBy(() -> pool.get("a")).hasMessage("no tenant");
    assertThat(recorder.events).containsExactly("creationFailed a CREATE");
    assertThat(recorder.resources).containsExactly("null");
    assertThat(recorder.causes).containsExactly(factoryFailure);
    assertThat(pool.stats().creationFailures()).isEqualTo(1);
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG test-pool: creating the instance for key a failed | IllegalStateException");
  }

  @Test
  void asyncFactoryFailureIsPhaseCreate() {
    IllegalStateException failure = new IllegalStateException("unreachable");
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .listener(recorder)
            .buildAsync(key -> CompletableFuture.failedFuture(failure));
    assertThat(pool.acquire("a")).isCompletedExceptionally();
    assertThat(recorder.events).containsExactly("creationFailed a CREATE");
    assertThat(recorder.causes).containsExactly(failure);
    assertThat(PoolLog.causes(Level.DEBUG)).containsExactly(failure);
  }

  @Test
  void openFailureIsPhaseOpenAndTheInstanceIsThenClosed() {
    IllegalStateException failure = new IllegalStateException("auth failed");
    onOpen = () -> CompletableFuture.failedFuture(failure);
    pool = listened(recorder).build(timedFactory);
    assertThatThrownBy(() -> pool.get("a")).hasMessage("auth failed");
    assertThat(recorder.events)
        .containsExactly("created a 0s", "creationFailed a OPEN", "closed a 0s");
    assertThat(recorder.resources).containsOnly(factory.created.get(0));
    assertThat(recorder.causes).containsExactly(failure);
    assertThat(PoolLog.causes(Level.DEBUG)).containsExactly(failure);
  }

  @Test
  void openTimeoutIsPhaseOpenWithATimeoutException() {
    onOpen = CompletableFuture::new; // never completes
    pool = listened(recorder).openTimeout(Duration.ofSeconds(3)).build(timedFactory);
    CompletableFuture<Lease<TestResource>> lease = pool.acquire("a");
    scheduler.advance(Duration.ofSeconds(3));
    assertThat(lease).isCompletedExceptionally();
    assertThat(recorder.events)
        .containsExactly("created a 0s", "creationFailed a OPEN", "closed a 0s");
    assertThat(recorder.causes).singleElement().isInstanceOf(TimeoutException.class);
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG test-pool: creating the instance for key a failed | TimeoutException");
  }

  @Test
  void invalidateOfAnIdleInstanceClosesItAtOnce() {
    pool = listened(recorder).ttl(Duration.ofSeconds(10)).build(timedFactory);
    TestResource instance = lease("a");
    assertThat(pool.invalidate("a")).isTrue();
    assertThat(recorder.events)
        .containsExactly("created a 0s", "opened a 0s", "invalidated a", "closed a 0s");
    assertThat(recorder.resources).containsOnly(instance);
  }

  @Test
  void invalidateOfALeasedInstanceClosesItAtItsLastRelease() {
    pool = listened(recorder).ttl(Duration.ofSeconds(10)).build(timedFactory);
    Lease<TestResource> lease = pool.get("a");
    pool.invalidate("a");
    assertThat(recorder.events).containsExactly("created a 0s", "opened a 0s", "invalidated a");
    lease.close();
    assertThat(recorder.events).endsWith("closed a 0s");
  }

  @Test
  void invalidateDuringCreationHasNoResourceYet() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    onOpen = () -> open;
    pool = listened(recorder).ttl(Duration.ofSeconds(10)).build(timedFactory);
    CompletableFuture<Lease<TestResource>> lease = pool.acquire("a");
    pool.invalidate("a");
    assertThat(recorder.events).containsExactly("created a 0s", "invalidated a");
    assertThat(recorder.resources).containsExactly(factory.created.get(0), "null");
    open.complete(null);
    lease.join().close();
    assertThat(recorder.events)
        .containsExactly("created a 0s", "invalidated a", "opened a 0s", "closed a 0s");
  }

  @Test
  void zeroTtlExpiresAtTheLastRelease() {
    pool = listened(recorder).ttl(Duration.ZERO).build(timedFactory);
    lease("a");
    assertThat(recorder.events)
        .containsExactly("created a 0s", "opened a 0s", "expired a", "closed a 0s");
  }

  @Test
  void closeFailureCarriesItsCauseAndDuration() {
    CompletableFuture<Void> close = new CompletableFuture<>();
    onClose = () -> close;
    pool = listened(recorder).ttl(Duration.ofSeconds(1)).build(timedFactory);
    lease("a");
    scheduler.advance(Duration.ofSeconds(1));
    ticker.advance(Duration.ofSeconds(4));
    IllegalStateException failure = new IllegalStateException("socket reset");
    close.completeExceptionally(failure);
    assertThat(recorder.events).endsWith("expired a", "closeFailed a 4s");
    assertThat(recorder.causes).containsExactly(failure);
    assertThat(PoolLog.lines())
        .containsExactly(
            "WARN test-pool: closing the instance for key a failed | IllegalStateException");
    assertThat(PoolLog.causes(Level.WARN)).containsExactly(failure);
  }

  @Test
  void closeThatThrowsIsACloseFailure() {
    IllegalStateException failure = new IllegalStateException("boom");
    onClose =
        () -> {
          throw failure;
        };
    pool = listened(recorder).build(timedFactory);
    lease("a");
    pool.close();
    assertThat(recorder.events).endsWith("closeFailed a 0s");
    assertThat(recorder.causes).containsExactly(failure);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: closing the instance for key a failed | IllegalStateException");
    assertThat(PoolLog.causes(Level.WARN)).containsExactly(failure);
  }

  @Test
  void closeTimeoutIsACloseFailureWithATimeoutException() {
    onClose = CompletableFuture::new; // never completes
    pool =
        listened(recorder).ttl(Duration.ofSeconds(1)).closeTimeout(Duration.ofSeconds(5)).build(timedFactory);
    lease("a");
    scheduler.advance(Duration.ofSeconds(1));
    scheduler.advance(Duration.ofSeconds(5));
    assertThat(recorder.events).endsWith("expired a", "closeFailed a 5s");
    assertThat(recorder.causes).singleElement().isInstanceOf(TimeoutException.class);
    assertThat(recorder.causes.get(0)).hasMessageContaining("key a");
    assertThat(PoolLog.lines())
        .containsExactly(
            "WARN test-pool: the close of key a did not complete within PT5S; moving on");
  }

  @Test
  void shutdownClosesWithCloseEventsOnlyAndCompletesAfterThem() {
    pool = listened(recorder).ttl(Duration.ofSeconds(10)).build(timedFactory);
    lease("a");
    Lease<TestResource> held = pool.get("b");
    CompletableFuture<Void> closed = pool.closeAsync();
    assertThat(recorder.events).contains("closed a 0s").doesNotContain("closed b 0s");
    held.close();
    assertThat(closed).isCompleted();
    assertThat(recorder.events)
        .containsExactlyInAnyOrder(
            "created a 0s", "opened a 0s", "closed a 0s", "created b 0s", "opened b 0s",
            "closed b 0s");
  }

  @Test
  void eventsMatchTheStatsCounters() {
    Recorder events = recorder;
    pool = listened(events).ttl(Duration.ofSeconds(1)).build(timedFactory);
    for (String key : List.of("a", "b", "c", "d")) {
      lease(key);
    }
    pool.invalidate("a");
    scheduler.advance(Duration.ofSeconds(1));
    factoryFailure = new IllegalStateException("down");
    assertThatThrownBy(() -> pool.get("e")).hasMessage("down");
    PoolStats stats = pool.stats();
    assertThat(count(events, "opened")).isEqualTo(stats.creations()).isEqualTo(4);
    assertThat(count(events, "creationFailed")).isEqualTo(stats.creationFailures()).isEqualTo(1);
    assertThat(count(events, "invalidated")).isEqualTo(stats.invalidations()).isEqualTo(1);
    assertThat(count(events, "expired")).isEqualTo(stats.expirations()).isEqualTo(3);
    assertThat(count(events, "closed")).isEqualTo(stats.closes()).isEqualTo(4);
    assertThat(PoolLog.lines())
        .containsExactly(
            "DEBUG test-pool: creating the instance for key e failed | IllegalStateException");
  }

  private static long count(Recorder recorder, String event) {
    return recorder.events.stream().filter(e -> e.startsWith(event + " ")).count();
  }

  /** Throws from every event. */
  static final class ThrowingListener implements PoolListener<Object, Object> {
    final AtomicInteger calls = new AtomicInteger();

    private void fail() {
      calls.incrementAndGet();
      throw new IllegalStateException("listener bug");
    }

    @Override
    public void onCreated(Object key, Object resource, Duration createTime) {
      fail();
    }

    @Override
    public void onOpened(Object key, Object resource, Duration openTime) {
      fail();
    }

    @Override
    public void onCreationFailed(Object key, Phase phase, Object resource, Throwable cause) {
      fail();
    }

    @Override
    public void onExpired(Object key, Object resource) {
      fail();
    }

    @Override
    public void onInvalidated(Object key, Object resource) {
      fail();
    }

    @Override
    public void onClosed(Object key, Object resource, Duration closeTime) {
      fail();
    }

    @Override
    public void onCloseFailed(Object key, Object resource, Throwable cause, Duration closeTime) {
      fail();
    }
  }

  @Test
  void aThrowingListenerNeverBreaksThePool() {
    ThrowingListener throwing = new ThrowingListener();
    pool = listened(throwing).ttl(Duration.ofSeconds(1)).build(timedFactory);
    TestResource a = lease("a"); // created, opened
    lease("b"); // created, opened
    assertThat(lease("a")).isSameAs(a);
    pool.invalidate("b"); // invalidated, closed
    // a: expired, closed (its second release was stamped with an epoch: up to one late)
    scheduler.advance(Duration.ofSeconds(1).plus(LeaseAndTtlTest.mostLate(Duration.ofSeconds(1))));
    assertThat(a.closes).hasValue(1);
    factoryFailure = new IllegalStateException("down");
    assertThatThrownBy(() -> pool.get("c")).hasMessage("down"); // creationFailed
    factoryFailure = null;
    onClose = () -> CompletableFuture.failedFuture(new IllegalStateException("close failed"));
    lease("d"); // created, opened
    pool.close(); // d: closeFailed
    assertThat(throwing.calls).hasValue(12);
    PoolStats stats = pool.stats();
    assertThat(stats.creations()).isEqualTo(3);
    assertThat(stats.closes() + stats.closeFailures()).isEqualTo(3);
    assertThat(stats.live()).isZero();
    assertThat(pool.closeAsync()).isCompleted();
    // Each event the listener threw from is one WARN, in the order of the events, between the
    // pool's own lines for the failures that caused some of them.
    String threw = "WARN test-pool: the listener's %s threw for key %s; ignored | %s";
    String bug = "IllegalStateException";
    assertThat(PoolLog.lines())
        .containsExactly(
            String.format(threw, "onCreated", "a", bug),
            String.format(threw, "onOpened", "a", bug),
            String.format(threw, "onCreated", "b", bug),
            String.format(threw, "onOpened", "b", bug),
            String.format(threw, "onInvalidated", "b", bug),
            String.format(threw, "onClosed", "b", bug),
            String.format(threw, "onExpired", "a", bug),
            String.format(threw, "onClosed", "a", bug),
            "DEBUG test-pool: creating the instance for key c failed | IllegalStateException",
            String.format(threw, "onCreationFailed", "c", bug),
            String.format(threw, "onCreated", "d", bug),
            String.format(threw, "onOpened", "d", bug),
            "DEBUG test-pool: shutting down, 1 live instances",
            "WARN test-pool: closing the instance for key d failed | IllegalStateException",
            String.format(threw, "onCloseFailed", "d", bug));
    assertThat(PoolLog.causes(Level.WARN))
        .extracting(Throwable::getMessage)
        .containsOnly("listener bug", "close failed");
  }

  @Test
  void aThrowingListenerIsLoggedWithThePoolTheEventAndTheKey() {
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .name("logged-pool")
            .listener(new ThrowingListener())
            .build(TestResource::new);
    pool.get("tenant-42").close();
    pool.close();
    assertThat(pool.stats().closes()).isEqualTo(1);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN logged-pool: the listener's onCreated threw for key tenant-42; ignored"
                + " | IllegalStateException",
            "WARN logged-pool: the listener's onOpened threw for key tenant-42; ignored"
                + " | IllegalStateException",
            "WARN logged-pool: the listener's onClosed threw for key tenant-42; ignored"
                + " | IllegalStateException");
    assertThat(PoolLog.causes(Level.WARN))
        .extracting(Throwable::getMessage)
        .containsOnly("listener bug");
  }

  @Test
  void aTickerThatThrowsGivesZeroDurationsAndBreaksNothing() {
    AtomicInteger reads = new AtomicInteger();
    Ticker flaky =
        () -> {
          if (reads.incrementAndGet() % 2 == 0) {
            throw new IllegalStateException("clock");
          }
          return ticker.read();
        };
    pool =
        Pool.newBuilder()
            .ticker(flaky)
            .scheduler(scheduler)
            .executor(directExecutor)
            .ttl(Duration.ZERO)
            .listener(recorder)
            .build(factory);
    lease("a");
    assertThat(recorder.events)
        .containsExactly("created a 0s", "opened a 0s", "expired a", "closed a 0s");
  }

  @Test
  void builderRefusesANullOrSecondListener() {
    assertThatThrownBy(() -> settings().listener(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("listener");
    PoolBuilder<String, TestResource> builder = settings().listener(recorder);
    assertThatThrownBy(() -> builder.listener(recorder))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("listener was already set to ");
  }

  @Test
  void aListenerForSupertypesIsAccepted() {
    ThrowingListener general = new ThrowingListener();
    pool = settings().listener(general).build(factory);
    lease("a");
    assertThat(general.calls).hasValue(2);
    assertThat(PoolLog.lines())
        .containsExactly(
            "WARN test-pool: the listener's onCreated threw for key a; ignored"
                + " | IllegalStateException",
            "WARN test-pool: the listener's onOpened threw for key a; ignored"
                + " | IllegalStateException");
  }

  // ---- Serialization ----

  /** Counts events in this JVM, whichever copy of the listener saw them. */
  static final class SerializableCounter
      implements PoolListener<String, TestResource>, Serializable {
    private static final long serialVersionUID = 1L;
    static final AtomicInteger opened = new AtomicInteger();

    @Override
    public void onOpened(String key, TestResource resource, Duration openTime) {
      opened.incrementAndGet();
    }
  }

  @Test
  void aSerializableListenerIsCarriedByTheCopy() throws Exception {
    Pool<String, TestResource> original =
        Pool.newBuilder()
            .listener(new SerializableCounter())
            .build((Function<String, TestResource> & Serializable) TestResource::new);
    Pool<String, TestResource> copy = SerializationTest.roundTrip(original);
    int before = SerializableCounter.opened.get();
    try (Lease<TestResource> lease = copy.get("x")) {
      assertThat(lease.get().key).isEqualTo("x");
    }
    assertThat(SerializableCounter.opened.get()).isEqualTo(before + 1);
    copy.close();
    original.close();
  }

  @Test
  void aListenerThatIsNotSerializableMakesThePoolNotSerializable() {
    Pool<String, TestResource> original =
        Pool.newBuilder()
            .listener(recorder)
            .build((Function<String, TestResource> & Serializable) TestResource::new);
    assertThatThrownBy(() -> SerializationTest.roundTrip(original))
        .isInstanceOf(NotSerializableException.class)
        .hasMessageContaining("listener")
        .hasMessageContaining(Recorder.class.getName());
    original.close();
  }
}
