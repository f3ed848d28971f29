package dev.asyncpool;

import static dev.asyncpool.PoolEntry.CLAIMED;
import static dev.asyncpool.PoolEntry.REF;
import static dev.asyncpool.PoolEntry.REFS;
import static dev.asyncpool.PoolEntry.RELEASE;
import static dev.asyncpool.PoolEntry.RETIRED;
import static dev.asyncpool.PoolEntry.STATE;
import static java.util.concurrent.TimeUnit.NANOSECONDS;

import dev.asyncpool.PoolEntry.Creation;
import java.io.InvalidObjectException;
import java.io.NotSerializableException;
import java.io.ObjectInputStream;
import java.io.ObjectStreamException;
import java.io.Serializable;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
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
 *       └──────(failure, or the pool shut down meanwhile)──▶ claimed ──▶ closed
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
 * <h3>Expiry</h3>
 *
 * The release that makes an entry idle, if the expiry task does not already own it, stamps it with
 * the time (one clock read), pushes it onto an intrusive MPSC queue and wakes the task if it
 * sleeps. With one
 * TTL for all keys, entries become due in the order they went idle, so the task only ever looks at
 * the head: it stops at the first idle entry not yet due and sleeps until then. An entry that was
 * leased again while queued is either busy (dropped; its next release queues it again) or idle
 * with a later stamp (moved to a small heap ordered by its real deadline). So the task's work
 * grows with the number of entries that go idle, not with the number of leases, and a lease of an
 * entry the task already owns touches neither the queue nor the scheduler.
 *
 * <p>The idle stamp is written after the release that made the entry idle, so the task may see an
 * idle entry whose stamp is stale. The release generation settles it: the stamp is trusted only if
 * it was written for the generation in the state word, and the CAS that retires the entry expects
 * that same state, so an expiry can never act on a stamp older than the last release.
 *
 * <h3>Idle stamps</h3>
 *
 * Reading the clock costs more than the rest of a warm lease put together, so a release of an
 * entry the task already owns does not read it: it stamps the number of the task's current
 * <em>epoch</em> instead. The task starts an epoch at least every TTL/64 while it owns entries: it
 * publishes the new number, then reads the clock and keeps that time. A release that read epoch
 * {@code e} happened before epoch {@code e + 1} was published, so before the time kept for
 * {@code e + 1}: counting the TTL from that time is never early, and at most one epoch (a 64th of
 * the TTL, at least 1 ms) plus the task's 1 ms batching late. An entry stamped with the current epoch is looked
 * at again when the next one starts. Precise stamps are stored as the time since the pool was
 * built (never negative), epoch stamps as {@code -1 - epoch}, so the one field tells which it is
 * and is written in one store.
 *
 * <h3>Shutdown</h3>
 *
 * {@code closed} is set once; then every entry is retired (idle ones claimed and closed at once),
 * and a release that makes an entry idle after that closes it instead of queueing it. A release
 * reads {@code closed} after its atomic add and shutdown scans the entries after setting it, so at
 * least one of them sees the other. {@code live} counts entries from installation to the end of
 * their close; the shutdown future completes when it reaches zero.
 *
 * @param <K> the key type
 * @param <R> the resource type
 */
final class KeyedPool<K, R> implements Pool<K, R> {

  private static final long serialVersionUID = 1L;

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  /** The expiry task sleeps at least this long between runs, to batch closes that fall due. */
  static final long MIN_REAP_INTERVAL_NANOS = Duration.ofMillis(1).toNanos();

  /** At most this many expired entries go to the executor in one task. */
  static final int CLOSE_BATCH = 1024;

  /** Epochs per TTL (see "Idle stamps"): an entry released while owned closes this much late. */
  static final int EPOCHS_PER_TTL = 64;

  /** Epoch times kept; more than the epochs in a TTL, so a stamp's bound is always found. */
  private static final int EPOCH_RING = 2 * EPOCHS_PER_TTL;

  private static final int EPOCH_MASK = EPOCH_RING - 1;

  private static final VarHandle CLOSED;
  private static final VarHandle REAPER_ACTIVE;

