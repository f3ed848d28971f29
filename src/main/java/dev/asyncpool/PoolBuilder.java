package dev.asyncpool;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Function;

/**
 * Builds a {@link Pool}. Start one with {@link Pool#builder(Function)} or {@link
 * Pool#asyncBuilder(Function)}.
 *
 * <p>Each setting is validated when it is set, with a message that names the bad value, and may
 * be set only once. {@link #build()} copies the settings into an immutable configuration, so the
 * builder can be reused to build more pools. A builder is not thread-safe.
 *
 * @param <K> the key type
 * @param <R> the resource type
 */
public final class PoolBuilder<K, R> {

  static final Duration DEFAULT_TTL = Duration.ofSeconds(30);
  static final Duration DEFAULT_OPEN_TIMEOUT = Duration.ofSeconds(60);
  static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(60);

  private final Function<? super K, ? extends R> factory;
  private final Function<? super K, ? extends CompletionStage<? extends R>> asyncFactory;
  private final ResourceLifecycle<? super R> lifecycle;

  private Duration ttl;
  private Ticker ticker;
  private ScheduledExecutorService scheduler;
  private Executor executor;
  private String name;
  private boolean recordStats;
  private Duration openTimeout;
  private Duration closeTimeout;
  private boolean leakDetection;
  private PoolListener<? super K, ? super R> listener;

  private PoolBuilder(
      Function<? super K, ? extends R> factory,
      Function<? super K, ? extends CompletionStage<? extends R>> asyncFactory,
      ResourceLifecycle<? super R> lifecycle) {
    this.factory = factory;
    this.asyncFactory = asyncFactory;
    this.lifecycle = lifecycle;
  }

  static <K, R extends AsyncResource> PoolBuilder<K, R> ofFactory(
      Function<? super K, ? extends R> factory) {
    Objects.requireNonNull(factory, "factory");
    return new PoolBuilder<>(factory, null, ResourceLifecycle.asyncResource());
  }

  static <K, R extends AsyncResource> PoolBuilder<K, R> ofAsyncFactory(
      Function<? super K, ? extends CompletionStage<? extends R>> factory) {
    Objects.requireNonNull(factory, "factory");
    return new PoolBuilder<>(null, factory, ResourceLifecycle.asyncResource());
  }

  static <K, R extends AutoCloseable> PoolBuilder<K, R> ofCloseable(
      Function<? super K, ? extends R> factory) {
    Objects.requireNonNull(factory, "factory");
    return new PoolBuilder<>(factory, null, ResourceLifecycle.autoCloseable());
  }

  static <K, R> PoolBuilder<K, R> ofCloser(
      Function<? super K, ? extends R> factory,
      Function<? super R, ? extends CompletionStage<?>> closer) {
    Objects.requireNonNull(factory, "factory");
    Objects.requireNonNull(closer, "closer");
    return new PoolBuilder<>(factory, null, ResourceLifecycle.closedBy(closer));
  }

  /**
   * Sets how long an instance stays open after its last lease was closed. {@link Duration#ZERO}
   * closes an instance as soon as its last lease is closed. Durations too long to count in
   * nanoseconds (about 292 years) are treated as "never expire".
   *
   * <p>An idle instance is never closed before {@code ttl} has passed since its last release, and
   * at most {@code ttl / 64} (but at least 1 ms) plus 1 ms after that: a warm release reads no
   * clock but records the expiry task's current period of that length, which bounds its time. This
   * assumes a scheduler that runs tasks on time.
   *
   * @param ttl the idle time-to-live; default 30 seconds
   * @return this builder
   * @throws NullPointerException if {@code ttl} is null
   * @throws IllegalArgumentException if {@code ttl} is negative
   * @throws IllegalStateException if the ttl was already set
   */
  public PoolBuilder<K, R> ttl(Duration ttl) {
    Objects.requireNonNull(ttl, "ttl");
    requireState(this.ttl == null, "ttl was already set to %s", this.ttl);
    requireArgument(!ttl.isNegative(), "ttl must not be negative: %s", ttl);
    this.ttl = ttl;
    return this;
  }

  /**
   * Sets the time source used to measure idle time; tests pass a fake one.
   *
   * @param ticker a monotonic nanosecond clock; default {@link Ticker#systemTicker()}
   * @return this builder
   * @throws NullPointerException if {@code ticker} is null
   * @throws IllegalStateException if the ticker was already set
   */
  public PoolBuilder<K, R> ticker(Ticker ticker) {
    Objects.requireNonNull(ticker, "ticker");
    requireState(this.ticker == null, "ticker was already set to %s", this.ticker);
    this.ticker = ticker;
    return this;
  }

  /**
   * Sets the scheduler that wakes the pool's expiry task. The pool schedules at most one task at
   * a time on it, never one per lease, and does not shut it down.
   *
   * @param scheduler the scheduler; default a shared single daemon thread
   * @return this builder
   * @throws NullPointerException if {@code scheduler} is null
   * @throws IllegalStateException if the scheduler was already set
   */
  public PoolBuilder<K, R> scheduler(ScheduledExecutorService scheduler) {
    Objects.requireNonNull(scheduler, "scheduler");
    requireState(this.scheduler == null, "scheduler was already set to %s", this.scheduler);
    this.scheduler = scheduler;
    return this;
  }

  /**
   * Sets the executor that runs {@code closeAsync} of instances, synchronous factories for {@link
   * Pool#acquire(Object)}, and other user callbacks.
   *
   * @param executor the executor; default {@link java.util.concurrent.ForkJoinPool#commonPool()}
   * @return this builder
   * @throws NullPointerException if {@code executor} is null
   * @throws IllegalStateException if the executor was already set
   */
  public PoolBuilder<K, R> executor(Executor executor) {
    Objects.requireNonNull(executor, "executor");
    requireState(this.executor == null, "executor was already set to %s", this.executor);
    this.executor = executor;
    return this;
  }

