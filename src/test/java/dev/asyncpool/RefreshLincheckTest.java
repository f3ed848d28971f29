package dev.asyncpool;

import static dev.asyncpool.LincheckRaceTest.INVOCATIONS;
import static dev.asyncpool.LincheckRaceTest.concurrently;

import dev.asyncpool.LincheckRaceTest.CheckedResource;
import dev.asyncpool.LincheckRaceTest.Harness;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.jetbrains.lincheck.Lincheck;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 12's races of a refresh's swap, model-checked as {@link LincheckRaceTest} does: against a
 * lease, against {@code invalidate}, against shutdown, and a lifetime's end against a lease. After
 * each interleaving: no lease ever got a closed or closing instance, the old instance closed
 * exactly once, and shutdown closed every instance made, once.
 */
@Tag("lincheck")
class RefreshLincheckTest {

  private static final Duration TTL = Duration.ofSeconds(1);

  @BeforeAll
  static void instrumentFirst() {
    LincheckWarmUp.run();
  }

  @Test
  void refreshSwapRacingALease() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(TTL);
          CheckedResource old = h.use("k");
          AtomicReference<CompletableFuture<Void>> refreshed = new AtomicReference<>();
          AtomicReference<CheckedResource> leased = new AtomicReference<>();
          concurrently(() -> refreshed.set(h.pool.refresh("k")), () -> leased.set(h.use("k")));
          h.check(refreshed.get().isDone(), "the refresh ended");
          h.check(!refreshed.get().isCompletedExceptionally(), "the refresh succeeded");
          h.check(h.created.size() == 2, "one replacement");
          h.check(old.closes.get() == 1, "the old instance closed once its lease ended");
          h.check(
              leased.get() == old || leased.get() != null, "the lease got an instance, old or new");
          h.check(h.use("k") != old, "after the refresh, leases get the new instance");
          h.shutDownAndCheck();
        });
  }

  @Test
  void refreshSwapRacingInvalidate() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(TTL);
          CheckedResource old = h.use("k");
          AtomicReference<CompletableFuture<Void>> refreshed = new AtomicReference<>();
          concurrently(() -> refreshed.set(h.pool.refresh("k")), () -> h.pool.invalidate("k"));
          h.check(refreshed.get().isDone(), "the refresh ended");
          h.check(old.closes.get() == 1, "the old instance closed exactly once");
          h.check(h.created.size() <= 2, "at most one new instance");
          h.use("k");
          h.shutDownAndCheck();
        });
  }

  @Test
  void refreshSwapRacingShutdown() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(TTL);
          h.use("k");
          AtomicReference<CompletableFuture<Void>> refreshed = new AtomicReference<>();
          AtomicReference<CompletableFuture<Void>> closing = new AtomicReference<>();
          concurrently(
              () -> refreshed.set(h.pool.refresh("k")),
              () -> closing.set(h.pool.closeAsync()));
          h.check(refreshed.get().isDone(), "the refresh ended, one way or the other");
          h.check(closing.get().isDone(), "shutdown completed: nothing left open");
          h.shutDownAndCheck();
        });
  }

  @Test
  void lifetimeEndRacingALeaseOfTheIdleInstance() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(Duration.ofHours(1), Duration.ofSeconds(10));
          CheckedResource old = h.use("k"); // idle
          h.ticker.advance(Duration.ofSeconds(10)); // its lifetime ended
          Runnable lifetime = h.scheduler.takeDue();
          h.check(lifetime != null, "the lifetime's end is due");
          AtomicReference<CheckedResource> leased = new AtomicReference<>();
          concurrently(lifetime, () -> leased.set(h.use("k")));
          // The lease came and went first (then the idle instance was closed), or held it
          // while the lifetime ended (then it was replaced, and closed at the lease's end), or
          // came after the idle instance was closed (then it made a new one).
          h.check(old.closes.get() == 1, "past its lifetime, closed once, never under a lease");
          h.check(h.created.size() <= 2, "at most one new instance: " + h.created);
          h.check(
              leased.get() == old || h.created.size() == 2,
              "a lease after the close got a new instance");
          h.shutDownAndCheck();
        });
  }
}
