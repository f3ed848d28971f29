package dev.asyncpool;

import java.time.Duration;

/**
 * Receives the lifecycle events of a pool's instances, for logging, tracing or metrics. Register
 * one with {@link PoolBuilder#listener(PoolListener)}. Every method has an empty default, so a
 * listener overrides only the events it cares about.
 *
 * <pre>{@code
 * Pool<String, TenantDb> pool = Pool.newBuilder()
 *     .listener(new PoolListener<String, TenantDb>() {
 *       @Override
 *       public void onOpened(String key, TenantDb db, Duration openTime) {
 *         log.info("tenant {} connected in {} ms", key, openTime.toMillis());
 *       }
 *     })
 *     .build(TenantDb::new);
 * }</pre>
 *
 * <h2>When events are delivered</h2>
 *
 * <p>Only on the pool's slow paths: leasing an instance that is already open, and closing such a
 * lease, never call the listener. Each event but {@link #onCreated} matches one increment of a
 * {@link PoolStats} counter, so a listener sees what {@link Pool#stats()} counts.
 *
 * <p>An instance's events form this sequence: {@link #onCreated}, then {@link #onOpened} or {@link
 * #onCreationFailed} (phase {@link Phase#OPEN}), then at most one of {@link #onExpired}, {@link
 * #onEvicted} and {@link #onInvalidated}, then {@link #onClosed} or {@link #onCloseFailed}. An
 * instance that was still being created when the pool shut down is closed without {@link
 * #onOpened}. A factory that fails
 * yields only {@link #onCreationFailed} (phase {@link Phase#CREATE}). An instance closed by
 * shutdown gets no {@link #onExpired} or {@link #onInvalidated}, only its close event.
 *
 * <h2>Threads</h2>
 *
 * <p>Methods are called synchronously on the thread where the event happened: the thread that ran
 * the factory or completed {@code openAsync}, the pool's executor (expiry, just before the close),
 * the caller of {@link Pool#invalidate(Object)}, the thread that completed a close. With a
 * time-to-live of zero, {@link #onExpired} runs on the thread that closed the last lease. So an
 * implementation must be
 * thread-safe (events of different keys arrive concurrently), should be quick and must not block.
 * Events of one instance arrive in the order above, except that {@link #onInvalidated} can come
 * after the close event when the instance's last lease is closed while {@code invalidate} runs.
 *
 * <h2>Failures</h2>
 *
 * <p>A listener method that throws is caught and logged (at WARN, through SLF4J, with the pool's
 * name, the event and the key); the pool goes on as if it had returned.
 *
 * <h2>Serialization</h2>
 *
 * <p>A serialized pool carries its listener, so a listener must be {@link java.io.Serializable}
 * for its pool to be: serializing a pool whose listener is not fails with a {@link
 * java.io.NotSerializableException} naming the listener, as for a non-serializable factory.
 *
 * @param <K> the key type
 * @param <R> the resource type
 */
public interface PoolListener<K, R> {

  /** The step of a creation that failed, as told by {@link #onCreationFailed}. */
  enum Phase {
    /**
     * The factory threw, returned null, returned a stage that failed, or had not returned by the
     * creation's deadline: there is no instance.
     */
    CREATE,
    /** The instance's {@code openAsync} threw, returned null, failed or timed out. */
    OPEN
  }

  /**
   * The factory returned a new instance for {@code key}, which the pool is about to open.
   *
   * @param key the key
   * @param resource the new instance, not yet opened
   * @param createTime how long the factory took (for an asynchronous factory, until its stage
   *     completed), measured with the pool's {@link Ticker}
   */
  default void onCreated(K key, R resource, Duration createTime) {}

  /**
   * An instance was opened and is about to be handed out.
   *
   * @param key the key
   * @param resource the open instance
   * @param openTime how long it took to open, measured with the pool's {@link Ticker}: for an
   *     {@link AsyncResource}, from the call of {@code openAsync} to the completion of its stage;
   *     for the adapters of plain clients ({@link PoolBuilder#buildCloseable}, {@link
   *     PoolBuilder#build(java.util.function.Function, java.util.function.Function)}), whose factory
   *     is where the client connects, the factory's time, the same as {@code createTime} in {@link
   *     #onCreated} (plus the moment between the two events)
   */
  default void onOpened(K key, R resource, Duration openTime) {}

  /**
   * A creation attempt failed; every caller waiting for it fails with {@code cause}, and an
   * instance that the factory did return is closed (its close event follows).
   *
   * @param key the key
   * @param phase whether the factory or {@code openAsync} failed
   * @param resource the instance whose open failed, or {@code null} in phase {@link Phase#CREATE}
   * @param cause the failure; a {@link java.util.concurrent.TimeoutException} if the creation ran
   *     out of its open timeout (in phase {@link Phase#CREATE} if the factory had not returned by
   *     then: an instance it returns later gets {@link #onCreated} and its close event, no more)
   */
  default void onCreationFailed(K key, Phase phase, R resource, Throwable cause) {}

  /**
   * An instance was idle for the pool's time-to-live and is about to be closed.
   *
   * @param key the key
   * @param resource the expired instance
   */
  default void onExpired(K key, R resource) {}

  /**
   * An idle instance was evicted to make room under the pool's bound ({@link
   * PoolBuilder#maxInstances}, {@link PoolBuilder#maxWeight}) for a request of another key, and is
   * about to be closed. Only instances with no lease are ever evicted.
   *
   * @param key the key
   * @param resource the evicted instance
   */
  default void onEvicted(K key, R resource) {}

  /**
   * {@link Pool#invalidate(Object)} retired the instance of {@code key}: it is closed now if it has
   * no lease, else when its last lease is closed.
   *
   * @param key the key
   * @param resource the retired instance, or {@code null} if it was still being created
   */
  default void onInvalidated(K key, R resource) {}

  /**
   * {@link Pool#refresh} put a new instance in service for {@code key} in place of {@code
   * previous}, which is closed at its last release (or at once if it has none).
   *
   * @param key the key
   * @param previous the instance replaced
   * @param resource the new instance, open
   */
  default void onRefreshed(K key, R previous, R resource) {}

  /**
   * A refresh could not create, open or swap in the new instance for {@code key}: the current one
   * stays in service. A failed creation or open was told to {@link #onCreationFailed} first; a
   * swap that failed (the key's {@code hashCode} threw) closes the new instance unused.
   *
   * @param key the key
   * @param resource the instance that stays in service
   * @param cause the failure
   */
  default void onRefreshFailed(K key, R resource, Throwable cause) {}

  /**
   * An instance's close completed successfully.
   *
   * @param key the key
   * @param resource the closed instance
   * @param closeTime how long its close took, measured with the pool's {@link Ticker}
   */
  default void onClosed(K key, R resource, Duration closeTime) {}

  /**
   * An instance's close threw, returned null, failed, or did not complete within the pool's close
   * timeout. The pool counts it as closed and moves on.
   *
   * @param key the key
   * @param resource the instance
   * @param cause the failure; a {@link java.util.concurrent.TimeoutException} if the close timed
   *     out
   * @param closeTime how long the close ran until it failed or timed out, measured with the
   *     pool's {@link Ticker}
   */
  default void onCloseFailed(K key, R resource, Throwable cause, Duration closeTime) {}
}
