package dev.asyncpool;

import static dev.asyncpool.Futures.unwrap;
import static dev.asyncpool.PoolEntry.REFS;
import static dev.asyncpool.PoolEntry.RETIRED;
import static java.util.concurrent.TimeUnit.NANOSECONDS;

import dev.asyncpool.Bound.Ticket;
import dev.asyncpool.PoolEntry.Counted;
import dev.asyncpool.PoolEntry.Creation;
import dev.asyncpool.PoolEntry.Timed;
import java.io.InvalidObjectException;
import java.io.NotSerializableException;
import java.io.ObjectInputStream;
import java.io.ObjectStreamException;
import java.io.Serializable;
import java.lang.invoke.MethodHandles;
import java.lang.ref.WeakReference;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.function.ToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pool: a {@link ConcurrentHashMap} from key to {@link PoolEntry}, plus one expiry task.
 *
 * <h2>Design notes</h2>
 *
 * <h3>An entry's life</h3>
 *
 * <pre>
 *   creating ──(factory + openAsync ok)──▶ open ⇄ idle ──(retired, no lease)──▶ claimed ──▶ closed
 *       └──(failure, deadline, or the pool shut down meanwhile)──▶ claimed ──▶ closed
 * </pre>
 *
 * All of it lives in one {@code long} per entry (see {@link PoolEntry}): the lease count, a
 * RETIRED bit (no new lease), a CLAIMED bit (one thread owns the close) and a release generation.
 * Like Netty's {@code ReferenceCountUpdater}, taking a lease is one unconditional atomic add that
 * fails if RETIRED was already set (then it is undone by a release), and giving one back is one
 * atomic add. No lock is taken anywhere; the map's bin locks guard only the map.
 *
 * <h3>Who may move an entry</h3>
 *
 * <ul>
 *   <li>Any thread retains (+REF) and releases (-REF, +generation).
 *   <li>RETIRED is set once, by the expiry task (CAS from an idle state it checked), by {@link
 *       #invalidate}, by shutdown, or by a failed creation.
 *   <li>CLAIMED is set once, by whoever sees the entry retired with no lease: the retirer in the
 *       same CAS, or the release that ended the last lease. The claimer removes the entry from the
 *       map and closes the instance: hence exactly one close.
 *   <li>A lease is only handed out by a retain that succeeded, i.e. before RETIRED; CLAIMED
 *       requires RETIRED and (except after a grace period, or for a failed creation that never
 *       handed one out) no lease. Hence never closed while leased, never leased once closing.
 * </ul>
 *
 * <h3>Single flight</h3>
 *
 * A cold key gets a placeholder entry (its value a {@link Creation}) by {@code putIfAbsent}; the
 * thread that installed it runs the factory outside any lock, everyone else retains the
 * placeholder and waits on its future. A failure retires the placeholder and removes it, so the
 * next request starts afresh. A thread that finds a retired entry removes it (helping) and tries
 * again.
 *
 * <p>A creation ends once, by whichever comes first of its own end (the open's outcome, or a step
 * that failed), its deadline ({@code openTimeout} from its start, scheduled only once someone has
 * to wait), and a grace period's end: {@link Creation#settle()} decides. An instance the factory
 * returns after that is closed by the thread that brought it (see {@link Creation}).
 *
 * <h3>Expiry and eviction</h3>
 *
 * {@link Expiry} owns the entries that went idle: a release that leaves an entry idle hands it
 * over ({@link Expiry#idle}), and the task closes it a TTL later unless it was leased again; it
 * also claims the least recently released ones when a bounded pool needs room ({@link
 * Expiry#evict}). What it claims comes back here ({@link Expiry.Sink}) to be counted, told to the
 * listener and closed. Its note explains the idle queue, the epochs and the idle stamps.
 *
 * <p>With a TTL per key ({@link PoolBuilder#ttl(Function)}), {@link TimedExpiry} takes its place:
 * each entry is a {@link Timed} one, with the TTL its function gave when its creation started,
 * and {@link #onIdleTimed} decides by that TTL (zero: closed at once; never, in an unbounded pool:
 * not handed over at all). Exactly one of the two exists in a pool.
 *
 * <h3>Closing</h3>
 *
 * Whoever claims an entry hands its instance to {@link Closing}, which closes it once on the
 * executor (blocking closes on the pool's own few threads), times the close out, and names the
 * closes still stuck when shutdown ends. It tells this class when the entry is gone ({@link
 * #finish}), which gives back its room under the bound and counts it out of {@code live}.
 *
 * <h3>Where things are</h3>
 *
 * This class keeps the map, the lease paths, creation (single flight, deadlines, the bound's
 * tickets) and shutdown. {@link PoolEntry} holds every transition of the state word; {@link
 * Expiry} (or {@link TimedExpiry}, with its {@link TimerWheel}) the expiry task and eviction's
 * claims; {@link Epochs} the idle stamps; {@link Closing} the closes; {@link Bound} the
 * counts of room and creation slots; {@link PoolScheduler} the scheduler's fallback.
 *
 * <h3>Shared fields and handshakes</h3>
 *
 * {@link PoolEntry} says in one place who writes each field of an entry, with which access mode,
 * for which read; and names the handshakes, where two threads must see each other's writes
 * (BUSY-DROP, TASK-SLEEP, SHUTDOWN-SCAN, LAST-CLOSE, SETTLED-THEN-GRACE, LISTED-BEFORE-RETIRED,
 * DRAIN-CLAIM, STUCK-CLOSE, TICKET-SHUTDOWN, OFFERED-OR-TAKEN, DEADLINE-ARM, EPOCH-BOUND,
 * RUN-CLAIM). The
 * names are quoted at the code.
 *
 * <h3>The bound</h3>
 *
 * With {@code maxInstances}, {@code maxWeight} or {@code maxConcurrentCreations} set, a cold key's
 * placeholder is a {@link Counted} entry with a {@link Bound.Ticket}, made (weighed) before it is
 * installed, so that every request that joins it counts in its creation's interest. {@link
 * Bound} grants room and a creation slot in arrival order; a ticket that must wait makes its
 * requesters wait on the creation's future as usual, and asks the expiry task to evict (see
 * {@link #evict}): eviction consumes the same idle queue as expiry, under the same lock, and
 * claims an idle entry with the same CAS ({@link Expiry#evict}), so a lease racing it either
 * keeps the instance or finds it retired. An entry's weight is given back when its close ends ({@link
 * #finish}), and the tickets that then fit start their creations on the executor. The lease path
 * never touches the bound; a release that leaves an entry idle reads one volatile count of waiters,
 * to wake an eviction when one waits. Three handshakes: a ticket queued after shutdown's
 * withdrawal sees {@code closed} (TICKET-SHUTDOWN, see {@link #admit}); a requester joining a
 * creation that every other requester gave up either keeps it or sees it abandoned, decided under
 * the bound's lock (see {@link #gaveUp} and {@link #joined}); an acquire timeout, a grant and a
 * withdrawal settle each ticket once, under the same lock.
 *
 * <h3>Refresh and max lifetime</h3>
 *
 * {@link #refresh} creates the replacement as a cold key's creation (single flight per key
 * through {@code refreshing}; through the bound's tickets when bounded), but out of the map, so
 * that the old instance serves every request meanwhile; {@link #swapIn} then replaces the old
 * entry with the new one in the map and retires the old one, which closes at its last release.
 * Its races with invalidate, expiry, eviction, a newer creation and shutdown are argued at
 * {@link #swapIn} and model-checked by {@code RefreshLincheckTest}. {@code maxLifetime} schedules
 * one task per opened instance ({@link #scheduleLifetime}), cancelled when it closes; at its end
 * an idle instance is claimed with the expiry's CAS and closed, a leased one is refreshed.
 *
 * <h3>Retry backoff</h3>
 *
 * With {@code retryBackoff} set, {@link Backoff} remembers failing keys. The pool only calls it:
 * {@code check} before a cold key's placeholder is installed, {@code failed} from {@link
 * #creationFailed} before the failed placeholder leaves the map, {@code succeeded} from {@link
 * #opened}, {@code shutdown} from {@link #shutdown}. The lease of an open instance never touches
 * it.
 *
 * <h3>Shutdown</h3>
 *
 * {@code closed} is set once; then every entry is retired (idle ones claimed and closed at once),
 * and a release that makes an entry idle after that closes it instead of queueing it. A release
 * reads {@code closed} after its atomic add and shutdown scans the entries after setting it, so at
 * least one of them sees the other (handshake SHUTDOWN-SCAN). {@code live} counts entries from
 * installation to the end of their close; the shutdown future completes when it reaches zero
 * (handshake LAST-CLOSE).
 *
 * @param <K> the key type
 * @param <R> the resource type
 */
final class KeyedPool<K, R> implements Pool<K, R> {

  private static final long serialVersionUID = 1L;

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  /** A failed replacement at a lifetime's end is tried again after this, without a backoff. */
  private static final long LIFETIME_RETRY_NANOS = Duration.ofSeconds(1).toNanos();

  private static final VarHandle CLOSED;
  private static final VarHandle EVICTION_SCHEDULED;

  static {
    try {
      MethodHandles.Lookup lookup = MethodHandles.lookup();
      CLOSED = lookup.findVarHandle(KeyedPool.class, "closed", boolean.class);
      EVICTION_SCHEDULED =
          lookup.findVarHandle(KeyedPool.class, "evictionScheduled", boolean.class);
      // Initialize now the classes a first lease needs. Class initialization holds a monitor, and
      // thousands of virtual threads racing through it on first use would pin their carriers.
      for (Class<?> type :
          new Class<?>[] {
            PoolEntry.class,
            Creation.class,
            PooledLease.class,
            IdleQueue.class,
            Expiry.class,
            Counted.class,
            Bound.class,
            Ticket.class
          }) {
        MethodHandles.lookup().ensureInitialized(type);
      }
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final transient PoolConfig<K, R> config;
  private final transient ConcurrentHashMap<K, PoolEntry<K, R>> map = new ConcurrentHashMap<>();
  private final transient Function<? super K, ? extends R> factory;
  private final transient Function<? super K, ? extends CompletionStage<? extends R>> asyncFactory;
  private final transient ResourceLifecycle<? super R> lifecycle;
  private final transient long ttlNanos;
  private final transient boolean neverExpires;
  private final transient Ticker ticker;
  private final transient PoolScheduler scheduler;
  private final transient Executor executor;

  private final transient boolean recordStats;
  private final transient boolean leakDetection;
  private final transient long openTimeoutNanos;
  private final transient String name;

  /** Shows keys in logs and messages; null for {@link String#valueOf}. See {@link #describe}. */
  private final transient Function<Object, ? extends CharSequence> keyFormatter;

  /** The user's listener, made safe; null when none was set. Used on slow paths only. */
  private final transient SafeListener<K, R> listener;

  /** Set once by shutdown; read by every lease request. */
  private transient volatile boolean closed;

  /** Set once when a shutdown's grace period ends, before leased instances are force-closed. */
  private transient volatile boolean graceOver;

  /** Completed when shutdown began and the last live entry finished closing. */
  private final transient CompletableFuture<Void> terminated = new CompletableFuture<>();

  /** What {@link #closeAsync()} returns: a copy, so that a caller completing it changes nothing. */
  private final transient CompletableFuture<Void> closeFuture = terminated.copy();

  /** Entries installed and not yet finished closing. */
  private final transient AtomicInteger live = new AtomicInteger();

  /** Invalidated entries (out of the map) still leased: kept for a grace period's forced close. */
  private final transient Set<PoolEntry<K, R>> draining = ConcurrentHashMap.newKeySet();

  /** Closes instances: on which threads, with which timeout; names the stuck ones. */
  private final transient Closing<K, R> closing;

  /** The expiry task: idle entries, their stamps and deadlines; eviction's victims. */
  private final transient Expiry<K, R> expiry;

  /**
   * The expiry task of a pool with per-key TTLs ({@link PoolBuilder#ttl(Function)}), instead of
   * {@link #expiry}: exactly one of the two is set.
   */
  private final transient TimedExpiry<K, R> timedExpiry;

  /** Each key's TTL ({@link PoolBuilder#ttl(Function)}), or null for one TTL for all. */
  private final transient Function<? super K, Duration> ttlByKey;

  // ---- Counters ----
  private final transient LongAdder hits = new LongAdder();
  private final transient LongAdder misses = new LongAdder();
  private final transient LongAdder creations = new LongAdder();
  private final transient LongAdder creationFailures = new LongAdder();
  private final transient LongAdder expirations = new LongAdder();
  private final transient LongAdder invalidations = new LongAdder();
  private final transient LongAdder leaks = new LongAdder();
  private final transient LongAdder evictions = new LongAdder();
  private final transient LongAdder refreshes = new LongAdder();
  private final transient LongAdder refreshFailures = new LongAdder();

  /** Refreshes under way, by key: one at a time per key, whoever asks (see {@link #refresh}). */
  private final transient ConcurrentHashMap<K, Refreshing> refreshing = new ConcurrentHashMap<>();

  /** Lifetime timers of open instances (see {@link #scheduleLifetime}), cancelled at the end. */
  private final transient ConcurrentHashMap<PoolEntry<K, R>, ScheduledFuture<?>> lifetimes =
      new ConcurrentHashMap<>();

  // ---- The bound (see Bound); all null or unused in an unbounded pool ----
  private final transient Bound<K, R> bound;
  private final transient ToLongFunction<? super K> weigher;
  private final transient long acquireTimeoutNanos;

  /** Runs {@link #evict()} on the scheduler; at most one is pending at a time. */
  private final transient Runnable evictionTask = this::runEviction;

  private transient volatile boolean evictionScheduled;

  /** Scheduled evictions that failed in a row (runs on the scheduler, one at a time). */
  private transient int evictionFailures;

  /** {@link PoolBuilder#maxLifetime} in nanoseconds; {@link Long#MAX_VALUE} for none. */
  private final transient long maxLifetimeNanos;

  /** Failing keys' retry backoff ({@link PoolBuilder#retryBackoff}), or null. Slow paths only. */
  private final transient Backoff backoff;

  KeyedPool(PoolConfig<K, R> config) {
    this.config = config;
    this.factory = config.factory();
    this.asyncFactory = config.asyncFactory();
    this.lifecycle = config.lifecycle();
    this.ttlNanos = config.ttlNanos();
    this.neverExpires = ttlNanos == Long.MAX_VALUE;
    this.ticker = config.ticker() == null ? Ticker.systemTicker() : config.ticker();
    this.scheduler = new PoolScheduler(config.scheduler(), config.name());
    this.executor = config.executor() == null ? ForkJoinPool.commonPool() : config.executor();
    this.recordStats = config.recordStats();
    this.leakDetection = config.leakDetection();
    this.openTimeoutNanos = PoolConfig.saturatedNanos(config.openTimeout());
    this.name = config.name();
    @SuppressWarnings("unchecked")
    Function<Object, ? extends CharSequence> formatter =
        (Function<Object, ? extends CharSequence>) config.keyFormatter();
    this.keyFormatter = formatter;
    this.bound =
        config.bounded()
            ? new Bound<>(config.maxWeight(), config.maxConcurrentCreations())
            : null;
    this.weigher = config.weigher();
    this.acquireTimeoutNanos = PoolConfig.saturatedNanos(config.acquireTimeout());
    this.listener =
        config.listener() == null
            ? null
            : new SafeListener<>(config.listener(), ticker, name, this::describe);
    this.maxLifetimeNanos =
        config.maxLifetime() == null
            ? Long.MAX_VALUE
            : PoolConfig.saturatedNanos(config.maxLifetime());
    this.backoff =
        config.retryBackoffInitial() == null
            ? null
            : new Backoff(
                config.retryBackoffInitial(),
                config.retryBackoffMax(),
                ticker,
                this::schedule,
                name,
                this::describe,
                openTimeoutNanos);
    this.closing =
        new Closing<>(config, executor, scheduler, listener, this::describe, this::finish);
    this.ttlByKey = config.ttlByKey();
    Expiry.Sink<K, R> sink =
            new Expiry.Sink<>() {
              @Override
              public boolean isClosed() {
                return closed;
              }

              @Override
              public void expired(List<PoolEntry<K, R>> claimed) {
                closeExpired(claimed);
              }

              @Override
              public void evicted(List<PoolEntry<K, R>> claimed) {
                closeEvicted(claimed);
              }

              @Override
              public String describe(Object key) {
                return KeyedPool.this.describe(key);
              }
            };
    this.expiry = ttlByKey == null ? new Expiry<>(ttlNanos, ticker, scheduler, name, sink) : null;
    this.timedExpiry =
        ttlByKey == null ? null : new TimedExpiry<>(ticker, scheduler, name, sink);
  }

  // =========================================================================================
  // Leasing
  // =========================================================================================

  @Override
  public Lease<R> get(K key) {
    PoolEntry<K, R> entry = map.get(requireKey(key));
    // Warm path: one map read, one volatile read, one atomic add, one allocation (the lease).
    if (entry != null && !closed && retain(entry)) {
      Object value = entry.value;
      if (!(value instanceof Creation)) {
        if (recordStats) {
          hits.increment();
        }
        return newLease(entry);
      }
      Creation<R> creation = creationOf(value);
      if (joined(entry, creation)) {
        misses.increment();
        return awaitCreation(entry, creation);
      }
    }
    return getSlow(key);
  }

  @Override
  public Lease<R> get(K key, Duration timeout) {
    PoolEntry<K, R> entry = map.get(requireKey(key));
    Objects.requireNonNull(timeout, "timeout");
    PoolBuilder.requireArgument(!timeout.isNegative(), "timeout must not be negative: %s", timeout);
    if (entry != null && !closed && retain(entry)) {
      Object value = entry.value;
      if (!(value instanceof Creation)) {
        if (recordStats) {
          hits.increment();
        }
        return newLease(entry);
      }
      Creation<R> creation = creationOf(value);
      if (joined(entry, creation)) {
        misses.increment();
        return awaitCreation(entry, creation, timeout);
      }
    }
    // The factory runs on the executor (mayBlock = false): this caller only waits, and can stop.
    entry = retainOrCreate(key, false);
    if (entry == null) {
      throw closedException();
    }
    Object value = entry.value;
    return value instanceof Creation
        ? awaitCreation(entry, creationOf(value), timeout)
        : newLease(entry);
  }

  @Override
  public Lease<R> getIfPresent(K key) {
    PoolEntry<K, R> entry = map.get(requireKey(key));
    // The warm path of get(), and nothing else: a creation in progress is not "present". The
    // value moves only from the Creation to the instance, so an instance seen before the retain
    // is still the value after it.
    if (entry == null || closed || entry.value instanceof Creation || !retain(entry)) {
      return null;
    }
    if (recordStats) {
      hits.increment();
    }
    return newLease(entry);
  }

  @Override
  public Set<K> keys() {
    List<K> keys = new ArrayList<>();
    for (PoolEntry<K, R> entry : map.values()) {
      if ((entry.state & RETIRED) == 0 && !(entry.value instanceof Creation)) {
        keys.add(entry.key);
      }
    }
    return Collections.unmodifiableSet(new LinkedHashSet<>(keys));
  }

  @Override
  @SuppressWarnings("unchecked")
  public <T, E extends Exception> T apply(K key, LeaseFunction<? super R, ? extends T, E> action)
      throws E {
    PoolEntry<K, R> entry = map.get(requireKey(key));
    Objects.requireNonNull(action, "action");
    // The warm path of get() without the lease: the share is given back in the finally block,
    // once, so no lease object (and no compare-and-set on it) is needed. Otherwise, get()'s way.
    Lease<R> lease;
    if (entry != null && !closed && retain(entry)) {
      Object value = entry.value;
      if (!(value instanceof Creation)) {
        if (recordStats) {
          hits.increment();
        }
        try {
          return action.apply((R) value);
        } finally {
          release(entry);
        }
      }
      Creation<R> creation = creationOf(value);
      lease = joined(entry, creation) ? awaitMiss(entry, creation) : getSlow(key);
    } else {
      lease = getSlow(key);
    }
    try (lease) {
      return action.apply(lease.get());
    }
  }

  @Override
  @SuppressWarnings("unchecked")
  public <E extends Exception> void accept(K key, LeaseConsumer<? super R, E> action) throws E {
    PoolEntry<K, R> entry = map.get(requireKey(key));
    Objects.requireNonNull(action, "action");
    // apply()'s paths, repeated rather than adapted: an adapter would allocate on the warm path.
    Lease<R> lease;
    if (entry != null && !closed && retain(entry)) {
      Object value = entry.value;
      if (!(value instanceof Creation)) {
        if (recordStats) {
          hits.increment();
        }
        try {
          action.accept((R) value);
          return;
        } finally {
          release(entry);
        }
      }
      Creation<R> creation = creationOf(value);
      lease = joined(entry, creation) ? awaitMiss(entry, creation) : getSlow(key);
    } else {
      lease = getSlow(key);
    }
    try (lease) {
      action.accept(lease.get());
    }
  }

  /** A miss that joined a creation: waits for it. */
  private Lease<R> awaitMiss(PoolEntry<K, R> entry, Creation<R> creation) {
    misses.increment();
    return awaitCreation(entry, creation);
  }

  /**
   * Joins the creation of an entry this caller just retained. In a bounded pool a creation that
   * every requester gave up while it waited for room is abandoned: then this share is given back,
   * the entry is helped out of the map, and the caller looks again (false). Unbounded pools never
   * abandon a creation.
   */
  private boolean joined(PoolEntry<K, R> entry, Creation<R> creation) {
    if (creation.ticket == null || creation.join()) {
      return true;
    }
    // Abandoned: withdrawAbandoned() set it so under the bound's lock before failing it, and the
    // shares of those who gave up stay with it until its forced claim, so this release is never
    // the last one of an entry that is not yet retired.
    release(entry);
    removeFromMap(entry);
    return false;
  }

  /**
   * A new placeholder for a cold key (a request's, or a refresh's replacement): in a bounded pool
   * weighed, with its ticket, before it is installed (see {@link #newCounted}).
   */
  private PoolEntry<K, R> newPlaceholder(K key) {
    if (ttlByKey != null) {
      return newTimed(key);
    }
    return bound == null ? PoolEntry.creating(key, creationStart()) : newCounted(key);
  }

  /**
   * A new placeholder for a pool with per-key TTLs: the key's TTL is asked here, once, when its
   * creation starts (a refresh's replacement asks again). The function is user code: its failure
   * (or a null or negative TTL) is the caller's, before anything is installed.
   */
  private Timed<K, R> newTimed(K key) {
    Duration ttl = ttlByKey.apply(key);
    if (ttl == null) {
      throw new NullPointerException(
          name + ": the ttl function returned null for key " + describe(key));
    }
    if (ttl.isNegative()) {
      throw new IllegalArgumentException(
          name + ": the ttl function returned a negative ttl " + ttl + " for key " + describe(key));
    }
    long ttlNanos = TimedExpiry.effectiveTtl(PoolConfig.saturatedNanos(ttl));
    if (ttlNanos == Long.MAX_VALUE && config.sharedId() != null) {
      throw new IllegalArgumentException(
          name
              + ": sharedPerJvm() needs a ttl that ends; the ttl function returned "
              + ttl
              + " for key "
              + describe(key));
    }
    TimedExpiry.TtlClass ttlClass = timedExpiry.classOf(ttlNanos);
    if (bound == null) {
      return PoolEntry.creatingTimed(key, 1, creationStart(), ttlNanos, ttlClass);
    }
    long weight = weigh(key);
    Timed<K, R> fresh = PoolEntry.creatingTimed(key, weight, creationStart(), ttlNanos, ttlClass);
    attachTicket(fresh, weight);
    return fresh;
  }

  /** Starts a placeholder's creation, or, in a bounded pool, queues it for room (see admit). */
  private void launch(PoolEntry<K, R> fresh, Creation<R> creation, boolean mayBlock) {
    if (bound != null) {
      admit((Counted<K, R>) fresh, creation, mayBlock);
    } else {
      startCreation(fresh, creation, mayBlock);
    }
  }

  /** Starts a creation now: here if the caller may block or the factory is asynchronous. */
  private void startCreation(PoolEntry<K, R> entry, Creation<R> creation, boolean mayBlock) {
    if (mayBlock || asyncFactory != null) {
      runFactory(entry, creation); // an async factory must not block: it runs here
    } else {
      execute(() -> runFactory(entry, creation), entry, creation);
    }
  }

  private Lease<R> getSlow(K key) {
    PoolEntry<K, R> entry = retainOrCreate(key, true);
    if (entry == null) {
      throw closedException();
    }
    Object value = entry.value;
    return value instanceof Creation ? awaitCreation(entry, creationOf(value)) : newLease(entry);
  }

  /**
   * The slow path of {@link #get} and {@link #acquire}: returns an entry on which the caller now
   * holds a share, installing it and starting its creation if there was none, or null if the pool
   * is closed. A synchronous factory runs here if {@code mayBlock}, else on the executor.
   */
  private PoolEntry<K, R> retainOrCreate(K key, boolean mayBlock) {
    for (; ; ) {
      if (closed) {
        return null;
      }
      PoolEntry<K, R> entry = map.get(key);
      if (entry == null) {
        if (backoff != null) {
          backoff.check(key); // throws RetryBackoffException while the key's backoff lasts
        }
        PoolEntry<K, R> fresh = newPlaceholder(key);
        // Counted before it is installed: from then on a grace period's end may find it, end its
        // creation and finish it (see forceCloseLeased), which must not come before the count.
        live.incrementAndGet();
        entry = map.putIfAbsent(key, fresh);
        if (entry == null) {
          misses.increment();
          Creation<R> creation = creationOf(fresh.value);
          if (begin(fresh, creation)) {
            launch(fresh, creation, mayBlock);
          }
          return fresh;
        }
        if (live.decrementAndGet() == 0 && closed) {
          terminate(); // never installed; it may have been the count a shutdown waited on
        }
      }
      if (retain(entry)) {
        Object value = entry.value;
        if (value instanceof Creation) {
          if (!joined(entry, creationOf(value))) {
            continue; // abandoned while it waited for room; joined() helped remove it
          }
          misses.increment();
        } else if (recordStats) {
          hits.increment();
        }
        return entry;
      }
      // Lost a race with a close: the entry is retired. Help remove it and look again.
      map.remove(key, entry);
    }
  }

  /** Waits, holding a share, for the creation of {@code entry}; blocking. */
  private Lease<R> awaitCreation(PoolEntry<K, R> entry, Creation<R> creation) {
    return awaitCreation(entry, creation, null);
  }

  /**
   * Waits, holding a share, for the creation of {@code entry}, at most {@code timeout} if it is
   * not null. A caller that stops waiting (interrupted, timed out) leaves its share with the
   * creation, which gives it back if it succeeds; a failed creation drops every share with the
   * entry.
   */
  private Lease<R> awaitCreation(PoolEntry<K, R> entry, Creation<R> creation, Duration timeout) {
    if (creation.runsOn(Thread.currentThread())) {
      creation.askedForItself = true; // not the key's fault: no retry backoff
      release(entry);
      throw recursiveException(entry.key);
    }
    armDeadline(entry, creation); // this caller waits at most until the creation's deadline
    try {
      if (timeout == null) {
        creation.future.get();
      } else {
        creation.future.get(PoolConfig.saturatedNanos(timeout), NANOSECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      creation.future.thenRun(() -> release(entry));
      gaveUp(entry, creation);
      throw new CompletionException(
          new InterruptedException(
              name + ": interrupted while waiting for key " + describe(entry.key)));
    } catch (TimeoutException e) {
      creation.future.thenRun(() -> release(entry));
      gaveUp(entry, creation);
      throw new CompletionException(
          new TimeoutException(
              name
                  + ": key "
                  + describe(entry.key)
                  + " was not created within "
                  + timeout
                  + "; its creation goes on for other callers"));
    } catch (ExecutionException e) {
      throw propagate(e.getCause());
    }
    return newLease(entry);
  }

  @Override
  public CompletableFuture<Lease<R>> acquire(K key) {
    PoolEntry<K, R> entry = map.get(requireKey(key));
    if (entry != null && !closed && retain(entry)) {
      Object value = entry.value;
      if (!(value instanceof Creation)) {
        if (recordStats) {
          hits.increment();
        }
        return CompletableFuture.completedFuture(newLease(entry));
      }
      Creation<R> creation = creationOf(value);
      if (joined(entry, creation)) {
        misses.increment();
        return leaseWhenCreated(entry, creation);
      }
    }
    return acquireSlow(key);
  }

  private CompletableFuture<Lease<R>> acquireSlow(K key) {
    PoolEntry<K, R> entry;
    try {
      entry = retainOrCreate(key, false);
    } catch (RetryBackoffException e) {
      return CompletableFuture.failedFuture(e); // a future, never a throw, as for a closed pool
    }
    if (entry == null) {
      return CompletableFuture.failedFuture(closedException());
    }
    Object value = entry.value;
    return value instanceof Creation
        ? leaseWhenCreated(entry, creationOf(value))
        : CompletableFuture.completedFuture(newLease(entry));
  }

  /** A future of a lease on {@code entry} once created; the caller already holds the share. */
  private CompletableFuture<Lease<R>> leaseWhenCreated(
      PoolEntry<K, R> entry, Creation<R> creation) {
    if (creation.runsOn(Thread.currentThread())) {
      creation.askedForItself = true; // not the key's fault: no retry backoff
      release(entry);
      return CompletableFuture.failedFuture(recursiveException(entry.key));
    }
    armDeadline(entry, creation); // the future fails at the creation's deadline at the latest
    CompletableFuture<Lease<R>> result = new CompletableFuture<>();
    creation.future.whenComplete(
        (instance, failure) -> {
          if (failure != null) {
            result.completeExceptionally(failure);
            return;
          }
          Lease<R> lease = newLease(entry);
          // The caller cancelled (or completed) its future meanwhile: the share is not leaked.
          if (!result.complete(lease)) {
            lease.close();
          }
        });
    if (creation.ticket != null) {
      // Bounded: a caller that cancels while the creation still waits for room gives up its
      // place (see gaveUp); once the creation runs, a cancel changes nothing but this future.
      result.whenComplete(
          (lease, failure) -> {
            if (failure instanceof CancellationException && !creation.future.isDone()) {
              gaveUp(entry, creation);
            }
          });
    }
    return result;
  }

  @Override
  public <T> CompletableFuture<T> withResource(
      K key, Function<? super R, ? extends CompletionStage<T>> action) {
    requireKey(key);
    Objects.requireNonNull(action, "action");
    CompletableFuture<T> result = new CompletableFuture<>();
    // On the acquire future itself, not a thenCompose of it: if the caller cancels `result`
    // before the lease arrives, a composed function would never run and the lease would leak.
    acquire(key)
        .whenComplete(
            (lease, failure) -> {
              if (failure != null) {
                result.completeExceptionally(failure);
                return;
              }
              if (result.isDone()) {
                lease.close(); // cancelled meanwhile
                return;
              }
              CompletionStage<T> stage;
              try {
                stage = action.apply(lease.get());
              } catch (Throwable t) {
                lease.close();
                result.completeExceptionally(t);
                return;
              }
              if (stage == null) {
                lease.close();
                result.completeExceptionally(
                    new NullPointerException(name + ": action returned null for key " + describe(key)));
                return;
              }
              stage.whenComplete(
                  (value, actionFailure) -> {
                    lease.close();
                    if (actionFailure != null) {
                      result.completeExceptionally(unwrap(actionFailure));
                    } else {
                      result.complete(value);
                    }
                  });
            });
    return result;
  }

  private Lease<R> newLease(PoolEntry<K, R> entry) {
    return leakDetection ? new TrackedLease<>(this, entry) : new PooledLease<>(this, entry);
  }

  /** A tracked lease was collected without being closed: report it and give its share back. */
  void leaked(PoolEntry<K, R> entry, Throwable acquiredAt) {
    leaks.increment();
    log.warn(
        "{}: a lease of key {} was garbage-collected without close(); releasing it",
        name,
        describe(entry.key),
        acquiredAt);
    release(entry);
  }

  /** Takes a share (see {@link PoolEntry#retain}); false if the entry is retired. */
  private boolean retain(PoolEntry<K, R> entry) {
    int retained = entry.retain();
    if (retained == PoolEntry.LEASED) {
      return true;
    }
    if (retained == PoolEntry.REFUSED_CLAIMED) {
      closeClaimed(entry); // the refused retain's undo ended the last lease of a retired entry
    }
    return false;
  }

  /** Gives a share back (see {@link PoolEntry#release}); the last one decides what comes next. */
  void release(PoolEntry<K, R> entry) {
    long state = entry.release();
    if (state == PoolEntry.KEPT) {
      return;
    }
    if (state == PoolEntry.CLAIM) {
      closeClaimed(entry);
      return;
    }
    onIdle(entry, state);
  }

  /** {@code entry}, live, just lost its last lease, leaving {@code state}. */
  private void onIdle(PoolEntry<K, R> entry, long state) {
    if (timedExpiry != null) {
      onIdleTimed((Timed<K, R>) entry, state);
      return;
    }
    // Handshake SHUTDOWN-SCAN (see PoolEntry): our add, then this read of `closed`.
    if (ttlNanos == 0 || closed) {
      closeAtOnce(entry, state);
      return;
    }
    if (neverExpires && bound == null) {
      return; // nothing to expire, and no bound to evict for: the task need not own it
    }
    expiry.idle(entry, state); // stamped, and owned by the expiry task
    if (bound != null && bound.waiting() > 0) {
      requestEviction(); // a request waits for room, and this instance could make it
    }
  }

  /** {@link #onIdle} in a pool with per-key TTLs: the entry's own TTL decides. */
  private void onIdleTimed(Timed<K, R> entry, long state) {
    long ttl = entry.ttlNanos;
    // Handshake SHUTDOWN-SCAN (see PoolEntry): our add, then this read of `closed`.
    if (ttl == 0 || closed) {
      closeAtOnce(entry, state);
      return;
    }
    if (ttl == Long.MAX_VALUE && bound == null) {
      return; // pinned: nothing to expire, and no bound to evict for
    }
    timedExpiry.idle(entry, state);
    if (bound != null && bound.waiting() > 0) {
      requestEviction();
    }
  }

  /**
   * Closes an entry a release just left idle, at once: the pool is shut down, or its TTL is zero.
   * The CAS fails if a retain (or a retain and a release) came in since the release's add: then
   * that lease's release decides.
   */
  private void closeAtOnce(PoolEntry<K, R> entry, long state) {
    if (entry.claimIdle(state)) {
      if (!closed) {
        expirations.increment();
        if (listener != null) {
          listener.expired(entry.key, instanceOf(entry)); // event: expired (TTL zero)
        }
      }
      closeClaimed(entry);
    }
  }

  // =========================================================================================
  // Creation
  // =========================================================================================

  // ---- Creation under the bound (see Bound) ----------------------------------------------------

  /**
   * A new placeholder for a bounded pool, with its weight and its ticket set before it is
   * installed, so that every request that finds it installed counts in its interest. The weigher
   * is user code: it runs here, before anything is installed, and its failure is the caller's.
   */
  private Counted<K, R> newCounted(K key) {
    long weight = weigh(key);
    Counted<K, R> fresh = PoolEntry.creatingCounted(key, weight, creationStart());
    attachTicket(fresh, weight);
    return fresh;
  }

  /** A key's weight under the bound; throws, naming the key, for one that can never fit. */
  private long weigh(K key) {
    long weight = weigher == null ? 1 : weigher.applyAsLong(key);
    if (weight < 0) {
      throw new IllegalArgumentException(
          name + ": the weigher returned a negative weight " + weight + " for key " + describe(key));
    }
    if (weight > bound.maxWeight()) {
      throw new PoolExhaustedException(
          name
              + ": key "
              + describe(key)
              + " has weight "
              + weight
              + ", more than maxWeight "
              + bound.maxWeight()
              + " on its own: it can never fit");
    }
    return weight;
  }

  /** Gives a bounded pool's new placeholder its ticket, before it is installed. */
  private void attachTicket(Counted<K, R> fresh, long weight) {
    long since = listenerFreeRead();
    creationOf(fresh.value).ticket = new Ticket<>(fresh, weight, acquireTimeoutNanos > 0, since);
  }

  /** The ticker's time for a message, or 0 if it throws (a message is not worth a failure). */
  private long listenerFreeRead() {
    try {
      return ticker.read();
    } catch (RuntimeException e) {
      return 0;
    }
  }

  /**
   * Starts the creation of a freshly installed placeholder if the bound has room and a creation
   * slot for it; otherwise leaves it waiting (its requesters wait on its future as usual), arms
   * its acquire timeout and asks the expiry task to evict.
   */
  private void admit(Counted<K, R> entry, Creation<R> creation, boolean mayBlock) {
    @SuppressWarnings("unchecked")
    Ticket<K, R> ticket = (Ticket<K, R>) creation.ticket;
    if (bound.admit(ticket)) {
      entry.counted = true;
      startCreation(entry, creation, mayBlock);
      return;
    }
    // Handshake TICKET-SHUTDOWN. Races with shutdown, which sets `closed` and then withdraws every
    // waiting ticket under the bound's lock: we queued under that lock, then read `closed`.
    // Either its withdrawal found our ticket, or we see `closed` here and withdraw it ourselves.
    if (closed) {
      List<Ticket<K, R>> ready = new ArrayList<>();
      if (bound.withdraw(ticket, ready) && creation.settle()) {
        creationAborted(entry, creation, null, closedException());
      }
      startGranted(ready);
      return;
    }
    if (ticket.mayWait) {
      ScheduledFuture<?> timer =
          schedule(() -> acquireTimedOut(entry, creation, ticket), acquireTimeoutNanos);
      ticket.timeout = timer;
      if (!bound.isWaiting(ticket)) {
        timer.cancel(false); // granted meanwhile, by a release on another thread
      }
    }
    evictHere();
  }

  /**
   * Evicts for a request that must wait for room on its own thread, if the expiry task's lock is
   * free, rather than through a run on the scheduler: the victims' closes start a scheduler hop
   * sooner, and a request that may not wait ({@code acquireTimeout(ZERO)}) fails in its own call.
   * The lock taken, or the eviction failing, it asks for a run instead.
   */
  private void evictHere() {
    boolean evicted;
    try {
      evicted =
          !closed && (expiry != null ? expiry.tryEvict(bound) : timedExpiry.tryEvict(bound));
    } catch (Throwable t) {
      log.error("{}: an eviction failed; it is tried again on the scheduler", name, t);
      evicted = false;
    }
    if (evicted) {
      failImpatient();
    } else {
      requestEviction();
    }
  }

  /** Starts the creations the bound just let in; any thread, outside the bound's lock. */
  private void startGranted(List<Ticket<K, R>> ready) {
    for (Ticket<K, R> ticket : ready) {
      ScheduledFuture<?> timer = ticket.timeout;
      if (timer != null) {
        timer.cancel(false);
      }
      Counted<K, R> entry = (Counted<K, R>) ticket.entry;
      entry.counted = true;
      Creation<R> creation = creationOf(entry.value);
      // Not on this thread: it may be a releasing caller, or the end of another key's close.
      execute(() -> runFactory(entry, creation), entry, creation);
    }
  }

  /**
   * A creation ended, well or not: its creation slot goes to the next in line. A creation that
   * ended while it still waited (its deadline, or a grace period's end, settled it first) leaves
   * the queue, so that it is never started after its end.
   */
  private void creationEnded(Creation<R> creation) {
    @SuppressWarnings("unchecked")
    Ticket<K, R> ticket = (Ticket<K, R>) creation.ticket;
    if (ticket != null) {
      List<Ticket<K, R>> ready = new ArrayList<>();
      bound.withdraw(ticket, ready); // false, and a no-op, unless it still waited
      ready.addAll(bound.creationEnded(ticket));
      startGranted(ready);
    }
  }

  /** The acquire timeout of a waiting creation ran out: it fails, unless it started meanwhile. */
  private void acquireTimedOut(Counted<K, R> entry, Creation<R> creation, Ticket<K, R> ticket) {
    int waiting = bound.waiting();
    List<Ticket<K, R>> ready = new ArrayList<>();
    if (bound.withdraw(ticket, ready) && creation.settle()) {
      creationAborted(entry, creation, null, exhausted(ticket, waiting));
    }
    startGranted(ready);
  }

  private PoolExhaustedException exhausted(Ticket<K, R> ticket, int waiting) {
    long waited = Math.max(0, listenerFreeRead() - ticket.since);
    StringBuilder limits = new StringBuilder();
    if (bound.maxWeight() != Long.MAX_VALUE) {
      limits.append(weigher == null ? "maxInstances " : "maxWeight ").append(bound.maxWeight());
    }
    if (bound.maxCreations() != Integer.MAX_VALUE) {
      limits.append(limits.length() == 0 ? "" : ", ");
      limits.append("maxConcurrentCreations ").append(bound.maxCreations());
    }
    return new PoolExhaustedException(
        name
            + ": no room for key "
            + describe(ticket.entry.key)
            + " under "
            + limits
            + " ("
            + waiting
            + " waiting) after "
            + Duration.ofNanos(waited)
            + ": every instance is leased, being created or closing");
  }

  /**
   * A requester of a waiting creation stopped waiting (cancelled, interrupted, timed out). The
   * last one to leave abandons the creation if it still waits for room or a slot: its place is
   * given up, and nothing is created for nobody. Unbounded pools keep the old way: the creation
   * goes on, and a late lease is given back.
   */
  private void gaveUp(PoolEntry<K, R> entry, Creation<R> creation) {
    @SuppressWarnings("unchecked")
    Ticket<K, R> ticket = (Ticket<K, R>) creation.ticket;
    if (ticket == null || creation.interest.decrementAndGet() != 0) {
      return;
    }
    List<Ticket<K, R>> ready = new ArrayList<>();
    if (bound.withdrawAbandoned(ticket, creation.interest, ready) && creation.settle()) {
      creationAborted(
          entry,
          creation,
          null,
          new CancellationException(
              name
                  + ": every request for key "
                  + describe(entry.key)
                  + " gave up while it waited for room"));
    }
    startGranted(ready);
  }

  /**
   * False (and the freshly installed entry aborted) if the pool was shut down meanwhile, since
   * shutdown's scan of the map may have missed it.
   */
  private boolean begin(PoolEntry<K, R> entry, Creation<R> creation) {
    // Handshake SHUTDOWN-SCAN: installed, then this read of `closed`.
    if (closed) {
      if (creation.settle()) { // else a grace period's end found it first, and ended it
        creationAborted(entry, creation, null, closedException());
      }
      return false;
    }
    return true;
  }

  /** The ticker's reading at a creation's start, from which its deadline counts. */
  private long creationStart() {
    try {
      long now = ticker.read();
      return now == Creation.NO_START ? now + 1 : now;
    } catch (RuntimeException | Error e) {
      return Creation.NO_START; // the deadline then counts from when it is armed
    }
  }

  /**
   * Arms the creation's deadline: {@code openTimeout} from its start, covering the factory (or
   * its stage) and {@code openAsync}. Armed once, lazily, by the first that has to wait for the
   * creation: a caller, a step left pending (the factory's stage, the open's), or shutdown. A
   * creation that completes on the spot, the common case, so schedules nothing. What only the
   * creating thread waits for needs no deadline: nothing could take that thread back.
   */
  private void armDeadline(PoolEntry<K, R> entry, Creation<R> creation) {
    if (openTimeoutNanos == Long.MAX_VALUE || !creation.startArming()) {
      return; // never; or armed, or settled, already
    }
    long elapsed = 0;
    if (creation.start != Creation.NO_START) {
      try {
        elapsed = Math.max(ticker.read() - creation.start, 0);
      } catch (RuntimeException | Error e) {
        // count from now: late, never early
      }
    }
    long delay = Math.max(openTimeoutNanos - elapsed, 0);
    creation.armed(schedule(() -> deadlinePassed(entry, creation), delay));
  }

  /** The creation's deadline: unless it ended meanwhile, it fails, and so do its waiters. */
  private void deadlinePassed(PoolEntry<K, R> entry, Creation<R> creation) {
    // Races with the creation's own end and with a grace period's end: the first to settle wins.
    if (!creation.settle()) {
      return;
    }
    R instance = creation.takeInstance();
    creationFailed(
        entry,
        creation,
        instance,
        new TimeoutException(
            name
                + ": key "
                + describe(entry.key)
                + " was not created within the open timeout "
                + config.openTimeout()
                + (instance == null
                    ? " (its factory had not returned)"
                    : " (its openAsync had not completed)")));
  }

  /** Fails the creation, unless its deadline or a grace period's end ended it first. */
  private void failCreation(
      PoolEntry<K, R> entry, Creation<R> creation, R instance, Throwable failure) {
    if (creation.settle()) {
      creationFailed(entry, creation, instance, failure);
    } else {
      // Its waiters already failed, and whoever ended it took the instance (offered or taken).
      log.debug(
          "{}: creating key {} failed after the creation had ended",
          name,
          describe(entry.key),
          failure);
    }
  }

  /** Runs the factory (synchronous or asynchronous) for {@code entry}, then opens the instance. */
  private void runFactory(PoolEntry<K, R> entry, Creation<R> creation) {
    creation.creator = Thread.currentThread();
    long createStart = listener != null ? listener.start() : 0L;
    try {
      if (asyncFactory != null) {
        CompletionStage<? extends R> stage = asyncFactory.apply(entry.key);
        if (stage == null) {
          throw new NullPointerException(
              name + ": factory returned null for key " + describe(entry.key));
        }
        stage.whenComplete(
            (instance, failure) -> created(entry, creation, instance, failure, createStart));
        armDeadline(entry, creation); // the stage may never complete; a no-op once settled
        return;
      }
      // `creator` stays set through openAsync too: a recursive request from there would deadlock.
      created(entry, creation, factory.apply(entry.key), null, createStart);
    } catch (Throwable t) {
      failCreation(entry, creation, null, t);
    } finally {
      creation.creator = null;
    }
  }

  private void created(
      PoolEntry<K, R> entry,
      Creation<R> creation,
      R instance,
      Throwable failure,
      long createStart) {
    if (failure != null) {
      failCreation(entry, creation, null, unwrap(failure));
      return;
    }
    if (instance == null) {
      failCreation(
          entry,
          creation,
          null,
          new NullPointerException(name + ": factory returned null for key " + describe(entry.key)));
      return;
    }
    if (listener != null) {
      listener.created(entry.key, instance, createStart); // event: the factory returned
    }
    // Handshake OFFERED-OR-TAKEN (see Creation): if the deadline or a grace period's end took
    // the slot first, the creation is over and nobody else will close this instance.
    if (!creation.offer(instance)) {
      closeLate(entry, instance);
      return;
    }
    // An adapter's factory is its open (a DataSource connects in its constructor): its open time
    // is the factory's. See PoolListener#onOpened.
    long openStart =
        listener == null ? 0L : lifecycle.opensInFactory() ? createStart : listener.start();
    CompletionStage<Void> opened;
    // A request for this key from inside openAsync would wait for itself. The creator's mark does
    // not cover it: an async factory's stage may complete, and run us, on any thread.
    creation.opener = Thread.currentThread();
    try {
      opened = lifecycle.open(instance);
    } catch (Throwable t) {
      failCreation(entry, creation, instance, t);
      return;
    } finally {
      creation.opener = null;
    }
    if (opened == null) {
      failCreation(
          entry,
          creation,
          instance,
          new NullPointerException(name + ": openAsync returned null for key " + describe(entry.key)));
      return;
    }
    opened.whenComplete(
        (ignored, openFailure) -> {
          // Races with the deadline and a grace period's end: whichever settles first decides.
          if (!creation.settle()) {
            return;
          }
          if (openFailure != null) {
            creationFailed(entry, creation, instance, unwrap(openFailure));
          } else {
            opened(entry, creation, instance, openStart);
          }
        });
    armDeadline(entry, creation); // the open may never complete; a no-op once settled
  }

  /**
   * Closes an instance whose factory returned after its creation ended (at its deadline, or a
   * grace period's end): never handed out. It counts as live until closed, so that a shutdown
   * still under way waits for it; one that completed already completed without it.
   */
  private void closeLate(PoolEntry<K, R> entry, R instance) {
    log.warn(
        "{}: the factory for key {} returned after its creation had ended; closing the instance",
        name,
        describe(entry.key));
    live.incrementAndGet();
    closeLater(entry, instance);
  }

  private void opened(PoolEntry<K, R> entry, Creation<R> creation, R instance, long openStart) {
    creationEnded(creation); // its slot, if bounded, goes to the next creation in line
    if (closed) {
      // Shut down while we were creating: shutdown could not close what did not exist yet.
      creationAborted(entry, creation, instance, closedException());
      return;
    }
    creations.increment();
    if (backoff != null) {
      backoff.succeeded(entry.key); // its next failure is a first one
    }
    if (listener != null) {
      // event: opened; before the waiters run, so that it precedes the instance's later events
      listener.opened(entry.key, instance, openStart);
    }
    // Handshake SETTLED-THEN-GRACE: a grace period's end sets graceOver, then finds this
    // creation settled (by us) and force-claims the entry to close the instance it was offered;
    // we settled, then read graceOver. If we see it, the instance is not even published: the
    // caller that ran the factory reads entry.value and must not lease it either. Whichever of
    // us force-claims first closes it.
    if (graceOver) {
      if (entry.forceClaim()) {
        removeFromMap(entry);
        closeLater(entry, instance);
      }
      creation.future.completeExceptionally(closedException());
      return;
    }
    entry.value = instance; // from here on, retains lease directly
    creation.future.complete(instance);
    if (maxLifetimeNanos != Long.MAX_VALUE) {
      scheduleLifetime(entry);
    }
  }

  private void creationFailed(
      PoolEntry<K, R> entry, Creation<R> creation, R instance, Throwable failure) {
    creationFailures.increment();
    log.debug("{}: creating the instance for key {} failed", name, describe(entry.key), failure);
    if (listener != null) {
      listener.creationFailed(entry.key, instance, failure); // event: before the instance's close
    }
    if (backoff != null && keysFault(creation, failure)) {
      // Before the placeholder leaves the map: a request that then finds the key absent sees it.
      backoff.failed(entry.key, failure, creation.start);
    }
    creationAborted(entry, creation, instance, failure);
  }

  /**
   * Whether a failed creation counts against its key's retry backoff: not if its factory or open
   * was refused a request for its own key, nor if its deadline passed while it still waited for
   * room or a creation slot under the bound, nor if it was an interruption (a caller running a
   * synchronous factory on its own thread was cancelled). What else is no fault of the key's
   * (shutdown, all requesters giving up, the acquire timeout) ends a creation without coming here.
   */
  private boolean keysFault(Creation<R> creation, Throwable failure) {
    @SuppressWarnings("unchecked")
    Ticket<K, R> ticket = (Ticket<K, R>) creation.ticket;
    return !creation.askedForItself
        && (ticket == null || !bound.isWaiting(ticket))
        && !interrupted(failure);
  }

  /**
   * True if {@code failure} is an interruption: the creating thread (a caller's own, running a
   * synchronous factory) was interrupted, its request cancelled, which says nothing of the key.
   */
  private static boolean interrupted(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof InterruptedException
          || t instanceof java.io.InterruptedIOException
          || t instanceof java.nio.channels.ClosedByInterruptException) {
        return true;
      }
    }
    return Thread.currentThread().isInterrupted();
  }


  /** Ends a creation that hands out no lease: waiters fail, the instance (if any) is closed. */
  private void creationAborted(
      PoolEntry<K, R> entry, Creation<R> creation, R instance, Throwable failure) {
    // The waiters' shares are dropped with the entry: none got a lease.
    boolean claimed = entry.forceClaim();
    removeFromMap(entry);
    creation.future.completeExceptionally(failure);
    creationEnded(creation);
    if (!claimed) {
      return; // a grace period's end claimed it first, and closes it
    }
    if (instance != null) {
      // The entry's value stays the (failed) Creation: nobody may take this instance for open.
      closeLater(entry, instance);
    } else {
      finish(entry);
    }
  }

  // =========================================================================================
  // Closing
  // =========================================================================================

  /** Closes an entry this thread claimed, whose instance is open. */
  private void closeClaimed(PoolEntry<K, R> entry) {
    removeFromMap(entry);
    @SuppressWarnings("unchecked")
    R instance = (R) entry.value;
    closeLater(entry, instance);
  }

  /**
   * Removes a claimed entry from the map. The key's equals/hashCode are user code: if they throw,
   * the close must still happen, so the failure is only logged. An {@link Error} too: thrown on,
   * it would skip this close, and in the expiry task's batch every close after it, which were
   * claimed already and would never happen, so shutdown would never complete.
   */
  private void removeFromMap(PoolEntry<K, R> entry) {
    try {
      map.remove(entry.key, entry);
    } catch (Throwable t) {
      // WARN, as every failure of user code: the pool itself is fine, and goes on.
      log.warn("{}: removing key {} from the map failed", name, describe(entry.key), t);
    }
  }

  /** Closes the instance on the executor (see {@link Closing#closeLater}). */
  private void closeLater(PoolEntry<K, R> entry, R instance) {
    closing.closeLater(entry, instance);
  }

  /** The entry is gone for good: closed, or its creation failed with nothing to close. */
  private void finish(PoolEntry<K, R> entry) {
    if (entry instanceof Counted<K, R> counted && counted.counted) {
      counted.counted = false; // finish runs once per entry: after its one claim
      startGranted(bound.release(counted.weight, counted.makesRoom));
    }
    draining.remove(entry); // handshake DRAIN-CLAIM: claimed before, unlisted now
    if (maxLifetimeNanos != Long.MAX_VALUE) {
      ScheduledFuture<?> lifetime = lifetimes.remove(entry);
      if (lifetime != null) {
        lifetime.cancel(false); // closed before its lifetime ended: nothing left to replace
      }
    }
    if (live.decrementAndGet() == 0 && closed) { // handshake LAST-CLOSE
      terminate();
    }
  }

  /** Every entry finished: complete the shutdown (see {@link Closing#terminate}). */
  private void terminate() {
    closing.terminate(terminated);
  }

  // =========================================================================================
  // Refresh: a new instance replaces the open one, with no gap for its lessees
  // =========================================================================================

  @Override
  public CompletableFuture<Void> refresh(K key) {
    return refresh(requireKey(key), null);
  }

  /** {@link #refresh(Object)}, of {@code expected} only if it is not null. */
  private CompletableFuture<Void> refresh(K key, PoolEntry<K, R> expected) {
    if (closed) {
      return CompletableFuture.failedFuture(closedException());
    }
    PoolEntry<K, R> current = map.get(key);
    if (current != null
        && current.value instanceof Creation<?> creating
        && creating.runsOn(Thread.currentThread())) {
      // The key's creation in the map (a request's, or a refresh's warm-up) runs on this thread:
      // whatever this refresh joined or started would wait for it.
      creating.askedForItself = true;
      return CompletableFuture.failedFuture(recursiveException(key));
    }
    Refreshing mine = new Refreshing();
    Refreshing running = refreshing.putIfAbsent(key, mine);
    if (running != null) {
      Creation<?> creation = running.creation;
      if (creation != null && creation.runsOn(Thread.currentThread())) {
        // The replacement's own factory or open asks for it: it would wait for itself.
        creation.askedForItself = true;
        return CompletableFuture.failedFuture(recursiveException(key));
      }
      return running.result.copy(); // single flight: a refresh of this key is under way
    }
    // Unlisted before its result completes: a refresh asked for from a callback of that result
    // (or by a thread it wakes) must start anew, not find this one, already over.
    CompletableFuture<Void> done = new CompletableFuture<>();
    done.whenComplete(
        (ignored, failure) -> {
          refreshing.remove(key, mine);
          if (failure != null) {
            mine.result.completeExceptionally(failure);
          } else {
            mine.result.complete(null);
          }
        });
    try {
      startRefresh(key, expected, mine, done);
    } catch (Throwable t) {
      done.completeExceptionally(t); // the weigher threw, or the key is within its backoff
    }
    return mine.result.copy(); // a caller that cancels its copy stops nobody else's
  }

  /** A refresh under way: what its callers get, and its replacement's creation once started. */
  private static final class Refreshing {
    final CompletableFuture<Void> result = new CompletableFuture<>();
    volatile Creation<?> creation;
  }

  /**
   * Creates the replacement for the open instance of {@code key} beside it, out of the map: the
   * old one serves every request meanwhile. With no open instance (none, retired, or a creation
   * under way) it is a request's way instead: it joins the creation or starts one, a warm-up.
   * With {@code expected} set (a lifetime's end), only that entry is replaced: if it is no longer
   * the key's, nothing is done.
   */
  private void startRefresh(
      K key, PoolEntry<K, R> expected, Refreshing refresh, CompletableFuture<Void> done) {
    PoolEntry<K, R> old = map.get(key);
    if (expected != null && old != expected) {
      done.complete(null); // replaced, or gone, since its lifetime ended: nothing left to do
      return;
    }
    if (old == null || PoolEntry.isRetired(old.state) || old.value instanceof Creation) {
      acquire(key)
          .whenComplete(
              (lease, failure) -> {
                if (failure != null) {
                  done.completeExceptionally(unwrap(failure));
                } else {
                  lease.close();
                  done.complete(null);
                }
              });
      return;
    }
    if (backoff != null) {
      backoff.check(key); // a key that failed lately is not tried again before its backoff ends
    }
    // The replacement counts as an instance of its own from its creation's start: in a bounded
    // pool it takes room (and may wait for it) like any cold key, and holds the creator's share
    // until it is swapped in.
    PoolEntry<K, R> fresh = newPlaceholder(key);
    live.incrementAndGet(); // counted before anything can end it; see retainOrCreate
    // Listed while it is in neither the map nor (yet) its place: a grace period's end finds it
    // here and ends its creation, as it ends a cold key's. finish() unlists it at its end.
    draining.add(fresh);
    Creation<R> creation = creationOf(fresh.value);
    refresh.creation = creation;
    creation.future.whenComplete(
        (instance, failure) -> {
          if (failure != null) {
            refreshFailed(old, unwrap(failure), done);
          } else {
            swapIn(old, fresh, done);
          }
        });
    if (!begin(fresh, creation)) {
      return; // shut down meanwhile: begin() aborted it, and the future above fails
    }
    armDeadline(fresh, creation); // a refresh waits at most its open timeout
    launch(fresh, creation, false);
  }

  /**
   * The replacement is open: it takes the old instance's place in the map, and the old one is
   * retired, to close now if idle, else at its last release. A lease taken before the swap keeps
   * the old instance; a lease after it gets the new one.
   *
   * <p>Races, each argued where it is settled:
   *
   * <ul>
   *   <li>with {@code invalidate}, expiry or eviction of the old instance: they retire (or claim)
   *       it and take it out of the map; the swap's {@code replace} fails once it is out, and the
   *       replacement then takes the empty place, or, if a request has created another instance
   *       meanwhile, is closed unused. Either way the old instance is closed once, by its own
   *       path or by ours ({@link PoolEntry#retire} says which).
   *   <li>with shutdown: LISTED-BEFORE-RETIRED, as in invalidate (the old instance leaves the map
   *       here, so it is listed in {@code draining} first for a grace period's end to find), and
   *       SHUTDOWN-SCAN (installed, then the release of the creator's share reads {@code closed}:
   *       a scan that missed the new instance is made up for by that release, which closes it).
   * </ul>
   */
  private void swapIn(PoolEntry<K, R> old, PoolEntry<K, R> fresh, CompletableFuture<Void> done) {
    K key = fresh.key;
    R previous = instanceOf(old);
    R instance = instanceOf(fresh);
    // Handshake LISTED-BEFORE-RETIRED: listed before it can leave the map.
    draining.add(old);
    boolean replaced;
    Throwable swapFailure = null;
    try {
      replaced = map.replace(key, old, fresh) || map.putIfAbsent(key, fresh) == null;
    } catch (Throwable t) {
      replaced = false; // the key's equals or hashCode threw: the replacement is closed unused
      swapFailure = t;
    }
    if (replaced) {
      refreshes.increment();
      if (listener != null) {
        // event: before the old instance can close, which its retire() below allows
        listener.refreshed(key, previous, instance);
      }
    }
    int retired = replaced ? old.retire() : -1;
    if (old.isClaimed()) {
      draining.remove(old); // handshake DRAIN-CLAIM: closing by one path or another already
    }
    if (!replaced) {
      // Another instance took the key's place since the old one went, or the swap failed: ours
      // is not needed. We hold its only share (it was never in the map), so this release
      // closes it.
      fresh.retire();
      release(fresh);
      if (swapFailure != null) {
        refreshFailed(old, swapFailure, done); // the old instance stays in service
      } else {
        done.complete(null);
      }
      return;
    }
    if (retired > 0) {
      closeLater(old, previous); // idle: closed now; out of the map already
    }
    // The creator's share: the new instance is idle (or leased) from here on. Handshake
    // SHUTDOWN-SCAN: installed, then this release reads `closed` after its add; a shutdown whose
    // scan missed the new instance is made up for there (the release closes it).
    release(fresh);
    done.complete(null);
  }

  // ---- Max lifetime: an instance past it is closed if idle, else replaced as by refresh ----

  /**
   * Schedules the end of a newly opened instance's lifetime: {@code maxLifetime} less up to a
   * tenth, drawn at random (see {@link PoolBuilder#maxLifetime}). The task holds the entry
   * weakly, so that an instance closed before its lifetime ends is not kept reachable by it.
   */
  private void scheduleLifetime(PoolEntry<K, R> entry) {
    long spread = (long) (ThreadLocalRandom.current().nextDouble() * (maxLifetimeNanos / 10));
    WeakReference<PoolEntry<K, R>> ref = new WeakReference<>(entry);
    trackLifetime(entry, schedule(() -> lifetimeEnded(ref), maxLifetimeNanos - spread));
  }

  /**
   * Lists the lifetime timer of {@code entry} (its first, or a retry's), to be cancelled when the
   * entry finishes or the pool shuts down. Races with the entry's end (finish() unlists and
   * cancels) and with shutdown: we list, then read CLAIMED and {@code closed}; finish() claimed
   * before it unlists, shutdown set {@code closed} before it cancels. One of us cancels it.
   */
  private void trackLifetime(PoolEntry<K, R> entry, ScheduledFuture<?> timer) {
    lifetimes.put(entry, timer);
    if (entry.isClaimed() || closed) {
      if (lifetimes.remove(entry, timer)) {
        timer.cancel(false);
      }
    }
  }

  /**
   * An instance's lifetime ended. Idle, it is claimed with the expiry's CAS and closed as
   * expired: a lease that comes first keeps it, and we look again. Leased, it is replaced in the
   * background, and closed at its last release; a replacement that fails is tried again later.
   * Retired meanwhile (expired, invalidated, replaced, shut down), there is nothing to do.
   */
  private void lifetimeEnded(WeakReference<PoolEntry<K, R>> ref) {
    PoolEntry<K, R> entry = ref.get();
    if (entry == null || closed) {
      return;
    }
    for (; ; ) {
      long state = entry.state;
      if (PoolEntry.isRetired(state)) {
        return;
      }
      if (PoolEntry.leases(state) > 0) {
        break;
      }
      if (entry.claimIdle(state)) {
        expirations.increment();
        if (listener != null) {
          listener.expired(entry.key, instanceOf(entry)); // event: expired (its lifetime ended)
        }
        closeClaimed(entry);
        return;
      }
    }
    refresh(entry.key, entry)
        .whenComplete(
            (ignored, failure) -> {
              if (failure != null && !closed) {
                Throwable cause = unwrap(failure);
                long delay =
                    cause instanceof RetryBackoffException backingOff
                        ? PoolConfig.saturatedNanos(backingOff.retryIn())
                        : Math.min(LIFETIME_RETRY_NANOS, maxLifetimeNanos / 10);
                // The old instance serves meanwhile; the retry is listed as the first timer was.
                trackLifetime(entry, schedule(() -> lifetimeEnded(ref), delay));
              }
            });
  }

  /** The replacement failed: the old instance stays in service. */
  private void refreshFailed(
      PoolEntry<K, R> old, Throwable failure, CompletableFuture<Void> done) {
    refreshFailures.increment();
    if (closed) {
      // Shut down meanwhile: the replacement was ended with the rest; nothing went wrong.
      log.debug("{}: the refresh of key {} ended with the pool", name, describe(old.key));
    } else {
      log.warn(
          "{}: refreshing key {} failed; its current instance stays in service",
          name,
          describe(old.key),
          failure);
    }
    if (listener != null) {
      listener.refreshFailed(old.key, instanceOf(old), failure);
    }
    done.completeExceptionally(failure);
  }

  @Override
  public boolean invalidate(K key) {
    PoolEntry<K, R> entry = map.get(requireKey(key));
    if (entry == null) {
      return false;
    }
    // Handshake LISTED-BEFORE-RETIRED: a grace period's end scans the map, then `draining`.
    // From our retire() on, a request may help-remove the entry from the map (and so may we, just
    // below, before the listener runs): listed first, it is in one place or the other throughout.
    draining.add(entry);
    int retired = entry.retire();
    if (entry.isClaimed()) {
      // Handshake DRAIN-CLAIM: we listed, then read CLAIMED. Closing (or even closed, its
      // finish() before our add): no forced close can be needed.
      draining.remove(entry);
    }
    // Logged, never thrown: once retire() claimed the entry, a key whose hashCode throws here must
    // not stop its close (nor, with it, shutdown).
    removeFromMap(entry);
    if (retired < 0) {
      return false;
    }
    invalidations.increment();
    if (listener != null) {
      // event: may come after the close if the last lease closed since retire() (see PoolListener)
      Object value = entry.value; // read once: a creation may finish meanwhile
      @SuppressWarnings("unchecked")
      R instance = value instanceof Creation ? null : (R) value;
      listener.invalidated(key, instance);
    }
    if (retired > 0) {
      closeLater(entry, instanceOf(entry)); // removed above: the key's hashCode runs once
    }
    return true;
  }

  // =========================================================================================
  // Expiry and eviction (see Expiry): what the task claims is counted, told and closed here
  // =========================================================================================

  /** Schedules a pool task; never throws (see {@link PoolScheduler}). */
  private ScheduledFuture<?> schedule(Runnable task, long delayNanos) {
    return scheduler.schedule(task, delayNanos);
  }

  private void closeExpired(List<PoolEntry<K, R>> expired) {
    expirations.add(expired.size());
    closeRetired(expired, false);
  }

  /**
   * Closes entries the expiry task claimed (expired, or evicted when {@code evicted}) on the
   * executor. The map removals and the listener's events run with the closes, off the expiry
   * task: an entry left in the map meanwhile is retired, so a request that finds it removes it
   * itself (see retainOrCreate) and installs a new one, which the conditional remove below then
   * leaves alone.
   */
  private void closeRetired(List<PoolEntry<K, R>> claimed, boolean evicted) {
    Runnable closeAll =
        () -> {
          for (PoolEntry<K, R> entry : claimed) {
            removeFromMap(entry);
            R instance = instanceOf(entry);
            if (listener != null) {
              // event: on the executor, before the close
              if (evicted) {
                listener.evicted(entry.key, instance);
              } else {
                listener.expired(entry.key, instance);
              }
            }
            closing.closeNow(entry, instance);
          }
        };
    RunOnce once = new RunOnce(closeAll); // execute may queue it, then throw (see RunOnce)
    try {
      executor.execute(once);
    } catch (RuntimeException | Error e) {
      // An Error too (a thread pool that cannot start a thread throws OutOfMemoryError): thrown
      // on, it would fail the expiry task's run after it claimed these entries, and nothing
      // would ever close them, nor could shutdown complete.
      if (once.claim()) {
        log.warn("{}: executor rejected {} closes; closing inline", name, claimed.size(), e);
        closeAll.run();
      } else {
        log.warn(
            "{}: the executor threw after it took {} closes; they run once",
            name,
            claimed.size(),
            e);
      }
    }
  }


  // ---- Eviction: room for waiting requests, made of the least recently released instances ----

  /** Asks for an eviction run on the scheduler; at most one is pending at a time. */
  private void requestEviction() {
    if (!evictionScheduled && EVICTION_SCHEDULED.compareAndSet(this, false, true)) {
      schedule(evictionTask, 0);
    }
  }

  private void runEviction() {
    // Cleared before the work: a request that comes during it schedules another run.
    evictionScheduled = false;
    try {
      evict();
      evictionFailures = 0;
    } catch (Throwable t) {
      // Tried again while requests wait for room: waiting for the next release instead, a
      // request could time out while instances sit idle (review 6: two failed evictions in a row,
      // a ticker broken for three reads, and the request failed after 5 s with two idle).
      // From 1 ms, doubling, at most a second apart; an ERROR once, then quieter.
      int failures = ++evictionFailures;
      long retry = RunFailures.backoff(failures, 1_000_000_000L);
      if (failures == 1) {
        log.error("{}: an eviction failed; it is tried again on the scheduler", name, t);
      } else {
        log.debug("{}: an eviction failed again ({} in a row)", name, failures, t);
      }
      if (bound.waiting() > 0
          && !evictionScheduled
          && EVICTION_SCHEDULED.compareAndSet(this, false, true)) {
        schedule(evictionTask, retry);
      }
    }
  }

  /**
   * Evicts for the requests waiting for room ({@link Expiry#evict}), then fails the waiters that
   * may not wait ({@code acquireTimeout(ZERO)}) if that was not enough.
   */
  private void evict() {
    if (closed) {
      return;
    }
    if (expiry != null) {
      expiry.evict(bound);
    } else {
      timedExpiry.evict(bound);
    }
    failImpatient();
  }

  /** Fails the waiters that may not wait ({@code acquireTimeout(ZERO)}) and found no room. */
  private void failImpatient() {
    List<Ticket<K, R>> ready = new ArrayList<>();
    int waiting = bound.waiting();
    for (Ticket<K, R> ticket : bound.withdrawImpatient(ready)) {
      Creation<R> creation = creationOf(ticket.entry.value);
      if (creation.settle()) {
        creationAborted(ticket.entry, creation, null, exhausted(ticket, waiting));
      }
    }
    startGranted(ready);
  }

  private void closeEvicted(List<PoolEntry<K, R>> evicted) {
    evictions.add(evicted.size());
    closeRetired(evicted, true);
  }


  // =========================================================================================
  // Shutdown, stats, serialization
  // =========================================================================================

  @Override
  public CompletableFuture<Void> closeAsync() {
    // Handshakes SHUTDOWN-SCAN and LAST-CLOSE (see PoolEntry): set `closed`, then shutdown()
    // scans the map and reads `live`.
    if (!closed && CLOSED.compareAndSet(this, false, true)) {
      shutdown();
    }
    return closeFuture;
  }

  @Override
  public CompletableFuture<Void> closeAsync(Duration gracePeriod) {
    Objects.requireNonNull(gracePeriod, "gracePeriod");
    PoolBuilder.requireArgument(
        !gracePeriod.isNegative(), "gracePeriod must not be negative: %s", gracePeriod);
    CompletableFuture<Void> future = closeAsync();
    if (!terminated.isDone()) {
      long graceNanos = PoolConfig.saturatedNanos(gracePeriod);
      if (graceNanos == 0) {
        forceCloseLeased();
      } else {
        schedule(this::forceCloseLeased, graceNanos);
      }
    }
    return future;
  }

  private void shutdown() {
    log.debug("{}: shutting down, {} live instances", name, live.get());
    if (backoff != null) {
      backoff.shutdown(); // cancels its tasks: none keeps the pool reachable
    }
    // Lifetimes too; one scheduled from now on sees `closed` and cancels itself.
    for (ScheduledFuture<?> lifetime : lifetimes.values()) {
      lifetime.cancel(false);
    }
    lifetimes.clear();
    for (PoolEntry<K, R> entry : map.values()) {
      // Idle: claimed and closed now. Leased or being created: retired, closed by the last
      // release or by the end of the creation. Handshake LISTED-BEFORE-RETIRED, as in invalidate: a
      // request that read `closed` before we set it may help-remove the retired entry from the
      // map, and a grace period's end (another thread's closeAsync(Duration) need not wait for
      // this scan) must find it in `draining` then.
      draining.add(entry);
      int retired = entry.retire();
      if (entry.isClaimed()) {
        // Handshake DRAIN-CLAIM: idle (claimed just now) or closing by another path.
        draining.remove(entry);
      }
      if (retired > 0) {
        closeClaimed(entry);
      } else if (entry.value instanceof Creation<?> creation) {
        armDeadline(entry, creationOf(creation)); // shutdown waits at most until its deadline
      }
    }
    if (bound != null) {
      // Waiting creations never started: fail their requesters now, not at the acquire timeout.
      // Handshake TICKET-SHUTDOWN: `closed` is set, then the waiting tickets are withdrawn.
      for (Ticket<K, R> ticket : bound.withdrawAll()) {
        ScheduledFuture<?> timer = ticket.timeout;
        if (timer != null) {
          timer.cancel(false);
        }
        Creation<R> creation = creationOf(ticket.entry.value);
        if (creation.settle()) { // else its deadline or a grace period's end ended it already
          creationAborted(ticket.entry, creation, null, closedException());
        }
      }
    }
    if (live.get() == 0) { // handshake LAST-CLOSE: `closed` was set before
      terminate();
    }
  }

  private void forceCloseLeased() {
    graceOver = true; // before the scan: handshake SETTLED-THEN-GRACE, see opened()
    List<PoolEntry<K, R>> leased = new ArrayList<>(map.values());
    leased.addAll(draining);
    for (PoolEntry<K, R> entry : leased) {
      Object value = entry.value; // read once: a creation may finish meanwhile
      R instance;
      if (value instanceof Creation) {
        Creation<R> creation = creationOf(value);
        if (creation.settle()) {
          // Still being created: its waiters fail now; an instance made is closed now, one the
          // factory returns later is closed then (handshake OFFERED-OR-TAKEN).
          log.warn(
              "{}: the creation of key {} was still under way: grace period over",
              name,
              describe(entry.key));
          creationAborted(entry, creation, creation.takeInstance(), closedException());
          continue;
        }
        // Settled by its own end (handshake SETTLED-THEN-GRACE in opened()) or its deadline, which
        // took the instance already. Whoever force-claims the entry first closes what was offered.
        instance = creation.instance();
        if (instance == null) {
          continue;
        }
      } else {
        @SuppressWarnings("unchecked")
        R open = (R) value;
        instance = open;
      }
      if (entry.forceClaim()) {
        log.warn(
            "{}: closing the instance for key {} with {} lease(s) still open: grace period over",
            name,
            describe(entry.key),
            PoolEntry.leases(entry.state));
        removeFromMap(entry);
        closeLater(entry, instance);
      }
    }
  }

  @Override
  public void close() {
    try {
      closeAsync().join();
    } catch (CompletionException e) {
      throw propagate(e.getCause());
    }
  }

  @Override
  public PoolStats stats() {
    int idle = 0;
    for (PoolEntry<K, R> entry : map.values()) {
      long state = entry.state;
      if ((state & (REFS | RETIRED)) == 0 && !(entry.value instanceof Creation)) {
        idle++;
      }
    }
    return new PoolStats(
        hits.sum(),
        misses.sum(),
        creations.sum(),
        creationFailures.sum(),
        expirations.sum(),
        invalidations.sum(),
        closing.closes(),
        closing.closeFailures(),
        live.get(),
        idle,
        leaks.sum(),
        evictions.sum(),
        bound == null ? 0 : bound.waiting(),
        bound == null ? 0 : bound.weightInUse(),
        refreshes.sum(),
        refreshFailures.sum());
  }

  /** Whether shutdown began; {@link SharedPools} replaces such a pool for later copies. */
  boolean isClosed() {
    return closed;
  }

  @Override
  public String toString() {
    return "Pool["
        + name
        + ", ttl="
        + (ttlByKey == null ? config.ttl() : "per key")
        + (closed ? ", closed]" : "]");
  }

  /**
   * Serializes the settings, never the instances: the copy is a new, empty pool with its own
   * timers (Effective Java's serialization proxy), or, for a pool shared per JVM, the live pool
   * of its identity in the JVM that reads it (see {@link SharedPools}).
   */
  private Object writeReplace() throws ObjectStreamException {
    requireSerializable("factory", factory != null ? factory : asyncFactory);
    requireSerializable("ticker", config.ticker());
    requireSerializable("scheduler", config.scheduler());
    requireSerializable("executor", config.executor());
    requireSerializable("listener", config.listener());
    requireSerializable("keyFormatter", config.keyFormatter());
    if (config.lifecycle() instanceof ResourceLifecycle.CloserLifecycle<?> custom) {
      requireSerializable("closer", custom.closer());
    }
    return new SerializedPool<>(config);
  }

  private void readObject(ObjectInputStream in) throws InvalidObjectException {
    throw new InvalidObjectException("a pool is deserialized through its serialization proxy");
  }

  private void requireSerializable(String setting, Object value) throws NotSerializableException {
    if (value != null && !(value instanceof Serializable)) {
      throw new NotSerializableException(
          name
              + ": the "
              + setting
              + " ("
              + value.getClass().getName()
              + ") is not serializable, so the pool is not; for a lambda, cast it to"
              + " (Function<K, R> & Serializable)");
    }
  }

  /**
   * The serialized form of a pool: its settings only.
   *
   * @param <K> the key type
   * @param <R> the resource type
   * @param config the pool's settings
   */
  private record SerializedPool<K, R>(PoolConfig<K, R> config) implements Serializable {
    private static final long serialVersionUID = 1L;

    /**
     * Builds the copy, after the checks the builder made when the settings were set: a stream
     * may carry any settings, and a pool must never run on ones no builder accepts.
     */
    private Object readResolve() throws InvalidObjectException {
      if (config == null) {
        throw new InvalidObjectException("config is missing");
      }
      config.requireValid();
      return config.sharedId() == null ? new KeyedPool<>(config) : SharedPools.resolve(config);
    }
  }

  // =========================================================================================
  // Helpers
  // =========================================================================================

  @SuppressWarnings("unchecked")
  private static <R> Creation<R> creationOf(Object value) {
    return (Creation<R>) value;
  }

  /** The open instance of an entry that has one (not a creation in progress). */
  @SuppressWarnings("unchecked")
  private static <R> R instanceOf(PoolEntry<?, R> entry) {
    return (R) entry.value;
  }

  /**
   * How the pool shows {@code key} in logs, messages and {@code toString}: the builder's key
   * formatter, or {@link String#valueOf}. Never throws, so that a formatter (or a {@code toString})
   * that fails cannot break the lease or the close that wanted to name the key; it then names only
   * the key's type and the failure's class, never its message, which may carry what the formatter
   * was hiding.
   */
  String describe(Object key) {
    try {
      CharSequence shown = keyFormatter == null ? String.valueOf(key) : keyFormatter.apply(key);
      if (shown != null) {
        return shown.toString();
      }
      return "<key of type " + key.getClass().getName() + ": the formatter returned null>";
    } catch (Throwable t) {
      if (t instanceof VirtualMachineError && !(t instanceof StackOverflowError)) {
        throw (VirtualMachineError) t;
      }
      return "<key of type "
          + key.getClass().getName()
          + ": showing it threw "
          + t.getClass().getName()
          + ">";
    }
  }

  private static <K> K requireKey(K key) {
    return Objects.requireNonNull(key, "key");
  }

  private IllegalStateException closedException() {
    return new IllegalStateException("pool '" + name + "' is closed");
  }

  private IllegalStateException recursiveException(Object key) {
    return new IllegalStateException(
        name + ": the factory for key " + describe(key) + " asked the pool for that same key");
  }

  /**
   * Runs a creation step on the executor; if it rejects, or throws anything else (an Error from
   * a thread pool that cannot start a thread, say), the creation fails with that. Thrown on, it
   * reached the requesting caller from acquire(), which returns a future, and left the creation
   * installed and never settled.
   */
  private void execute(Runnable task, PoolEntry<K, R> entry, Creation<R> creation) {
    RunOnce step = new RunOnce(task); // execute may queue it, then throw (see RunOnce)
    try {
      executor.execute(step);
    } catch (RuntimeException | Error e) {
      if (step.claim()) {
        failCreation(entry, creation, null, e); // the queued step, if any, now does nothing
      } else {
        log.warn(
            "{}: the executor threw after it took the creation of key {}; it goes on",
            name,
            describe(entry.key),
            e);
      }
    }
  }

  /** The exception a blocking call throws for {@code failure}: itself if unchecked, else wrapped. */
  private static RuntimeException propagate(Throwable failure) {
    failure = unwrap(failure);
    if (failure instanceof RuntimeException runtime) {
      return runtime;
    }
    if (failure instanceof Error error) {
      throw error;
    }
    if (failure instanceof CancellationException cancelled) {
      return cancelled;
    }
    return new CompletionException(failure);
  }
}
