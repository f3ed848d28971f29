package dev.asyncpool.bench;

import dev.asyncpool.AsyncResource;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@link Client} that counts itself, for the bounded workload: how many were made, how many exist
 * now (made and not yet closed) and the most that ever existed at once. Its constructor is the
 * factory of every peer and its {@code closeAsync} is every peer's close, so the count means the
 * same thing for all of them. The counters are per JVM; JMH runs each trial in a fork of its own.
 */
final class CountedClient implements AsyncResource {

  private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);
  private static final VarHandle CLOSED;

  static {
    try {
      CLOSED = MethodHandles.lookup().findVarHandle(CountedClient.class, "closed", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private static final AtomicLong CREATED = new AtomicLong();
  private static final AtomicInteger LIVE = new AtomicInteger();
  private static final AtomicInteger PEAK = new AtomicInteger();

  final Object key;
  private volatile boolean closed;

  CountedClient(Object key) {
    this.key = key;
    CREATED.incrementAndGet();
    int live = LIVE.incrementAndGet();
    for (int peak = PEAK.get(); live > peak && !PEAK.compareAndSet(peak, live); ) {
      peak = PEAK.get();
    }
  }

  /** True once {@code closeAsync} was called: a user holding it now holds a closed instance. */
  boolean isClosed() {
    return closed;
  }

  @Override
  public CompletionStage<Void> openAsync() {
    return DONE;
  }

  @Override
  public CompletionStage<Void> closeAsync() {
    if (CLOSED.compareAndSet(this, false, true)) {
      LIVE.decrementAndGet();
    }
    return DONE;
  }

  /** Instances made so far. */
  static long created() {
    return CREATED.get();
  }

  /** Instances made and not yet closed. */
  static int live() {
    return LIVE.get();
  }

  /** The most instances that existed at once. */
  static int peak() {
    return PEAK.get();
  }
}
