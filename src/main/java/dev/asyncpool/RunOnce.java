package dev.asyncpool;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A task handed to the user's executor that runs at most once, whoever gets to it first: the
 * executor, or the pool's fallback when {@code execute} throws.
 *
 * <p>Why: {@code execute} may queue the task and then throw. A {@code ThreadPoolExecutor} with no
 * live worker queues the task, then fails to start a thread with {@code OutOfMemoryError}
 * ("unable to create native thread"), and the task runs later, when a worker does start. The
 * pool's fallback (close inline, or fail the creation) must then be the only one to act: a close
 * run twice closed an instance twice and drove the live count below zero, so that shutdown never
 * completed; a creation step run after its creation was failed made and opened an instance that
 * nothing would ever close (review 4, {@code FixesReviewTest}).
 *
 * <p>Usage: hand the {@code RunOnce} to {@code execute}; if that throws, call {@link #claim()}, and
 * act only if it returns true (the queued copy, if any, then does nothing). Thread-safe: one CAS.
 */
final class RunOnce extends AtomicBoolean implements Runnable {

  private static final long serialVersionUID = 1L;

  private final transient Runnable task;

  RunOnce(Runnable task) {
    this.task = task;
  }

  /** Runs the task, unless it ran or was claimed already. */
  @Override
  public void run() {
    if (claim()) {
      task.run();
    }
  }

  /** True for the one caller that gets to act for this task: its run, or the fallback's. */
  boolean claim() {
    return compareAndSet(false, true);
  }
}
