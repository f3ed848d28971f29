package dev.asyncpool;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The scheduler shared by pools that were not given one: a single daemon thread, created on first
 * use, that never keeps the JVM alive. It only runs the pools' expiry tasks (bookkeeping, no user
 * code), so one thread serves any number of pools.
 */
final class DefaultScheduler {

  private DefaultScheduler() {}

  static ScheduledExecutorService get() {
    return Holder.INSTANCE;
  }

  /**
   * Threads for closes that block ({@link AutoCloseable#close()}) when the pool has no executor of
   * its own: daemon threads, created as needed and ended after a minute idle, so a slow close
   * never occupies the common fork-join pool.
   */
  static java.util.concurrent.ExecutorService blockingExecutor() {
    return BlockingHolder.INSTANCE;
  }

  private static final class BlockingHolder {
    static final java.util.concurrent.ExecutorService INSTANCE = create();

    private static java.util.concurrent.ExecutorService create() {
      AtomicInteger count = new AtomicInteger();
      return new java.util.concurrent.ThreadPoolExecutor(
          0,
          Integer.MAX_VALUE,
          60,
          java.util.concurrent.TimeUnit.SECONDS,
          new java.util.concurrent.SynchronousQueue<>(),
          task -> {
            Thread thread = new Thread(task, "asyncpool-close-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
          });
    }
  }

  private static final class Holder {
    static final ScheduledExecutorService INSTANCE = create();

    private static ScheduledExecutorService create() {
      AtomicInteger count = new AtomicInteger();
      ScheduledThreadPoolExecutor executor =
          new ScheduledThreadPoolExecutor(
              1,
              task -> {
                Thread thread = new Thread(task, "asyncpool-expiry-" + count.incrementAndGet());
                thread.setDaemon(true);
                return thread;
              });
      executor.setRemoveOnCancelPolicy(true);
      return executor;
    }
  }
}
