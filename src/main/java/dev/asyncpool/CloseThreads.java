package dev.asyncpool;

import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Where one pool's blocking closes ({@link AutoCloseable#close()}) run when the pool was given no
 * executor: at most {@link #MAX_THREADS} daemon threads of this pool's own, started on first need,
 * ended after {@link #KEEP_ALIVE_SECONDS} idle, and all ended when the pool's shutdown completes.
 * Closes beyond the bound wait in an unbounded FIFO queue, so a mass expiry of thousands of clients
 * queues their closes instead of starting a thread for each.
 *
 * <p>Why per pool, not shared: a pool's shutdown can then end its threads, so nothing of the pool
 * runs after {@link Pool#close()} returns (a shared set would outlive it by its keep-alive), and a
 * slow close in one pool never delays another's.
 *
 * <p>Thread-safe. The executor is made on the first {@link #execute} (a slow path: closes only),
 * under this object's monitor; {@link #shutdown} is idempotent, and a close submitted after it
 * (a close that outlives the shutdown's end, which only a timed-out close can) runs on a thread of
 * its own so that it still happens.
 */
final class CloseThreads implements Executor {

  /** Threads per pool: enough to overlap slow network closes, few enough never to flood a host. */
  static final int MAX_THREADS = 4;

  /** How long an idle close thread lives. */
  static final long KEEP_ALIVE_SECONDS = 10;

  private final String poolName;
  private final AtomicInteger count = new AtomicInteger();

  /** Guarded by {@code this}. */
  private ThreadPoolExecutor threads;

  /** Guarded by {@code this}. */
  private boolean shutdown;

  CloseThreads(String poolName) {
    this.poolName = poolName;
  }

  @Override
  public void execute(Runnable task) {
    ThreadPoolExecutor executor;
    synchronized (this) {
      if (shutdown) {
        executor = null;
      } else {
        if (threads == null) {
          threads = create();
        }
        executor = threads;
      }
    }
    if (executor != null) {
      try {
        executor.execute(task);
        return;
      } catch (RejectedExecutionException shutDownMeanwhile) {
        // fall through: the close must still run
      }
    }
    newThread(task).start();
  }

  /** Lets the running closes finish, then ends every thread. Idempotent. */
  void shutdown() {
    ThreadPoolExecutor executor;
    synchronized (this) {
      shutdown = true;
      executor = threads;
    }
    if (executor != null) {
      executor.shutdown();
    }
  }

  private ThreadPoolExecutor create() {
    ThreadPoolExecutor executor =
        new ThreadPoolExecutor(
            MAX_THREADS,
            MAX_THREADS,
            KEEP_ALIVE_SECONDS,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            this::newThread);
    executor.allowCoreThreadTimeOut(true);
    return executor;
  }

  private Thread newThread(Runnable task) {
    Thread thread = new Thread(task, "asyncpool-close-" + poolName + "-" + count.incrementAndGet());
    thread.setDaemon(true);
    return thread;
  }
}
