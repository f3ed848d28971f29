package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.event.Level;

/**
 * Issue 10's suspicion about a close that completes just as its timeout fires while shutdown
 * waits for it, decided: the shutdown future may fail naming the key only if the close really
 * counted as timed out. The close's timeout and its completion race on two real threads, started
 * together by spinning, many times over: the window is a few instructions wide, yet before the
 * fix every run failed within its first few hundred races (in a longer probe, one race in ten
 * that the completion won failed the shutdown). After it, no outcome can fail this test.
 *
 * <p>Lincheck would be the tool, but it reports this scenario as hung even for one invocation,
 * as it does a {@link LincheckRaceTest} test that runs first in its JVM (to be looked into).
 */
@ExtendWith(PoolLog.Capture.class)
class CloseTimeoutRaceTest {

  private static final int RACES = 1_000;

  /** Bounds the work, not a result: a busy machine runs fewer races. */
  private static final int BUDGET_SECONDS = 10;

  @Test
  void closeCompletingAsItsTimeoutFiresNeverFailsShutdownOnceCountedAsClosed() {
    Racer timeoutThread = new Racer();
    timeoutThread.start();
    long budget = System.nanoTime() + TimeUnit.SECONDS.toNanos(BUDGET_SECONDS);
    int timedOut = 0;
    try {
      for (int race = 1; race <= RACES && System.nanoTime() - budget < 0; race++) {
        OneTaskScheduler scheduler = new OneTaskScheduler();
        CompletableFuture<Void> closing = new CompletableFuture<>();
        Pool<String, TestResource> pool = poolClosingWith(scheduler, closing);
        pool.get("k").close(); // its close starts, and its timeout is scheduled
        CompletableFuture<Void> shutdown = pool.closeAsync(); // waits for that close

        // The timeout is due: it runs on the other thread, against the completion on this one.
        timeoutThread.race(race, scheduler::runTask, () -> closing.complete(null));

        PoolStats stats = pool.stats();
        assertThat(shutdown).as("race %d: shutdown completed", race).isDone();
        assertThat(stats.closes() + stats.closeFailures()).as("race %d: %s", race, stats).isOne();
        if (stats.closes() == 1) {
          assertThat(shutdown)
              .as("race %d: a close counted as completed in time failed the shutdown", race)
              .isNotCompletedExceptionally();
        } else {
          timedOut++;
        }
      }
    } finally {
      timeoutThread.stopRacing();
    }
    assertThat(PoolLog.lines(Level.WARN))
        .as("each close that timed out was logged once, naming its key")
        .hasSize(timedOut)
        .allMatch(
            line ->
                line.equals(
                    "WARN close-race: the close of key k did not complete within PT5S; moving on"));
  }

  /**
   * A thread that runs one action of each race against the test thread's. Both spin, so that
   * they start within nanoseconds of each other; the test's thread varies its start a little.
   */
  private static final class Racer extends Thread {
    private final AtomicInteger go = new AtomicInteger();
    private final AtomicInteger finished = new AtomicInteger();
    private volatile Runnable action;

    Racer() {
      super("close-timeout");
      setDaemon(true);
    }

    @Override
    public void run() {
      for (int race = 1; ; race++) {
        int started;
        while ((started = go.get()) < race) {
          Thread.onSpinWait();
        }
        if (started == Integer.MAX_VALUE) {
          return;
        }
        action.run();
        finished.set(race);
      }
    }

    /** Runs {@code theirs} on this thread and {@code ours} on the caller's, together. */
    void race(int race, Runnable theirs, Runnable ours) {
      action = theirs;
      go.set(race);
      for (int spin = race % 64; spin > 0; spin--) {
        Thread.onSpinWait(); // vary who comes first
      }
      ours.run();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (finished.get() < race) {
        if (System.nanoTime() - deadline > 0) {
          throw new AssertionError("race " + race + ": the other thread did not finish");
        }
        Thread.onSpinWait();
      }
    }

    void stopRacing() {
      go.set(Integer.MAX_VALUE);
    }
  }

  private static Pool<String, TestResource> poolClosingWith(
      OneTaskScheduler scheduler, CompletableFuture<Void> closing) {
    return Pool.newBuilder()
        .ticker(new FakeTicker())
        .scheduler(scheduler)
        .executor(Runnable::run)
        .ttl(Duration.ZERO)
        .closeTimeout(Duration.ofSeconds(5))
        .name("close-race")
        .build(
            key -> {
              TestResource r = new TestResource(key);
              r.onClose = () -> closing;
              return r;
            });
  }

  /**
   * Holds the one task the pool schedules here (the close's timeout) until the test runs it.
   * Smaller than {@link ManualScheduler}, for Lincheck to explore: no lock, no future.
   */
  static final class OneTaskScheduler extends AbstractExecutorService
      implements ScheduledExecutorService {
    private volatile Runnable task;

    void runTask() {
      task.run();
    }

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
      if (task != null) {
        throw new AssertionError("only the close's timeout is scheduled here");
      }
      task = command;
      return new NoFuture();
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
      throw new UnsupportedOperationException();
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(
        Runnable command, long initialDelay, long period, TimeUnit unit) {
      throw new UnsupportedOperationException();
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(
        Runnable command, long initialDelay, long delay, TimeUnit unit) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void execute(Runnable command) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void shutdown() {}

    @Override
    public List<Runnable> shutdownNow() {
      return List.of();
    }

    @Override
    public boolean isShutdown() {
      return false;
    }

    @Override
    public boolean isTerminated() {
      return false;
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
      return true;
    }

    /** What {@link #schedule} returns: cancelling it changes nothing (the test runs the task). */
    private static final class NoFuture implements ScheduledFuture<Object> {
      @Override
      public long getDelay(TimeUnit unit) {
        return 0;
      }

      @Override
      public int compareTo(Delayed other) {
        return 0;
      }

      @Override
      public boolean cancel(boolean mayInterruptIfRunning) {
        return false;
      }

      @Override
      public boolean isCancelled() {
        return false;
      }

      @Override
      public boolean isDone() {
        return false;
      }

      @Override
      public Object get() {
        throw new UnsupportedOperationException();
      }

      @Override
      public Object get(long timeout, TimeUnit unit) {
        throw new UnsupportedOperationException();
      }
    }
  }
}
