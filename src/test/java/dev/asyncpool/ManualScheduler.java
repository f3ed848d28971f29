package dev.asyncpool;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Delayed;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A scheduler driven by a {@link FakeTicker}: tasks run only when the test calls {@link
 * #advance(Duration)} or {@link #runDue()}, on the test's thread, in due order.
 */
final class ManualScheduler extends AbstractExecutorService implements ScheduledExecutorService {

  private final FakeTicker ticker;
  private final AtomicLong sequence = new AtomicLong();
  private final PriorityQueue<Task<?>> tasks =
      new PriorityQueue<>(
          Comparator.<Task<?>>comparingLong(t -> t.due).thenComparingLong(t -> t.sequence));
  private volatile boolean shutdown;
  private volatile boolean rejecting;
  private volatile RuntimeException failNext;

  ManualScheduler(FakeTicker ticker) {
    this.ticker = ticker;
  }

  /**
   * Advances the clock by {@code duration}, running every task that falls due on the way at its
   * own due time (the clock stops there while it runs), including ones those tasks add.
   */
  void advance(Duration duration) {
    long end = ticker.read() + duration.toNanos();
    for (; ; ) {
      Task<?> task;
      synchronized (this) {
        task = tasks.peek();
        if (task == null || task.due - end > 0) {
          break;
        }
        tasks.poll();
      }
      if (task.due - ticker.read() > 0) {
        ticker.set(task.due);
      }
      task.run();
    }
    ticker.set(end);
  }

  /** Runs every task due at the ticker's current time. */
  void runDue() {
    for (; ; ) {
      Task<?> task;
      synchronized (this) {
        task = tasks.peek();
        if (task == null || task.due - ticker.read() > 0) {
          return;
        }
        tasks.poll();
      }
      task.run();
    }
  }

  /**
   * Removes the first task due at the ticker's current time and returns it, without running it:
   * the caller runs it, on a thread of its choice. Null if none is due.
   */
  synchronized Runnable takeDue() {
    Task<?> task = tasks.peek();
    if (task == null || task.due - ticker.read() > 0) {
      return null;
    }
    return tasks.poll();
  }

  synchronized int pending() {
    return tasks.size();
  }

  synchronized List<Long> pendingDelaysNanos() {
    List<Long> delays = new ArrayList<>();
    for (Task<?> task : tasks) {
      delays.add(task.due - ticker.read());
    }
    return delays;
  }

  void rejectNewTasks(boolean rejecting) {
    this.rejecting = rejecting;
  }

  /** Makes the next {@code schedule} call throw {@code failure} (not a rejection), once. */
  void failNextTask(RuntimeException failure) {
    this.failNext = failure;
  }

  @Override
  public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
    return schedule(
        () -> {
          command.run();
          return null;
        },
        delay,
        unit);
  }

  @Override
  public synchronized <V> ScheduledFuture<V> schedule(
      Callable<V> callable, long delay, TimeUnit unit) {
    if (shutdown || rejecting) {
      throw new RejectedExecutionException("manual scheduler rejects");
    }
    RuntimeException failure = failNext;
    if (failure != null) {
      failNext = null;
      throw failure;
    }
    long nanos = unit.toNanos(delay);
    long due = ticker.read() + Math.min(nanos, Long.MAX_VALUE / 4);
    Task<V> task = new Task<>(callable, due, sequence.incrementAndGet());
    tasks.add(task);
    return task;
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
    schedule(command, 0, TimeUnit.NANOSECONDS);
  }

  @Override
  public void shutdown() {
    shutdown = true;
  }

  @Override
  public List<Runnable> shutdownNow() {
    shutdown = true;
    return List.of();
  }

  @Override
  public boolean isShutdown() {
    return shutdown;
  }

  @Override
  public boolean isTerminated() {
    return shutdown;
  }

  @Override
  public boolean awaitTermination(long timeout, TimeUnit unit) {
    return true;
  }

  private final class Task<V> implements ScheduledFuture<V>, Runnable {
    final Callable<V> callable;
    final long due;
    final long sequence;
    final CompletableFuture<V> result = new CompletableFuture<>();

    Task(Callable<V> callable, long due, long sequence) {
      this.callable = callable;
      this.due = due;
      this.sequence = sequence;
    }

    @Override
    public void run() {
      if (result.isDone()) {
        return;
      }
      try {
        result.complete(callable.call());
      } catch (Throwable t) {
        result.completeExceptionally(t);
      }
    }

    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(due - ticker.read(), TimeUnit.NANOSECONDS);
    }

    @Override
    public int compareTo(Delayed other) {
      return Long.compare(getDelay(TimeUnit.NANOSECONDS), other.getDelay(TimeUnit.NANOSECONDS));
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      synchronized (ManualScheduler.this) {
        tasks.remove(this);
      }
      return result.cancel(mayInterruptIfRunning);
    }

    @Override
    public boolean isCancelled() {
      return result.isCancelled();
    }

    @Override
    public boolean isDone() {
      return result.isDone();
    }

    @Override
    public V get() throws InterruptedException, ExecutionException {
      return result.get();
    }

    @Override
    public V get(long timeout, TimeUnit unit) throws InterruptedException, ExecutionException {
      return result.get();
    }
  }
}
