package dev.asyncpool;

import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How an expiry task ({@link Expiry}, {@link TimedExpiry}) backs off and logs when its runs fail
 * (a ticker that throws, say): the retries back off from 1 ms, doubling, to a ceiling of the
 * task's choosing, so that a clock that stays broken is not read, and logged, a thousand times a
 * second; the failure is an ERROR once, then a WARN at each doubling of the run of failures, then
 * an INFO when a run succeeds again. A ticker broken for 10 s logs 1 ERROR and a few WARN lines,
 * not 10,000 stack traces.
 *
 * <p>Thread-safety: none; used under the task's lock, one run at a time.
 */
final class RunFailures {

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  private final String name;

  /** Runs that failed in a row. */
  private int inARow;

  RunFailures(String name) {
    this.name = name;
  }

  /** A run succeeded: if failures came before it (more than one), says that it runs again. */
  void succeeded() {
    if (inARow > 1) { // one failure said "retrying", and that was the end of it
      log.info("{}: the expiry task runs again after {} failures in a row", name, inARow);
    }
    inARow = 0;
  }

  /** The wait before retrying after {@code failures} in a row: 1 ms, doubling, at most max. */
  static long backoff(int failures, long maxNanos) {
    return Math.min(Epochs.MIN_EPOCH_NANOS << Math.min(failures - 1, 30), maxNanos);
  }

  /**
   * A run failed with {@code t}: logs it as the run of failures so far calls for, and returns
   * when to retry, in nanoseconds: 1 ms doubling per failure in a row, at most {@code maxNanos}.
   */
  long failed(Throwable t, long maxNanos) {
    int failures = ++inARow;
    long retry = backoff(failures, maxNanos);
    if (failures == 1) {
      log.error("{}: the expiry task failed; retrying", name, t);
    } else if (Integer.bitCount(failures) == 1) {
      log.warn(
          "{}: the expiry task failed {} times in a row; retrying in {}",
          name,
          failures,
          Duration.ofNanos(retry),
          t);
    } else {
      log.debug("{}: the expiry task failed again ({} in a row)", name, failures, t);
    }
    return retry;
  }
}
