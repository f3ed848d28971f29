package dev.asyncpool;

import static dev.asyncpool.Futures.failureOf;
import static dev.asyncpool.Futures.isDone;
import static dev.asyncpool.Futures.unwrap;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a pool closes its instances: on which threads, with which timeout, and what it says when a
 * close fails or never ends. {@link KeyedPool} hands it an entry it claimed (exactly one thread
 * claims each, see {@link PoolEntry}); this closes the instance once and then tells the pool the
 * entry is gone ({@code finished}), which gives back its room under the bound and counts it out
 * of the live entries.
 *
 * <h2>Threads</h2>
 *
 * A close starts on the pool's executor, never on the thread of the release or the expiry task
 * that claimed it, unless the executor rejects it (then inline, logged). {@code closeAsync} is
 * expected not to block; a blocking close (an {@link AutoCloseable} adapter) runs on the
 * configured executor, or, when none was set, on the pool's own {@link CloseThreads} (at most 4
 * daemon threads, ended at termination), never on the common pool.
 *
 * <h2>The close timeout</h2>
 *
 * A close that has not completed within {@code closeTimeout} is counted as failed, logged, told
 * to the listener, and the entry finishes (so a stuck close never wedges a shutdown). Its
 * completion and its timeout race for one outcome word: whichever moves it first counts the
 * close, once. A close that timed out is listed in {@link #stuckCloses} until it completes after
 * all; a shutdown that ends while it is listed fails, naming its key (handshake STUCK-CLOSE, in
 * {@link PoolEntry}'s note and at {@link #closeNow}).
 *
 * <p>Thread-safety: every method may be called from any thread; the state is a concurrent set,
 * two counters and, per close, one atomic outcome.
 */
final class Closing<K, R> {

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  /** A close's outcome, settled once by its completion or its timeout; see closeNow. */
  private static final int CLOSE_PENDING = 0;

  private static final int CLOSE_DONE = 1;
  private static final int CLOSE_TIMED_OUT = 2;

  /** Timed out, then completed after all. */
  private static final int CLOSE_LATE = 3;

  private final ResourceLifecycle<? super R> lifecycle;
  private final Executor executor;

  /** Where closes that block ({@link AutoCloseable}) run: the configured executor, or threads. */
  private final Executor blockingExecutor;

  /** The pool's own close threads when no executor was set (else null); ended at termination. */
  private final CloseThreads closeThreads;

  private final PoolScheduler scheduler;
  private final long closeTimeoutNanos;
  private final Duration closeTimeout;
  private final String name;

  /** The user's listener, made safe; null when none was set. */
  private final SafeListener<K, R> listener;

  private final Function<Object, String> describe;

  /** Told when an entry's close ended (completed, failed or timed out): it is gone for good. */
  private final Consumer<PoolEntry<K, R>> finished;

  /** Entries whose close timed out and has not completed since; named if shutdown ends first. */
  private final Set<PoolEntry<K, R>> stuckCloses = ConcurrentHashMap.newKeySet();

  private final LongAdder closes = new LongAdder();
  private final LongAdder closeFailures = new LongAdder();

  Closing(
      PoolConfig<K, R> config,
      Executor executor,
      PoolScheduler scheduler,
      SafeListener<K, R> listener,
      Function<Object, String> describe,
      Consumer<PoolEntry<K, R>> finished) {
    this.lifecycle = config.lifecycle();
    this.executor = executor;
    this.closeThreads = config.executor() == null ? new CloseThreads(config.name()) : null;
    this.blockingExecutor = closeThreads != null ? closeThreads : config.executor();
    this.scheduler = scheduler;
    this.closeTimeout = config.closeTimeout();
    this.closeTimeoutNanos = PoolConfig.saturatedNanos(closeTimeout);
    this.name = config.name();
    this.listener = listener;
    this.describe = describe;
    this.finished = finished;
  }

  /** Closes that completed well. */
  long closes() {
    return closes.sum();
  }

  /** Closes that failed, returned null, threw or timed out. */
  long closeFailures() {
    return closeFailures.sum();
  }

  private String describe(Object key) {
    return describe.apply(key);
  }

  private ScheduledFuture<?> schedule(Runnable task, long delayNanos) {
    return scheduler.schedule(task, delayNanos);
  }

  /** Closes the instance on the executor, never on the caller's thread unless it rejects. */
  void closeLater(PoolEntry<K, R> entry, R instance) {
    RunOnce close = new RunOnce(() -> closeNow(entry, instance)); // see RunOnce
    try {
      executor.execute(close);
    } catch (RuntimeException | Error e) {
      // An Error too (a thread pool that cannot start a thread throws OutOfMemoryError): the
      // instance is claimed, so nothing else would close it, and the releasing caller must not
      // get it. If the executor queued the close before it threw, that copy does nothing.
      if (!close.claim()) {
        // It runs, or ran, on the executor, which threw all the same.
        log.warn(
            "{}: the executor threw after it took the close of key {}; it runs once",
            name,
            describe(entry.key),
            e);
        return;
      }
      log.warn(
          "{}: executor rejected the close of key {}; closing inline",
          name,
          describe(entry.key),
          e);
      closeNow(entry, instance);
    }
  }

  /**
   * Closes the instance on this thread (an executor's, see {@link #closeLater}): starts its close
   * and arms its timeout, unless the close completed on the spot.
   */
  void closeNow(PoolEntry<K, R> entry, R instance) {
    long closeStart = listener != null ? listener.start() : 0L;
    CompletionStage<?> stage;
    try {
      stage = lifecycle.close(instance, blockingExecutor);
    } catch (Throwable t) {
      closeFailed(entry, instance, t, closeStart);
      return;
    }
    if (stage == null) {
      closeFailed(
          entry,
          instance,
          new NullPointerException("closeAsync returned null for key " + describe(entry.key)),
          closeStart);
      return;
    }
    if (isDone(stage)) {
      closeCompleted(entry, instance, failureOf(stage), closeStart);
      return;
    }
    AtomicInteger outcome = new AtomicInteger(CLOSE_PENDING);
    ScheduledFuture<?> timeout =
        schedule(
            () -> {
              // Races with the completion: whichever moves the outcome first counts the close.
              if (outcome.compareAndSet(CLOSE_PENDING, CLOSE_TIMED_OUT)) {
                // Listed only now, once the timeout won: a close that completed in time must
                // never be named by a shutdown (terminate() may run on the completing thread
                // while we are here). Handshake STUCK-CLOSE: a completion since our CAS
                // marks the close late, then unlists it; we list it, then look for that mark.
                stuckCloses.add(entry);
                if (outcome.get() == CLOSE_LATE) {
                  stuckCloses.remove(entry);
                }
                closeTimedOut(entry, instance, closeStart);
              }
            },
            closeTimeoutNanos);
    stage.whenComplete(
        (ignored, failure) -> {
          timeout.cancel(false);
          if (outcome.compareAndSet(CLOSE_PENDING, CLOSE_DONE)) {
            closeCompleted(entry, instance, failure, closeStart);
          } else if (outcome.compareAndSet(CLOSE_TIMED_OUT, CLOSE_LATE)) {
            stuckCloses.remove(entry); // handshake STUCK-CLOSE, see above
            log.info(
                "{}: the close of key {} completed after its timeout", name, describe(entry.key));
          }
        });
  }

  private void closeCompleted(
      PoolEntry<K, R> entry, R instance, Throwable failure, long closeStart) {
    if (failure != null) {
      closeFailed(entry, instance, unwrap(failure), closeStart);
    } else {
      closes.increment();
      if (listener != null) {
        listener.closed(entry.key, instance, closeStart); // event: before shutdown may complete
      }
      finished.accept(entry);
    }
  }

  private void closeTimedOut(PoolEntry<K, R> entry, R instance, long closeStart) {
    closeFailures.increment();
    log.warn(
        "{}: the close of key {} did not complete within {}; moving on",
        name,
        describe(entry.key),
        closeTimeout);
    if (listener != null) {
      listener.closeFailed(
          entry.key,
          instance,
          new TimeoutException(
              name
                  + ": the close of key "
                  + describe(entry.key)
                  + " did not complete within "
                  + closeTimeout),
          closeStart); // event: close timed out
    }
    finished.accept(entry);
  }

  private void closeFailed(
      PoolEntry<K, R> entry, R instance, Throwable failure, long closeStart) {
    closeFailures.increment();
    log.warn("{}: closing the instance for key {} failed", name, describe(entry.key), failure);
    if (listener != null) {
      listener.closeFailed(entry.key, instance, failure, closeStart); // event: close failed
    }
    finished.accept(entry);
  }

  /**
   * Every entry finished: ends the close threads and completes {@code terminated}, failing it,
   * with the keys named, if some close is still stuck (timed out, not completed since).
   */
  void terminate(CompletableFuture<Void> terminated) {
    List<String> stuckKeys = new ArrayList<>();
    for (PoolEntry<K, R> entry : stuckCloses) {
      stuckKeys.add(describe(entry.key));
    }
    if (closeThreads != null) {
      closeThreads.shutdown(); // the running close (maybe this thread's) finishes first
    }
    if (stuckKeys.isEmpty()) {
      terminated.complete(null);
    } else {
      terminated.completeExceptionally(
          new TimeoutException(
              name
                  + ": closes still pending after "
                  + closeTimeout
                  + " for keys "
                  + stuckKeys));
    }
  }
}
