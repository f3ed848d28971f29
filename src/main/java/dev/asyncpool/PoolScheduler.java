package dev.asyncpool;

import static java.util.concurrent.TimeUnit.NANOSECONDS;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a pool schedules its own tasks (the expiry task, evictions, creation deadlines, acquire and
 * close timeouts) on the configured scheduler, with a way out when that scheduler fails.
 *
 * <p>If the configured scheduler rejects a task (say, the application shut it down first) or
 * fails otherwise, the task goes to asyncpool's own daemon scheduler ({@link DefaultScheduler})
 * instead, so that instances are still expired and closed, and timeouts still fire; the failure
 * is logged, never thrown at a caller. Thrown on, it would also strand whoever scheduled: the
 * expiry task's "active" flag would stay set with no run scheduled, and nothing would expire
 * again.
 *
 * <p>Thread-safe: final fields and an atomic count of the failures.
 */
final class PoolScheduler {

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  private final ScheduledExecutorService scheduler;
  private final String name;

  /** Tasks the configured scheduler failed to take so far. */
  private final AtomicInteger failures = new AtomicInteger();

  PoolScheduler(ScheduledExecutorService scheduler, String name) {
    this.scheduler = scheduler == null ? DefaultScheduler.get() : scheduler;
    this.name = name;
  }

  /** Runs {@code task} once, after {@code delayNanos}; never throws (see the class note). */
  ScheduledFuture<?> schedule(Runnable task, long delayNanos) {
    try {
      return scheduler.schedule(task, delayNanos, NANOSECONDS);
    } catch (RuntimeException e) {
      // A scheduler shut down under a live pool refuses every task from then on (the expiry
      // task's every run is one): said once at WARN, with its cause, and then counted at DEBUG.
      int failures = this.failures.incrementAndGet();
      if (failures == 1) {
        log.warn("{}: the scheduler failed to take a task; using asyncpool's own", name, e);
      } else {
        log.debug(
            "{}: the scheduler failed to take a task again ({} so far); using asyncpool's own",
            name,
            failures);
      }
      return DefaultScheduler.get().schedule(task, delayNanos, NANOSECONDS);
    }
  }
}
