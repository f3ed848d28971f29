package dev.asyncpool;

import static dev.asyncpool.PoolEntry.REFS;
import static dev.asyncpool.PoolEntry.RETIRED;

import dev.asyncpool.PoolEntry.Timed;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The expiry task of a pool with per-key TTLs ({@link PoolBuilder#ttl(java.util.function.Function)}):
 * what {@link Expiry} is to a pool with one TTL. It owns the entries that went idle, closes each a
 * TTL after its last release (its own TTL, asked when its creation started), and, in a bounded
 * pool, claims the idle instance due to expire soonest when a request needs room. {@link KeyedPool}
 * drives it as it drives {@link Expiry}, and what it claims goes back through the same {@link
 * Expiry.Sink}.
 *
 * <p>Thread-safety: {@link #idle} and {@link #classOf} are called by any thread, lock-free;
 * everything else runs under {@link #taskLock}, one run at a time (the task, or an eviction).
 *
 * <h2>Where entries wait</h2>
 *
 * With one TTL, entries fall due in the order they went idle, and a FIFO suffices. With per-key
 * TTLs they do not, so an entry the task takes from the idle queue is filed in a {@link
 * TimerWheel} by its deadline: constant work per entry, whatever the spread of TTLs. As in {@link
 * Expiry}, an entry leased again while filed stays where it is, and is looked at when the
 * deadline it was filed by comes: busy, it is let go (its next release queues it again); idle
 * with a later stamp, it is filed again by its new deadline. The task's work grows with the
 * entries that go idle, not with leases.
 *
 * <h2>Classes of TTLs and their epochs</h2>
 *
 * A warm release reads no clock: it stamps an epoch number ({@link Epochs}), and the task starts
 * an epoch at least every 64th of the TTL, so the stamp bounds the release at most that much late.
 * With TTLs from milliseconds to hours, one epoch length cannot serve all: 1 ms epochs would wake
 * the task a thousand times a second for an hour-long TTL, and a 1 minute epoch would make a 1
 * second TTL a minute late. So TTLs are grouped in classes by their power of two (a class holds
 * TTLs from 2^i ns up to twice that), and each class is an {@link Epochs} of its own, with
 * epochs of a 64th of its smallest TTL (at least 1 ms): every key is at most a 64th of its own
 * TTL late, plus the task's 1 ms batching. An entry holds its class ({@link Timed#ttlClass}), so
 * a warm release reads its epoch in two reads from the entry, as many as with one TTL from the
 * pool.
 *
 * <p>The task advances a class's epochs only while it owns entries of that class, and for
 * {@link #GRACE_EPOCHS} after; the class is then <em>active</em>. Once it has owned none for
 * that long, it stores the class's last epoch number negated, and a warm release that reads a
 * number not above zero reads the clock instead: exact, and rare (it
 * needs an entry the task owns but has not yet taken from its queue). A release that read a
 * positive number just before the class stopped stamps that number; the task owns its entry, so
 * it takes it from the queue within the class's epoch (the push made sure of a run by then),
 * which starts the class again: the number published next, and the time read after it, bound that
 * release, as any epoch's do.
 *
 * <h2>Waking the task</h2>
 *
 * The task sleeps until the wheel's next bucket or the next epoch of an active class, whichever
 * comes first, and at most a second. An entry pushed while it sleeps may need it sooner (a TTL
 * shorter than every one it watches), so the run scheduled is a claim, {@link #pending}, with its
 * time: a release that needs the task by an earlier time claims an earlier run, schedules it and
 * cancels the one it superseded; a superseded run that runs anyway (its cancel came too late)
 * finds itself no longer the claimed one and returns at once, so a chain never runs on beside
 * another. The one-second cap bounds what a scheduler that keeps cancelled tasks until their time
 * holds. A claim of unknown time (the ticker failed) gives way to any claim of known time, and
 * waits for a claimed run only if that one comes within its delay by the scheduler's clock. A run
 * that supersedes another is never scheduled later than it.
 *
 * <h2>Handshakes here</h2>
 *
 * RUN-CLAIM (the {@link Expiry}'s TASK-SLEEP, with a claim instead of a flag): a release pushes
 * the entry, then reads {@link #pending}; a run clears {@link #pending}, then polls the queue. The
 * release claims a run, or the run sees the entry. BUSY-DROP and EPOCH-BOUND are as in {@link
 * Expiry}; all are listed in {@link PoolEntry}'s note.
 */
final class TimedExpiry<K, R> implements TimerWheel.Visitor<K, R> {

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  /** The task sleeps at least this long between runs, to batch closes that fall due. */
  static final long MIN_REAP_INTERVAL_NANOS = Epochs.MIN_EPOCH_NANOS;

  /**
   * The task sleeps at most this long: superseded runs are cancelled, but a scheduler that keeps
   * cancelled tasks until their time (a {@code ScheduledThreadPoolExecutor}'s default) would
   * otherwise keep one per supersession for as long as a long TTL's epoch (a year, for a century).
   * Once a second costs nothing next to that.
   */
  static final long MAX_SLEEP_NANOS = 1_000_000_000L;

  /**
   * Epoch times kept per class: 4 of its smallest TTLs (or 256 ms), more than the time from a
   * release to the task's look at it (at most its TTL, under twice the smallest, plus lateness).
   */
  static final int EPOCH_RING = 4 * Epochs.EPOCHS_PER_TTL;

  /**
   * Epochs a class goes on after the task last owned an entry of it, before it stops. Without
   * them a hot key stops its class at every look: the task takes the entry, finds it leased and
   * lets it go, the class owns nothing and stops, and every warm release reads the clock until
   * the task takes the entry again, up to an epoch later (a 64th of its TTL); measured, a hot key
   * with per-key TTLs of minutes ran at 16 instead of 38 ops/us in half the trials. With them, the
   * class stays active as long as its entries come back within two epochs, at the cost of two more
   * wake-ups once its last entry is gone.
   */
  static final int GRACE_EPOCHS = 2;

  /**
   * TTLs from this long (about 146 years) are never reached: such an instance never expires, as
   * with a TTL too long for nanoseconds. It keeps every deadline's distance within a long.
   */
  static final long NEVER_FROM_NANOS = 1L << 62;

  private static final VarHandle PENDING;

  static {
    try {
      PENDING = MethodHandles.lookup().findVarHandle(TimedExpiry.class, "pending", Run.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /**
   * A class of TTLs, from {@code 2^index} ns up to twice that, with the epochs that stamp the warm
   * releases of its entries. {@link #owned} and {@link #listed} are the task's.
   */
  static final class TtlClass extends Epochs {
    final int index;

    /** Entries of this class the task took from its queue and has not let go of. */
    int owned;

    /** True while in the task's list of classes whose epochs it tends. */
    boolean listed;

    /**
     * The epoch number at which the task found it owning nothing, or -1 while it owns entries
     * (or has not been seen empty since it last took one): see {@link #GRACE_EPOCHS}.
     */
    long emptySince = -1;

    TtlClass(int index, long tickerOrigin) {
      super(1L << index, EPOCH_RING, tickerOrigin);
      this.index = index;
    }

    @Override
    public String toString() {
      return "TtlClass[" + Duration.ofNanos(1L << index) + ", epoch " + epoch + "]";
    }
  }

  /** A scheduled run of the task; the one in {@link #pending}, if any, is the claimed one. */
  private static final class Run implements Runnable {
    final TimedExpiry<?, ?> owner;
    final long at;

    /** The delay it is scheduled with (capped), from its claim. */
    final long delayNanos;

    /** Its scheduled task, once scheduled; null before. */
    volatile ScheduledFuture<?> future;

    Run(TimedExpiry<?, ?> owner, long at, long delayNanos) {
      this.owner = owner;
      this.at = at;
      this.delayNanos = delayNanos;
    }

    /**
     * How long until it runs, by the scheduler's own clock (no ticker read: a claim of unknown
     * time is made when the ticker failed); its delay if it is not scheduled yet.
     */
    long remainingNanos() {
      ScheduledFuture<?> scheduled = future;
      return scheduled == null ? delayNanos : scheduled.getDelay(TimeUnit.NANOSECONDS);
    }

    @Override
    public void run() {
      owner.runTask(this);
    }

    /** Takes it off the scheduler, if it is on it yet; never interrupts a run under way. */
    void cancel() {
      ScheduledFuture<?> scheduled = future;
      if (scheduled != null) {
        scheduled.cancel(false);
      }
    }
  }

  private final Expiry.Sink<K, R> sink;
  private final PoolScheduler scheduler;
  private final Ticker ticker;
  private final String name;
  private final long tickerOrigin;

  /** Classes by their index, created when a TTL of theirs first comes. */
  private final AtomicReferenceArray<TtlClass> classes = new AtomicReferenceArray<>(63);

  private final IdleQueue<K, R> idleQueue = new IdleQueue<>();

  /** The claimed run: the one that will run next and schedule the one after. Null while asleep. */
  private volatile Run pending;

  /** Held by the task's runs and by evictions, which both consume the idle queue. */
  private final ReentrantLock taskLock = new ReentrantLock();

  // ---- Task state: under taskLock only ----

  private final TimerWheel<K, R> wheel;

  /** The classes whose epochs the task tends: active, or owning entries still to start. */
  private final List<TtlClass> listed = new ArrayList<>();

  /** Entries that never expire (a bounded pool's, for eviction). */
  private ArrayList<Timed<K, R>> pinned = new ArrayList<>();

  /** When {@link #pinned} is this long, it is pruned (see {@link #prunePinned}). */
  private int pinnedPruneAt = PINNED_PRUNE_MIN;

  private static final int PINNED_PRUNE_MIN = 16;

  /** The time of the current run or eviction. */
  private long now;

  /** What the current run or eviction found due and claimed. */
  private List<PoolEntry<K, R>> expired;

  /** True during an eviction, which counts what it expires as room: no batch leaves early. */
  private boolean evicting;

  /** Runs that failed in a row, to back off and to log once (see runTask). */
  private final RunFailures failures;

  TimedExpiry(Ticker ticker, PoolScheduler scheduler, String name, Expiry.Sink<K, R> sink) {
    this.ticker = ticker;
    this.scheduler = scheduler;
    this.name = name;
    this.sink = sink;
    this.tickerOrigin = Expiry.readOrigin(ticker, name);
    this.failures = new RunFailures(name);
    this.wheel = new TimerWheel<>(tickerOrigin);
  }

  /**
   * The class of a TTL in nanoseconds, for an entry being created; null for 0 or a TTL that never
   * ends (no epochs stamp them). Any thread.
   */
  TtlClass classOf(long ttlNanos) {
    if (ttlNanos <= 0 || ttlNanos >= NEVER_FROM_NANOS) {
      return null;
    }
    int index = 63 - Long.numberOfLeadingZeros(ttlNanos);
    TtlClass c = classes.get(index);
    if (c == null) {
      TtlClass fresh = new TtlClass(index, tickerOrigin);
      c = classes.compareAndExchange(index, null, fresh);
      if (c == null) {
        c = fresh;
      }
    }
    return c;
  }

  /** The TTL an entry is kept with: {@link Long#MAX_VALUE} for one too long to ever end. */
  static long effectiveTtl(long ttlNanos) {
    return ttlNanos >= NEVER_FROM_NANOS ? Long.MAX_VALUE : ttlNanos;
  }

  /**
   * A release made {@code entry} idle, leaving {@code state}: stamp it, and make sure the task
   * owns it. Any thread, lock-free. Not for an entry whose TTL is zero (closed at once), nor, in an
   * unbounded pool, for one that never expires (nothing to do).
   */
  void idle(Timed<K, R> entry, long state) {
    // Handshake BUSY-DROP, as in Expiry.idle: we made the entry idle, then read `queued`.
    if (entry.queued) {
      // The warm path: the task owns it. Stamp its class's epoch (handshake EPOCH-BOUND: this read
      // comes after our add), or, for a class not active, the time.
      TtlClass c = entry.ttlClass;
      long epoch;
      if (c == null) {
        entry.stampIdle(state, 0); // never expires: no time to count; the generation is what counts
      } else if ((epoch = c.epoch) > 0) {
        entry.stampIdle(state, PoolEntry.epochStamp(epoch));
      } else {
        entry.stampIdle(state, clockStamp(entry, c));
      }
      return;
    }
    TtlClass c = entry.ttlClass;
    long at = Long.MIN_VALUE;
    int stamp = 0;
    if (c != null) {
      try {
        at = ticker.read();
        stamp = c.timeStamp(at);
      } catch (RuntimeException | Error e) {
        log.error(
            "{}: the ticker failed while key {} went idle", name, sink.describe(entry.key), e);
        stamp = PoolEntry.epochStamp(Math.abs(c.epoch)); // a bound that needs no clock
      }
    }
    entry.stampIdle(state, stamp);
    if (entry.takeForQueue()) {
      entry.queuedGen = PoolEntry.generation(state);
      idleQueue.push(entry);
      if (c != null) {
        // Handshake RUN-CLAIM: we pushed, then read `pending` (in wake). The task must take it
        // before its deadline, and, if its class is not active, start the class at once (after
        // the task's batching interval): until then every warm release of an entry of the class
        // reads the clock, and an epoch of the class is a 64th of its TTL (34 s for an hour). A
        // class starts when its first entry goes idle, and again only after it stopped, which
        // takes GRACE_EPOCHS of owning nothing: one early run per start.
        long delay = Math.min(entry.ttlNanos, c.epochNanos);
        if (c.epoch <= 0) {
          delay = MIN_REAP_INTERVAL_NANOS;
        }
        if (at == Long.MIN_VALUE) {
          // No time to claim by: a claim of unknown time supersedes any other and is waited for
          // by every later release (see wake), so it must come as soon as the task batches, not
          // an epoch of this class (34 s for an hour) from now.
          wake(Long.MIN_VALUE, MIN_REAP_INTERVAL_NANOS);
        } else {
          wake(at + delay, delay);
        }
      }
    }
  }

  /** The time stamp of a warm release whose class is not active; an epoch stamp if it fails. */
  private int clockStamp(Timed<K, R> entry, TtlClass c) {
    try {
      return c.timeStamp(ticker.read());
    } catch (RuntimeException | Error e) {
      log.error("{}: the ticker failed while key {} went idle", name, sink.describe(entry.key), e);
      return PoolEntry.epochStamp(Math.abs(c.epoch)); // a bound that needs no clock
    }
  }

  /**
   * Makes sure a run of the task comes at {@code at} (a ticker time; {@link Long#MIN_VALUE} if
   * unknown) or sooner: claims one, unless an earlier one is claimed already.
   */
  private void wake(long at, long delayNanos) {
    long delay = Math.min(Math.max(delayNanos, 0), MAX_SLEEP_NANOS);
    for (; ; ) {
      Run claimed = pending;
      if (claimed != null
          && (at == Long.MIN_VALUE
              ? claimed.remainingNanos() <= delay
              : claimed.at != Long.MIN_VALUE && claimed.at - at <= 0)) {
        // A run comes by then. Without a time (the ticker failed), "by then" is by the
        // scheduler's clock: the claimed run's own delay, which the one-second cap may have made
        // sooner than its time.
        return;
      }
      // A claim of unknown time never holds up one whose time is known: that one supersedes it
      // and runs the task as well. A run that supersedes another never comes later than it
      // would have (a claim of unknown time needs its run by then; a capped one was sooner than
      // its time): the task's work is done at the earlier of the two.
      long runDelay =
          claimed == null ? delay : Math.max(Math.min(delay, claimed.remainingNanos()), 0);
      Run run = new Run(this, at, runDelay);
      if (PENDING.compareAndSet(this, claimed, run)) {
        run.future = scheduler.schedule(run, runDelay);
        // The run we superseded returns at once when its time comes; cancel it now, so that it
        // does not sit in the scheduler for as long as a long TTL's epoch. Its claimer may not
        // have stored its future yet: then it sees the claim gone, and cancels it itself.
        if (claimed != null) {
          claimed.cancel();
        }
        if (pending != run) {
          run.cancel(); // superseded (or run) already; cancelling a run under way does nothing
        }
        return;
      }
    }
  }

  private void runTask(Run run) {
    taskLock.lock();
    try {
      if (pending != run) {
        return; // superseded by an earlier claim, which has run or will: it does our work
      }
      // Handshake RUN-CLAIM: we clear the claim, then poll the queue; a release pushed, then read
      // the claim. It claims a new run, or we see its entry.
      pending = null;
      reap();
      failures.succeeded();
    } catch (Throwable t) {
      // Back off from 1 ms, doubling, to the longest sleep; logged as RunFailures says.
      wake(Long.MIN_VALUE, failures.failed(t, MAX_SLEEP_NANOS));
    } finally {
      try {
        handOverClaimed();
      } finally {
        taskLock.unlock();
      }
    }
  }

  /**
   * Ends a run or an eviction: entries it claimed as expired but did not hand to the sink yet (it
   * failed after claiming them: a clock read in tendClasses, say) go to the sink now. Claimed,
   * nothing else would ever close them.
   */
  private void handOverClaimed() {
    List<PoolEntry<K, R>> left = expired;
    expired = null;
    if (left != null && !left.isEmpty()) {
      sink.expired(left);
    }
  }

  /** One run of the task. */
  private void reap() {
    if (sink.isClosed()) {
      letGoOfEverything();
      return;
    }
    now = ticker.read();
    expired = new ArrayList<>();
    tendClasses(); // before taking entries: their epoch stamps then resolve at once
    takeQueued();
    wheel.advance(now, this);
    tendClasses(); // starts the classes the entries just taken brought, stops the emptied ones
    flushExpired();
    scheduleNext();
  }

  /** Claims the run that the wheel's next bucket, or an active class's next epoch, needs. */
  private void scheduleNext() {
    long next = wheel.nextTime();
    boolean waiting = next != Long.MAX_VALUE;
    for (TtlClass c : listed) {
      long start = c.nextStart();
      if (!waiting || start - next < 0) {
        next = start;
        waiting = true;
      }
    }
    if (!idleQueue.isEmpty()) {
      // A producer is between its swap and its link (or pushed since our poll): look again soon.
      next = waiting && next - now < 0 ? next : now;
      waiting = true;
    }
    if (waiting) {
      long delay = Math.max(next - now, MIN_REAP_INTERVAL_NANOS);
      wake(now + delay, delay);
    }
  }

  /** Takes every entry the releases queued, and files it. */
  private void takeQueued() {
    PoolEntry<K, R> polled;
    while ((polled = idleQueue.poll()) != null) {
      Timed<K, R> entry = (Timed<K, R>) polled;
      TtlClass c = entry.ttlClass;
      if (c != null && c.owned++ == 0) {
        c.emptySince = -1; // owns one again: a later emptiness starts its grace anew
        if (!c.listed) {
          c.listed = true;
          listed.add(c);
        }
      }
      visit(entry);
    }
  }

  /**
   * Advances the epochs of the classes the task owns entries of (starting any not yet active),
   * and stops those it has owned none of for {@link #GRACE_EPOCHS}. May read the clock, so it
   * may throw: then nothing was lost, and the retry tends them again.
   */
  private void tendClasses() {
    for (int i = listed.size() - 1; i >= 0; i--) {
      TtlClass c = listed.get(i);
      if (c.owned == 0 && c.emptySince < 0) {
        c.emptySince = c.number; // empty now: it goes on for GRACE_EPOCHS, then stops
      }
      if (c.owned == 0 && c.number - c.emptySince >= GRACE_EPOCHS) {
        // Stop: warm releases read the clock from here (see "Classes of TTLs and their epochs").
        c.epoch = -c.number;
        c.listed = false;
        c.emptySince = -1;
        listed.remove(i);
      } else if (c.epoch <= 0) {
        c.start(ticker);
      } else {
        c.advance(now, ticker);
      }
    }
  }

  /** The task lets go of an entry: retired, claimed, or found leased and dropped. */
  private static void letGo(Timed<?, ?> entry) {
    TtlClass c = entry.ttlClass;
    if (c != null) {
      c.owned--;
    }
  }

  /**
   * Looks at an entry the task owns (just taken from the queue, or handed back by the wheel):
   * expires it, lets it go, or files it by its deadline.
   */
  @Override
  public void visit(Timed<K, R> entry) {
    for (; ; ) {
      long state = entry.state;
      if ((state & RETIRED) != 0) {
        letGo(entry); // closing by another path; `queued` stays set, so it is never queued again
        return;
      }
      if ((state & REFS) != 0) {
        // Leased: let go of it; its next release queues it again. Handshake BUSY-DROP (see Expiry).
        if (!entry.dropUnlessIdle()) {
          letGo(entry);
          return;
        }
        continue;
      }
      TtlClass c = entry.ttlClass;
      if (c == null) {
        filePinned(entry); // never expires; kept only for an eviction to find
        return;
      }
      long deadline = deadline(entry, c, state);
      if (deadline == Long.MIN_VALUE) {
        // Its releaser has yet to store its stamp: it will be about now. Look again shortly.
        wheel.schedule(entry, now + MIN_REAP_INTERVAL_NANOS);
        return;
      }
      if (deadline - now > 0) {
        wheel.schedule(entry, deadline);
        return;
      }
      // Expire it, but only from the exact state we checked: any retain or release since then
      // changed the word (the generation moves on every release), and we look again.
      if (entry.claimIdle(state)) {
        letGo(entry);
        expired.add(entry);
        if (expired.size() >= Expiry.CLOSE_BATCH && !evicting) {
          flushExpired();
        }
        return;
      }
    }
  }

  /**
   * Lets go of the entries in {@link #pinned} that were retired (invalidated, refreshed, replaced
   * at the end of a lifetime) or leased again since they were filed: nothing else looks at that
   * list but an eviction, so without this a pool that keeps replacing a pinned key would keep
   * every dead entry. Runs when the list has doubled since the last prune (at least 16 long), so
   * its cost per entry filed is constant, and at most half the list is dead.
   */
  private void prunePinned() {
    ArrayList<Timed<K, R>> list = pinned;
    pinned = new ArrayList<>();
    for (Timed<K, R> entry : list) {
      long state = entry.state;
      if ((state & RETIRED) != 0) {
        continue; // closing by another path; `queued` stays set, so it is never queued again
      }
      // Leased: let go of it (its next release queues it again), unless it went idle meanwhile
      // (handshake BUSY-DROP, as in visit).
      if ((state & REFS) != 0 && !entry.dropUnlessIdle()) {
        continue;
      }
      pinned.add(entry);
    }
    pinnedPruneAt = Math.max(PINNED_PRUNE_MIN, 2 * pinned.size());
  }

  /** Keeps an idle entry that never expires, for an eviction to find. */
  private void filePinned(Timed<K, R> entry) {
    pinned.add(entry);
    if (pinned.size() >= pinnedPruneAt) {
      prunePinned();
    }
  }

  /**
   * When {@code entry}, idle in {@code state}, falls due; or the time to look at it again if its
   * stamp does not say yet (released in the current epoch: the next epoch's start); or {@link
   * Long#MIN_VALUE} if its releaser has not stored its stamp.
   */
  private long deadline(Timed<K, R> entry, TtlClass c, long state) {
    long idle = entry.idle();
    // Stamp and generation come from one store: if the generation is the state's, so is the stamp.
    if (PoolEntry.idleGeneration(idle) != PoolEntry.generation(state)) {
      return Long.MIN_VALUE;
    }
    int stamp = PoolEntry.idleStamp(idle);
    long releasedAt;
    if (!PoolEntry.isEpochStamp(stamp)) {
      releasedAt = c.stampTime(stamp, now);
    } else if ((releasedAt = c.releasedBefore(stamp)) == Long.MIN_VALUE) {
      // Released in the current epoch: its bound is the next epoch's time. Look again then (an
      // active class starts it on time; a class not yet started starts in this run).
      long next = c.nextStart();
      return next - now > 0 ? next : now + MIN_REAP_INTERVAL_NANOS;
    }
    // Within a long: a TTL below 2^62 ns, and a stamp within a TTL or so of now.
    return releasedAt + entry.ttlNanos;
  }

  private void flushExpired() {
    if (expired != null && !expired.isEmpty()) {
      List<PoolEntry<K, R>> batch = expired;
      expired = new ArrayList<>();
      sink.expired(batch);
    }
  }

  /** Shutdown: the pool closes every entry itself; forget ours. */
  private void letGoOfEverything() {
    wheel.clear();
    pinned = new ArrayList<>();
    while (idleQueue.poll() != null) {}
    for (TtlClass c : listed) {
      c.owned = 0;
      c.listed = false;
      c.emptySince = -1;
      c.epoch = -c.number;
    }
    listed.clear();
  }

  // ---- Eviction: room for waiting requests, made of the idle instances due soonest ----------

  /**
   * Evicts as much weight of idle instances as the requests waiting for room need ({@link
   * Bound#toEvict}), those due to expire soonest first (to the wheel's bucket, about 1 ms at the
   * nearest, coarser further out), then those that never expire; and hands them to the sink,
   * which closes them. A leased instance is never claimed: each victim is claimed by the expiry's
   * own CAS from the idle state just read. Instances released in their class's current epoch
   * (within a 64th of its TTL) are taken only if nothing else is idle. Runs under {@link
   * #taskLock}; does nothing once the pool is shut down.
   */
  void evict(Bound<K, R> bound) {
    taskLock.lock();
    evictAndUnlock(bound);
  }

  /** {@link #evict} if the task lock is free now (not held by this thread); see Expiry's. */
  boolean tryEvict(Bound<K, R> bound) {
    if (taskLock.isHeldByCurrentThread() || !taskLock.tryLock()) {
      return false;
    }
    evictAndUnlock(bound);
    return true;
  }

  /** Evicts with the task lock held, hands over what it claimed, and releases the lock. */
  private void evictAndUnlock(Bound<K, R> bound) {
    try {
      evictLocked(bound);
    } finally {
      try {
        handOverClaimed();
      } finally {
        taskLock.unlock();
      }
    }
  }

  private void evictLocked(Bound<K, R> bound) {
    if (sink.isClosed()) {
      return;
    }
    long need = bound.toEvict();
    if (need <= 0) {
      return;
    }
    now = ticker.read();
    expired = new ArrayList<>();
    evicting = true;
    try {
      evictNow(bound, need);
    } finally {
      evicting = false;
    }
  }

  private void evictNow(Bound<K, R> bound, long need) {
    tendClasses();
    takeQueued();
    tendClasses();
    List<PoolEntry<K, R>> victims = new ArrayList<>();
    int counted = 0;
    for (; ; ) {
      // Entries found due on the way expire as usual; they make room as well.
      for (; counted < expired.size(); counted++) {
        need -= bound.makesRoom(expired.get(counted));
      }
      if (need <= 0) {
        break;
      }
      Timed<K, R> victim = claimSoonest(false);
      if (victim == null) {
        victim = claimSoonest(true);
      }
      if (victim == null) {
        for (; counted < expired.size(); counted++) {
          need -= bound.makesRoom(expired.get(counted));
        }
        break;
      }
      need -= bound.makesRoom(victim);
      victims.add(victim);
    }
    List<PoolEntry<K, R>> due = expired;
    expired = null;
    if (!due.isEmpty()) {
      sink.expired(due);
    }
    if (!victims.isEmpty()) {
      sink.evicted(victims);
    }
    scheduleNext(); // what we filed must not wait for a run nobody claimed
  }


  /**
   * Claims the idle entry due soonest, walking the wheel's buckets in the order they come up and
   * then the entries that never expire; entries passed on the way are looked at as the task looks
   * at them ({@link #visit}). {@code recentToo}: also an entry released in its class's current
   * epoch, and then the entries that never expire (never without it: they go last). Null if none
   * is idle.
   */
  private Timed<K, R> claimSoonest(boolean recentToo) {
    for (int attempt = 1; ; attempt++) {
      Claim claim = new Claim(recentToo);
      wheel.forEachBucketInDueOrder(
          (level, index, start) -> {
            // A bucket that begins once the candidate is due holds nothing due sooner; one that
            // begins before may, at any level (review 6: an entry filed at level 3 long ago, due
            // 90 s before the level-2 candidate). So the walk goes on through every level.
            if (claim.candidate == null || start - claim.candidateDue < 0) {
              wheel.drain(level, index, claim);
            }
            return false;
          });
      if (claim.candidate == null && recentToo) {
        // Pinned entries go last: only once no idle entry that expires is left, recent ones too.
        ArrayList<Timed<K, R>> list = pinned;
        pinned = new ArrayList<>();
        for (Timed<K, R> entry : list) {
          claim.entry(entry, Long.MAX_VALUE);
        }
      }
      Timed<K, R> victim = claim.settle();
      // A candidate leased between the walk and its claim: walk again (a few times at most; a
      // key that busy is not what room is made of, and the next eviction comes soon).
      if (victim != null || !claim.raced || attempt == 3) {
        return victim;
      }
    }
  }

  /**
   * An eviction's walk over the entries of the buckets in due order (or the pinned list). The
   * claimable idle entry due soonest is the candidate; those passed that may not be claimed are
   * looked at as the task looks at them ({@link #visit}); those due no sooner than the candidate
   * are filed again as they were, untouched.
   *
   * <p>An entry used again since it was filed is not judged by the deadline it was filed by: the
   * wheel moves entries down by that deadline without looking at them, so it may be long gone (a
   * key used a second ago, filed by a deadline from before that). It is set aside with its real
   * deadline, and {@link #settle} claims whichever is due soonest, the candidate or one of those;
   * filed again by its real deadline instead, it could land in a bucket the walk had passed, and
   * the walk would take an instance due later (review 4: one due at 9 s for one due at 6 s).
   */
  private final class Claim implements TimerWheel.Drain<K, R> {
    final boolean recentToo;

    /** The claimable entry due soonest so far, not claimed yet, and the deadline it was filed by. */
    Timed<K, R> candidate;

    long candidateDue;

    /** Entries used since they were filed, out of the wheel, with their real deadlines. */
    final List<Used<K, R>> used = new ArrayList<>();

    /** True if the candidate could not be claimed after all (leased meanwhile). */
    boolean raced;

    Claim(boolean recentToo) {
      this.recentToo = recentToo;
    }

    @Override
    public void entry(Timed<K, R> entry, long deadline) {
      if (candidate != null && !(deadline - candidateDue < 0)) {
        fileAgain(entry, deadline); // due no sooner than the candidate: as it was, untouched
        return;
      }
      long due = dueIfUsedSinceFiled(entry, deadline);
      if (due != Long.MIN_VALUE) {
        used.add(new Used<>(entry, due));
      } else if (claimable(entry, entry.state, recentToo)) {
        // The first claimable entry, or one due sooner (a bucket spans up to hours at the
        // higher levels, and holds its entries in filing order; a higher level's bucket may hold
        // one due sooner than a lower level's).
        if (candidate != null) {
          fileAgain(candidate, candidateDue);
        }
        candidate = entry;
        candidateDue = deadline;
      } else {
        visit(entry);
      }
    }

    /**
     * Claims the entry due soonest among the candidate and the entries used since they were
     * filed, and files the others again: the candidate as it was, the others by a look.
     */
    Timed<K, R> settle() {
      Timed<K, R> victim = null;
      // Sorted once: an eviction among many hot keys may set thousands aside (a linear search
      // for each next one took 7 s for 128k).
      used.sort((a, b) -> Long.signum(a.due - b.due));
      for (Used<K, R> u : used) {
        if (victim == null
            && (candidate == null || candidate.ttlClass == null || u.due - candidateDue < 0)
            && claimForRoom(u.entry, recentToo)) {
          victim = u.entry; // (a pinned candidate goes after any that expires, whatever the time)
        } else {
          visit(u.entry);
        }
      }
      used.clear();
      if (candidate != null) {
        if (victim == null && claimForRoom(candidate, recentToo)) {
          victim = candidate;
        } else {
          raced = victim == null;
          fileAgain(candidate, candidateDue);
        }
      }
      return victim;
    }
  }

  /** An entry an eviction set aside, with its real deadline (or its estimate, if recent). */
  private record Used<K, R>(Timed<K, R> entry, long due) {}

  /** Files an entry the eviction took out and did not claim again as it was: untouched. */
  private void fileAgain(Timed<K, R> entry, long deadline) {
    if (entry.ttlClass == null) {
      filePinned(entry);
    } else {
      wheel.schedule(entry, deadline);
    }
  }

  /**
   * The real deadline of {@code entry}, idle, if later than {@code filed}, the deadline it was
   * filed by (released again since); {@link Long#MIN_VALUE} if not, or if its state or stamp
   * does not say (leased, retired, pinned, a stamp not stored yet): {@link #claimable} decides
   * those.
   */
  private long dueIfUsedSinceFiled(Timed<K, R> entry, long filed) {
    long state = entry.state;
    TtlClass c = entry.ttlClass;
    if ((state & (REFS | RETIRED)) != 0 || c == null) {
      return Long.MIN_VALUE;
    }
    long idle = entry.idle();
    if (PoolEntry.idleGeneration(idle) != PoolEntry.generation(state)) {
      return Long.MIN_VALUE; // its releaser has yet to store its stamp
    }
    int stamp = PoolEntry.idleStamp(idle);
    long releasedAt;
    if (!PoolEntry.isEpochStamp(stamp)) {
      releasedAt = c.stampTime(stamp, now);
    } else if ((releasedAt = c.releasedBefore(stamp)) == Long.MIN_VALUE) {
      // Released in its class's current epoch: it was filed by a time to look again (the next
      // epoch's start), not by a deadline. For the order of evictions only, count it from the
      // epoch's start, so that recent instances of different classes go by when they are due
      // (review 5: one due at 1008 s went before one due at 28 s).
      releasedAt = c.currentStart();
    }
    long due = releasedAt + entry.ttlNanos;
    return due - filed > 0 ? due : Long.MIN_VALUE;
  }

  /** Claims {@code entry} if idle, with a stamp of its own (and not recent, unless allowed). */
  private boolean claimForRoom(Timed<K, R> entry, boolean recentToo) {
    long state = entry.state;
    if (claimable(entry, state, recentToo) && entry.claimIdle(state)) {
      letGo(entry);
      return true;
    }
    return false;
  }

  /** True if {@code entry}, in {@code state}, is idle with a stamp of its own (and not recent). */
  private boolean claimable(Timed<K, R> entry, long state, boolean recentToo) {
    if ((state & (REFS | RETIRED)) != 0) {
      return false;
    }
    TtlClass c = entry.ttlClass;
    if (c != null && !recentToo) {
      long idle = entry.idle();
      if (PoolEntry.idleGeneration(idle) != PoolEntry.generation(state)) {
        return false;
      }
      int stamp = PoolEntry.idleStamp(idle);
      if (PoolEntry.isEpochStamp(stamp)
          ? c.releasedBefore(stamp) == Long.MIN_VALUE
          : c.epoch > 0 && c.stampTime(stamp, now) - c.currentStart() >= 0) {
        // Released in the current epoch: among the most recently used. A release that read the
        // clock (its entry's first, or one after the task let it go) counts as well (review 6: a
        // key released at 5 s by the clock went before one released then by an epoch stamp).
        return false;
      }
    }
    return true;
  }
}
