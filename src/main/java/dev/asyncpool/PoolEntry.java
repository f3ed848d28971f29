package dev.asyncpool;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;

/**
 * One key's slot in a {@link KeyedPool}: the instance (or its creation in progress), a packed
 * lease count and lifecycle state, and the fields the expiry task needs. See the design note on
 * {@link KeyedPool} for who may change what.
 *
 * <p>Kept to 48 bytes (compressed oops) because an idle pool is mostly these: no reference to the
 * pool, the creation future dropped once the instance is open, and the idle queue's link stored
 * here instead of in a separate queue node.
 *
 * <h2>Who writes each field, and for which read</h2>
 *
 * "Task" is the pool's expiry task, one run at a time; the "pusher" is the release that won
 * {@code queued} and pushes the entry onto the task's queue. {@link Creation} describes its own.
 *
 * <pre>
 * field      written by: with                     read by: with         pairs with
 * key        the constructor: final               anyone: plain         the map's publication
 * value      the creator: volatile (a Creation,   a lessee, after its   its retain (set before a
 *            then the instance, once)             retain: volatile      lease is handed out)
 * state      retain, release: atomic add;         anyone: volatile      its other changes: one
 *            retire, claim, expire: CAS                                 word, one total order
 * idle       the release that left it idle:       task, after reading   nothing: its generation
 *            opaque, one store (see below)        state: opaque         says which state it is for
 * queued     pusher: CAS to true; task: volatile  a release: volatile   BUSY-DROP
 *            false (drop), CAS (take it back)
 * queuedGen  pusher, before its push: plain       task, after its poll  the push (see IdleQueue)
 * nextIdle   push and poll: volatile              task in poll:         the push's link
 *                                                 volatile
 * {@link Counted}, in a bounded pool:
 * counted    the request that won room, before    the entry's finish:   the start's hand-off to
 *            the creation starts: plain           plain                 executor, or program order
 * makesRoom  task, after its claiming CAS: plain  the close's finish:   the close's hand-off to the
 *                                                 plain                 executor
 * </pre>
 *
 * <h2>Handshakes</h2>
 *
 * Two threads each write one variable and then read the other's, and at least one of them must
 * see the other's write. Every write and read in them is volatile (or a CAS, swap or atomic add,
 * or under one lock), so they fall in one total order and the later read sees the earlier write.
 * Each name is quoted at the code.
 *
 * <ul>
 *   <li>BUSY-DROP: a release makes the entry idle (its add to {@code state}), then reads {@code
 *       queued}; the task letting go of the entry it found leased writes {@code queued = false},
 *       then reads {@code state} again. The release queues the entry itself, or the task takes it
 *       back; missed, the entry would be idle, owned by nobody, and never expire. ({@code
 *       Expiry.idle}, {@link #dropUnlessIdle}; LincheckRaceTest's
 *       lastReleaseRacingTheTaskDroppingTheBusyEntry.)
 *   <li>TASK-SLEEP: a release pushes the entry (the swap of the queue's tail), then reads {@code
 *       reaperActive}; the task about to sleep writes {@code reaperActive = false}, then reads the
 *       tail. The release schedules the task, or the task sees the entry and runs on. ({@code
 *       Expiry.idle}, {@code Expiry.reap}.)
 *   <li>RUN-CLAIM, TASK-SLEEP's form in a pool with per-key TTLs: a release pushes the entry,
 *       then reads the claimed run ({@code TimedExpiry.pending}); a run clears the claim, then
 *       polls the queue. The release claims a run (sooner, if its TTL needs one sooner than the
 *       claimed one), or the run sees the entry. ({@code TimedExpiry.idle}, {@code
 *       TimedExpiry.runTask}.)
 *   <li>SHUTDOWN-SCAN: a release makes the entry idle, then reads {@code closed}; shutdown sets
 *       {@code closed}, then retires every entry in the map. The release closes the entry, or
 *       shutdown finds it idle and claims it. A new entry is installed, then {@code begin} reads
 *       {@code closed}, with the same outcome. A refresh's replacement is installed by {@code
 *       swapIn}, then the release of its creator's share reads {@code closed}, with the same
 *       outcome again. ({@code onIdle}, {@code begin}, {@code swapIn}, {@code closeAsync}.)
 *   <li>LAST-CLOSE: a finished close decrements {@code live}, then reads {@code closed};
 *       shutdown sets {@code closed}, then reads {@code live}. One of them completes the shutdown.
 *       ({@code finish}, {@code shutdown}.)
 *   <li>SETTLED-THEN-GRACE: a creation that ends settles it, then reads {@code graceOver}; a
 *       grace period's end sets {@code graceOver}, then finds the creation settled and
 *       force-claims the entry to close the instance offered. The creation does not publish its
 *       instance, or the grace period's end closes it. ({@code opened}, {@code forceCloseLeased}.)
 *   <li>LISTED-BEFORE-RETIRED: {@code invalidate} and shutdown list an entry in {@code draining},
 *       then retire it, after which a request may remove it from the map; a grace period's end
 *       scans the map, then {@code draining}. It finds the entry in one or the other. A refresh
 *       lists the old entry before its swap takes it out of the map, and its replacement from its
 *       creation's start (it is in no map until the swap) to its finish. ({@code invalidate},
 *       {@code shutdown}, {@code swapIn}, {@code startRefresh}, {@code forceCloseLeased}.)
 *   <li>DRAIN-CLAIM: the same lister then reads CLAIMED; the entry's closer sets CLAIMED, then
 *       (in {@code finish}) removes it from {@code draining}. The closer removes it, or the lister
 *       sees the claim and does. ({@code invalidate}, {@code shutdown}, {@code finish}.)
 *   <li>STUCK-CLOSE: a close's timeout wins the outcome's CAS, then lists the entry in {@code
 *       stuckCloses}, then reads the outcome; a completion that comes after marks the outcome
 *       late, then unlists the entry. One of the two unlistings runs, so a close that completed
 *       is never named by a shutdown, and one still stuck is. ({@code closeNow}.)
 *   <li>TICKET-SHUTDOWN: a bounded pool's request queues its ticket under the bound's lock, then
 *       reads {@code closed}; shutdown sets {@code closed}, then withdraws every waiting ticket
 *       under that lock. The withdrawal finds the ticket, or the request withdraws it itself.
 *       ({@code admit}, {@code shutdown}.)
 *   <li>OFFERED-OR-TAKEN and DEADLINE-ARM, races on one variable of a {@link Creation} (a CAS
 *       or swap each side; the second learns of the first): the factory's instance offered into
 *       the slot a deadline or grace period's end takes, closed exactly once; a deadline's task
 *       recorded against the settling that disarms it, cancelled either way. ({@code created},
 *       {@code forceCloseLeased}; {@link Creation#settle}, {@link Creation#armed}.)
 *   <li>EPOCH-BOUND, an order rather than a meeting: a warm release makes the entry idle, then
 *       reads {@code epoch}; the task publishes epoch e + 1, then reads the clock. A release that
 *       read e came before e + 1 was published, so before the time kept for it: that time bounds
 *       the release, late and never early. ({@code Expiry.idle}, {@code Epochs.advance}.)
 * </ul>
 */
