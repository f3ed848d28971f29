package dev.asyncpool;

import java.io.InvalidObjectException;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Function;

/**
 * The immutable settings of a pool, as a {@link PoolBuilder} build method copied them. A null ticker,
 * scheduler or executor means "the default", which a deserialized copy resolves in its own JVM.
 * Exactly one of {@code factory} and {@code asyncFactory} is set; {@code listener} is null when
 * none was set.
 *
 * @param <K> the key type
 * @param <R> the resource type
 * @param factory the synchronous factory, or null
 * @param asyncFactory the asynchronous factory, or null
 * @param lifecycle how instances are opened and closed
 * @param ttl how long an instance stays open without a lease
 * @param ticker the clock, or null for the system's
 * @param scheduler the scheduler of the expiry task and timeouts, or null for asyncpool's own
 * @param executor the executor of closes and callbacks, or null for the common pool
 * @param name the pool's name in logs and messages
 * @param recordStats whether hits are counted
 * @param openTimeout the deadline of a creation: factory and {@code openAsync} together
 * @param closeTimeout how long a close may take
 * @param leakDetection whether leases collected unclosed are tracked
 * @param listener told of lifecycle events, or null
 * @param keyFormatter shows a key in logs and messages, or null for {@link String#valueOf}
 * @param maxWeight the bound on the weight of the instances that exist at once ({@code
 *     maxInstances} with a weight of 1 each), or {@code Long.MAX_VALUE} for none
 * @param weigher the weight of a key's instance, or null for 1 each
 * @param acquireTimeout how long a request waits for room under the bound
 * @param maxConcurrentCreations the bound on creations running at once, or {@code
 *     Integer.MAX_VALUE} for none
 * @param sharedId the identity by which copies find the live pool in their JVM ({@link
 *     PoolBuilder#sharedPerJvm()}; see {@link SharedPools}), or null if each copy is its own pool
 * @param retryBackoffInitial the first delay of a failing key's backoff ({@link
 *     PoolBuilder#retryBackoff}), or null for none; set together with {@code retryBackoffMax}
 * @param retryBackoffMax the longest delay of that backoff, and how long a failing key is
 *     remembered without requests; or null for none
 * @param maxLifetime how long an instance may live before it is replaced ({@link
 *     PoolBuilder#maxLifetime}), or null for no limit
 * @param ttlByKey each key's idle TTL ({@link PoolBuilder#ttl(Function)}), asked when its
 *     creation starts, or null for {@code ttl} for all; {@code ttl} is then unused
 */
record PoolConfig<K, R>(
    Function<? super K, ? extends R> factory,
    Function<? super K, ? extends CompletionStage<? extends R>> asyncFactory,
    ResourceLifecycle<? super R> lifecycle,
    Duration ttl,
    Ticker ticker,
    ScheduledExecutorService scheduler,
    Executor executor,
    String name,
    boolean recordStats,
    Duration openTimeout,
    Duration closeTimeout,
    boolean leakDetection,
    PoolListener<? super K, ? super R> listener,
    Function<? super K, ? extends CharSequence> keyFormatter,
    long maxWeight,
    java.util.function.ToLongFunction<? super K> weigher,
    Duration acquireTimeout,
    int maxConcurrentCreations,
    UUID sharedId,
    Duration retryBackoffInitial,
    Duration retryBackoffMax,
    Duration maxLifetime,
    Function<? super K, Duration> ttlByKey)
    implements java.io.Serializable {

  /** True if a bound on instances or on concurrent creations is set. */
  boolean bounded() {
    return maxWeight != Long.MAX_VALUE || maxConcurrentCreations != Integer.MAX_VALUE;
  }

  /** The ttl in nanoseconds, saturated: a ttl longer than {@code Long.MAX_VALUE} ns never ends. */
  long ttlNanos() {
    return saturatedNanos(ttl);
  }

  /** Nanoseconds, saturated at {@code Long.MAX_VALUE} (about 292 years: "never"). */
  static long saturatedNanos(Duration duration) {
    try {
      return duration.toNanos();
    } catch (ArithmeticException tooLong) {
      return Long.MAX_VALUE;
    }
  }

  /**
   * Checks what the builder checked when the settings were set, for settings that came from a
   * stream: a stream may carry any settings, and a pool must never run on ones no builder
   * accepts. Each message names the bad value, as the builder's do.
   *
   * @throws InvalidObjectException naming the first setting no builder accepts
   */
  void requireValid() throws InvalidObjectException {
    requireValid(ttl() == null, "ttl is missing");
    requireValid(ttl().isNegative(), "ttl must not be negative: %s", ttl());
    requirePositive("openTimeout", openTimeout());
    requirePositive("closeTimeout", closeTimeout());
    requireValid(name() == null, "name is missing");
    requireValid(name().isBlank(), "name must not be blank: '%s'", name());
    requireValid(lifecycle() == null, "lifecycle is missing");
    boolean sync = factory() != null;
    boolean async = asyncFactory() != null;
    requireValid(
        sync == async,
        "exactly one of factory and asyncFactory must be set: %s",
        sync ? "both are" : "neither is");
    requireValid(
        async && lifecycle() != ResourceLifecycle.asyncResource(),
        "an asyncFactory opens AsyncResources only, not with %s",
        lifecycle());
    requireValid(maxWeight() <= 0, "maxWeight must be positive: %s", maxWeight());
    requireValid(
        maxConcurrentCreations() <= 0,
        "maxConcurrentCreations must be positive: %s",
        maxConcurrentCreations());
    requireValid(acquireTimeout() == null, "acquireTimeout is missing");
    requireValid(
        acquireTimeout().isNegative(),
        "acquireTimeout must not be negative: %s",
        acquireTimeout());
    requireValid(
        weigher() != null && maxWeight() == Long.MAX_VALUE,
        "a weigher needs maxWeight");
    requireValid(
        maxLifetime() != null
            && (maxLifetime().isNegative() || maxLifetime().isZero()),
        "maxLifetime must be positive: %s",
        maxLifetime());
    Duration initial = retryBackoffInitial();
    Duration max = retryBackoffMax();
    requireValid(
        (initial == null) != (max == null),
        "retryBackoff needs both initial and max: %s is missing",
        initial == null ? "initial" : "max");
    if (initial != null) {
      requirePositive("retryBackoff initial", initial);
      requireValid(
          max.compareTo(initial) < 0,
          "retryBackoff max must be at least initial %s: %s",
          initial,
          max);
    }
  }

  private static void requirePositive(String setting, Duration value)
      throws InvalidObjectException {
    requireValid(value == null, "%s is missing", setting);
    requireValid(
        value.isNegative() || value.isZero(), "%s must be positive: %s", setting, value);
  }

  private static void requireValid(boolean invalid, String format, Object... args)
      throws InvalidObjectException {
    if (invalid) {
      throw new InvalidObjectException(String.format(format, args));
    }
  }
}
