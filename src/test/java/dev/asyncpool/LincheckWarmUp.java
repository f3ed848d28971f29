package dev.asyncpool;

import dev.asyncpool.LincheckRaceTest.CheckedResource;
import java.time.Duration;
import org.jetbrains.lincheck.Lincheck;

/**
 * Lincheck instruments a class the first time a checked block meets it, inside that block's first
 * interleaving, and fails an interleaving that runs longer than 30 s as "Concurrent test has
 * hung". On a loaded two-core machine the pool's classes and the JDK's beneath them take longer
 * than that to instrument, and the first Lincheck test of the run failed for it, whatever the
 * pool did. So each Lincheck test class first runs {@link #run()}: one block that meets the same
 * classes, tried again until it completes (each try keeps what it instrumented), once per JVM.
 * Whether the warm-up's own checks hold does not matter here; the tests check the same things.
 */
final class LincheckWarmUp {

  private static final int TRIES = 5;

  private static boolean done;

  private LincheckWarmUp() {}

  static synchronized void run() {
    for (int i = 0; i < TRIES && !done; i++) {
      try {
        Lincheck.runConcurrentTest(1, LincheckWarmUp::block);
        done = true;
      } catch (AssertionError timedOutOrFailed) {
        // Timed out while instrumenting: the next try goes on from there. Or a check failed,
        // which the tests will report themselves: then there is nothing left to warm up.
        done = !String.valueOf(timedOutOrFailed.getMessage()).contains("hung");
      }
    }
  }

  /** Leases, expiry, invalidate, shutdown, two threads; and the same under a bound. */
  private static void block() {
    LincheckRaceTest.Harness h = new LincheckRaceTest.Harness(Duration.ofSeconds(1));
    h.use("k");
    Lease<CheckedResource> held = h.pool.get("k");
    h.scheduler.advance(Duration.ofSeconds(1));
    LincheckRaceTest.concurrently(held::close, () -> h.pool.invalidate("k"));
    h.use("k");
    h.ticker.advance(Duration.ofSeconds(5));
    h.scheduler.runDue();
    h.shutDownAndCheck();

    BoundLincheckTest.Bounded b = new BoundLincheckTest.Bounded(1);
    b.serveAndRelease(b.lease("a"));
    b.serveAndRelease(b.lease("b")); // "a" is evicted to make room
    b.shutDownAndCheck();
  }
}
