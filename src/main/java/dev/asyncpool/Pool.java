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
 * Pool<String, TenantDb> pool = Pool.builder(TenantDb::new)  // TenantDb implements AsyncResource
 *     .ttl(Duration.ofSeconds(5))
 *     .build();
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
 *       attempt, and are not remembered: the next request tries afresh.
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
 * and runs its own timers.
 *
 * @param <K> the key type; must implement {@code equals} and {@code hashCode}
 * @param <R> the type of the pooled instances
 */
public interface Pool<K, R> extends AutoCloseable, Serializable {

  /**
   * Starts a builder for a pool whose factory makes an {@link AsyncResource} from its key.
   *
   * @param factory makes a new instance for a key; called at most once at a time per key, outside
   *     any lock; may throw (the failure reaches the waiting callers) but must not return null
   * @param <K> the key type
   * @param <R> the resource type
   * @return a new builder with a time-to-live of 30 seconds
   * @throws NullPointerException if {@code factory} is null
   */
  static <K, R extends AsyncResource> PoolBuilder<K, R> builder(
      Function<? super K, ? extends R> factory) {
    return PoolBuilder.ofFactory(factory);
  }

  /**
   * Starts a builder for a pool whose factory creates instances asynchronously. The factory is
   * called on the requesting thread and must not block.
   *
   * @param factory returns a stage of a new instance for a key
   * @param <K> the key type
   * @param <R> the resource type
   * @return a new builder with a time-to-live of 30 seconds
   * @throws NullPointerException if {@code factory} is null
   */
  static <K, R extends AsyncResource> PoolBuilder<K, R> asyncBuilder(
      Function<? super K, ? extends CompletionStage<? extends R>> factory) {
    return PoolBuilder.ofAsyncFactory(factory);
  }

  /**
   * Starts a builder for a pool of plain {@link AutoCloseable} clients (a JDBC {@code
   * DataSource} such as HikariCP's, an HTTP client, ...): leases hand out the client itself, and
   * its {@code close()}, which may block, runs on the pool's executor if one was set, otherwise on
   * asyncpool's own daemon threads, never on the releasing thread.
   *
   * <pre>{@code
   * Pool<String, HikariDataSource> pools = Pool.closeableBuilder(Tenants::dataSource).build();
   * }</pre>
   *
   * @param factory makes a new client for a key
   * @param <K> the key type
   * @param <R> the client type
   * @return a new builder with a time-to-live of 30 seconds
   * @throws NullPointerException if {@code factory} is null
   */
  static <K, R extends AutoCloseable> PoolBuilder<K, R> closeableBuilder(
      Function<? super K, ? extends R> factory) {
    return PoolBuilder.ofCloseable(factory);
  }

  /**
   * Starts a builder for a pool of clients of any type, closed by {@code closer}, which returns a
   * stage (like Lettuce's {@code RedisClient::shutdownAsync}). Leases hand out the client itself.
   *
   * <pre>{@code
   * Pool<String, RedisClient> clients =
   *     Pool.builder(tenant -> RedisClient.create(uriOf(tenant)), RedisClient::shutdownAsync)
   *         .build();
   * }</pre>
   *
   * @param factory makes a new client for a key
   * @param closer starts closing a client; must not block
   * @param <K> the key type
   * @param <R> the client type
   * @return a new builder with a time-to-live of 30 seconds
   * @throws NullPointerException if {@code factory} or {@code closer} is null
   */
  static <K, R> PoolBuilder<K, R> builder(
      Function<? super K, ? extends R> factory,
      Function<? super R, ? extends CompletionStage<?>> closer) {
    return PoolBuilder.ofCloser(factory, closer);
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
   * @throws java.util.concurrent.CompletionException wrapping a checked failure of the factory or
   *     of {@code openAsync}, or an {@link InterruptedException} (the thread's interrupt flag is
   *     then set again); unchecked failures are rethrown as they are
   */
  Lease<R> get(K key);

  /**
   * Leases the instance for {@code key} like {@link #get}, applies {@code action} to it on this
   * thread, and releases it when {@code action} returns or throws: {@code try (var lease =
   * get(key)) { return action.apply(lease.get()); }}, without the lease object. On an open
   * instance this is the pool's cheapest call: no lock, no allocation of its own, no clock read.
   *
   * <pre>{@code
   * int rows = pool.apply(tenant, db -> db.count("orders"));
   * }</pre>
   *
   * @param key the key
   * @param action what to do with the instance; it must not keep the instance after returning
   * @param <T> the result type
   * @return what {@code action} returned
   * @throws NullPointerException if {@code key} or {@code action} is null
   * @throws IllegalStateException as {@link #get} does
   * @throws java.util.concurrent.CompletionException as {@link #get} does; whatever {@code
   *     action} throws is rethrown as it is, after the release
   */
  <T> T apply(K key, Function<? super R, ? extends T> action);

  /**
   * Leases the instance for {@code key} without blocking. A synchronous factory runs on the pool's
   * executor.
   *
   * <p>Cancelling the returned future affects only this caller: the creation goes on for the
   * others, and a lease that arrives after the cancellation is released.
   *
   * @param key the key
   * @return a future of a new lease; failed with {@link IllegalStateException} if the pool is
   *     closed, or with the failure of the factory or of {@code openAsync}
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
