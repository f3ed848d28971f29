package dev.asyncpool;

import java.time.Duration;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * Builds a {@link Pool}: settings first, then one of the four {@code build} methods, which takes
 * the factory. Start with {@link Pool#newBuilder()}:
 *
 * <pre>{@code
 * Pool<String, TenantDb> pool = Pool.newBuilder()
 *     .ttl(Duration.ofSeconds(5))
 *     .build(tenant -> new TenantDb(tenant));        // TenantDb implements AsyncResource
 * }</pre>
 *
 * <p>As with Caffeine, the key and resource types come from the assignment: the pool's type fixes
 * those of the factory, so a lambda needs no type witness. The four ways to build differ only in
 * how an instance is made and closed:
 *
 * <ul>
 *   <li>{@link #build(Function)}: a synchronous factory of {@link AsyncResource}s;
 *   <li>{@link #buildAsync(Function)}: a factory that returns a stage of an {@link AsyncResource};
 *   <li>{@link #buildCloseable(Function)}: plain {@link AutoCloseable} clients (a HikariCP {@code
 *       DataSource}), opened by the factory and closed by {@code close()} on the pool's close
 *       threads;
 *   <li>{@link #build(Function, Function)}: clients of any type, opened by the factory and closed
 *       by a function that returns a stage (Lettuce's {@code RedisClient::shutdownAsync}).
 * </ul>
 *
 * <p>Each setting is validated when it is set, with a message that names the bad value, and may
 * be set only once. Each {@code build} method copies the settings into an immutable
 * configuration, so the builder can be reused to build more pools. A builder is not thread-safe.
 *
 * @param <K> the key type, {@code Object} until a setting that sees keys narrows it
 * @param <R> the resource type, {@code Object} until a setting that sees instances narrows it
 */
public final class PoolBuilder<K, R> {

  static final Duration DEFAULT_TTL = Duration.ofSeconds(30);
  static final Duration DEFAULT_OPEN_TIMEOUT = Duration.ofSeconds(60);
  static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(60);

  private Duration ttl;
  private Function<?, Duration> ttlByKey;
  private Ticker ticker;
  private ScheduledExecutorService scheduler;
  private Executor executor;
  private String name;
  private boolean recordStats;
  private Duration openTimeout;
  private Duration closeTimeout;
  private boolean leakDetection;
  private PoolListener<? super K, ? super R> listener;
  private Function<? super K, ? extends CharSequence> keyFormatter;
  private int maxInstances;
  private long maxWeight;
  private ToLongFunction<? super K> weigher;
  private Duration acquireTimeout;
  private int maxConcurrentCreations;

  static final Duration DEFAULT_ACQUIRE_TIMEOUT = Duration.ofSeconds(30);
  private boolean sharedPerJvm;
  private Duration retryBackoffInitial;
  private Duration retryBackoffMax;
  private Duration maxLifetime;

  PoolBuilder() {}

  /**
   * Sets how long an instance stays open after its last lease was closed. {@link Duration#ZERO}
   * closes an instance as soon as its last lease is closed. Durations too long to count in
   * nanoseconds (about 292 years) are treated as "never expire".
   *
   * <p>An idle instance is never closed before {@code ttl} has passed since its last release, and
   * at most {@code ttl / 64} (but at least 1 ms) plus 1 ms after that: a warm release reads no
   * clock but records the expiry task's current period of that length, which bounds its time. This
   * assumes a scheduler that runs tasks on time, and a releasing thread that is not held up: a
   * thread that stalls inside the release that ends an instance's last lease (it was descheduled
   * after reading the clock, say, and before handing the instance to the expiry task) delays that
   * instance's close by up to as long as it stalled. A stall never makes a close early.
   *
   * @param ttl the idle time-to-live; default 30 seconds
   * @return this builder
   * @throws NullPointerException if {@code ttl} is null
   * @throws IllegalArgumentException if {@code ttl} is negative
   * @throws IllegalStateException if the ttl was already set
   */
  public PoolBuilder<K, R> ttl(Duration ttl) {
    Objects.requireNonNull(ttl, "ttl");
    requireTtlUnset();
    requireArgument(!ttl.isNegative(), "ttl must not be negative: %s", ttl);
    this.ttl = ttl;
    return this;
  }

  /**
   * Sets each key's idle TTL: how long its instance stays open after its last lease was closed.
   * The function is asked once per instance, when its creation starts (a {@link Pool#refresh}'s
   * replacement asks again), on the thread that starts it; its answer holds for that instance's
   * life. {@link Duration#ZERO} closes the instance as soon as its last lease is closed; a duration
   * too long to count in nanoseconds (about 292 years), or longer than 146 years, never expires:
   * the key is <em>pinned</em> (in a bounded pool it is still evicted to make room, but only once
   * no idle instance that expires is left).
   *
   * <pre>{@code
   * Pool<Tenant, HikariDataSource> pools = Pool.newBuilder()
   *     .ttl((Tenant t) -> t.isSystem() ? ChronoUnit.FOREVER.getDuration()   // pinned
   *         : t.isPremium() ? Duration.ofMinutes(30) : Duration.ofMinutes(2))
   *     .buildCloseable(Tenant::dataSource);
   * }</pre>
   *
   * <p>The promise of {@link #ttl(Duration)} stands per key: an idle instance is never closed
   * before its TTL has passed since its last release, and at most {@code ttl / 64} (but at least 1
   * ms) plus 1 ms after that. Keys whose TTLs lie within a factor of two share a period: while idle
   * instances wait, the expiry task wakes every {@code ttl / 64} of the shortest TTL among them
   * (at least 1 ms apart), and at least once a second; pinned ones are not watched at all. The warm lease still reads no clock, and the expiry task's work
   * per instance does not grow with the number of keys or the spread of their TTLs (a timer
   * wheel). With a bound, the idle instance due to expire soonest is evicted first.
   *
   * <p>The function must be fast and must not call back into the pool. If it throws, or returns
   * null or a negative duration, the request that started the creation fails with that error (a
   * {@link NullPointerException} or {@link IllegalArgumentException} naming the key), and nothing
   * is created. In a {@link #sharedPerJvm()} pool a TTL that never ends fails the same way. The
   * pool is serializable only if the function is.
   *
   * @param ttlByKey each key's idle TTL; excludes {@link #ttl(Duration)}
   * @param <K1> the key type of the pool to build
   * @return this builder
   * @throws NullPointerException if {@code ttlByKey} is null
   * @throws IllegalStateException if a ttl was already set
   */
  @SuppressWarnings("unchecked")
  public <K1 extends K> PoolBuilder<K1, R> ttl(Function<? super K1, Duration> ttlByKey) {
    Objects.requireNonNull(ttlByKey, "ttlByKey");
    requireTtlUnset();
    PoolBuilder<K1, R> self = (PoolBuilder<K1, R>) this;
    self.ttlByKey = ttlByKey;
    return self;
  }

  private void requireTtlUnset() {
    requireState(ttl == null, "ttl was already set to %s", ttl);
    requireState(ttlByKey == null, "ttl was already set to a function of the key: %s", ttlByKey);
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
   * Sets the deadline of each creation: how long the factory (or the stage an asynchronous
   * factory returns) and {@code openAsync} may take together, counted from the creation's start.
   * When it passes, every caller waiting for the creation fails with a {@link
   * java.util.concurrent.TimeoutException} naming the key and the step still pending, an instance
   * already made is closed, one the factory returns later is closed as it arrives (never opened,
   * never handed out), and the next request for the key starts afresh. Shutdown waits for a
   * creation at most until its deadline; a grace period's end ({@link Pool#closeAsync(Duration)})
   * ends it at once, the same way.
   *
   * <p>What it cannot do: take back a thread blocked in a synchronous factory. The other callers
   * waiting for that creation fail at the deadline, as above; the caller whose own thread runs the
   * factory ({@link Pool#get(Object)}) stays blocked until the factory returns, then fails if the
   * deadline failed the creation meanwhile (or gets the instance if nothing else waited for it).
   * The adapters of plain clients ({@link #buildCloseable}, {@link #build(Function, Function)}) do
   * all their opening in the factory (a HikariCP {@code DataSource} connects in its constructor).
   * A caller that must not wait past a deadline uses {@link Pool#get(Object, Duration)}, which
   * runs the factory on the executor and waits at most that long, or {@link Pool#acquire} with
   * its own timeout.
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
   * <p>Like Caffeine's {@code removalListener}, this narrows the builder's types to the
   * listener's, so that a typed listener is checked against the pool it is built into.
   *
   * @param listener the listener; default none
   * @param <K1> the key type of the pool to build
   * @param <R1> the resource type of the pool to build
   * @return this builder
   * @throws NullPointerException if {@code listener} is null
   * @throws IllegalStateException if the listener was already set
   */
  @SuppressWarnings("unchecked")
  public <K1 extends K, R1 extends R> PoolBuilder<K1, R1> listener(
      PoolListener<? super K1, ? super R1> listener) {
    Objects.requireNonNull(listener, "listener");
    requireState(this.listener == null, "listener was already set to %s", this.listener);
    PoolBuilder<K1, R1> self = (PoolBuilder<K1, R1>) this;
    self.listener = listener;
    return self;
  }

  /**
   * Sets how the pool shows a key wherever it names one: log lines, exception messages, a
   * lease's {@code toString()}. Keys may carry secrets (a configuration record with a password, a
   * JDBC URL with credentials, a token); a formatter that shows only what is safe keeps them out
   * of logs. The listener still receives the key itself.
   *
   * <p>A formatter that throws or returns null never breaks a lease: the pool then shows the key as
   * {@code <key of type ...>} and names the formatter's failure only by its exception class.
   *
   * <pre>{@code
   * Pool<TenantConfig, HikariDataSource> pools = Pool.newBuilder()
   *     .keyFormatter(TenantConfig::tenantId)            // never the config's password
   *     .buildCloseable(TenantConfig::dataSource);
   * }</pre>
   *
   * @param keyFormatter shows a key; default {@link String#valueOf(Object)}
   * @param <K1> the key type of the pool to build
   * @return this builder
   * @throws NullPointerException if {@code keyFormatter} is null
   * @throws IllegalStateException if the key formatter was already set
   */
  @SuppressWarnings("unchecked")
  public <K1 extends K> PoolBuilder<K1, R> keyFormatter(
      Function<? super K1, ? extends CharSequence> keyFormatter) {
    Objects.requireNonNull(keyFormatter, "keyFormatter");
    requireState(
        this.keyFormatter == null, "keyFormatter was already set to %s", this.keyFormatter);
    PoolBuilder<K1, R> self = (PoolBuilder<K1, R>) this;
    self.keyFormatter = keyFormatter;
    return self;
  }

  /**
   * Bounds how many instances exist at once: each counts from the start of its creation to the
   * end of its close (a close that times out stops counting at its timeout). At the bound, a
   * request for a key with no instance evicts the least recently released idle instance (its
   * creation starts when that close ends); if none is idle it waits, in arrival order and one place
   * per key, until one can be evicted or closes, for at most {@link #acquireTimeout}, then fails
   * with {@link PoolExhaustedException}. A leased instance is never closed to make room, and a
   * request for a key that has an open instance never waits. Excludes {@link #maxWeight}.
   *
   * @param maxInstances a positive bound; default none
   * @return this builder
   * @throws IllegalArgumentException if {@code maxInstances} is zero or negative
   * @throws IllegalStateException if it or {@link #maxWeight} was already set
   */
  public PoolBuilder<K, R> maxInstances(int maxInstances) {
    requireState(this.maxInstances == 0, "maxInstances was already set to %s", this.maxInstances);
    requireState(
        this.maxWeight == 0,
        "maxInstances and maxWeight exclude each other; maxWeight was set to %s",
        this.maxWeight);
    requireArgument(maxInstances > 0, "maxInstances must be positive: %s", maxInstances);
    this.maxInstances = maxInstances;
    return this;
  }

  /**
   * Bounds the total weight of the instances that exist at once, as {@link #maxInstances} bounds
   * their number: each instance weighs what {@link #weigher} says of its key (a tenant tier's
   * connection count, say). A key whose weight alone exceeds the bound fails at once with {@link
   * PoolExhaustedException}. Requires a weigher; excludes {@link #maxInstances}.
   *
   * @param maxWeight a positive bound; default none
   * @return this builder
   * @throws IllegalArgumentException if {@code maxWeight} is zero or negative
   * @throws IllegalStateException if it or {@link #maxInstances} was already set
   */
  public PoolBuilder<K, R> maxWeight(long maxWeight) {
    requireState(this.maxWeight == 0, "maxWeight was already set to %s", this.maxWeight);
    requireState(
        this.maxInstances == 0,
        "maxInstances and maxWeight exclude each other; maxInstances was set to %s",
        this.maxInstances);
    requireArgument(maxWeight > 0, "maxWeight must be positive: %s", maxWeight);
    this.maxWeight = maxWeight;
    return this;
  }

  /**
   * Sets how much an instance weighs against {@link #maxWeight}, known from its key before its
   * creation starts. Called once per creation, outside any lock; a weigher that throws, or returns
   * a negative weight, fails the request that asked for the key (an {@link
   * IllegalArgumentException} naming the weight and the key). Requires {@link #maxWeight}.
   *
   * @param weigher the weight of a key's instance, zero or more
   * @param <K1> the key type of the pool to build
   * @return this builder
   * @throws NullPointerException if {@code weigher} is null
   * @throws IllegalStateException if the weigher was already set
   */
  @SuppressWarnings("unchecked")
  public <K1 extends K> PoolBuilder<K1, R> weigher(ToLongFunction<? super K1> weigher) {
    Objects.requireNonNull(weigher, "weigher");
    requireState(this.weigher == null, "weigher was already set to %s", this.weigher);
    PoolBuilder<K1, R> self = (PoolBuilder<K1, R>) this;
    self.weigher = weigher;
    return self;
  }

  /**
   * Sets how long a request waits for room under the bound before it fails with {@link
   * PoolExhaustedException}. Only requests for a key with no instance ever wait. Has no effect
   * without {@link #maxInstances} or {@link #maxWeight}.
   *
   * @param acquireTimeout zero or more; {@link Duration#ZERO} fails at once when there is no room
   *     and nothing idle to evict; default 30 seconds
   * @return this builder
   * @throws NullPointerException if {@code acquireTimeout} is null
   * @throws IllegalArgumentException if {@code acquireTimeout} is negative
   * @throws IllegalStateException if the acquire timeout was already set
   */
  public PoolBuilder<K, R> acquireTimeout(Duration acquireTimeout) {
    Objects.requireNonNull(acquireTimeout, "acquireTimeout");
    requireState(
        this.acquireTimeout == null, "acquireTimeout was already set to %s", this.acquireTimeout);
    requireArgument(
        !acquireTimeout.isNegative(), "acquireTimeout must not be negative: %s", acquireTimeout);
    this.acquireTimeout = acquireTimeout;
    return this;
  }

  /**
   * Bounds how many creations (factory and {@code openAsync}) run at once; the others queue in
   * arrival order, so that a service starting with a thousand cold tenants does not open a
   * thousand database pools in the same second. Independent of {@link #maxInstances}.
   *
   * @param maxConcurrentCreations a positive bound; default none
   * @return this builder
   * @throws IllegalArgumentException if {@code maxConcurrentCreations} is zero or negative
   * @throws IllegalStateException if it was already set
   */
  public PoolBuilder<K, R> maxConcurrentCreations(int maxConcurrentCreations) {
    requireState(
        this.maxConcurrentCreations == 0,
        "maxConcurrentCreations was already set to %s",
        this.maxConcurrentCreations);
    requireArgument(
        maxConcurrentCreations > 0,
        "maxConcurrentCreations must be positive: %s",
        maxConcurrentCreations);
    this.maxConcurrentCreations = maxConcurrentCreations;
    return this;
  }

  /**
   * Remembers a key whose creation failed, and refuses its requests at once for a while instead
   * of calling the factory again: a broken tenant (a refused connection, a wrong password) is then
   * tried about once per delay, not once per request. Without this setting a failure is forgotten
   * at once: the next request starts a new creation.
   *
   * <ul>
   *   <li><b>What counts.</b> A creation that failed: the factory threw, returned null or its
   *       stage failed; {@code openAsync} threw, returned null or failed; or {@link #openTimeout}
   *       passed. The requests that waited for that creation fail with its failure, as without
   *       this setting. Not counted, as they are no fault of the key's: the pool's shutdown,
   *       requests that all gave up on a creation still waiting for room, {@link
   *       PoolExhaustedException}, a factory or {@code openAsync} that asked for its own key, an
   *       {@code openTimeout} that passed while the creation still waited for room under the
   *       bound, and a {@link java.util.concurrent.RejectedExecutionException} (an executor, the
   *       pool's or the factory's, refused a task: the application is short of threads or
   *       shutting down).
   *   <li><b>Fail fast.</b> Until the key's wait has passed, a request for it that finds no
   *       instance fails at once with a {@link RetryBackoffException} whose cause is the last
   *       failure and whose message names the pool and the key and says when the next try is
   *       ("retrying in 1.6 s"; also {@link RetryBackoffException#retryIn()}): {@link Pool#get}
   *       and {@link Pool#apply} throw it, {@link Pool#acquire} returns a future failed with it.
   *       The first request after the wait starts a creation, once: requests at the same moment
   *       wait for it, as for any creation.
   *   <li><b>Doubling, with jitter.</b> The delay is {@code initial} after the first failure and
   *       doubles with each failure in a row, up to {@code max}. Each wait is drawn uniformly from
   *       [delay / 2, delay], so keys that failed together do not come back together, and no wait
   *       is longer than {@code max}. A creation that opens resets the key: its next failure is a
   *       first one again.
   *   <li><b>Forgetting.</b> A failing key is remembered until no request asked for it for
   *       {@code max} (each refused request counts); then its next failure is a first one again.
   *       The pool keeps one task per failing key on its scheduler for this (so, as with idle
   *       instances, a pool stays reachable from its scheduler until its failing keys are
   *       forgotten), and cancels them at shutdown.
   * </ul>
   *
   * <p>The lease of an open instance does not change: no clock read, no lock, nothing
   * allocated. Durations too long for nanoseconds mean "never forgotten".
   *
   * <pre>{@code
   * Pool<String, HikariDataSource> dbs = Pool.newBuilder()
   *     .retryBackoff(Duration.ofMillis(500), Duration.ofSeconds(30))
   *     .buildCloseable(Tenants::dataSource);
   * }</pre>
   *
   * @param initial the delay after a first failure; positive
   * @param max the longest delay, and how long a failing key is remembered without requests; at
   *     least {@code initial}
   * @return this builder
   * @throws NullPointerException if {@code initial} or {@code max} is null
   * @throws IllegalArgumentException if {@code initial} is zero or negative, or {@code max} is
   *     less than {@code initial}
   * @throws IllegalStateException if the retry backoff was already set
   */
  public PoolBuilder<K, R> retryBackoff(Duration initial, Duration max) {
    Objects.requireNonNull(initial, "initial");
    Objects.requireNonNull(max, "max");
    requireState(
        retryBackoffInitial == null,
        "retryBackoff was already set to %s, %s",
        retryBackoffInitial,
        retryBackoffMax);
    requireArgument(
        !initial.isNegative() && !initial.isZero(),
        "retryBackoff initial must be positive: %s",
        initial);
    requireArgument(
        max.compareTo(initial) >= 0,
        "retryBackoff max must be at least initial %s: %s",
        initial,
        max);
    this.retryBackoffInitial = initial;
    this.retryBackoffMax = max;
    return this;
  }

  /**
   * Replaces each instance once it is older than {@code maxLifetime}, counted from the end of
   * its open: for credentials that expire on a schedule (database IAM tokens, Vault leases), or
   * clients that should not live forever. Like HikariCP's {@code maxLifetime}, an instance in use
   * is never retired under its lease:
   *
   * <ul>
   *   <li>An <b>idle</b> instance past its lifetime is closed, as if it had expired (counted in
   *       {@link PoolStats#expirations()}, told to {@link PoolListener#onExpired}); the next
   *       request creates a new one.
   *   <li>A <b>leased</b> one keeps serving while its replacement is created and opened in the
   *       background, exactly as {@link Pool#refresh} does: once the replacement is open, new
   *       leases get it, and the old instance closes at its last release.
   *   <li>A <b>failed</b> replacement leaves the old instance serving; it is logged and told to
   *       {@link PoolListener#onRefreshFailed}, and tried again after the key's {@link
   *       #retryBackoff} if one is set, else after a second (or a tenth of the lifetime, if that
   *       is shorter).
   *   <li><b>Spread.</b> Each instance's lifetime is drawn uniformly from [0.9 × {@code
   *       maxLifetime}, {@code maxLifetime}], so that instances created together are not all
   *       replaced together: up to 10 % sooner, never later (on time with a scheduler that runs
   *       tasks on time).
   * </ul>
   *
   * <p>The lease of an open instance does not change: the pool schedules one task per instance
   * when it opens, which holds the instance weakly.
   *
   * @param maxLifetime how long an instance may live; positive; default: no limit
   * @return this builder
   * @throws NullPointerException if {@code maxLifetime} is null
   * @throws IllegalArgumentException if {@code maxLifetime} is zero or negative
   * @throws IllegalStateException if the max lifetime was already set
   */
  public PoolBuilder<K, R> maxLifetime(Duration maxLifetime) {
    Objects.requireNonNull(maxLifetime, "maxLifetime");
    requireState(this.maxLifetime == null, "maxLifetime was already set to %s", this.maxLifetime);
    requireArgument(
        !maxLifetime.isNegative() && !maxLifetime.isZero(),
        "maxLifetime must be positive: %s",
        maxLifetime);
    this.maxLifetime = maxLifetime;
    return this;
  }

  /**
   * Makes the serialized copies of the pool share one live pool per JVM. It is meant for engines
   * such as Spark and Flink, which ship the pool to their workers inside a task's closure and
   * deserialize it once per task: without this setting each task's copy is a new, empty pool,
   * which opens its own client per key and leaves it open for a TTL after the task; with it,
   * every task an executor runs leases from one pool, so one client per key serves them all.
   *
   * <ul>
   *   <li><b>Identity.</b> Each {@code build} call mints a random identity that the pool's copies
   *       carry, through any number of serializations and JVMs. Two builds, even from this one
   *       builder with the same settings, are two identities that share nothing.
   *   <li><b>Joining.</b> A copy deserialized in a JVM where a live pool of its identity exists
   *       is that pool: the same object. The pool that was built is the live pool of its identity
   *       in the JVM that built it (so in Spark's local mode, tasks lease from the driver's very
   *       pool). In a JVM that has none (an executor's first task), the first copy becomes the
   *       live pool, new and empty, and the copies after it join it; of copies deserialized
   *       concurrently there, exactly one becomes the live pool and the others are it.
   *       (Strictly, "per JVM" is per copy of asyncpool's classes: one per class loader that
   *       loads them.)
   *   <li><b>Closing.</b> Since every copy in a JVM is the same object, {@link Pool#close()} on
   *       any of them closes the pool for everyone in that JVM, as it would close any pool:
   *       requests made through it afterwards fail with {@link IllegalStateException}. Other JVMs
   *       are not affected. A copy deserialized after the close (a task that starts later)
   *       becomes the identity's new live pool, empty, which later copies join.
   *   <li><b>No one needs to close it.</b> Its instances close once idle for the TTL, as in any
   *       pool, so an executor needs no shutdown hook, and a task should not close it (the tasks
   *       running beside it would fail).
   *   <li><b>Kept alive by its use only.</b> The JVM finds the live pool of an identity through a
   *       weak reference, so the sharing never keeps a pool alive, closed or not. A pool stays
   *       reachable while someone holds it or a lease on it, and while it holds idle instances
   *       (through its expiry task on the scheduler). So between two tasks the pool, with its
   *       idle instances, is still the one that copies find; once its last instance has expired
   *       and no task holds it, it may be garbage-collected, and the next copy starts a new live
   *       pool, losing nothing: the old one was empty. Pools of jobs long finished are not kept.
   *       This is why the ttl must end.
   * </ul>
   *
   * <p>Deserializing copies is thread-safe, from any number of threads. Calling this method again
   * changes nothing. The pool is serializable only if its factory and other settings are (see
   * {@link Pool}).
   *
   * <pre>{@code
   * Pool<String, HikariDataSource> dbs = Pool.newBuilder()
   *     .ttl(Duration.ofMinutes(1))
   *     .sharedPerJvm()
   *     .buildCloseable((Function<String, HikariDataSource> & Serializable) Tenants::dataSource);
   * rows.foreachPartition(part -> part.forEachRemaining(row ->
   *     dbs.accept(row.tenant(), ds -> insert(ds, row))));    // one DataSource per tenant and JVM
   * }</pre>
   *
   * @return this builder
   */
  public PoolBuilder<K, R> sharedPerJvm() {
    this.sharedPerJvm = true;
    return this;
  }

  /**
   * Builds a pool of {@link AsyncResource}s made by a synchronous factory. The factory runs on the
   * thread that asked for the key ({@link Pool#get}) or on the pool's executor ({@link
   * Pool#acquire}, {@link Pool#get(Object, Duration)}), then the pool calls {@link
   * AsyncResource#openAsync()}. The builder stays usable.
   *
   * @param factory makes a new instance for a key; called at most once at a time per key, outside
   *     any lock; may throw (the failure reaches the waiting callers) but must not return null
   * @param <K1> the key type of the pool
   * @param <R1> the resource type of the pool
   * @return a new, empty pool
   * @throws NullPointerException if {@code factory} is null
   * @throws IllegalStateException if the pool is {@link #sharedPerJvm()} and its ttl never ends
   */
  public <K1 extends K, R1 extends AsyncResource> Pool<K1, R1> build(
      Function<? super K1, ? extends R1> factory) {
    Objects.requireNonNull(factory, "factory");
    return newPool(factory, null, ResourceLifecycle.asyncResource());
  }

  /**
   * Builds a pool of {@link AsyncResource}s made by an asynchronous factory, which is called on
   * the requesting thread and must not block; the pool calls {@link AsyncResource#openAsync()}
   * once the factory's stage completes. The builder stays usable.
   *
   * @param factory returns a stage of a new instance for a key; must not return null
   * @param <K1> the key type of the pool
   * @param <R1> the resource type of the pool
   * @return a new, empty pool
   * @throws NullPointerException if {@code factory} is null
   * @throws IllegalStateException if the pool is {@link #sharedPerJvm()} and its ttl never ends
   */
  public <K1 extends K, R1 extends AsyncResource> Pool<K1, R1> buildAsync(
      Function<? super K1, ? extends CompletionStage<? extends R1>> factory) {
    Objects.requireNonNull(factory, "factory");
    return newPool(null, factory, ResourceLifecycle.asyncResource());
  }

  /**
   * Builds a pool of plain {@link AutoCloseable} clients (a JDBC {@code DataSource} such as
   * HikariCP's, an HTTP client, ...): the factory makes a ready client (it is the open), leases
   * hand out the client itself, and its {@code close()}, which may block, runs on the pool's
   * executor if one was set, otherwise on a few daemon threads of the pool's own (see {@link
   * #executor}), never on the releasing thread. The builder stays usable.
   *
   * <pre>{@code
   * Pool<String, HikariDataSource> pools = Pool.newBuilder().buildCloseable(Tenants::dataSource);
   * }</pre>
   *
   * @param factory makes a new, ready client for a key; must not return null
   * @param <K1> the key type of the pool
   * @param <R1> the client type of the pool
   * @return a new, empty pool
   * @throws NullPointerException if {@code factory} is null
   * @throws IllegalStateException if the pool is {@link #sharedPerJvm()} and its ttl never ends
   */
  public <K1 extends K, R1 extends AutoCloseable> Pool<K1, R1> buildCloseable(
      Function<? super K1, ? extends R1> factory) {
    Objects.requireNonNull(factory, "factory");
    return newPool(factory, null, ResourceLifecycle.autoCloseable());
  }

  /**
   * Builds a pool of clients of any type: the factory makes a ready client, and {@code closer}
   * starts closing one and returns a stage of its end (like Lettuce's {@code
   * RedisClient::shutdownAsync}). Leases hand out the client itself. The builder stays usable.
   *
   * <pre>{@code
   * Pool<String, RedisClient> clients = Pool.newBuilder()
   *     .build(tenant -> RedisClient.create(uriOf(tenant)), RedisClient::shutdownAsync);
   * }</pre>
   *
   * @param factory makes a new, ready client for a key; must not return null
   * @param closer starts closing a client; must not block
   * @param <K1> the key type of the pool
   * @param <R1> the client type of the pool
   * @return a new, empty pool
   * @throws NullPointerException if {@code factory} or {@code closer} is null
   * @throws IllegalStateException if the pool is {@link #sharedPerJvm()} and its ttl never ends
   */
  public <K1 extends K, R1 extends R> Pool<K1, R1> build(
      Function<? super K1, ? extends R1> factory,
      Function<? super R1, ? extends CompletionStage<?>> closer) {
    Objects.requireNonNull(factory, "factory");
    Objects.requireNonNull(closer, "closer");
    return newPool(factory, null, ResourceLifecycle.closedBy(closer));
  }

  @SuppressWarnings("unchecked")
  private <K1 extends K, R1> Pool<K1, R1> newPool(
      Function<? super K1, ? extends R1> factory,
      Function<? super K1, ? extends CompletionStage<? extends R1>> asyncFactory,
      ResourceLifecycle<? super R1> lifecycle) {
    requireState(
        weigher != null || maxWeight == 0,
        "maxWeight(%s) needs a weigher: set weigher(key -> weight), or use maxInstances",
        maxWeight);
    requireState(
        weigher == null || maxWeight != 0,
        "a weigher needs maxWeight: set maxWeight(bound), or drop the weigher %s",
        weigher);
    Duration idleTtl = ttl == null ? DEFAULT_TTL : ttl;
    requireState(
        !sharedPerJvm || PoolConfig.saturatedNanos(idleTtl) != Long.MAX_VALUE,
        "sharedPerJvm() needs a ttl that ends; %s never does",
        idleTtl);
    PoolConfig<K1, R1> config =
        new PoolConfig<>(
            factory,
            asyncFactory,
            lifecycle,
            idleTtl,
            ticker,
            scheduler,
            executor,
            name == null ? "asyncpool" : name,
            recordStats,
            openTimeout == null ? DEFAULT_OPEN_TIMEOUT : openTimeout,
            closeTimeout == null ? DEFAULT_CLOSE_TIMEOUT : closeTimeout,
            leakDetection,
            (PoolListener<? super K1, ? super R1>) listener,
            keyFormatter,
            maxInstances > 0 ? maxInstances : maxWeight > 0 ? maxWeight : Long.MAX_VALUE,
            weigher,
            acquireTimeout == null ? DEFAULT_ACQUIRE_TIMEOUT : acquireTimeout,
            maxConcurrentCreations > 0 ? maxConcurrentCreations : Integer.MAX_VALUE,
            sharedPerJvm ? UUID.randomUUID() : null,
            retryBackoffInitial,
            retryBackoffMax,
            maxLifetime,
            (Function<? super K1, Duration>) ttlByKey);
    KeyedPool<K1, R1> pool = new KeyedPool<>(config);
    return sharedPerJvm ? SharedPools.register(pool, config.sharedId()) : pool;
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
