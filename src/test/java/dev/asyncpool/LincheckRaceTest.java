package dev.asyncpool;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jetbrains.lincheck.Lincheck;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Model-checks the pool's races with Lincheck: each test runs two threads against a real pool and
 * Lincheck explores their interleavings (switching threads at every shared-memory access it
 * chooses), checking after each run that an instance was never closed while a lease held it,
 * never handed out after its close began, closed exactly once by the end, and created once per
 * cold key.
 *
 * <p>Everything inside a checked block is deterministic, as Lincheck needs to replay a failing
 * interleaving: a {@link FakeTicker}, a {@link ManualScheduler} run by hand, and an executor that
 * runs tasks at once. Failures inside a block are plain {@link AssertionError}s.
 *
 * <p>Tagged "lincheck": surefire runs it in a JVM of its own that logs through slf4j-simple,
 * which Lincheck leaves alone, rather than slf4j-test, which it would model-check with the pool.
 */
@Tag("lincheck")
class LincheckRaceTest {

  /**
   * Interleavings explored per test; raise it for a longer hunt. Each costs about a quarter of a
   * second of CPU (a whole pool, instrumented), so 50 keeps this class near two of the five minutes
   * that {@code ./mvnw verify} may take on two cores. A race that a broad scenario reaches only in
   * a long hunt gets a narrow scenario of its own instead: {@link
   * #lastReleaseRacingTheTaskDroppingTheBusyEntry} finds a dropped re-read within 30 interleavings,
   * which {@link #leaseRacingTheExpiryTask} found only in about 1,000.
   */
  static final int INVOCATIONS = Integer.getInteger("asyncpool.lincheck.invocations", 50);

  private static final Duration TTL = Duration.ofSeconds(1);

  @BeforeAll
  static void instrumentFirst() {
    LincheckWarmUp.run();
  }

