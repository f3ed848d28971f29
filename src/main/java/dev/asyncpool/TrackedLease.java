package dev.asyncpool;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A lease that notices being garbage-collected without {@link #close()}: with leak detection on,
 * the pool hands these out instead of {@link PooledLease}. The cleanup action holds the share
 * (not the lease), so it can run once the lease is unreachable and give the share back.
 */
final class TrackedLease<K, R> implements Lease<R> {

  private static final Cleaner CLEANER = Cleaner.create();

  private final Share<K, R> share;
  private final Cleaner.Cleanable cleanable;

  TrackedLease(KeyedPool<K, R> pool, PoolEntry<K, R> entry) {
    // Nothing here may throw: the caller already holds the share (see KeyedPool#describe).
    this.share = new Share<>(pool, entry, new LeakTrace());
    this.cleanable = CLEANER.register(this, share);
  }

  @Override
  @SuppressWarnings("unchecked")
  public R get() {
    if (share.released.get()) {
      throw new IllegalStateException(
          "this lease of key " + share.pool.describe(share.entry.key) + " is closed");
    }
    return (R) share.entry.value;
  }

  @Override
  public void close() {
    if (share.released.compareAndSet(false, true)) {
      share.pool.release(share.entry);
      cleanable.clean(); // deregisters; the action sees the share released and does nothing
    }
  }

  @Override
  public String toString() {
    return "Lease[key="
        + share.pool.describe(share.entry.key)
        + (share.released.get() ? ", closed]" : "]");
  }

  /** The share a lease holds; run by the cleaner if the lease is collected unclosed. */
  private static final class Share<K, R> implements Runnable {
    final KeyedPool<K, R> pool;
    final PoolEntry<K, R> entry;
    final LeakTrace acquiredAt;
    final AtomicBoolean released = new AtomicBoolean();

    Share(KeyedPool<K, R> pool, PoolEntry<K, R> entry, LeakTrace acquiredAt) {
      this.pool = pool;
      this.entry = entry;
      this.acquiredAt = acquiredAt;
    }

    @Override
    public void run() {
      if (released.compareAndSet(false, true)) {
        pool.leaked(entry, acquiredAt);
      }
    }
  }

  /**
   * Where a leaked lease was acquired; logged as the cause of the warning, which names the key.
   * It names no key itself: a message built here, after the retain, would run the key's
   * formatting while the share is held, and the warning names the key anyway.
   */
  static final class LeakTrace extends Throwable {
    private static final long serialVersionUID = 1L;

    LeakTrace() {
      super("the leaked lease was acquired here", null, false, true);
    }
  }
}