class PoolEntry<K, R> {

  // ---- The packed state word --------------------------------------------------------------
  // bit 0      RETIRED: no new lease may be taken (expired, invalidated, shut down, or failed)
  // bit 1      CLAIMED: one thread won the right to close the instance; set once, never cleared
  // bits 2-31  number of open leases (and of callers waiting for the creation), in units of REF
  // bits 32-63 release generation: +1 on every release, so that the expiry task can tell whether
  //            the idle timestamp it read belongs to the latest release

  static final long RETIRED = 1L;
  static final long CLAIMED = 2L;
  static final long REF = 4L;
  static final long REFS = 0xFFFF_FFFCL;
  static final long GEN = 1L << 32;
  /** What one release adds: one lease less, one generation more. */
  static final long RELEASE = GEN - REF;

  // ---- The idle word ----------------------------------------------------------------------
  // bits 32-63 the generation (high half of the state word) of the release that made the entry
  //            idle: the same bits, in the same place
  // bit  31    EPOCH: bits 0-30 hold the expiry task's epoch number, mod 2^31
  // bits 0-30  otherwise, the time of that release in the pool's stamp units since its origin,
  //            mod 2^31 (see Expiry's "Idle stamps")
  //
  // One release writes the whole word in one store, so a stamp always travels with the
  // generation it was taken for. The two used to be two fields, written one after the other:
  // two releases that each left the entry idle could interleave their stores and pair the older
  // release's stamp with the newer one's generation (issue 10, item 1). Now the word read by the
  // expiry task is exactly what one release wrote; if its generation is not the state's, the
  // release that made the entry idle has not stored yet, and the task does not use the stamp.
  //
  // The generation has 32 bits, so the word of a release 2^32 releases back carries the same
  // number. Every release that leaves the entry idle stores a word, even when its clock read
  // fails (it then stores an epoch stamp; it used to store nothing and leave the old stamp
  // standing: issue 10, item 6), so such a word can be read as current only while the release
  // that made the entry idle is between its atomic add and its store: 2^32 releases (over a
  // minute of a thread doing nothing else) must come between two idle spells of one entry, and
  // the task must read the entry in that window. On the warm path the window is a few
  // instructions; a release that reads the clock is in it longer, but the task does not own that
  // entry then, and reaches it only if it takes the entry back in the instant it lets it go.

