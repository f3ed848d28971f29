package dev.asyncpool;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The retry backoff of failing keys ({@link PoolBuilder#retryBackoff}): what a pool remembers of
 * a key whose creations fail, and whether a request for it may start another one.
 *
 * <h2>Design note</h2>
 *
 * <p><b>What it owns.</b> A map from each failing key to its {@link Spell}: the run of failures
 * in a row, from the first until a creation of the key opens or no request has asked for the key
 * for {@code max}. A spell holds its last {@link Failure} (how many in a row, when, the delay and
 * the wait drawn from it, and the failure itself) and when a request last asked for the key. A
 * key that never failed, or succeeded since, has no spell: in a healthy pool the map is empty.
 *
 * <p><b>How it is driven.</b> The pool calls it, on slow paths only, and it never calls back:
 *
 * <ul>
 *   <li>{@link #check} on the slow path of a request that found no entry for its key, before a
 *       placeholder is installed. The warm path never comes here: a key with an open instance has
 *       no spell, and a request that joins a creation in progress waits for its outcome as it
 *       would without a backoff.
 *   <li>{@link #failed} when a creation failed for a reason of the key's own. The pool leaves out
 *       what is not: shutdown, requesters who all gave up, the bound's acquire timeout, a request
 *       for its own key from its factory or open, a deadline that passed while the creation still
 *       waited for room. This class leaves out an executor's rejection (below).
 *   <li>{@link #succeeded} when a creation opened; {@link #shutdown} once, when the pool's begins.
 * </ul>
 *
 * Its only other effect is one task per spell, scheduled through the pool's own {@code schedule}
 * (so a scheduler that rejects falls back the way the pool's other tasks do).
 *
 * <p><b>Forgetting: one task per spell, rescheduled lazily.</b> A spell's task is scheduled once,
 * {@code max} after its first failure. When it runs it removes the spell if no request asked for
 * {@code max}; otherwise it schedules itself again for {@code max} after the last request. So a
 * request costs one volatile write here, never a scheduler call; a failing key has exactly one
 * task pending, which a key hammered with requests runs about once per {@code max}. A sweep of
 * all spells would also need only one task, but would do work for every failing key on each run
 * and forget up to twice {@code max} late. Whether a spell counts as forgotten is also decided
 * lazily, and exactly, by every {@link #check} and {@link #failed}, from the time of the last
 * request: what a request sees never depends on when the task ran, only the memory does.
 *
 * <p><b>Executor rejections.</b> A creation failed by a {@link RejectedExecutionException} (the
 * pool's executor, or one the factory used, refused a task) does not count: it says that the
 * application is short of threads or shutting down, not that the key is broken, and a backoff
 * would then refuse healthy keys for a while after the executor recovered. It does not end a spell
 * either.
 *
 * <p><b>Thread-safety.</b> Any thread may call any method. A spell's {@link Spell#last} is
 * written only by {@link #failed}, inside {@code compute} under the map's lock for the key, so two
 * failures of one key never lose one; {@link #check} reads it (volatile) without a lock: one
 * immutable {@link Failure}, never parts of two. No user code runs under that lock but the key's
 * own {@code hashCode} and {@code equals}, as in the pool's map: the ticker and the random source
 * are read before.
 *
 * <p><b>Races, and why they are safe.</b>
 *
 * <ul>
 *   <li>CHECK-THEN-INSTALL: the pool records a failure before the failed placeholder leaves its
 *       map, so a request that finds the key absent after that sees the spell. A request that
 *       passed {@link #check} before, and then lost the processor while a whole creation of its
 *       key ran and failed, installs a new placeholder: one attempt more than the backoff allows.
 *       It is still single flight (the map's {@code putIfAbsent} decides), and its failure
 *       extends the spell like any other.
 *   <li>FORGET-OR-FAIL: the task removes a spell, under the map's lock, only if it is still the
 *       key's spell, stale, and no retry it let through is under way; {@link #failed}, under the
 *       same lock, extends a live spell (or one whose retry this failure ends, however long that
 *       retry took) or puts a new one in place of a stale one. Neither loses the other's write.
 *   <li>ASKED: {@link #check} moves {@code lastAsked} forward only (a CAS), so two racing requests
 *       never move it back. A request that touches a spell the task has just removed loses its
 *       touch, harmlessly: a stale spell's backoff is over ({@code failedAt + wait <= failedAt +
 *       max <= lastAsked + max <= now}), so that request goes on to a creation anyway.
 *   <li>SPELL-END: whoever ends a spell (a success, its task, a failure replacing it when stale,
 *       shutdown) sets {@code ended}, then reads the spell's task and cancels it; whoever schedules
 *       the task stores it, then reads {@code ended} (and {@code closed}) and cancels it if set.
 *       One of them sees the other, so no task of an ended spell stays scheduled.
 * </ul>
 *
 * <p><b>Shutdown.</b> {@link #shutdown} sets {@code closed}, cancels every spell's task and forgets
 * every spell, so that no task of this class keeps a closed pool reachable from its scheduler (the
 * pool's default scheduler drops cancelled tasks) or runs after it; failures after it are not
 * recorded. Nothing here logs above DEBUG.
 */
final class Backoff {

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  /** Schedules a task: the pool's {@code schedule}, which never throws. */
  @FunctionalInterface
  interface Scheduling {
    ScheduledFuture<?> schedule(Runnable task, long delayNanos);
  }

  /**
   * One failed creation, and the wait it set. Immutable.
   *
   * @param inARow how many creations of the key failed in a row, this one included
   * @param failedAt the ticker's time of this failure
   * @param delayNanos the delay before jitter: {@code initial}, doubled per failure, at most max
   * @param waitNanos the wait drawn from it: requests before {@code failedAt + waitNanos} fail fast
   * @param cause the failure, the cause of each refusal
   */
  record Failure(int inARow, long failedAt, long delayNanos, long waitNanos, Throwable cause) {}

  /** A key's failures in a row, from the first until it opens or is forgotten. */
  static final class Spell {
    private static final VarHandle LAST_ASKED;

    static {
      try {
        LAST_ASKED = MethodHandles.lookup().findVarHandle(Spell.class, "lastAsked", long.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    /** The last failure; written under the map's lock for the key (see {@link #failed}). */
    volatile Failure last;

    /** The ticker's time of the last request for the key, or of the last failure; forward only. */
    private volatile long lastAsked;

    /** The pending forget task, or null before it is scheduled. */
    private volatile ScheduledFuture<?> task;

    /** Set once, by whoever ends the spell (see SPELL-END). */
    private volatile boolean ended;

    /**
     * When a request last passed {@link #check} after the wait, so may have started a retry; the
     * task keeps the spell while such a retry may still run (see {@link #retryWindowNanos}).
     */
    private volatile long retryAllowedAt = Long.MIN_VALUE;

    Spell(Failure first) {
      this.last = first;
      this.lastAsked = first.failedAt;
    }

    /** True if no request asked for the key for {@code maxNanos} until {@code now}. */
    boolean staleAt(long now, long maxNanos) {
      return now - lastAsked >= maxNanos;
    }

    /** A request asked at {@code now}. Race ASKED: never moves the time back. */
    void asked(long now) {
      for (long seen = lastAsked; now - seen > 0; seen = lastAsked) {
        if (LAST_ASKED.compareAndSet(this, seen, now)) {
          return;
        }
      }
    }
  }

  private final long initialNanos;
  private final long maxNanos;

  /** How long a retry may run (the pool's open timeout); 0 if unknown. See {@link #failed}. */
  private final long retryWindowNanos;
  private final Ticker ticker;
  private final DoubleSupplier random;
  private final Scheduling scheduling;
  private final String name;
  private final Function<Object, String> describe;
  private final ConcurrentHashMap<Object, Spell> spells = new ConcurrentHashMap<>();

  /** Set once, by {@link #shutdown}. */
  private volatile boolean closed;

  /**
   * The backoff of a pool, drawing its jitter from {@link ThreadLocalRandom}.
   *
   * @param initial the first failure's delay; positive
   * @param max the longest delay, and how long a key is remembered without requests
   * @param ticker the pool's clock
   * @param scheduling the pool's {@code schedule}
   * @param name the pool's name, for messages
   * @param describe the pool's {@code describe}: shows a key in messages, never throws
   * @param retryWindowNanos how long a retry may run: the pool's open timeout, the deadline of
   *     every creation; while a retry it let through may still run, a spell is not forgotten
   */
  Backoff(
      Duration initial,
      Duration max,
      Ticker ticker,
      Scheduling scheduling,
      String name,
      Function<Object, String> describe,
      long retryWindowNanos) {
    this(
        initial,
        max,
        ticker,
        () -> ThreadLocalRandom.current().nextDouble(),
        scheduling,
        name,
        describe,
        retryWindowNanos);
  }

  /**
   * As above, with the jitter's source (each call returns a number in [0, 1)) and no retry window.
   * For tests.
   */
  Backoff(
      Duration initial,
      Duration max,
      Ticker ticker,
      DoubleSupplier random,
      Scheduling scheduling,
      String name,
      Function<Object, String> describe) {
    this(initial, max, ticker, random, scheduling, name, describe, 0);
  }

  private Backoff(
      Duration initial,
      Duration max,
      Ticker ticker,
      DoubleSupplier random,
      Scheduling scheduling,
      String name,
      Function<Object, String> describe,
      long retryWindowNanos) {
    this.retryWindowNanos = retryWindowNanos;
    this.initialNanos = Math.max(PoolConfig.saturatedNanos(initial), 1);
    this.maxNanos = Math.max(PoolConfig.saturatedNanos(max), initialNanos);
    this.ticker = ticker;
    this.random = random;
    this.scheduling = scheduling;
    this.name = name;
    this.describe = describe;
  }

  /**
   * A request for {@code key} found no entry: throws if the key's backoff has not passed, and
   * otherwise lets it go on to a creation. Either way it counts as a request for the key. Reads
   * the clock only for a key that failed; a ticker that throws lets the request go on.
   *
   * @throws RetryBackoffException if the key is in its backoff, with its last failure as cause
   */
  void check(Object key) {
    Spell spell = spells.get(key);
    if (spell == null) {
      return;
    }
    long now;
    try {
      now = ticker.read();
    } catch (RuntimeException e) {
      return; // no clock, no backoff: a creation decides
    }
    if (spell.staleAt(now, maxNanos)) {
      return; // forgotten: its task removes it, a failure replaces it
    }
    spell.asked(now);
    Failure last = spell.last;
    long left = last.waitNanos - (now - last.failedAt);
    if (left > 0) {
      throw refusal(key, last, left);
    }
    spell.retryAllowedAt = now; // a retry may start now: the task keeps the spell meanwhile
  }

  /**
   * A creation of {@code key} failed, for a reason of its own: starts its spell, or doubles its
   * delay (up to max) and draws a new wait. Never throws: the pool calls it on the way to failing
   * the creation's waiters.
   */
  void failed(Object key, Throwable failure) {
    failed(key, failure, Long.MIN_VALUE);
  }

  /**
   * As {@link #failed(Object, Throwable)}, for a creation that started at ticker time {@code
   * startedAt} ({@link Long#MIN_VALUE} if unknown): a spell that was live then is extended, so a
   * retry that takes longer than max still counts as a failure in a row.
   */
  void failed(Object key, Throwable failure, long startedAt) {
    if (closed || failure instanceof RejectedExecutionException) {
      return;
    }
    try {
      long now = ticker.read();
      double u = random.getAsDouble();
      Spell[] replaced = new Spell[1];
      Spell[] started = new Spell[1];
      spells.compute(
          key,
          (k, spell) -> {
            // Race FORGET-OR-FAIL: under the map's lock for the key, as the task's removal. A
            // spell live when this creation started is extended, however long it took.
            if (spell != null
                && (!spell.staleAt(now, maxNanos)
                    || (startedAt != Long.MIN_VALUE && !spell.staleAt(startedAt, maxNanos)))) {
              spell.last = next(spell.last, now, u, failure);
              spell.asked(now);
              if (startedAt == Long.MIN_VALUE || spell.retryAllowedAt <= startedAt) {
                spell.retryAllowedAt = Long.MIN_VALUE; // the retry let through has ended
              }
              return spell;
            }
            replaced[0] = spell;
            long wait = drawWait(initialNanos, u);
            started[0] = new Spell(new Failure(1, now, initialNanos, wait, failure));
            return started[0];
          });
      if (replaced[0] != null) {
        end(replaced[0]);
      }
      if (started[0] != null) {
        scheduleForget(key, started[0], maxNanos);
      }
    } catch (Throwable t) {
      // A ticker or a key's hashCode that throws: the pool names those where they hurt.
      rethrowIfFatal(t);
      log.debug("{}: the backoff of key {} could not be recorded", name, describe.apply(key), t);
    }
  }

  /** A creation of {@code key} opened: its spell, if any, ends, and its next failure is a first. */
  void succeeded(Object key) {
    if (spells.isEmpty()) {
      return;
    }
    try {
      Spell spell = spells.remove(key);
      if (spell != null) {
        end(spell);
      }
    } catch (Throwable t) {
      rethrowIfFatal(t);
      log.debug("{}: the backoff of key {} could not be reset", name, describe.apply(key), t);
    }
  }

  /** The pool shuts down: every spell ends, and no failure is recorded from now on. */
  void shutdown() {
    closed = true; // SPELL-END: before the scan, read by scheduleForget after its store
    for (Spell spell : spells.values()) {
      end(spell);
    }
    spells.clear();
  }

  /** How many keys are remembered now. For tests. */
  int size() {
    return spells.size();
  }

  // ---- Delays ----------------------------------------------------------------------------

  /** The failure after {@code last}: the delay doubled, at most max, and a wait drawn from it. */
  private Failure next(Failure last, long now, double u, Throwable cause) {
    long delay = last.delayNanos > maxNanos / 2 ? maxNanos : last.delayNanos * 2;
    int inARow = last.inARow == Integer.MAX_VALUE ? last.inARow : last.inARow + 1;
    return new Failure(inARow, now, delay, drawWait(delay, u), cause);
  }

  /**
   * The wait drawn from {@code delay} with {@code u} in [0, 1): uniform in [delay/2, delay]
   * ("equal jitter"), so the waits of keys that failed together spread over half the delay, and
   * no wait is longer than max.
   */
  static long drawWait(long delay, double u) {
    double clamped = u > 0 ? Math.min(u, 1) : 0; // also NaN
    return delay - (long) (clamped * (delay / 2));
  }

  // ---- Forgetting ------------------------------------------------------------------------

  private void scheduleForget(Object key, Spell spell, long delayNanos) {
    if (maxNanos == Long.MAX_VALUE) {
      return; // max too long for nanoseconds: never forgotten
    }
    ScheduledFuture<?> task = scheduling.schedule(() -> forget(key, spell), delayNanos);
    spell.task = task;
    // SPELL-END: we stored the task, then read `ended` and `closed`.
    if (spell.ended || closed) {
      task.cancel(false);
    }
  }

  /** The spell's task: forgets it if no request asked for max, or looks again max after one. */
  private void forget(Object key, Spell spell) {
    if (spell.ended || closed) {
      return;
    }
    try {
      long now = ticker.read();
      Spell kept =
          spells.computeIfPresent(
              key,
              (k, s) ->
                  s == spell && s.staleAt(now, maxNanos) && !mayBeRetrying(s, now) ? null : s);
      if (kept != spell) {
        spell.ended = true; // removed by us, or ended by whoever removed it
        return;
      }
      long delay = maxNanos - (now - spell.lastAsked);
      if (delay <= 0) {
        // Kept though no request asked for max: a retry it let through may still run. Look again
        // when that retry's creation must have ended (its open timeout), not at once.
        long left = retryWindowNanos - (now - spell.retryAllowedAt); // > 0: mayBeRetrying
        delay = Math.max(Math.min(left, maxNanos), 1);
      }
      scheduleForget(key, spell, delay);
    } catch (Throwable t) {
      // A ticker or a key's hashCode that throws: look again later rather than never.
      rethrowIfFatal(t);
      scheduleForget(key, spell, maxNanos);
    }
  }

  /** True if a retry that {@code spell} let through may still be running at {@code now}. */
  private boolean mayBeRetrying(Spell spell, long now) {
    return spell.retryAllowedAt != Long.MIN_VALUE
        && now - spell.retryAllowedAt < retryWindowNanos;
  }

  /** Ends a spell out of the map. SPELL-END: set `ended`, then read the task. */
  private static void end(Spell spell) {
    spell.ended = true;
    ScheduledFuture<?> task = spell.task;
    if (task != null) {
      task.cancel(false);
    }
  }

  // ---- Messages --------------------------------------------------------------------------

  private RetryBackoffException refusal(Object key, Failure last, long leftNanos) {
    String failed = last.inARow == 1 ? "failed" : "failed " + last.inARow + " times in a row";
    return new RetryBackoffException(
        name
            + ": creating key "
            + describe.apply(key)
            + " "
            + failed
            + "; retrying in "
            + format(leftNanos)
            + " (retryBackoff)",
        last.cause,
        Duration.ofNanos(leftNanos));
  }

  /**
   * A wait for people, rounded up so that a retry after it is never refused: "250 ms" below a
   * second, "1.6 s" below 100 s, "300 s" above.
   */
  static String format(long nanos) {
    if (nanos < 1_000_000_000L) {
      return ceilDiv(nanos, 1_000_000L) + " ms";
    }
    if (nanos < 100_000_000_000L) {
      long tenths = ceilDiv(nanos, 100_000_000L);
      return tenths / 10 + "." + tenths % 10 + " s";
    }
    return ceilDiv(nanos, 1_000_000_000L) + " s";
  }

  /** Rethrows what no caller should outlive, as the pool's {@code describe} does. */
  private static void rethrowIfFatal(Throwable t) {
    if (t instanceof VirtualMachineError && !(t instanceof StackOverflowError)) {
      throw (VirtualMachineError) t;
    }
  }

  private static long ceilDiv(long x, long y) {
    return x / y + (x % y == 0 ? 0 : 1);
  }
}