  static {
    try {
      MethodHandles.Lookup lookup = MethodHandles.lookup();
      CLOSED = lookup.findVarHandle(KeyedPool.class, "closed", boolean.class);
      REAPER_ACTIVE = lookup.findVarHandle(KeyedPool.class, "reaperActive", boolean.class);
      // Initialize now the classes a first lease needs. Class initialization holds a monitor, and
      // thousands of virtual threads racing through it on first use would pin their carriers.
      for (Class<?> type :
          new Class<?>[] {PoolEntry.class, Creation.class, PooledLease.class, IdleQueue.class}) {
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

  /** An epoch lasts at least this long: a 64th of the TTL, at least 1 ms. */
  private final transient long epochNanos;

  /** The ticker's reading when the pool was built; precise idle stamps count from it. */
  private final transient long tickerOrigin;

  /** The number of the expiry task's current epoch. Written by the task only. */
  private transient volatile long epoch;

  /** The task's own copy of {@link #epoch}. */
  private transient long epochNumber;

  /** Epoch number (mod the ring) -> the time read just after that epoch was published. */
  private final transient long[] epochTimes = new long[EPOCH_RING];
  private final transient boolean neverExpires;
  private final transient Ticker ticker;
  private final transient ScheduledExecutorService scheduler;
  private final transient Executor executor;

  /** Where closes that block ({@link AutoCloseable}) run: the configured executor, or threads. */
  private final transient Executor blockingExecutor;

  /** The pool's own close threads when no executor was set (else null); ended at termination. */
  private final transient CloseThreads closeThreads;
  private final transient boolean recordStats;
  private final transient boolean leakDetection;
  private final transient long openTimeoutNanos;
  private final transient long closeTimeoutNanos;
  private final transient String name;

  /** Shows keys in logs and messages; null for {@link String#valueOf}. See {@link #describe}. */
  private final transient Function<Object, ? extends CharSequence> keyFormatter;

  /** The user's listener, made safe; null when none was set. Used on slow paths only. */
  private final transient SafeListener<K, R> listener;

  /** Entries whose close timed out and has not completed since; named if shutdown ends first. */
  private final transient Set<PoolEntry<K, R>> stuckCloses = ConcurrentHashMap.newKeySet();

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

  // ---- Expiry task state. Written by the task only, which runs one at a time. ----
  private final transient IdleQueue<K, R> idleQueue = new IdleQueue<>();
  private final transient Runnable reaperTask = this::runReaper;

  /** True from the moment a run of the expiry task is scheduled until it decides to sleep. */
  private transient volatile boolean reaperActive;

  /** The queue's head the task looked at last and found not yet due. */
  private transient PoolEntry<K, R> carried;

  /** When {@link #carried} falls due, from the stamp the task validated. */
  private transient long carriedDeadline;

  /** Entries leased again while queued, ordered by their real deadline. */
  private final transient PriorityQueue<Due<K, R>> dueHeap =
      new PriorityQueue<>((a, b) -> Long.signum(a.deadline - b.deadline));

  // ---- Counters ----
  private final transient LongAdder hits = new LongAdder();
  private final transient LongAdder misses = new LongAdder();
  private final transient LongAdder creations = new LongAdder();
  private final transient LongAdder creationFailures = new LongAdder();
  private final transient LongAdder expirations = new LongAdder();
  private final transient LongAdder invalidations = new LongAdder();
  private final transient LongAdder closes = new LongAdder();
  private final transient LongAdder closeFailures = new LongAdder();
  private final transient LongAdder leaks = new LongAdder();

  KeyedPool(PoolConfig<K, R> config) {
    this.config = config;
    this.factory = config.factory();
    this.asyncFactory = config.asyncFactory();
    this.lifecycle = config.lifecycle();
    this.ttlNanos = config.ttlNanos();
    this.neverExpires = ttlNanos == Long.MAX_VALUE;
    this.epochNanos = Math.max(ttlNanos / EPOCHS_PER_TTL, MIN_REAP_INTERVAL_NANOS);
    this.ticker = config.ticker() == null ? Ticker.systemTicker() : config.ticker();
    this.tickerOrigin = readOrigin(ticker);
    this.scheduler = config.scheduler() == null ? DefaultScheduler.get() : config.scheduler();
    this.executor = config.executor() == null ? ForkJoinPool.commonPool() : config.executor();
    this.closeThreads = config.executor() == null ? new CloseThreads(config.name()) : null;
    this.blockingExecutor = closeThreads != null ? closeThreads : config.executor();
    this.recordStats = config.recordStats();
    this.leakDetection = config.leakDetection();
    this.openTimeoutNanos = PoolConfig.saturatedNanos(config.openTimeout());
    this.closeTimeoutNanos = PoolConfig.saturatedNanos(config.closeTimeout());
    this.name = config.name();
    @SuppressWarnings("unchecked")
    Function<Object, ? extends CharSequence> formatter =
        (Function<Object, ? extends CharSequence>) config.keyFormatter();
    this.keyFormatter = formatter;
    this.listener =
        config.listener() == null
            ? null
            : new SafeListener<>(config.listener(), ticker, name, this::describe);
  }

  private static long readOrigin(Ticker ticker) {
    try {
      return ticker.read();
    } catch (RuntimeException | Error e) {
      log.error("the ticker failed while a pool was built; idle times count from 0", e);
      return 0;
    }
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
      misses.increment();
      return awaitCreation(entry, creationOf(value));
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
      misses.increment();
      return awaitCreation(entry, creationOf(value), timeout);
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
      misses.increment();
      lease = awaitCreation(entry, creationOf(value));
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
      misses.increment();
      lease = awaitCreation(entry, creationOf(value));
    } else {
      lease = getSlow(key);
    }
    try (lease) {
      action.accept(lease.get());
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
        PoolEntry<K, R> fresh = PoolEntry.creating(key);
        entry = map.putIfAbsent(key, fresh);
        if (entry == null) {
          misses.increment();
          Creation<R> creation = creationOf(fresh.value);
          if (begin(fresh, creation)) {
            if (mayBlock || asyncFactory != null) {
              runFactory(fresh, creation); // an async factory must not block: it runs here
            } else {
              execute(() -> runFactory(fresh, creation), fresh, creation);
            }
          }
          return fresh;
        }
      }
      if (retain(entry)) {
        if (entry.value instanceof Creation) {
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
    if (creation.creator == Thread.currentThread()) {
      release(entry);
      throw recursiveException(entry.key);
    }
    try {
      if (timeout == null) {
        creation.future.get();
      } else {
        creation.future.get(PoolConfig.saturatedNanos(timeout), NANOSECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      creation.future.thenRun(() -> release(entry));
      throw new CompletionException(
          new InterruptedException(
              name + ": interrupted while waiting for key " + describe(entry.key)));
    } catch (TimeoutException e) {
      creation.future.thenRun(() -> release(entry));
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
      misses.increment();
      return leaseWhenCreated(entry, creationOf(value));
    }
    return acquireSlow(key);
  }

  private CompletableFuture<Lease<R>> acquireSlow(K key) {
    PoolEntry<K, R> entry = retainOrCreate(key, false);
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
    if (creation.creator == Thread.currentThread()) {
      release(entry);
      return CompletableFuture.failedFuture(recursiveException(entry.key));
    }
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

  /** Takes a share; on a retired entry undoes it (which may claim the close) and fails. */
  private boolean retain(PoolEntry<K, R> entry) {
    long previous = (long) STATE.getAndAdd(entry, REF);
    if ((previous & RETIRED) == 0) {
      return true;
    }
    release(entry);
    return false;
  }

  /** Gives a share back; the release that leaves no lease decides the entry's fate. */
  void release(PoolEntry<K, R> entry) {
    long previous = (long) STATE.getAndAdd(entry, RELEASE);
    if ((previous & REFS) == REF) {
      onIdle(entry, previous + RELEASE);
    }
  }

  /** {@code entry} just lost its last lease, leaving {@code state}. */
  private void onIdle(PoolEntry<K, R> entry, long state) {
    if ((state & RETIRED) != 0) {
      // Retired while leased (invalidate, shutdown) or a failed retain's undo: close it if nobody
      // claimed it yet. A retain that fails after this point only bumps and undoes the count.
      if (entry.claimIfIdle()) {
        closeClaimed(entry);
      }
      return;
    }
    if (ttlNanos == 0 || closed) {
      // Close at once. The CAS fails if a retain (or a retain and a release) came in since our
      // add: then that lease's release decides.
      if (STATE.compareAndSet(entry, state, state | RETIRED | CLAIMED)) {
        if (ttlNanos == 0 && !closed) {
          expirations.increment();
          if (listener != null) {
            listener.expired(entry.key, instanceOf(entry)); // event: expired (TTL zero)
          }
        }
        closeClaimed(entry);
      }
      return;
    }
    if (neverExpires) {
      return;
    }
    // Races with the expiry task dropping a busy entry: it clears `queued` and then re-reads the
    // state; we made the entry idle (the add) and then read `queued`. One of us sees the other.
    if (entry.queued) {
      // The warm path. The task owns the entry and will look at it by its current deadline, so
      // there is no hurry to know the exact time: stamp the task's epoch instead of reading the
      // clock (which costs more than everything else here). See "Idle stamps" above. A release
      // store publishes the stamp to the task's acquire read of idleGen; no full fence is needed:
      // the atomic add already ordered us against the task.
      entry.idleStamp = -1 - epoch;
      PoolEntry.IDLE_GEN.setRelease(entry, PoolEntry.generation(state));
      return;
    }
    try {
      long sinceOrigin = ticker.read() - tickerOrigin;
      // Before the origin only if the ticker went back: then the origin, which is later.
      entry.idleStamp = Math.max(sinceOrigin, 0);
      PoolEntry.IDLE_GEN.setRelease(entry, PoolEntry.generation(state));
    } catch (RuntimeException | Error e) {
      // A broken ticker must not lose the entry: leave it unstamped for this generation; the
      // expiry task then measures its idle time from its own first look at it.
      log.error("{}: the ticker failed while key {} went idle", name, describe(entry.key), e);
    }
    if (!entry.queued && PoolEntry.QUEUED.compareAndSet(entry, false, true)) {
      entry.queuedGen = (short) PoolEntry.generation(state);
      idleQueue.push(entry);
      if (!reaperActive && REAPER_ACTIVE.compareAndSet(this, false, true)) {
        scheduleReaper(Math.min(ttlNanos, epochNanos)); // the first epoch, see "Idle stamps"
      }
    }
  }

  // =========================================================================================
  // Creation
  // =========================================================================================

  /**
   * Counts the freshly installed entry as live; false (and the entry aborted) if the pool was shut
   * down meanwhile, since shutdown's scan of the map may have missed it.
   */
  private boolean begin(PoolEntry<K, R> entry, Creation<R> creation) {
    live.incrementAndGet();
    if (closed) {
      creationAborted(entry, creation, null, closedException());
      return false;
    }
    return true;
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
        return;
      }
      // `creator` stays set through openAsync too: a recursive request from there would deadlock.
      created(entry, creation, factory.apply(entry.key), null, createStart);
    } catch (Throwable t) {
      creationFailed(entry, creation, null, t);
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
      creationFailed(entry, creation, null, unwrap(failure));
      return;
    }
    if (instance == null) {
      creationFailed(
          entry,
          creation,
          null,
          new NullPointerException(name + ": factory returned null for key " + describe(entry.key)));
      return;
    }
    if (listener != null) {
      listener.created(entry.key, instance, createStart); // event: the factory returned
    }
    // An adapter's factory is its open (a DataSource connects in its constructor): its open time
    // is the factory's. See PoolListener#onOpened.
    long openStart =
        listener == null ? 0L : lifecycle.opensInFactory() ? createStart : listener.start();
    CompletionStage<Void> opened;
    try {
      opened = lifecycle.open(instance);
    } catch (Throwable t) {
      creationFailed(entry, creation, instance, t);
      return;
    }
    if (opened == null) {
      creationFailed(
          entry,
          creation,
          instance,
          new NullPointerException(name + ": openAsync returned null for key " + describe(entry.key)));
      return;
    }
    ScheduledFuture<?> timeout = null;
    if (!isDone(opened)) {
      timeout =
          schedule(
              () -> {
                if (creation.settle()) {
                  creationFailed(
                      entry,
                      creation,
                      instance,
                      new TimeoutException(
                          name
                              + ": openAsync of key "
                              + describe(entry.key)
                              + " did not complete within "
                              + config.openTimeout()));
                }
              },
              openTimeoutNanos);
    }
    ScheduledFuture<?> openTimeout = timeout;
    opened.whenComplete(
        (ignored, openFailure) -> {
          // Races with the open timeout: whichever settles first decides.
          if (!creation.settle()) {
            return;
          }
          if (openTimeout != null) {
            openTimeout.cancel(false);
          }
          if (openFailure != null) {
            creationFailed(entry, creation, instance, unwrap(openFailure));
          } else {
            opened(entry, creation, instance, openStart);
          }
        });
  }

  private void opened(PoolEntry<K, R> entry, Creation<R> creation, R instance, long openStart) {
    if (closed) {
      // Shut down while we were creating: shutdown could not close what did not exist yet.
      creationAborted(entry, creation, instance, closedException());
      return;
    }
    creations.increment();
    if (listener != null) {
      // event: opened; before the waiters run, so that it precedes the instance's later events
      listener.opened(entry.key, instance, openStart);
    }
    entry.value = instance; // from here on, retains lease directly
    // Races with a grace period's end: it sets graceOver, then skips entries still creating; we
    // publish the instance, then read graceOver. One of us sees the other.
    if (graceOver) {
      if (entry.forceClaim()) {
        closeClaimed(entry);
      }
      creation.future.completeExceptionally(closedException());
      return;
    }
    creation.future.complete(instance);
  }

  private void creationFailed(
      PoolEntry<K, R> entry, Creation<R> creation, R instance, Throwable failure) {
    creationFailures.increment();
    log.debug("{}: creating the instance for key {} failed", name, describe(entry.key), failure);
    if (listener != null) {
      listener.creationFailed(entry.key, instance, failure); // event: before the instance's close
    }
    creationAborted(entry, creation, instance, failure);
  }

  /** Ends a creation that hands out no lease: waiters fail, the instance (if any) is closed. */
  private void creationAborted(
      PoolEntry<K, R> entry, Creation<R> creation, R instance, Throwable failure) {
    // The waiters' shares are dropped with the entry: none got a lease.
    boolean claimed = entry.forceClaim();
    removeFromMap(entry);
    creation.future.completeExceptionally(failure);
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
   * the close must still happen, so the failure is only logged.
   */
  private void removeFromMap(PoolEntry<K, R> entry) {
    try {
      map.remove(entry.key, entry);
    } catch (RuntimeException e) {
      log.error("{}: removing key {} from the map failed", name, describe(entry.key), e);
    }
  }

  /** Closes the instance on the executor, never on the caller's thread unless it rejects. */
  private void closeLater(PoolEntry<K, R> entry, R instance) {
    try {
      executor.execute(() -> closeNow(entry, instance));
    } catch (RuntimeException e) {
      log.warn("{}: executor rejected the close of key {}; closing inline", name, describe(entry.key), e);
      closeNow(entry, instance);
    }
  }

  private void closeNow(PoolEntry<K, R> entry, R instance) {
    long closeStart = listener != null ? listener.start() : 0L;
    CompletionStage<?> stage;
    try {
      stage = lifecycle.close(instance, blockingExecutor);
    } catch (Throwable t) {
      closeFailed(entry, instance, t, closeStart);
      return;
    }
    if (stage == null) {
      closeFailed(
          entry,
          instance,
          new NullPointerException("closeAsync returned null for key " + describe(entry.key)),
          closeStart);
      return;
    }
    if (isDone(stage)) {
      closeCompleted(entry, instance, failureOf(stage), closeStart);
      return;
    }
    AtomicBoolean settled = new AtomicBoolean();
    ScheduledFuture<?> timeout =
        schedule(
            () -> {
              // Listed before the CAS: a completion that loses the CAS to us must find it listed.
              stuckCloses.add(entry);
              if (settled.compareAndSet(false, true)) {
                closeTimedOut(entry, instance, closeStart);
              } else {
                stuckCloses.remove(entry);
              }
            },
            closeTimeoutNanos);
    stage.whenComplete(
        (ignored, failure) -> {
          timeout.cancel(false);
          // Races with the close timeout: whichever settles first counts the close.
          if (settled.compareAndSet(false, true)) {
            closeCompleted(entry, instance, failure, closeStart);
          } else if (stuckCloses.remove(entry)) {
            log.info("{}: the close of key {} completed after its timeout", name, describe(entry.key));
          }
        });
  }

  private void closeCompleted(
      PoolEntry<K, R> entry, R instance, Throwable failure, long closeStart) {
    if (failure != null) {
      closeFailed(entry, instance, unwrap(failure), closeStart);
    } else {
      closes.increment();
      if (listener != null) {
        listener.closed(entry.key, instance, closeStart); // event: before shutdown may complete
      }
      finish(entry);
    }
  }

  private void closeTimedOut(PoolEntry<K, R> entry, R instance, long closeStart) {
    closeFailures.increment();
    log.warn(
        "{}: the close of key {} did not complete within {}; moving on",
        name,
        describe(entry.key),
        config.closeTimeout());
    if (listener != null) {
      listener.closeFailed(
          entry.key,
          instance,
          new TimeoutException(
              name
                  + ": the close of key "
                  + describe(entry.key)
                  + " did not complete within "
                  + config.closeTimeout()),
          closeStart); // event: close timed out
    }
    finish(entry);
  }

  private void closeFailed(
      PoolEntry<K, R> entry, R instance, Throwable failure, long closeStart) {
    closeFailures.increment();
    log.warn("{}: closing the instance for key {} failed", name, describe(entry.key), failure);
    if (listener != null) {
      listener.closeFailed(entry.key, instance, failure, closeStart); // event: close failed
    }
    finish(entry);
  }

  /** The entry is gone for good: closed, or its creation failed with nothing to close. */
  private void finish(PoolEntry<K, R> entry) {
    draining.remove(entry);
    if (live.decrementAndGet() == 0 && closed) {
      terminate();
    }
  }

  /** Every entry finished: complete the shutdown, failing it if some close is still stuck. */
  private void terminate() {
    List<String> stuckKeys = new ArrayList<>();
    for (PoolEntry<K, R> entry : stuckCloses) {
      stuckKeys.add(describe(entry.key));
    }
    if (closeThreads != null) {
      closeThreads.shutdown(); // the running close (maybe this thread's) finishes first
    }
    if (stuckKeys.isEmpty()) {
      terminated.complete(null);
    } else {
      terminated.completeExceptionally(
          new TimeoutException(
              name
                  + ": closes still pending after "
                  + config.closeTimeout()
                  + " for keys "
                  + stuckKeys));
    }
  }

  @Override
  public boolean invalidate(K key) {
    PoolEntry<K, R> entry = map.get(requireKey(key));
    if (entry == null) {
      return false;
    }
    int retired = entry.retire();
    map.remove(key, entry);
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
      closeClaimed(entry);
    } else {
      draining.add(entry);
      if (entry.isClaimed()) {
        draining.remove(entry); // its last lease closed meanwhile, and finish() ran before add
      }
    }
    return true;
  }

  // =========================================================================================
  // Expiry
  // =========================================================================================

  private void scheduleReaper(long delayNanos) {
    schedule(reaperTask, delayNanos);
  }

  /**
   * Schedules a pool task. If the configured scheduler rejects it (say, the application shut it
   * down first), the task goes to asyncpool's own daemon scheduler instead, so that instances are
   * still expired and closed; the rejection is logged, never thrown at a caller.
   */
  private ScheduledFuture<?> schedule(Runnable task, long delayNanos) {
    try {
      return scheduler.schedule(task, delayNanos, NANOSECONDS);
    } catch (RejectedExecutionException e) {
      log.warn("{}: the scheduler rejected a task; using asyncpool's own scheduler", name, e);
      return DefaultScheduler.get().schedule(task, delayNanos, NANOSECONDS);
    }
  }

  private void runReaper() {
    try {
      reap();
    } catch (Throwable t) {
      log.error("{}: the expiry task failed; retrying", name, t);
      scheduleReaper(MIN_REAP_INTERVAL_NANOS);
    }
  }

  /** One run of the expiry task. Only one runs at a time (see {@link #reaperActive}). */
  private void reap() {
    for (; ; ) {
      if (closed) {
        // Shutdown closes every entry itself; just let go of ours.
        carried = null;
        dueHeap.clear();
        while (idleQueue.poll() != null) {}
        reaperActive = false;
        return;
      }
      long now = advanceEpoch(ticker.read());
      List<PoolEntry<K, R>> expired = new ArrayList<>();
      PoolEntry<K, R> head = carried;
      carried = null;
      for (; ; ) {
        if (head == null && (head = idleQueue.poll()) == null) {
          break;
        }
        if (isWaitingHead(head, now)) {
          carried = head;
          break;
        }
        visit(head, now, expired, null);
        head = null;
        expired = closeIfBatchFull(expired);
      }
      Due<K, R> due;
      while ((due = dueHeap.peek()) != null && now - due.deadline >= 0) {
        dueHeap.poll();
        visit(due.entry, now, expired, due);
        expired = closeIfBatchFull(expired);
      }
      if (!expired.isEmpty()) {
        closeExpired(expired);
      }

      long next = 0;
      boolean waiting = false;
      if (carried != null) {
        next = carriedDeadline;
        waiting = true;
      }
      if ((due = dueHeap.peek()) != null) {
        next = waiting && next - due.deadline < 0 ? next : due.deadline;
        waiting = true;
      }
      if (!waiting && !idleQueue.isEmpty()) {
        // A producer is between its swap and its link: look again shortly.
        next = now;
        waiting = true;
      }
      if (waiting) {
        // While it owns entries, the task starts an epoch on time even with nothing due: that
        // bounds how late an entry released while owned can close (see "Idle stamps").
        long nextEpoch = epochTimes[(int) (epochNumber & EPOCH_MASK)] + epochNanos;
        if (nextEpoch - next < 0) {
          next = nextEpoch;
        }
        scheduleReaper(Math.max(next - now, MIN_REAP_INTERVAL_NANOS));
        return;
      }
      // Nothing to watch: sleep. Races with a producer that pushed after our last poll and saw us
      // active: we clear the flag, then look at the queue; it pushed, then read the flag.
      reaperActive = false;
      if (idleQueue.isEmpty() || !REAPER_ACTIVE.compareAndSet(this, false, true)) {
        return;
      }
    }
  }

  /**
   * A ticker time no earlier than any release that stamped epoch {@code epoch}: the time read
   * just after the next epoch was published (a release that read {@code epoch} came before that
   * publication). {@link Long#MIN_VALUE} if {@code epoch} is still the current one.
   */
  private long releasedBefore(long epoch) {
    if (epoch >= epochNumber) {
      return Long.MIN_VALUE;
    }
    // Older than the ring: the oldest time kept is later than the one we would want. Late, never
    // early; and only for an entry not looked at for EPOCH_RING epochs, more than a TTL.
    long next = Math.max(epoch + 1, epochNumber - EPOCH_MASK);
    return epochTimes[(int) (next & EPOCH_MASK)];
  }

  /**
   * Starts a new epoch if the current one is {@link #epochNanos} old: publishes its number, then
   * reads the clock, so the time recorded for it is later than every release that saw the
   * previous number. Returns the time to use for this run.
   */
  private long advanceEpoch(long now) {
    if (epochNumber != 0 && now - epochTimes[(int) (epochNumber & EPOCH_MASK)] < epochNanos) {
      return now;
    }
    long number = epochNumber + 1;
    epoch = number;
    // If this read throws, epochNumber stays put: the retry publishes the same number again, so
    // no number is ever in use (by the ring, or by releasedBefore) without a time of its own.
    now = ticker.read();
    epochTimes[(int) (number & EPOCH_MASK)] = now;
    epochNumber = number;
    return now;
  }

  /** True if {@code head} is idle, untouched since queued, and not due: nothing behind it is. */
  private boolean isWaitingHead(PoolEntry<K, R> head, long now) {
    long state = head.state;
    if ((state & (REFS | RETIRED)) != 0) {
      return false;
    }
    if ((short) head.idleGen != head.queuedGen) {
      return false; // leased and released since queued: its stamp is later than its place
    }
    long stamp = head.idleStamp;
    if (stamp < 0) {
      return false; // an epoch stamp (a release after all): let visit() work out its deadline
    }
    stamp += tickerOrigin;
    if (now - stamp >= ttlNanos) {
      return false;
    }
    carriedDeadline = stamp + ttlNanos;
    return true;
  }

  /**
   * Looks at an entry the task owns: expires it, drops it, or files it by its real deadline.
   * {@code filedAs} is the heap record it came from, if any.
   */
  private void visit(
      PoolEntry<K, R> entry, long now, List<PoolEntry<K, R>> expired, Due<K, R> filedAs) {
    for (; ; ) {
      long state = entry.state;
      if ((state & RETIRED) != 0) {
        return; // closing by another path; keep `queued` set so it is never queued again
      }
      if ((state & REFS) != 0) {
        // Leased: let go of it; its next release queues it again. Races with that release (see
        // onIdle): we clear the flag and re-read; if it went idle meanwhile, we take it back.
        entry.queued = false;
        state = entry.state;
        if ((state & (REFS | RETIRED)) != 0
            || !PoolEntry.QUEUED.compareAndSet(entry, false, true)) {
          return;
        }
        continue;
      }
      int generation = PoolEntry.generation(state);
      long stamp;
      if (entry.idleGen == generation) {
        stamp = entry.idleStamp;
        if (stamp >= 0) {
          stamp += tickerOrigin;
        } else if ((stamp = releasedBefore(-1 - stamp)) == Long.MIN_VALUE) {
          // Released in the current epoch: its bound is the next epoch's time. Look again then.
          long nextEpoch = epochTimes[(int) (epochNumber & EPOCH_MASK)] + epochNanos;
          dueHeap.add(new Due<>(nextEpoch, entry, generation, false));
          return;
        }
      } else if (filedAs != null && filedAs.provisional && filedAs.generation == generation) {
        // Still unstamped (its releaser is slow, or its ticker threw), but idle in this same
        // generation since we first looked: count from that look. Never early.
        stamp = filedAs.deadline - ttlNanos;
      } else {
        // The releaser has not stamped yet: its stamp will be about now. File it provisionally.
        dueHeap.add(new Due<>(now + ttlNanos, entry, generation, true));
        return;
      }
      if (now - stamp < ttlNanos) {
        dueHeap.add(new Due<>(stamp + ttlNanos, entry, generation, false));
        return;
      }
      // Expire it, but only from the exact state we checked: any retain or release since then
      // changed the word (the generation moves on every release), and we look again.
      if (STATE.compareAndSet(entry, state, state | RETIRED | CLAIMED)) {
        expired.add(entry);
        return;
      }
    }
  }

  /**
   * Hands a full batch of expired entries to the executor, so that when a great many fall due at
   * once their closes start while the task is still expiring the rest; returns the list to go on
   * filling.
   */
  private List<PoolEntry<K, R>> closeIfBatchFull(List<PoolEntry<K, R>> expired) {
    if (expired.size() < CLOSE_BATCH) {
      return expired;
    }
    closeExpired(expired);
    return new ArrayList<>();
  }

  private void closeExpired(List<PoolEntry<K, R>> expired) {
    expirations.add(expired.size());
    // The map removals and the listener's events run with the closes, off the expiry task: an
    // expired entry left in the map meanwhile is retired, so a request that finds it removes it
    // itself (see retainOrCreate) and installs a new one, which the conditional remove below then
    // leaves alone.
    Runnable closeAll =
        () -> {
          for (PoolEntry<K, R> entry : expired) {
            removeFromMap(entry);
            R instance = instanceOf(entry);
            if (listener != null) {
              listener.expired(entry.key, instance); // event: on the executor, before the close
            }
            closeNow(entry, instance);
          }
        };
    try {
      executor.execute(closeAll);
    } catch (RuntimeException e) {
      log.warn("{}: executor rejected {} closes; closing inline", name, expired.size(), e);
      closeAll.run();
    }
  }

  /**
   * An entry in the heap, with the deadline it was filed under (the entry's stamp may move), the
   * generation it was idle in, and whether the deadline was guessed for a missing stamp.
   */
  private record Due<K, R>(
      long deadline, PoolEntry<K, R> entry, int generation, boolean provisional) {}

  // =========================================================================================
  // Shutdown, stats, serialization
  // =========================================================================================

  @Override
  public CompletableFuture<Void> closeAsync() {
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
    for (PoolEntry<K, R> entry : map.values()) {
      // Idle: claimed and closed now. Leased or being created: retired, closed by the last
      // release or by the end of the creation.
      int retired = entry.retire();
      if (retired > 0) {
        closeClaimed(entry);
      } else if (retired == 0) {
        // Leased: a request racing this shutdown may help-remove it from the map, so keep it
        // where a grace period's end will find it.
        draining.add(entry);
        if (entry.isClaimed()) {
          draining.remove(entry);
        }
      }
    }
    if (live.get() == 0) {
      terminate();
    }
  }

  private void forceCloseLeased() {
    graceOver = true; // before the scan: see opened()
    List<PoolEntry<K, R>> leased = new ArrayList<>(map.values());
    leased.addAll(draining);
    for (PoolEntry<K, R> entry : leased) {
      // A creation still running closes its instance itself when it ends (the pool is closed).
      if (!(entry.value instanceof Creation) && entry.forceClaim()) {
        log.warn(
            "{}: closing the instance for key {} with {} lease(s) still open: grace period over",
            name,
            describe(entry.key),
            PoolEntry.leases(entry.state));
        closeClaimed(entry);
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
        closes.sum(),
        closeFailures.sum(),
        live.get(),
        idle,
        leaks.sum());
  }

  /** Whether shutdown began; {@link SharedPools} replaces such a pool for later copies. */
  boolean isClosed() {
    return closed;
  }

  @Override
  public String toString() {
    return "Pool[" + name + ", ttl=" + config.ttl() + (closed ? ", closed]" : "]");
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

    private Object readResolve() {
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

  /** Runs a creation step on the executor; if it rejects, the creation fails with that. */
  private void execute(Runnable task, PoolEntry<K, R> entry, Creation<R> creation) {
    try {
      executor.execute(task);
    } catch (RejectedExecutionException e) {
      creationFailed(entry, creation, null, e);
    }
  }

  private static boolean isDone(CompletionStage<?> stage) {
    return stage instanceof CompletableFuture<?> future && future.isDone();
  }

  /** The failure of a completed, failed future. */
  private static Throwable failureOf(CompletionStage<?> stage) {
    try {
      stage.toCompletableFuture().join();
      return null;
    } catch (CompletionException | CancellationException e) {
      return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }
  }

  private static Throwable unwrap(Throwable failure) {
    while ((failure instanceof CompletionException || failure instanceof ExecutionException)
        && failure.getCause() != null) {
      failure = failure.getCause();
    }
    return failure;
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
