package dev.asyncpool;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/** A lease on an entry; its first {@link #close()} gives the share back. */
final class PooledLease<K, R> implements Lease<R> {

  private static final VarHandle RELEASED;

  static {
    try {
      RELEASED = MethodHandles.lookup().findVarHandle(PooledLease.class, "released", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final KeyedPool<K, R> pool;
  private final PoolEntry<K, R> entry;
  private volatile boolean released;

  PooledLease(KeyedPool<K, R> pool, PoolEntry<K, R> entry) {
    this.pool = pool;
    this.entry = entry;
  }

  @Override
  @SuppressWarnings("unchecked")
  public R get() {
    if (released) {
      throw new IllegalStateException(
          "this lease of key " + pool.describe(entry.key) + " is closed");
    }
    // The entry's value is the instance from before this lease was made until forever.
    return (R) entry.value;
  }

  @Override
  public void close() {
    // Two closes racing (a misuse, but a harmless one): the CAS lets exactly one release.
    if (!released && RELEASED.compareAndSet(this, false, true)) {
      pool.release(entry);
    }
  }

  @Override
  public String toString() {
    return "Lease[key=" + pool.describe(entry.key) + (released ? ", closed]" : "]");
  }
}
