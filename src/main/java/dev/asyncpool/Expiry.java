package dev.asyncpool;

import static dev.asyncpool.PoolEntry.REFS;
import static dev.asyncpool.PoolEntry.RETIRED;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pool's expiry task: it owns the entries that went idle (the idle queue, its carried head and
 * a small heap), closes them a TTL after their last release, and, in a bounded pool, claims the
 * least recently released of them when a request needs room. {@link KeyedPool} drives it: a
 * release that makes an entry idle calls {@link #idle}, and a request waiting for room calls
 * {@link #evict}; what it claims goes back to the pool through its {@link Sink}, which closes it.
 * It never closes anything itself, and it touches an entry's state word only through {@link
 * PoolEntry}'s transitions.
 *
 * <p>Thread-safety: {@link #idle} is called by any releasing thread, lock-free; everything else
 * runs under {@link #taskLock}, one run at a time (the task, or an eviction), so the task's own
 * fields are plain.
 *
 * <h2>Expiry</h2>
 *
 * The release that makes an entry idle, if the expiry task does not already own it, stamps it with
 * the time (one clock read), pushes it onto an intrusive MPSC queue and wakes the task if it
 * sleeps. With one TTL for all keys, entries become due in the order they went idle, so the task
 * only ever looks at the head: it stops at the first idle entry not yet due and sleeps until then.
 * (Queue order is stamp order unless a releasing thread stalls between its clock read and its
 * push: its entry then waits behind later stamps, late by up to that stall, never early. The TTL's
 * Javadoc says so; {@code StalledReleaseTest}.) An entry that was
 * leased again while queued is either busy (dropped; its next release queues it again) or idle
 * with a later stamp (moved to a small heap ordered by its real deadline). So the task's work
 * grows with the number of entries that go idle, not with the number of leases, and a lease of an
 * entry the task already owns touches neither the queue nor the scheduler.
 *
 * <p>The idle stamp is written after the release that made the entry idle, so the task may see an
 * idle entry whose stamp is stale. The release generation settles it: each release that leaves
 * the entry idle writes its generation and its stamp together, in one store (PoolEntry's idle
 * word); the stamp is trusted only if that generation is the one in the state word, and the CAS
 * that retires the entry expects that same state, so an expiry can never act on a stamp older
 * than the last release.
 *
 * <h2>Idle stamps</h2>
 *
 * A release of an entry the task already owns reads no clock: it stamps the task's current epoch,
 * and the task starts an epoch at least every TTL/64 while it owns entries. Counting the TTL from
 * the time kept for the next epoch is never early, and at most one epoch (a 64th of the TTL, at
 * least 1 ms) plus the task's 1 ms batching late. A release whose clock read throws stamps the
 * epoch too. {@link Epochs} holds the epochs, their times and the stamp arithmetic.
 *
 * <h2>Handshakes here</h2>
 *
 * TASK-SLEEP (a release pushes, then reads {@link #reaperActive}; the task clears it, then reads
 * the queue), BUSY-DROP ({@link PoolEntry#dropUnlessIdle}) and EPOCH-BOUND ({@link
 * Epochs#advance}); all three are described with the others in {@link PoolEntry}'s note.
 */
final class Expiry<K, R> {

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  /** The expiry task sleeps at least this long between runs, to batch closes that fall due. */
  static final long MIN_REAP_INTERVAL_NANOS = Epochs.MIN_EPOCH_NANOS;

  /** At most this many expired entries go to the executor in one task. */
  static final int CLOSE_BATCH = 1024;

  /** Epoch times kept; more than the epochs in a TTL, so a stamp's bound is always found. */
  private static final int EPOCH_RING = 2 * Epochs.EPOCHS_PER_TTL;

  private static final VarHandle REAPER_ACTIVE;

  static {
    try {
      REAPER_ACTIVE =
          MethodHandles.lookup().findVarHandle(Expiry.class, "reaperActive", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** Where what the task claims goes, and what it needs to know of its pool. */
  interface Sink<K, R> {
    /** Whether the pool is shut down: then shutdown closes every entry, and the task lets go. */
    boolean isClosed();

    /** Entries the task found due and claimed: the pool counts, tells and closes them. */
    void expired(List<PoolEntry<K, R>> claimed);

    /** Entries an eviction claimed to make room: the pool counts, tells and closes them. */
    void evicted(List<PoolEntry<K, R>> claimed);

    /** How the pool shows {@code key} in logs; never throws. */
    String describe(Object key);
  }

  private final Sink<K, R> sink;
  private final PoolScheduler scheduler;
  private final Ticker ticker;
  private final String name;
  private final long ttlNanos;

  /** The task's epochs and the stamp arithmetic: see "Idle stamps". */
  private final Epochs epochs;

  /** An epoch lasts at least this long: a 64th of the TTL, at least 1 ms. */
  private final long epochNanos;

  // ---- Task state: written under taskLock only, by the task or an eviction ----

  private final IdleQueue<K, R> idleQueue = new IdleQueue<>();
  private final Runnable reaperTask = this::runReaper;

  /** True from the moment a run of the expiry task is scheduled until it decides to sleep. */
  private volatile boolean reaperActive;

  /** The queue's head the task looked at last and found not yet due. */
  private PoolEntry<K, R> carried;

  /** When {@link #carried} falls due, from the stamp the task validated. */
  private long carriedDeadline;

  /** Entries leased again while queued, ordered by their real deadline. */
  private final PriorityQueue<Due<K, R>> dueHeap =
      new PriorityQueue<>((a, b) -> Long.signum(a.deadline - b.deadline));

  /** Runs of the task that failed in a row, to back off and to log once (see runReaper). */
  private final RunFailures failures;

  /** Held by the expiry task and by evictions, which both consume the idle queue. */
  private final ReentrantLock taskLock = new ReentrantLock();

  Expiry(long ttlNanos, Ticker ticker, PoolScheduler scheduler, String name, Sink<K, R> sink) {
    this.ttlNanos = ttlNanos;
    this.ticker = ticker;
    this.scheduler = scheduler;
    this.name = name;
    this.sink = sink;
    this.epochs = new Epochs(ttlNanos, EPOCH_RING, readOrigin(ticker, name));
    this.epochNanos = epochs.epochNanos;
    this.failures = new RunFailures(name);
  }

  static long readOrigin(Ticker ticker, String name) {
    try {
      return ticker.read();
    } catch (RuntimeException | Error e) {
      log.error("{}: the ticker failed while the pool was built; idle times count from 0", name, e);
      return 0;
    }
  }

  /**
   * A release made {@code entry} idle, leaving {@code state}: stamp it, and make sure the task
   * owns it. Any thread, lock-free.
   */
  void idle(PoolEntry<K, R> entry, long state) {
    // Handshake BUSY-DROP (see PoolEntry). Races with the expiry task dropping a busy entry: it
    // clears `queued` and then re-reads the state; we made the entry idle (the add) and then read
    // `queued`. One of us sees the other.
    if (entry.queued) {
      // The warm path. The task owns the entry and will look at it by its current deadline, so
      // there is no hurry to know the exact time: stamp the task's epoch instead of reading the
      // clock (which costs more than everything else here). See "Idle stamps" above; handshake
      // EPOCH-BOUND: this read of `epoch` comes after our add. One opaque store of stamp and
      // generation together; no fence: the atomic add already ordered us against the task, and
      // the word publishes nothing else.
      entry.stampIdle(state, PoolEntry.epochStamp(epochs.epoch));
      return;
    }
    idleUnowned(entry, state);
  }

  /** {@link #idle} of an entry the task does not own: stamped with the time, and queued. */
  private void idleUnowned(PoolEntry<K, R> entry, long state) {
    int stamp;
    try {
      stamp = epochs.timeStamp(ticker.read());
    } catch (RuntimeException | Error e) {
      // A broken ticker must not lose the entry, nor leave an older stamp standing for this
      // generation: stamp the epoch instead, a bound that needs no clock (see "Idle stamps").
      log.error(
          "{}: the ticker failed while key {} went idle", name, sink.describe(entry.key), e);
      stamp = PoolEntry.epochStamp(epochs.epoch);
    }
    entry.stampIdle(state, stamp);
    if (entry.takeForQueue()) {
      entry.queuedGen = PoolEntry.generation(state);
      idleQueue.push(entry);
      // Handshake TASK-SLEEP (see PoolEntry): we pushed, then read `reaperActive`.
      if (!reaperActive && REAPER_ACTIVE.compareAndSet(this, false, true)) {
        scheduleReaper(Math.min(ttlNanos, epochNanos)); // the first epoch, see "Idle stamps"
      }
    }
  }

  private void scheduleReaper(long delayNanos) {
    scheduler.schedule(reaperTask, delayNanos);
  }

  private void runReaper() {
    taskLock.lock(); // an eviction may be consuming the idle queue: the queue has one consumer
    try {
      reap();
      failures.succeeded();
    } catch (Throwable t) {
      // A ticker that stays broken must not be read, and logged, a thousand times a second: the
      // retries back off from 1 ms, doubling, to an epoch (so a clock that comes back is noticed
      // within one); logged as RunFailures says.
      scheduleReaper(failures.failed(t, epochNanos));
    } finally {
      taskLock.unlock();
    }
  }

  /** One run of the expiry task. Only one runs at a time (see {@link #reaperActive}). */
  private void reap() {
    for (; ; ) {
      if (sink.isClosed()) {
        // Shutdown closes every entry itself; just let go of ours.
        carried = null;
        dueHeap.clear();
        while (idleQueue.poll() != null) {}
        reaperActive = false;
        return;
      }
      long now = epochs.advance(ticker.read(), ticker);
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
        sink.expired(expired);
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
        long nextEpoch = epochs.nextStart();
        if (nextEpoch - next < 0) {
          next = nextEpoch;
        }
        scheduleReaper(Math.max(next - now, MIN_REAP_INTERVAL_NANOS));
        return;
      }
      // Nothing to watch: sleep. Handshake TASK-SLEEP: races with a producer that pushed after our
      // last poll and saw us active: we clear the flag, then look at the queue; it pushed, then
      // read the flag.
      reaperActive = false;
      if (idleQueue.isEmpty() || !REAPER_ACTIVE.compareAndSet(this, false, true)) {
        return;
      }
    }
  }

  /** True if {@code head} is idle, untouched since queued, and not due: nothing behind it is. */
  private boolean isWaitingHead(PoolEntry<K, R> head, long now) {
    long state = head.state;
    if ((state & (REFS | RETIRED)) != 0) {
      return false;
    }
    int generation = PoolEntry.generation(state);
    long idle = head.idle();
    if (generation != head.queuedGen || PoolEntry.idleGeneration(idle) != generation) {
      // Leased and released since queued (its stamp is later than its place), or its release has
      // yet to store its stamp: let visit() work it out.
      return false;
    }
    int stamp = PoolEntry.idleStamp(idle);
    if (PoolEntry.isEpochStamp(stamp)) {
      return false; // its clock read failed: let visit() work out its deadline
    }
    long releasedAt = epochs.stampTime(stamp, now);
    if (now - releasedAt >= ttlNanos) {
      return false;
    }
    carriedDeadline = releasedAt + ttlNanos;
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
        // Leased: let go of it; its next release queues it again. Handshake BUSY-DROP: races with
        // that release (see onIdle); if it went idle meanwhile, we take it back.
        if (!entry.dropUnlessIdle()) {
          return;
        }
        continue;
      }
      int generation = PoolEntry.generation(state);
      long idle = entry.idle();
      long stamp;
      // Stamp and generation come from one store (see PoolEntry's idle word): if the generation
      // is the state's, so is the stamp.
      if (PoolEntry.idleGeneration(idle) == generation) {
        int recorded = PoolEntry.idleStamp(idle);
        if (!PoolEntry.isEpochStamp(recorded)) {
          stamp = epochs.stampTime(recorded, now);
        } else if ((stamp = epochs.releasedBefore(recorded)) == Long.MIN_VALUE) {
          // Released in the current epoch: its bound is the next epoch's time. Look again then.
          dueHeap.add(new Due<>(epochs.nextStart(), entry, generation, false, true));
          return;
        }
      } else if (filedAs != null && filedAs.provisional && filedAs.generation == generation) {
        // Still unstamped (its releaser has yet to store its stamp), but idle in this same
        // generation since we first looked: count from that look.
        stamp = filedAs.deadline - ttlNanos;
      } else {
        // The releaser has not stamped yet: its stamp will be about now. File it provisionally.
        dueHeap.add(new Due<>(now + ttlNanos, entry, generation, true, false));
        return;
      }
      if (now - stamp < ttlNanos) {
        dueHeap.add(new Due<>(stamp + ttlNanos, entry, generation, false, false));
        return;
      }
      // Expire it, but only from the exact state we checked: any retain or release since then
      // changed the word (the generation moves on every release), and we look again.
      if (entry.claimIdle(state)) {
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
    sink.expired(expired);
    return new ArrayList<>();
  }

  // ---- Eviction: room for waiting requests, made of the least recently released instances ----

  /**
   * Evicts as much weight of the least recently released idle instances as the requests waiting
   * for room need ({@link Bound#toEvict}), and hands them to the sink, which closes them. Runs
   * under {@link #taskLock}, as the expiry task does: it consumes the same idle queue, in the same
   * order. Does nothing once the pool is shut down.
   *
   * <p>The least recently released idle instance is the head of the idle queue when its stamp is
   * the one it was queued with (see {@link #isWaitingHead}), or the first of the heap when that is
   * due sooner: entries leased again while queued move to the heap by their real deadline. Each
   * victim is claimed by the expiry's own CAS from the idle state just read ({@link
   * PoolEntry#claimIdle}), so a lease that comes in first keeps the instance (the CAS fails, and
   * the eviction looks further), and a lease that comes after finds it retired and makes a new
   * one. A leased instance is never claimed.
   */
  void evict(Bound<K, R> bound) {
    taskLock.lock();
    evictAndUnlock(bound);
  }

  /**
   * {@link #evict}, if the task lock is free now; false, having done nothing, if the task or
   * another eviction holds it (this thread included). For a request's own thread, which must not
   * wait for the lock.
   */
  boolean tryEvict(Bound<K, R> bound) {
    // Not from inside a run of our own (the lock is reentrant): a close that an executor runs
    // inline can ask for room from within the task's own hand-off of what it claimed, and a
    // nested eviction there would consume the queue under the run's feet (its carried head).
    if (taskLock.isHeldByCurrentThread() || !taskLock.tryLock()) {
      return false;
    }
    evictAndUnlock(bound);
    return true;
  }

  /** Evicts with the task lock held, and releases it. */
  private void evictAndUnlock(Bound<K, R> bound) {
    try {
      evictLocked(bound);
    } finally {
      taskLock.unlock();
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
    long now = epochs.advance(ticker.read(), ticker);
    List<PoolEntry<K, R>> victims = new ArrayList<>();
    List<PoolEntry<K, R>> expired = new ArrayList<>();
    ArrayDeque<Due<K, R>> recent = new ArrayDeque<>();
    while (need > 0) {
      int expiredBefore = expired.size();
      PoolEntry<K, R> victim = claimLeastRecentlyReleased(now, expired, recent);
      // Entries found due on the way expire as usual; they make room as well.
      for (int i = expiredBefore; i < expired.size(); i++) {
        need -= bound.makesRoom(expired.get(i));
      }
      if (victim == null) {
        break;
      }
      need -= bound.makesRoom(victim);
      victims.add(victim);
    }
    dueHeap.addAll(recent); // the recently released ones not needed: filed back as they were
    if (!expired.isEmpty()) {
      sink.expired(expired);
    }
    if (!victims.isEmpty()) {
      sink.evicted(victims);
    }
  }


  /**
   * Claims the least recently released idle entry the task owns, or returns null if it owns no
   * idle entry. Entries it passes on the way are filed as the expiry task files them ({@link
   * #visit}); those already due are claimed into {@code expired}. Heap records that only say when
   * to look again at an entry released in the current epoch are set aside in {@code recent}:
   * those entries were released last, so they are taken only when nothing older is left.
   */
  private PoolEntry<K, R> claimLeastRecentlyReleased(
      long now, List<PoolEntry<K, R>> expired, ArrayDeque<Due<K, R>> recent) {
    for (; ; ) {
      PoolEntry<K, R> head = carried;
      if (head == null && (head = idleQueue.poll()) != null) {
        if (!isWaitingHead(head, now)) {
          visit(head, now, expired, null); // due (expired), busy (dropped), or into the heap
          continue;
        }
        carried = head; // carriedDeadline set by isWaitingHead
      }
      Due<K, R> due = dueHeap.peek();
      if (due != null && due.relook) {
        recent.add(dueHeap.poll());
        continue;
      }
      if (head == null && due == null) {
        if ((due = recent.poll()) == null) {
          return null;
        }
        dueHeap.add(due); // taken from the heap below, as any other record
      }
      if (due == null || (head != null && carriedDeadline - due.deadline <= 0)) {
        carried = null;
        long state = head.state;
        // Idle, and released last in the generation it was queued in: still the oldest.
        if (PoolEntry.generation(state) == head.queuedGen && head.claimIdle(state)) {
          return head;
        }
        visit(head, now, expired, null); // leased or released since: file it anew
        continue;
      }
      dueHeap.poll();
      PoolEntry<K, R> entry = due.entry;
      long state = entry.state;
      if (PoolEntry.generation(state) == due.generation && entry.claimIdle(state)) {
        return entry;
      }
      visit(entry, now, expired, null);
    }
  }

  /**
   * An entry in the heap, with the deadline it was filed under (the entry's stamp may move), the
   * generation it was idle in, whether the deadline was guessed for a missing stamp, and whether it
   * is only the time to look again at an entry released in the current epoch (so released
   * recently: an eviction takes it last).
   */
  private record Due<K, R>(
      long deadline,
      PoolEntry<K, R> entry,
      int generation,
      boolean provisional,
      boolean relook) {}
}