  /** Set in an idle stamp holding an epoch number rather than a time. */
  static final int EPOCH_STAMP = 1 << 31;

  /** The bits of an idle stamp that hold its value, an epoch number or a time. */
  static final int STAMP_VALUE = EPOCH_STAMP - 1;

  static final VarHandle STATE;
  static final VarHandle QUEUED;
  static final VarHandle IDLE;

  static {
    try {
      MethodHandles.Lookup lookup = MethodHandles.lookup();
      STATE = lookup.findVarHandle(PoolEntry.class, "state", long.class);
      QUEUED = lookup.findVarHandle(PoolEntry.class, "queued", boolean.class);
      IDLE = lookup.findVarHandle(PoolEntry.class, "idle", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** The key; null only for the idle queue's stub. */
  final K key;

  /** A {@link Creation} while the instance is being created and opened, then the instance. */
  volatile Object value;

  /** See the layout above. Changed only through {@link #STATE}. */
  volatile long state;

  /**
   * The generation and stamp of the release that last made the entry idle; see the layout above.
   * Accessed only through {@link #IDLE}, with opaque reads and writes: the word carries no other
   * data to publish, only needs to be read whole (which a plain {@code long} does not promise).
   * It replaces an 8-byte stamp and a 4-byte generation: the entry is still 48 bytes, 45 of them
   * used, and {@link #queuedGen} could grow from 16 bits to all 32.
   */
  private long idle;

  /** The next entry in the idle queue; see {@link IdleQueue}. */
  volatile PoolEntry<K, R> nextIdle;

  /** The generation the entry was queued in: if the state's is still this one, untouched since. */
  int queuedGen;

  /** True while the expiry task owns the entry (in its queue, its carried head, or its heap). */
  volatile boolean queued;

  PoolEntry(K key, Object value, long state) {
    this.key = key;
    this.value = value;
    this.state = state;
  }

  /** A new entry being created, holding the creator's share; {@code start} as in Creation. */
  static <K, R> PoolEntry<K, R> creating(K key, long start) {
    return new PoolEntry<>(key, new Creation<R>(start), REF);
  }

  /** A new entry of a bounded pool being created, holding the creator's share. */
  static <K, R> Counted<K, R> creatingCounted(K key, long weight, long start) {
    return new Counted<>(key, new Creation<R>(start), REF, weight);
  }

  /**
   * An entry of a bounded pool: what it weighs against the {@link Bound}, and how its weight is
   * to be given back. A subclass, so that an unbounded pool's entries stay as small as they are.
   */
  static class Counted<K, R> extends PoolEntry<K, R> {
    final long weight;

    /**
     * True from the moment its creation was granted room until its close ends (or its creation
     * fails): then its weight is given back. Written before the creation starts (the start's
     * hand-off to the executor, or program order, publishes it); read at the entry's end.
     */
    boolean counted;

    /**
     * True if the expiry task claimed it to make room, counting it in {@link Bound#evicting}.
     * Written by the task after its claiming CAS and before it hands the close to the executor,
     * which publishes it to the close's end.
     */
    boolean makesRoom;

    Counted(K key, Object value, long state, long weight) {
      super(key, value, state);
      this.weight = weight;
    }
  }

  /** A new entry of a pool with per-key TTLs being created, holding the creator's share. */
  static <K, R> Timed<K, R> creatingTimed(
      K key, long weight, long start, long ttlNanos, TimedExpiry.TtlClass ttlClass) {
    return new Timed<>(key, new Creation<R>(start), REF, weight, ttlNanos, ttlClass);
  }

  /**
   * An entry of a pool with per-key TTLs ({@link PoolBuilder#ttl(java.util.function.Function)}):
   * its own TTL, asked once when its creation started, and its class of TTLs. A
   * subclass of {@link Counted}, so that one class serves bounded and unbounded pools with per-key
   * TTLs (an unbounded pool never counts its weight); a pool with one TTL keeps the smaller
   * entries.
   */
  static final class Timed<K, R> extends Counted<K, R> {
    /** The idle TTL in nanoseconds: {@link Long#MAX_VALUE} never ends, 0 closes at once. */
    final long ttlNanos;

    /** The class of TTLs whose epochs stamp this entry's warm releases; null if ttl is 0 or never. */
    final TimedExpiry.TtlClass ttlClass;

    Timed(
        K key,
        Object value,
        long state,
        long weight,
        long ttlNanos,
        TimedExpiry.TtlClass ttlClass) {
      super(key, value, state, weight);
      this.ttlNanos = ttlNanos;
      this.ttlClass = ttlClass;
    }
  }

  static <K, R> PoolEntry<K, R> stub() {
    return new PoolEntry<>(null, null, RETIRED | CLAIMED);
  }

  static int leases(long state) {
    return (int) ((state & REFS) >>> 2);
  }

  static int generation(long state) {
    return (int) (state >>> 32);
  }

  /** The idle word a release that left {@code state} writes with {@code stamp}. */
  static long idleWord(long state, int stamp) {
    return (state & -GEN) | (stamp & 0xFFFF_FFFFL);
  }

  /** An idle stamp holding the expiry task's epoch number {@code epoch}. */
  static int epochStamp(long epoch) {
    return EPOCH_STAMP | ((int) epoch & STAMP_VALUE);
  }

  /** An idle stamp holding a time of {@code units} stamp units since the pool's origin. */
  static int timeStamp(long units) {
    return (int) units & STAMP_VALUE;
  }

  /** The generation of the release that wrote {@code idle}. */
  static int idleGeneration(long idle) {
    return (int) (idle >>> 32);
  }

  /** The stamp in {@code idle}: see {@link #EPOCH_STAMP}. */
  static int idleStamp(long idle) {
    return (int) idle;
  }

  static boolean isEpochStamp(int stamp) {
    return (stamp & EPOCH_STAMP) != 0;
  }

  /**
   * How far {@code from} is ahead of the 31-bit value in {@code stamp}, counting from the nearest
   * value {@code from} could have had: in [-2^30, 2^30). Exact while the two are that close.
   */
  static long stampDistance(long from, int stamp) {
    return ((from - (stamp & STAMP_VALUE)) << 33) >> 33;
  }

  /** Records the idle stamp of the release that left {@code state}: one opaque store. */
  void stampIdle(long state, int stamp) {
    IDLE.setOpaque(this, idleWord(state, stamp));
  }

  /** The idle word, read whole. */
  long idle() {
    return (long) IDLE.getOpaque(this);
  }

  static boolean isRetired(long state) {
    return (state & RETIRED) != 0;
  }

  static boolean isClaimed(long state) {
    return (state & CLAIMED) != 0;
  }

  // ---- Transitions of the state word: every change to it is made here ----------------------

  /** What {@link #retain()} did: took a share. */
  static final int LEASED = 1;

  /** What {@link #retain()} did: was refused (the entry is retired) and undid its add. */
  static final int REFUSED = 0;

  /** What {@link #retain()} did: was refused, and its undo claimed the close: close it. */
  static final int REFUSED_CLAIMED = 2;

  /**
   * What {@link #release()} returns when nothing is left to do: leases remain, or the entry is
   * retired and someone else claimed (or will claim) its close. Never a state an idle, live entry
   * can be in (it has a lease in it).
   */
  static final long KEPT = REF;

  /**
   * What {@link #release()} returns when it ended the last lease of a retired entry and claimed
   * its close: the caller closes it. Never a live entry's state (it is retired).
   */
  static final long CLAIM = RETIRED | CLAIMED;

  /**
   * Takes a share: one unconditional atomic add, as Netty's {@code ReferenceCountUpdater} does.
   * On a retired entry the add is undone by a {@link #release()}, which, if it was the last
   * share, claims the close: then the caller must close the entry.
   *
   * @return {@link #LEASED}, {@link #REFUSED} or {@link #REFUSED_CLAIMED}
   */
  int retain() {
    long previous = (long) STATE.getAndAdd(this, REF);
    if ((previous & RETIRED) == 0) {
      return LEASED;
    }
    return release() == CLAIM ? REFUSED_CLAIMED : REFUSED;
  }

  /**
   * Gives a share back: one atomic add (one lease less, one generation more). The release that
   * ends the last lease decides what comes next: of a retired entry, it claims the close if
   * nobody did ({@link #claimIfIdle()}); of a live one, it returns the state it left, and the
   * caller makes the entry idle (stamps and queues it), or closes it at once by {@link
   * #claimIdle(long)} from that state.
   *
   * @return the state it left, if it made a live entry idle; else {@link #CLAIM} (close it) or
   *     {@link #KEPT} (nothing to do)
   */
  long release() {
    long state = (long) STATE.getAndAdd(this, RELEASE) + RELEASE;
    if ((state & REFS) != 0) {
      return KEPT;
    }
    if ((state & RETIRED) == 0) {
      return state;
    }
    // Retired while leased (invalidate, shutdown) or a refused retain's undo: close it if nobody
    // claimed it yet. A retain that fails after this point only bumps and undoes the count.
    return claimIfIdle() ? CLAIM : KEPT;
  }

  /**
   * Retires and claims an idle entry, but only from the exact state {@code expected} its caller
   * checked (the expiry task, an eviction, or a last release that closes at once): any retain or
   * release since then changed the word (the generation moves on every release), and the CAS
   * fails. So a lease that comes first keeps the instance, and one that comes after is refused.
   *
   * @return true if claimed: the caller closes the entry
   */
  boolean claimIdle(long expected) {
    return (expected & (REFS | RETIRED)) == 0
        && STATE.compareAndSet(this, expected, expected | RETIRED | CLAIMED);
  }

  // ---- Ownership by the expiry task (the queued flag) ---------------------------------------

  /**
   * Makes the expiry task the owner of an entry a release just left idle, unless it owns it
   * already: true for the one release that must now push it onto the task's queue.
   */
  boolean takeForQueue() {
    return !queued && QUEUED.compareAndSet(this, false, true);
  }

  /**
   * The expiry task lets go of an entry it found leased: the entry's next release queues it
   * again. Handshake BUSY-DROP: we clear {@code queued}, then re-read the state; that release made
   * the entry idle, then read {@code queued}. If the entry went idle meanwhile, the task takes it
   * back (true) rather than leave it idle and owned by nobody.
   *
   * @return true if the task owns the entry again and must look at it now
   */
  boolean dropUnlessIdle() {
    queued = false;
    long state = this.state;
    return (state & (REFS | RETIRED)) == 0 && QUEUED.compareAndSet(this, false, true);
  }

  /**
   * Marks the entry retired so that no new lease is taken. Claims the close too if no lease is
   * open, in the same CAS, so that a release racing with this call cannot also claim it.
   *
   * @return -1 if the entry was already retired, 0 if retired with leases open (the last release
   *     closes it), 1 if retired and claimed (the caller must close it)
   */
  int retire() {
    for (; ; ) {
      long s = state;
      if (isRetired(s)) {
        return -1;
      }
      boolean idle = (s & REFS) == 0;
      // Races with retain/release: if one slipped in, the CAS fails and we look again.
      if (STATE.compareAndSet(this, s, s | RETIRED | (idle ? CLAIMED : 0))) {
        return idle ? 1 : 0;
      }
    }
  }

  /**
   * Claims the close of a retired entry whose last lease just ended. Fails if another thread
   * claimed it first or a lease count came back (a failed retain that has yet to undo itself).
   */
  boolean claimIfIdle() {
    for (; ; ) {
      long s = state;
      if (isClaimed(s) || (s & REFS) != 0) {
        return false;
      }
      if (STATE.compareAndSet(this, s, s | RETIRED | CLAIMED)) {
        return true;
      }
    }
  }

  /** Retires and claims the entry whatever its lease count: creation failed or grace ran out. */
  boolean forceClaim() {
    for (; ; ) {
      long s = state;
      if (isClaimed(s)) {
        return false;
      }
      if (STATE.compareAndSet(this, s, s | RETIRED | CLAIMED)) {
        return true;
      }
    }
  }

  boolean isClaimed() {
    return isClaimed(state);
  }

  @Override
  public String toString() {
    long s = state;
    return "PoolEntry[key="
        + key
        + ", leases="
        + leases(s)
        + (isRetired(s) ? ", retired" : "")
        + (isClaimed(s) ? ", closing" : "")
        + (value instanceof Creation ? ", creating" : "")
        + "]";
  }

  /**
   * A creation in progress: the future its waiters wait on, the threads inside its steps, and
   * what settles it.
   *
   * <p>Three parties race to end a creation: its own steps (a factory that fails, an open that
   * completes or fails), its deadline, and a grace period's end. {@link #settle()} lets exactly
   * one of them decide. The instance the factory returns is {@link #offer offered} into a slot
   * that a deadline or a grace period's end that settled the creation {@link #takeInstance
   * takes}: handshake OFFERED-OR-TAKEN, whichever of the two comes second learns that the
   * other came first, so the instance is closed exactly once, by the taker or by the late
   * offerer. The deadline is armed lazily (see {@code KeyedPool#armDeadline}); settling cancels
   * it.
   */
  static final class Creation<R> {
    /** In {@link #made}: the creation ended before the factory returned. */
    private static final Object ENDED = new Object();

    /** In {@link #deadline}: being scheduled by the thread that armed it. */
    private static final Object ARMING = new Object();

    /** In {@link #deadline}: the creation is settled; nothing more may be scheduled. */
    private static final Object DISARMED = new Object();

    /** Means "the ticker failed": the deadline then counts from when it is armed. */
    static final long NO_START = Long.MIN_VALUE;

    private static final VarHandle SETTLED;
    private static final VarHandle MADE;
    private static final VarHandle DEADLINE;

    static {
      try {
        MethodHandles.Lookup lookup = MethodHandles.lookup();
        SETTLED = lookup.findVarHandle(Creation.class, "settled", boolean.class);
        MADE = lookup.findVarHandle(Creation.class, "made", Object.class);
        DEADLINE = lookup.findVarHandle(Creation.class, "deadline", Object.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    final CompletableFuture<R> future = new CompletableFuture<>();

    /** The ticker's reading when the creation started (or {@link #NO_START}). */
    final long start;

    /** The thread inside the factory right now, to refuse a factory that asks for its own key. */
    volatile Thread creator;

    /**
     * The thread inside {@code openAsync} right now, for the same reason: with an asynchronous
     * factory it is whichever thread completed the factory's stage, not {@link #creator}.
     */
    volatile Thread opener;

    /**
     * Set when the factory or {@code openAsync} asked the pool for this creation's own key and
     * was refused: the creation's failure is then the factory's misuse of the pool, not the key's,
     * and starts no retry backoff. Set on the creating thread before the refusal is thrown.
     */
    volatile boolean askedForItself;

    /** The creation's place under the pool's bound; null in an unbounded pool. */
    volatile Bound.Ticket<?, ?> ticket;

    /**
     * Requests waiting for this creation (bounded pools only): the first is the one that
     * installed it; -1 once every one gave up while it waited for room, which abandons it. A
     * request that finds it abandoned does not join; it looks again.
     */
    final java.util.concurrent.atomic.AtomicInteger interest =
        new java.util.concurrent.atomic.AtomicInteger(1);

    /** Joins a waiting creation; false if it was abandoned (then look again). */
    boolean join() {
      for (; ; ) {
        int n = interest.get();
        if (n < 0) {
          return false;
        }
        if (interest.compareAndSet(n, n + 1)) {
          return true;
        }
      }
    }

    /** Set once, by whichever party ends the creation first; see {@link #settle()}. */
    private volatile boolean settled;

    /** Null until the factory returns; then its instance, or {@link #ENDED} if it came late. */
    private volatile Object made;

    /** Null; {@link #ARMING}; the scheduled deadline; or {@link #DISARMED} once settled. */
    private volatile Object deadline;

    Creation(long start) {
      this.start = start;
    }

    /** True if {@code thread} is running this creation's factory or open, so must not wait on it. */
    boolean runsOn(Thread thread) {
      return creator == thread || opener == thread;
    }

    /** True for the first caller only, who decides how the creation ends. Cancels the deadline. */
    boolean settle() {
      if (settled || !SETTLED.compareAndSet(this, false, true)) {
        return false;
      }
      // Handshake DEADLINE-ARM: races with armed(): it swaps its task in for ARMING, we swap
      // DISARMED in for whatever is there. Whichever swaps second sees the other's mark, and the
      // task is cancelled either way.
      if (DEADLINE.getAndSet(this, DISARMED) instanceof Future<?> task) {
        task.cancel(false);
      }
      return true;
    }

    boolean isSettled() {
      return settled;
    }

    /**
     * Offers the instance the factory returned. False if the creation already ended (its deadline
     * or a grace period's end took the slot first): the caller must then close the instance.
     */
    boolean offer(R instance) {
      return MADE.compareAndSet(this, null, instance);
    }

    /**
     * For a deadline or grace period's end that settled the creation: the instance to close, or
     * null if the factory has not returned (it will find the slot taken and close it itself).
     */
    @SuppressWarnings("unchecked")
    R takeInstance() {
      Object instance = MADE.getAndSet(this, ENDED);
      return instance == ENDED ? null : (R) instance;
    }

    /** The instance offered and not taken, or null. */
    @SuppressWarnings("unchecked")
    R instance() {
      Object instance = made;
      return instance == ENDED ? null : (R) instance;
    }

    /** True for the one caller that may now schedule the deadline and hand it to armed(). */
    boolean startArming() {
      return deadline == null && !settled && DEADLINE.compareAndSet(this, null, ARMING);
    }

    /** Records the scheduled deadline; cancels it if the creation was settled meanwhile. */
    void armed(Future<?> task) {
      // Handshake DEADLINE-ARM: see settle().
      if (!DEADLINE.compareAndSet(this, ARMING, task)) {
        task.cancel(false);
      }
    }
  }
}