  @Test
  void leaseRacingTheExpiryTask() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(TTL);
          CheckedResource first = h.use("k"); // idle now, queued; the expiry task is scheduled
          h.ticker.advance(TTL); // ...and due
          AtomicReference<CheckedResource> leased = new AtomicReference<>();
          concurrently(() -> leased.set(h.use("k")), h.scheduler::runDue);
          h.check(h.created.size() <= 2, "at most one re-creation after one expiry");
          h.check(
              leased.get() == first || first.closes.get() == 1,
              "a new instance only once the old one expired");
          // Everything expires. Jumping the clock (rather than stepping through the expiry
          // task's 64 epochs per TTL, which Lincheck would take for a spin loop) leaves a release
          // stamped with an epoch bounded only by the task's next run: a second TTL covers it.
          for (int i = 0; i < 2; i++) {
            h.ticker.advance(TTL.plus(LeaseAndTtlTest.mostLate(TTL)));
            h.scheduler.runDue();
          }
          for (CheckedResource r : h.created) {
            h.check(r.closes.get() == 1, "expired a TTL after its last release: " + r);
          }
          h.shutDownAndCheck();
        });
  }

  /**
   * The expiry task drops an entry it finds leased (its next release queues it again), clearing
   * {@code queued} and then re-reading the state: a last release that comes in between, sees the
   * entry still owned and so does not queue it, must be taken back by that re-read, or the entry
   * is never looked at again and never expires (a lost wake-up). Handshake BUSY-DROP in {@link
   * PoolEntry}.
   */
  @Test
  void lastReleaseRacingTheTaskDroppingTheBusyEntry() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(TTL);
          CheckedResource r = h.use("k"); // idle, queued; the task's first run is an epoch away
          Lease<CheckedResource> held = h.pool.get("k");
          h.ticker.advance(TTL);
          // The task's run, taken from the scheduler so that the racing thread runs nothing else.
          Runnable task = h.scheduler.takeDue(); // it will find "k" leased
          h.check(task != null, "the expiry task is due");
          concurrently(held::close, task);
          for (int i = 0; i < 2; i++) {
            h.ticker.advance(TTL.plus(LeaseAndTtlTest.mostLate(TTL)));
            h.scheduler.runDue();
          }
          h.check(r.closes.get() == 1, "expired a TTL after its last release: " + r);
          h.shutDownAndCheck();
        });
  }

  /**
   * Issue 10, item 1: two releases that each leave the entry with no lease race to record their
   * idle stamps. If the stamp and its generation were two stores, the older release's stamp could
   * end up paired with the newer release's generation, and the entry closed a TTL after the older
   * release. Here: the task has dropped the leased entry, then {the lease closes at 1 s} races
   * {the clock moves to 6 s, "k" is leased and released}; 9 s after that last release, with a
   * 10 s TTL, nothing may be closed.
   */
  @Test
  void twoReleasesInterleavingStampsNeverCloseEarly() {
    Duration ttl = Duration.ofSeconds(10);
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(ttl);
          CheckedResource r = h.use("k"); // t=0: idle, queued
          Lease<CheckedResource> held = h.pool.get("k");
          h.scheduler.advance(Duration.ofSeconds(1)); // the task found "k" leased and dropped it
          concurrently(
              held::close,
              () -> {
                h.ticker.advance(Duration.ofSeconds(5));
                h.use("k");
              });
          h.ticker.advance(Duration.ofSeconds(9));
          h.scheduler.runDue();
          h.check(
              r.closes.get() == 0, "closed 9 s after its last release with a 10 s TTL: " + r);
          for (int i = 0; i < 2; i++) {
            h.ticker.advance(ttl.plus(LeaseAndTtlTest.mostLate(ttl)));
            h.scheduler.runDue();
          }
          h.check(r.closes.get() == 1, "expired a TTL after its last release: " + r);
          h.shutDownAndCheck();
        });
  }

  @Test
  void leaseRacingInvalidate() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(TTL);
          CheckedResource first = h.use("k");
          AtomicReference<Boolean> invalidated = new AtomicReference<>();
          concurrently(() -> h.use("k"), () -> invalidated.set(h.pool.invalidate("k")));
          h.check(invalidated.get(), "an open instance is invalidated");
          h.check(first.closes.get() == 1, "an invalidated instance closes at its last release");
          h.check(h.created.size() <= 2, "at most one re-creation after one invalidate");
          h.shutDownAndCheck();
        });
  }

  @Test
  void leaseRacingShutdown() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(TTL);
          h.use("warm");
          AtomicReference<CompletableFuture<Void>> closing = new AtomicReference<>();
          concurrently(
              () -> {
                h.useUnlessClosed("warm");
                h.useUnlessClosed("cold");
              },
              () -> closing.set(h.pool.closeAsync()));
          h.check(closing.get().isDone(), "shutdown completes once the last lease is back");
          h.shutDownAndCheck();
        });
  }

  @Test
  void twoLeasesOfAColdKeyShareOneCreation() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(TTL);
          AtomicReference<CheckedResource> a = new AtomicReference<>();
          AtomicReference<CheckedResource> b = new AtomicReference<>();
          concurrently(() -> a.set(h.use("k")), () -> b.set(h.use("k")));
          h.check(h.created.size() == 1, "one creation per cold key");
          h.check(a.get() == b.get(), "both leases got the same instance");
          h.shutDownAndCheck();
        });
  }

  @Test
  void twoClosesOfOneLeaseReleaseItOnce() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(Duration.ZERO); // closes at the last release
          Lease<CheckedResource> a = h.pool.get("k");
          Lease<CheckedResource> b = h.pool.get("k");
          CheckedResource r = b.get();
          r.held.incrementAndGet(); // b is held throughout
          concurrently(a::close, a::close); // a misuse, but the second close must release nothing
          h.check(r.closes.get() == 0, "a double close released once: b still holds it");
          r.held.decrementAndGet();
          b.close();
          h.check(r.closes.get() == 1, "closed at the last release");
          h.shutDownAndCheck();
        });
  }

  @Test
  void lastTwoLeasesClosingTogetherCloseOnce() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(Duration.ZERO);
          Lease<CheckedResource> a = h.pool.get("k");
          Lease<CheckedResource> b = h.pool.get("k");
          CheckedResource r = a.get();
          r.held.addAndGet(2);
          concurrently(
              () -> {
                r.held.decrementAndGet();
                a.close();
                a.close();
              },
              () -> {
                r.held.decrementAndGet();
                b.close();
                b.close();
              });
          h.check(r.closes.get() == 1, "closed exactly once, after both leases closed");
          h.shutDownAndCheck();
        });
  }

  /** Runs two actions on two new threads and waits for both; rethrows what either threw. */
  static void concurrently(Runnable first, Runnable second) {
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<Thread> threads = new ArrayList<>();
    for (Runnable action : new Runnable[] {first, second}) {
      threads.add(
          new Thread(
              () -> {
                try {
                  action.run();
                } catch (Throwable t) {
                  failure.compareAndSet(null, t);
                }
              }));
    }
    threads.forEach(Thread::start);
    for (Thread thread : threads) {
      try {
        thread.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted", e);
      }
    }
    if (failure.get() instanceof AssertionError assertion) {
      throw assertion;
    }
    if (failure.get() != null) {
      throw new AssertionError("a racing thread failed", failure.get());
    }
  }

  /** A pool on a fake clock and a manual scheduler whose instances check how they are used. */
  static final class Harness {
    final FakeTicker ticker = new FakeTicker();
    final ManualScheduler scheduler = new ManualScheduler(ticker);
    final ConcurrentLinkedQueue<CheckedResource> created = new ConcurrentLinkedQueue<>();
    final Pool<String, CheckedResource> pool;

    Harness(Duration ttl) {
      this(ttl, null);
    }

    /** With a {@code maxLifetime} as well, if not null. */
    Harness(Duration ttl, Duration maxLifetime) {
      this(settings -> settings.ttl(ttl), maxLifetime);
    }

    /** With each key's TTL from {@code ttlByKey}. */
    Harness(java.util.function.Function<Object, Duration> ttlByKey) {
      this(settings -> settings.ttl(ttlByKey), null);
    }

    private Harness(
        java.util.function.UnaryOperator<PoolBuilder<Object, Object>> ttl, Duration maxLifetime) {
      PoolBuilder<Object, Object> builder =
          ttl.apply(
              Pool.newBuilder()
                  .ticker(ticker)
                  .scheduler(scheduler)
                  .executor(Runnable::run)
                  .name("lincheck"));
      if (maxLifetime != null) {
        builder.maxLifetime(maxLifetime);
      }
      pool =
          builder.build(key -> {
                    CheckedResource r = new CheckedResource(key);
                    created.add(r);
                    return r;
                  });
    }

    /** Leases {@code key}, checks the instance while holding it, and releases it. */
    CheckedResource use(String key) {
      try (Lease<CheckedResource> lease = pool.get(key)) {
        CheckedResource r = lease.get();
        r.held.incrementAndGet();
        // Paired with closeAsync's order (count the close, then read `held`): one of the two
        // sees the other, whatever the interleaving.
        check(r.closes.get() == 0, "handed out after its close began: " + r);
        r.held.decrementAndGet();
        return r;
      }
    }

    /** Like {@link #use}, except that a pool closed meanwhile is an allowed outcome. */
    void useUnlessClosed(String key) {
      try {
        use(key);
      } catch (IllegalStateException closed) {
        check(closed.getMessage().contains("is closed"), "unexpected failure: " + closed);
      }
    }

    /** Shuts the pool down and checks every instance was closed exactly once, never in use. */
    void shutDownAndCheck() {
      CompletableFuture<Void> closing = pool.closeAsync();
      check(closing.isDone() && !closing.isCompletedExceptionally(), "shutdown completed");
      for (CheckedResource r : created) {
        check(r.opens.get() == 1, "opened once: " + r);
        check(r.closes.get() == 1, "closed exactly once: " + r);
        check(!r.closedWhileHeld, "closed while a lease held it: " + r);
      }
    }

    void check(boolean ok, String invariant) {
      if (!ok) {
        // Lincheck's report loses some failures' exception and then says only "Concurrent test
        // has hung": printed here too, a violated invariant is named in a red build whatever
        // Lincheck makes of it. A green build never gets here.
        System.err.println("LincheckRaceTest violated: " + invariant);
        throw new AssertionError("violated: " + invariant);
      }
    }
  }

  /** An instance that records its opens and closes, and whether a close found it in use. */
  static class CheckedResource implements AsyncResource {
    final String key;
    final AtomicInteger opens = new AtomicInteger();
    final AtomicInteger closes = new AtomicInteger();
    final AtomicInteger held = new AtomicInteger();
    volatile boolean closedWhileHeld;

    CheckedResource(String key) {
      this.key = key;
    }

    @Override
    public CompletionStage<Void> openAsync() {
      opens.incrementAndGet();
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      closes.incrementAndGet();
      if (held.get() != 0) {
        closedWhileHeld = true;
      }
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public String toString() {
      return "CheckedResource[" + key + ", opens=" + opens + ", closes=" + closes + "]";
    }
  }
}
