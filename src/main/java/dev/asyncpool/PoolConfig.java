package dev.asyncpool;

import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Function;

/**
 * The immutable settings of a pool, as {@link PoolBuilder#build()} copied them. A null ticker,
 * scheduler or executor means "the default", which a deserialized copy resolves in its own JVM.
 * Exactly one of {@code factory} and {@code asyncFactory} is set; {@code listener} is null when
 * none was set.
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
    PoolListener<? super K, ? super R> listener)
    implements java.io.Serializable {

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
}
