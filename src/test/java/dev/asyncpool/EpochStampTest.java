package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Epoch-stamped warm releases (KeyedPool's "Idle stamps") stay never early and within the
 * documented lateness when the ticker fails while an epoch starts, fails for a long while, or the
 * TTL is shorter than 64 epochs of 1 ms.
 */
class EpochStampTest extends PoolTestSupport {

  /**
   * advanceEpoch publishes epoch e+1, then reads the clock. If that read throws, epochTimes[e+1]
   * is never written, yet the next run starts e+2 on top of it; a release stamped e then gets
   * releasedBefore(e) = epochTimes[e+1] = whatever the ring held (0 here): it closes at once.
   */
  @Test
  void aTickerFailureWhileStartingAnEpochMustNotCloseEarly() {
    ticker.set(Duration.ofHours(1).toNanos()); // any real ticker reading is far from 0
    FlakyTicker flaky = new FlakyTicker();
    Duration ttl = Duration.ofSeconds(64); // epochs of 1 s
    pool = Pool.newBuilder()
        .ticker(flaky)
        .scheduler(scheduler)
        .executor(directExecutor)
        .name("test-pool")
        .ttl(ttl)
        .build(factory);
    TestResource resource = lease("k"); // t=0: precise stamp, queued; first run at t=1 s
    ticker.advance(Duration.ofMillis(500));
    assertThat(lease("k")).isSameAs(resource); // t=0.5 s: owned, so stamped with epoch 0
    flaky.fail(1, 1, false); // the first run reads the clock, then throws in advanceEpoch
    scheduler.advance(Duration.ofSeconds(1)); // t=1.5: the run fails and retries in 1 ms
    scheduler.advance(Duration.ofMillis(10)); // the retry starts epoch 2, then visits "k"
    assertThat(resource.closes).as("idle for 1 s of a 64 s TTL").hasValue(0);
    assertThat(PoolLog.lines())
        .containsExactly(
            "ERROR test-pool: the expiry task failed; retrying | IllegalStateException");
  }

  /**
   * A ticker broken for 10 s: the expiry task retries, but says so once at ERROR and then at each
   * doubling of its failures in a row, not 10,000 times; its retries back off from 1 ms to an
   * epoch; and once the ticker is back it says so, and the idle instance expires on time.
   */
  @Test
  void aBrokenTickerIsReportedOnceAndItsRetriesBackOff() {
    FlakyTicker flaky = new FlakyTicker();
    Duration ttl = Duration.ofSeconds(64); // epochs of 1 s
    pool = Pool.newBuilder()
        .ticker(flaky)
        .scheduler(scheduler)
        .executor(directExecutor)
        .name("test-pool")
        .ttl(ttl)
        .build(factory);
    TestResource resource = lease("k"); // idle, queued: the task's first run is 1 s away
    flaky.fail(0, Integer.MAX_VALUE, false);

    scheduler.advance(Duration.ofSeconds(10));

    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly(
            "ERROR test-pool: the expiry task failed; retrying | IllegalStateException");
    assertThat(PoolLog.lines(Level.WARN))
        .as("one line at each doubling of the failures in a row: 2, 4, 8, ...")
        .hasSizeBetween(3, 6)
        .allMatch(
            line ->
                line.matches(
                    "WARN test-pool: the expiry task failed \\d+ times in a row; retrying in"
                        + " PT[0-9.]+S \\| IllegalStateException"));
    flaky.fail(0, 0, false); // the ticker works again
    scheduler.advance(ttl);
    assertThat(resource.closes).as("expired once the clock is back").hasValue(1);
    assertThat(PoolLog.lines(Level.INFO))
        .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
        .matches("INFO test-pool: the expiry task runs again after \\d+ failures in a row");
  }

  /**
   * The same with the clock failing for a while (each retry, 1 ms apart, burns an epoch number):
   * once it is back, the ring holds times from earlier laps, and stamps map to them.
   */
  @Test
  void aTickerOutageMustNotCloseEarly() {
    FlakyTicker flaky = new FlakyTicker();
    Duration ttl = Duration.ofSeconds(64); // epochs of 1 s
    pool = Pool.newBuilder()
        .ticker(flaky)
        .scheduler(scheduler)
        .executor(directExecutor)
        .name("test-pool")
        .ttl(ttl)
        .build(factory);
    TestResource resource = lease("k");
    for (int i = 0; i < 20; i++) { // 200 s, many epochs: the ring is full of real times
      scheduler.advance(Duration.ofSeconds(10));
      assertThat(lease("k")).isSameAs(resource); // stamped with the current epoch
    }
    // A flaky clock: every run's first read passes, the one in advanceEpoch throws; each such
    // run publishes an epoch number and writes no time, then retries, backing off from 1 ms to
    // an epoch. "k" is leased all through the outage: its releases stamp those numbers.
    flaky.fail(0, 300, true);
    while (flaky.failuresLeft() > 0) {
      scheduler.advance(Duration.ofSeconds(10));
      assertThat(lease("k")).isSameAs(resource);
    }
    // The clock works again. "k" sits in the heap under the deadline of an earlier stamp; when it
    // comes up, releasedBefore(stamp) must map the numbers stamped during the outage to times no
    // earlier than those releases, although the ring holds times from laps (128 epochs) before.
    scheduler.advance(ttl.minusSeconds(3)); // 61 s after the last release
    assertThat(resource.closes).as("idle for 61 s of a 64 s TTL").hasValue(0);
    // One ERROR for the first failed run, then a WARN at each doubling, and one INFO once the
    // clock is back.
    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly(
            "ERROR test-pool: the expiry task failed; retrying | IllegalStateException");
    assertThat(PoolLog.lines(Level.WARN)).hasSizeLessThanOrEqualTo(9);
    assertThat(PoolLog.lines(Level.INFO)).hasSize(1);
  }

  /**
   * The documented bound is TTL/64 + 1 ms late at most, but an epoch is at least 1 ms: for a TTL
   * under 64 ms a warm release can close up to 1 ms (epoch) + 1 ms (batching) late.
   */
  @Test
  void smallTtlStaysWithinTheDocumentedLateness() {
    Duration ttl = Duration.ofMillis(10).plusNanos(500_000); // 10.5 ms, epochs of 1 ms
    newPool(ttl);
    TestResource resource = lease("k"); // t=0: queued, first run at 1 ms
    scheduler.advance(Duration.ofMillis(1)); // t=1: epoch 1 starts
    ticker.advance(Duration.ofNanos(1_000));
    assertThat(lease("k")).isSameAs(resource); // t=1.001 ms: stamped with epoch 1
    long releasedAt = ticker.read();
    Duration documented = ttl.plus(LeaseAndTtlTest.mostLate(ttl)); // 10.5 + 1 + 1 ms
    scheduler.advance(ttl.minusNanos(1_000)); // up to 1 ns before the TTL since that release
    assertThat(resource.closes).as("never early").hasValue(0);
    long deadline = releasedAt + documented.toNanos();
    scheduler.advance(Duration.ofNanos(deadline - ticker.read()));
    assertThat(resource.closes).as("closed by TTL + max(TTL/64, 1 ms) + 1 ms").hasValue(1);
  }
}
