package dev.asyncpool;

import static dev.asyncpool.LincheckRaceTest.concurrently;

import dev.asyncpool.LincheckRaceTest.CheckedResource;
import dev.asyncpool.LincheckRaceTest.Harness;
import java.time.Duration;
import org.jetbrains.lincheck.Lincheck;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Model-checks the races of per-key TTLs ({@link TimedExpiry}) with Lincheck, as {@link
 * LincheckRaceTest} does for one TTL: a warm release racing the task stopping its class of TTLs,
 * and a cold release racing a run that clears its claim (handshake RUN-CLAIM). After each
 * interleaving the instance must close a TTL after its last release, never before and at most
 * max(TTL/64, 1 ms) + 1 ms after, and exactly once.
 */
@Tag("lincheck")
class PerKeyLincheckTest {

  /**
   * Interleavings per test: each costs about two thirds of a second here (a pool with a timer
   * wheel, instrumented), against a quarter in {@link LincheckRaceTest}; 30 keeps the class near
   * 20 s of verify. A run that clears its claim after polling fails both within 30; see {@link
   * #coldReleaseRacingARunClearingItsClaim} for the subtler reversal that needs a longer hunt.
   */
  static final int INVOCATIONS =
      Integer.getInteger("asyncpool.lincheck.invocations", 30);

  /** Keys "a" and "b" share a class of TTLs (8.4 to 16.8 ms); "hour" keeps the task busy. */
  private static Duration ttlOf(Object key) {
    return switch ((String) key) {
      case "a" -> Duration.ofMillis(10);
      case "b" -> Duration.ofMillis(12);
      case "hour" -> Duration.ofHours(1);
      default -> Duration.ofMillis(5);
    };
  }

  @BeforeAll
  static void instrumentFirst() {
    LincheckWarmUp.run();
  }

  /**
   * "b" is leased while the task owns it; its release (a warm one: it stamps its class's epoch)
   * races the run in which "a" expires and the task, finding "b" leased, lets go of it: the
   * class then owns nothing and stops. Whatever the order, "b" closes 12 ms after its release.
   */
  @Test
  void warmReleaseRacingTheTaskStoppingItsClass() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(PerKeyLincheckTest::ttlOf);
          h.use("hour");
          CheckedResource a = h.use("a");
          CheckedResource b = h.use("b");
          h.scheduler.advance(Duration.ofMillis(2)); // the task owns both; their class is active
          Lease<CheckedResource> held = h.pool.get("b");
          h.ticker.advance(Duration.ofMillis(9)); // t = 11 ms: "a" is due
          Runnable run = h.scheduler.takeDue();
          h.check(run != null, "the expiry task is due");
          concurrently(held::close, run);
          long releasedAt = h.ticker.read();
          h.scheduler.advance(Duration.ofMillis(12).minusNanos(1));
          h.check(b.closes.get() == 0, "closed before 12 ms since its last release: " + b);
          h.scheduler.advance(Duration.ofNanos(1).plus(LeaseAndTtlTest.mostLate(Duration.ofMillis(12))));
          h.check(b.closes.get() == 1, "closed at most an epoch and 1 ms late: " + b);
          h.check(a.closes.get() == 1, "a expired: " + a);
          h.check(h.ticker.read() > releasedAt, "the clock moved");
          h.shutDownAndCheck();
        });
  }

  /**
   * A new key's first release (cold: it pushes the entry and claims a run) races a run of the
   * task, which clears the claim and then polls the queue. A release that claims before it pushes
   * (RUN-CLAIM's order reversed) is caught here, but only in a longer hunt: within 300
   * interleavings ({@code -Dasyncpool.lincheck.invocations=300}, about 45 s), not within verify's
   * 30. A lost wake-up would leave the entry
   * queued with no run to take it until the hour-long key's next wake, a second later.
   */
  @Test
  void coldReleaseRacingARunClearingItsClaim() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Harness h = new Harness(PerKeyLincheckTest::ttlOf);
          h.use("hour");
          h.scheduler.advance(Duration.ofMillis(3));
          Lease<CheckedResource> held = h.pool.get("x"); // created; its first release is cold
          CheckedResource[] x = {held.get()};
          h.ticker.advance(Duration.ofSeconds(1)); // the task's next run is due
          Runnable run = h.scheduler.takeDue();
          h.check(run != null, "the expiry task is due");
          concurrently(held::close, run);
          h.scheduler.advance(Duration.ofMillis(5).minusNanos(1));
          h.check(x[0].closes.get() == 0, "closed before its 5 ms ttl: " + x[0]);
          h.scheduler.advance(Duration.ofNanos(1).plus(LeaseAndTtlTest.mostLate(Duration.ofMillis(5))));
          h.check(x[0].closes.get() == 1, "expired on time, not a second late: " + x[0]);
          h.shutDownAndCheck();
        });
  }
}
