package dev.asyncpool;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A pool that counts the leases {@code get} hands out and every call of their {@code close()},
 * not only the first: a wrapper that closes a lease twice is caught even though a lease's close
 * is idempotent. Everything else goes to the pool it wraps.
 */
@SuppressWarnings("serial") // a test double, never serialized
final class CountingPool<K, R> implements Pool<K, R> {
  private final Pool<K, R> pool;
  final AtomicInteger leased = new AtomicInteger();
  final AtomicInteger closeCalls = new AtomicInteger();

  CountingPool(Pool<K, R> pool) {
    this.pool = pool;
  }

  /** Leases whose close was never called. */
  int open() {
    return leased.get() - closeCalls.get();
  }

  private Lease<R> counted(Lease<R> lease) {
    leased.incrementAndGet();
    return new Lease<>() {
      @Override
      public R get() {
        return lease.get();
      }

      @Override
      public void close() {
        closeCalls.incrementAndGet();
        lease.close();
      }

      @Override
      public String toString() {
        return lease.toString();
      }
    };
  }

  @Override
  public Lease<R> get(K key) {
    return counted(pool.get(key));
  }

  @Override
  public Lease<R> get(K key, Duration timeout) {
    return counted(pool.get(key, timeout));
  }

  @Override
  public Lease<R> getIfPresent(K key) {
    Lease<R> lease = pool.getIfPresent(key);
    return lease == null ? null : counted(lease);
  }

  @Override
  public Set<K> keys() {
    return pool.keys();
  }

  @Override
  public <T, E extends Exception> T apply(K key, LeaseFunction<? super R, ? extends T, E> action)
      throws E {
    return pool.apply(key, action);
  }

  @Override
  public <E extends Exception> void accept(K key, LeaseConsumer<? super R, E> action) throws E {
    pool.accept(key, action);
  }

  @Override
  public CompletableFuture<Lease<R>> acquire(K key) {
    return pool.acquire(key).thenApply(this::counted);
  }

  @Override
  public <T> CompletableFuture<T> withResource(
      K key, Function<? super R, ? extends CompletionStage<T>> action) {
    return pool.withResource(key, action);
  }

  @Override
  public boolean invalidate(K key) {
    return pool.invalidate(key);
  }

  @Override
  public CompletableFuture<Void> refresh(K key) {
    return pool.refresh(key);
  }

  @Override
  public PoolStats stats() {
    return pool.stats();
  }

  @Override
  public CompletableFuture<Void> closeAsync() {
    return pool.closeAsync();
  }

  @Override
  public CompletableFuture<Void> closeAsync(Duration gracePeriod) {
    return pool.closeAsync(gracePeriod);
  }

  @Override
  public void close() {
    pool.close();
  }

  @Override
  public String toString() {
    return pool.toString();
  }
}
