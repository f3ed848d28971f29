package dev.asyncpool;

import java.io.Serializable;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * A keyed pool of shared, ref-counted, asynchronously opened and closed instances: one instance
 * per key, created on first use, shared by every lease of that key, and closed once it has had no
 * lease for the pool's time-to-live.
 *
 * <pre>{@code
 * Pool<String, TenantDb> pool = Pool.newBuilder()
 *     .ttl(Duration.ofSeconds(5))
 *     .build(TenantDb::new);              // TenantDb implements AsyncResource
 *
 * try (Lease<TenantDb> lease = pool.get("tenant-a")) {
 *   lease.get().query("select 1");
 * }                                       // released: closes 5 s from now unless leased again
 * pool.close();                           // closes everything, waits for the closes to finish
 * }</pre>
 *
 * <h2>Guarantees</h2>
 *
 * <ul>
 *   <li>Keys are compared with {@code equals}; keys whose hashes collide get separate instances.
 *       Keys must not change their {@code equals}/{@code hashCode} while in the pool.
 *   <li>Single flight: concurrent first requests of a key run the factory and {@code openAsync}
 *       once and share the result. User code never runs inside a lock of the pool.
 *   <li>An instance is never closed while leased and never handed out once its close began; it is
 *       closed exactly once, off the thread that released it.
 *   <li>Failures of the factory or of {@code openAsync} reach every caller that waited for that
 *       attempt, and are not remembered: the next request tries afresh (unless a {@linkplain
 *       PoolBuilder#retryBackoff retry backoff} is set).
 *   <li>An instance is replaced with no gap by {@link #refresh}, or when its {@linkplain
 *       PoolBuilder#maxLifetime lifetime} ends: requests meanwhile get the old one, which closes
 *       at its last release.
 *   <li>A failing close is logged with its key and counted; it never stops other closes.
 * </ul>
 *
 * <p>Every method is thread-safe. {@link #closeAsync()} and {@link #close()} are idempotent.
 *
 * <p>Close a pool you no longer need: while it holds idle instances its expiry task stays
 * scheduled, so a pool that is merely dropped, and its instances, stay reachable until they
 * expire.
 *
 * <p>A pool is {@link Serializable} when its factory (and any custom ticker, scheduler, executor or
 * {@link PoolListener}) is: the copy carries the settings and none of the instances, starts empty,
 * and runs its own timers. Built {@link PoolBuilder#sharedPerJvm()}, a copy is instead the live
 * pool of its identity in the JVM that reads it, for engines that deserialize a pool per task.
 *
 * @param <K> the key type; must implement {@code equals} and {@code hashCode}
 * @param <R> the type of the pooled instances
 */
public interface Pool<K, R> extends AutoCloseable, Serializable {

  /**
   * Starts a builder. Settings come first, the factory last, in one of the builder's {@code build}
   * methods; the pool's key and resource types come from the assignment, as with Caffeine:
   *
   * <pre>{@code
   * Pool<String, TenantDb> pool = Pool.newBuilder().ttl(ofSeconds(5)).build(TenantDb::new);
   * Pool<String, HikariDataSource> dbs = Pool.newBuilder().buildCloseable(tenant -> dataSource(tenant));
   * }</pre>
   *
   * @return a new builder with a time-to-live of 30 seconds
   */
  static PoolBuilder<Object, Object> newBuilder() {
    return new PoolBuilder<>();
  }

  /**
   * Leases the instance for {@code key}, creating and opening it first if there is none, and
   * blocking until it is ready. On an open instance this takes no lock and does not block.
   *
   * <p>If this thread runs the factory, it runs it here; other threads asking for the same key
   * meanwhile wait for that attempt.
   *
   * @param key the key
   * @return a new lease, to be closed by the caller
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalStateException if the pool is closed, or the factory asked for its own key
   * @throws RetryBackoffException if the key has no instance and its last creation failed less
   *     than its retry backoff ago ({@link PoolBuilder#retryBackoff}); thrown at once
   * @throws java.util.concurrent.CompletionException wrapping a checked failure of the factory or
   *     of {@code openAsync}, or an {@link InterruptedException} (the thread's interrupt flag is
   *     then set again); unchecked failures are rethrown as they are
   */
  Lease<R> get(K key);

  /**
   * Leases the instance for {@code key} like {@link #get(Object)}, but waits at most {@code
   * timeout} for its creation: the factory (even a synchronous one) runs on the pool's executor,
   * not on this thread, so a slow or stuck factory cannot hold this caller past its deadline. On
   * an open instance this is as fast as {@link #get(Object)}, and never reads the clock.
   *
   * <p>On time-out only this caller gives up: the creation goes on for the others, and the share
   * this caller would have had is given back when the creation ends, so nothing leaks.
   *
   * @param key the key
   * @param timeout how long to wait for a creation; {@link Duration#ZERO} fails at once unless the
   *     instance is open
   * @return a new lease, to be closed by the caller
   * @throws NullPointerException if {@code key} or {@code timeout} is null
   * @throws IllegalArgumentException if {@code timeout} is negative
   * @throws IllegalStateException if the pool is closed
   * @throws RetryBackoffException as {@link #get(Object)} does
   * @throws java.util.concurrent.CompletionException caused by a {@link
   *     java.util.concurrent.TimeoutException} whose message names the key and the wait, when the
   *     timeout ran out; otherwise as {@link #get(Object)}
   */
  Lease<R> get(K key, Duration timeout);

  /**
   * Leases the instance for {@code key} if one is open now; never creates one and never waits. As
   * cheap as the warm path of {@link #get(Object)}.
   *
   * <p>Returns null rather than an {@code Optional}: a null resource is legal in
   * try-with-resources (its close is skipped), so the usual form stays one statement, and the
   * warm path allocates nothing but the lease:
   *
   * <pre>{@code
   * try (Lease<TenantDb> lease = pool.getIfPresent(tenant)) {
   *   if (lease != null) {
   *     lease.get().flushCaches();
   *   }
   * }
   * }</pre>
   *
   * @param key the key
   * @return a new lease on the open instance, or null if the key has none (none yet, still being
   *     created, closing, or the pool is closed)
   * @throws NullPointerException if {@code key} is null
   */
  Lease<R> getIfPresent(K key);

  /**
   * Returns the keys that have an open instance now, leased or idle: a snapshot, weakly
   * consistent with concurrent changes (like a {@link java.util.concurrent.ConcurrentHashMap}'s
   * iteration), and unmodifiable. Keys whose instance is still being created, or retired and
   * closing, are left out. Costs a scan of the pool.
   *
   * @return an unmodifiable snapshot of the keys with an open instance
   */
  java.util.Set<K> keys();

  /**
   * Leases the instance for {@code key} like {@link #get}, applies {@code action} to it on this
   * thread, and releases it when {@code action} returns or throws: {@code try (var lease =
   * get(key)) { return action.apply(lease.get()); }}, without the lease object. On an open
   * instance this is the pool's cheapest call: no lock, no allocation of its own, no clock read.
   * The action may throw a checked exception, which is rethrown as it is:
   *
   * <pre>{@code
   * int rows = pool.apply(tenant, ds -> {
   *   try (Connection c = ds.getConnection()) {
   *     return count(c, "orders");                   // throws SQLException
   *   }
   * });
   * }</pre>
   *
   * @param key the key
   * @param action what to do with the instance; it must not keep the instance after returning
   * @param <T> the result type
   * @param <E> the checked exception {@code action} may throw
   * @return what {@code action} returned
   * @throws E what {@code action} threw, after the release
   * @throws NullPointerException if {@code key} or {@code action} is null
   * @throws IllegalStateException as {@link #get} does
   * @throws java.util.concurrent.CompletionException as {@link #get} does; whatever {@code
   *     action} throws is rethrown as it is, after the release
   */
  <T, E extends Exception> T apply(K key, LeaseFunction<? super R, ? extends T, E> action)
      throws E;

  /**
   * Leases the instance for {@code key} like {@link #get}, runs {@code action} with it on this
   * thread, and releases it when {@code action} returns or throws: the form of {@link #apply} for
   * work with no result.
   *
   * @param key the key
   * @param action what to do with the instance; it must not keep the instance after returning
   * @param <E> the checked exception {@code action} may throw
   * @throws E what {@code action} threw, after the release
   * @throws NullPointerException if {@code key} or {@code action} is null
   * @throws IllegalStateException as {@link #get} does
   * @throws java.util.concurrent.CompletionException as {@link #get} does
   */
  <E extends Exception> void accept(K key, LeaseConsumer<? super R, E> action) throws E;

  /**
   * Leases the instance for {@code key} without blocking. A synchronous factory runs on the pool's
   * executor.
   *
   * <p>Cancelling the returned future affects only this caller: the creation goes on for the
   * others, and a lease that arrives after the cancellation is released.
   *
   * @param key the key
   * @return a future of a new lease; failed with {@link IllegalStateException} if the pool is
   *     closed, with a {@link RetryBackoffException} (at once) within the key's retry backoff, or
   *     with the failure of the factory or of {@code openAsync}
   * @throws NullPointerException if {@code key} is null
   */
  CompletableFuture<Lease<R>> acquire(K key);

  /**
   * Leases the instance for {@code key}, applies {@code action} to it, and releases the lease when
   * the stage that {@code action} returns completes (or when {@code action} throws).
   *
   * @param key the key
   * @param action the work to do with the instance
   * @param <T> the action's result type
   * @return a future of the action's result
   * @throws NullPointerException if {@code key} or {@code action} is null
   */
  <T> CompletableFuture<T> withResource(
      K key, Function<? super R, ? extends CompletionStage<T>> action);

  /**
   * Replaces the instance for {@code key} with a new one, with no gap: the new instance is created
   * and opened beside the current one, which serves every request meanwhile; once it is open, new
   * leases get it, and the old one is closed at its last release (at once if it has none). Use it
   * when what an instance was built from changed: a rotated password, a new configuration.
   *
   * <p>With no open instance for the key it creates one, as a request would (a warm-up); with a
   * creation under way it waits for that creation instead of starting another. One refresh of a
   * key runs at a time: a call while one is under way returns (a copy of) its future. In a
   * bounded pool the new instance needs room of its own while both exist, and waits for it as a
   * cold key does.
   *
   * <p>If the new instance cannot be created or opened, the old one stays in service, the failure
   * is logged and told to {@link PoolListener#onRefreshFailed}, and the future fails with it.
   * With {@link PoolBuilder#retryBackoff} set, that failure starts the key's backoff like any
   * failed creation, and a refresh within it fails at once with {@link RetryBackoffException}.
   * Thread-safe.
   *
   * @param key the key
   * @return a future completed once the new instance is in service (or failed, see above); it
   *     fails with {@link IllegalStateException} if the pool is closed. Cancelling it stops
   *     nothing.
   * @throws NullPointerException if {@code key} is null
   */
  CompletableFuture<Void> refresh(K key);

  /**
   * Retires the instance for {@code key}, if any: it is handed out no more, the next request
   * creates a new one, and it is closed once its last lease is closed (at once if it has none). A
   * creation in progress is left to finish for the callers waiting on it, then retired the same way.
   * Idempotent.
   *
   * @param key the key
   * @return true if an instance was retired by this call
   * @throws NullPointerException if {@code key} is null
   */
  boolean invalidate(K key);

  /**
   * Returns a snapshot of the pool's counters.
   *
   * @return the counters; {@code idle} is computed by a scan proportional to the pool's size
   */
  PoolStats stats();

  /**
   * Shuts the pool down gracefully: new requests fail at once, idle instances are closed at once,
   * each leased instance is closed when its last lease is closed, and an instance whose creation
   * finishes after this call is closed without being handed out.
   *
   * <p>Idempotent: every call returns the same future, which completes when every instance the
   * pool held has been closed (a close that fails is logged and counted; it does not fail the
   * future).
   *
   * @return the future of the shutdown's end
   */
  CompletableFuture<Void> closeAsync();

  /**
   * Shuts the pool down like {@link #closeAsync()}, and closes instances that are still leased
   * after {@code gracePeriod} anyway. Their open leases keep returning the (closing) instance.
   *
   * @param gracePeriod how long leased instances may stay open; {@link Duration#ZERO} closes them
   *     at once
   * @return the same future as {@link #closeAsync()}
   * @throws NullPointerException if {@code gracePeriod} is null
   * @throws IllegalArgumentException if {@code gracePeriod} is negative
   */
  CompletableFuture<Void> closeAsync(Duration gracePeriod);

  /**
   * Shuts the pool down and waits for it: {@code closeAsync().join()}, rethrowing an unchecked
   * failure as it is. Idempotent.
   */
  @Override
  void close();
}