  /**
   * Names the pool in log messages and exceptions.
   *
   * @param name a non-blank name; default {@code "asyncpool"}
   * @return this builder
   * @throws NullPointerException if {@code name} is null
   * @throws IllegalArgumentException if {@code name} is blank
   * @throws IllegalStateException if the name was already set
   */
  public PoolBuilder<K, R> name(String name) {
    Objects.requireNonNull(name, "name");
    requireState(this.name == null, "name was already set to %s", this.name);
    requireArgument(!name.isBlank(), "name must not be blank: '%s'", name);
    this.name = name;
    return this;
  }

  /**
   * Counts {@link PoolStats#hits()}. Off by default because it adds a counter update to every
   * lease of an open instance; every other counter is kept on the slow paths and always on.
   *
   * @return this builder
   */
  public PoolBuilder<K, R> recordStats() {
    this.recordStats = true;
    return this;
  }

  /**
   * Sets how long {@code openAsync} may take. When it runs out, every caller waiting for that
   * instance fails with a {@link java.util.concurrent.TimeoutException} naming the key, the
   * instance is closed, and the next request for the key starts afresh.
   *
   * @param openTimeout a positive duration; default 60 seconds
   * @return this builder
   * @throws NullPointerException if {@code openTimeout} is null
   * @throws IllegalArgumentException if {@code openTimeout} is zero or negative
   * @throws IllegalStateException if the open timeout was already set
   */
  public PoolBuilder<K, R> openTimeout(Duration openTimeout) {
    Objects.requireNonNull(openTimeout, "openTimeout");
    requireState(
        this.openTimeout == null, "openTimeout was already set to %s", this.openTimeout);
    requireArgument(
        !openTimeout.isNegative() && !openTimeout.isZero(),
        "openTimeout must be positive: %s",
        openTimeout);
    this.openTimeout = openTimeout;
    return this;
  }

  /**
   * Sets how long {@code closeAsync} of an instance may take. When it runs out, the close is
   * logged with its key and counted as a close failure, and the pool moves on as if it had
   * finished; if it is still pending when the pool shuts down, the pool's shutdown future fails
   * with a {@link java.util.concurrent.TimeoutException} naming the keys.
   *
   * @param closeTimeout a positive duration; default 60 seconds
   * @return this builder
   * @throws NullPointerException if {@code closeTimeout} is null
   * @throws IllegalArgumentException if {@code closeTimeout} is zero or negative
   * @throws IllegalStateException if the close timeout was already set
   */
  public PoolBuilder<K, R> closeTimeout(Duration closeTimeout) {
    Objects.requireNonNull(closeTimeout, "closeTimeout");
    requireState(
        this.closeTimeout == null, "closeTimeout was already set to %s", this.closeTimeout);
    requireArgument(
        !closeTimeout.isNegative() && !closeTimeout.isZero(),
        "closeTimeout must be positive: %s",
        closeTimeout);
    this.closeTimeout = closeTimeout;
    return this;
  }

  /**
   * Detects leases that are garbage-collected without being closed: each such lease is logged as
   * a warning with the stack trace of the call that acquired it, and its share is released so
   * that the instance can still expire. Off by default: it records a stack trace and registers a
   * {@link java.lang.ref.Cleaner} action for every lease.
   *
   * @return this builder
   */
  public PoolBuilder<K, R> leakDetection() {
    this.leakDetection = true;
    return this;
  }

  /**
   * Sets the listener told of each instance's creation, opening, expiry, invalidation and close,
   * with timings measured by the pool's ticker. It is called only on the pool's slow paths (never
   * when an open instance is leased or such a lease is closed), on the thread where the event
   * happened; a listener that throws is logged and ignored. For a serializable pool, the listener
   * must be {@link java.io.Serializable} too. See {@link PoolListener}.
   *
   * @param listener the listener; default none
   * @return this builder
   * @throws NullPointerException if {@code listener} is null
   * @throws IllegalStateException if the listener was already set
   */
  public PoolBuilder<K, R> listener(PoolListener<? super K, ? super R> listener) {
    Objects.requireNonNull(listener, "listener");
    requireState(this.listener == null, "listener was already set to %s", this.listener);
    this.listener = listener;
    return this;
  }

  /**
   * Builds a pool with these settings. The builder stays usable.
   *
   * @param <K1> the key type of the pool
   * @param <R1> the resource type of the pool
   * @return a new, empty pool
   */
  @SuppressWarnings("unchecked")
  public <K1 extends K, R1 extends R> Pool<K1, R1> build() {
    PoolConfig<K1, R1> config =
        new PoolConfig<>(
            (Function<? super K1, ? extends R1>) factory,
            (Function<? super K1, ? extends CompletionStage<? extends R1>>) asyncFactory,
            (ResourceLifecycle<? super R1>) lifecycle,
            ttl == null ? DEFAULT_TTL : ttl,
            ticker,
            scheduler,
            executor,
            name == null ? "asyncpool" : name,
            recordStats,
            openTimeout == null ? DEFAULT_OPEN_TIMEOUT : openTimeout,
            closeTimeout == null ? DEFAULT_CLOSE_TIMEOUT : closeTimeout,
            leakDetection,
            listener);
    return new KeyedPool<>(config);
  }

  static void requireArgument(boolean ok, String format, Object... args) {
    if (!ok) {
      throw new IllegalArgumentException(String.format(format, args));
    }
  }

  static void requireState(boolean ok, String format, Object... args) {
    if (!ok) {
      throw new IllegalStateException(String.format(format, args));
    }
  }
}
