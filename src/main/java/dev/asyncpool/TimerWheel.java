package dev.asyncpool;

import dev.asyncpool.PoolEntry.Timed;
import java.util.Arrays;

/**
 * A hierarchical timer wheel of idle entries, for a pool with per-key TTLs ({@link TimedExpiry}):
 * where an entry waits until its deadline, whatever its TTL, at a cost per entry that does not
 * grow with the number of entries or the spread of their TTLs.
 *
 * <p>Seven levels of 64 buckets each; a level-0 bucket spans 2^20 ns (about 1 ms), and each level's
 * bucket spans a whole revolution of the level below: 67 ms, 4.3 s, 4.6 min, 4.9 h, 13 days, 2.3
 * years and 146 years a revolution. An entry is filed in the lowest level whose revolution holds
 * its distance to the deadline, in the bucket of its deadline there (a distance beyond the top
 * level's revolution waits in the top level and is filed again when its bucket comes up). Each
 * level keeps a bitmask of its non-empty buckets, so the next bucket to come up is found without a
 * scan. As in Caffeine's {@code TimerWheel}.
 *
 * <p>Unlike Caffeine's, it is exact: the level-0 bucket of the current time is handed back at
 * every {@link #advance}, and the earliest deadline filed into it is kept, so the owner sleeps
 * until exactly then rather than to the end of the bucket; an entry is handed to the owner (its
 * {@link Visitor}) at the first advance that reaches its deadline, and the owner decides whether it
 * is due or is filed again by a later deadline. Entries are not removed when they are leased
 * again: the owner looks at each when its deadline comes, as the single-TTL {@link Expiry} does
 * with its heap.
 *
 * <h2>Buckets are arrays of entries and their deadlines</h2>
 *
 * A bucket holds its entries in an array, beside the deadline each was filed by, rather than in
 * a list linked through the entries. When a bucket above level 0 comes up, its entries move down
 * by the deadlines kept there, and only an entry whose deadline has come is handed to the owner:
 * an entry's own memory is touched when it is filed and when its deadline comes, never on its
 * way down. With a million idle entries, each such touch is a cache miss, and a link stored in
 * an entry is a reference written into an old object, which costs G1 a card to refine; with
 * linked buckets an entry was looked at, and written, once per level it descended (three or four
 * times for TTLs of seconds). Measured on 1M instances with TTLs uniform in [1 s, 5 s] (see
 * BENCHMARKS.md), the expiry's CPU per close fell from 3.06 µs to about half that. The arrays
 * grow by doubling; an emptied bucket keeps them for its next entries if they are small ({@link
 * #KEEP_CAPACITY}), so that a burst of entries does not hold its peak's arrays for good.
 *
 * <p>Thread-safety: none; owned by the expiry task, under its lock. Times are ticker nanoseconds;
 * the wheel never moves back, so a ticker that does is read as standing still.
 */
final class TimerWheel<K, R> {

  /** What the wheel hands back an entry to: the owner's look at it, which may file it again. */
  interface Visitor<K, R> {
    void visit(Timed<K, R> entry);
  }

  /** What {@link #drain} hands each entry of a bucket to, with the deadline it was filed by. */
  interface Drain<K, R> {
    void entry(Timed<K, R> entry, long deadline);
  }

  static final int LEVELS = 7;
  static final int BUCKET_BITS = 6;
  static final int BUCKETS = 1 << BUCKET_BITS;
  private static final int MASK = BUCKETS - 1;

  /** A level-0 bucket spans 2^20 ns, about 1 ms: the expiry task's own batching interval. */
  static final int SHIFT0 = 20;

  /** The length of a bucket's first arrays. */
  private static final int INITIAL_CAPACITY = 8;

  /** An emptied bucket keeps arrays up to this long for its next entries; longer ones go. */
  static final int KEEP_CAPACITY = 256;

  /** The wheel's origin: times are kept relative to it, so that they stay far from overflow. */
  private final long origin;

  /** The relative time of the last {@link #advance}. */
  private long time;

  /** Per bucket (level * BUCKETS + index): its entries, in filing order; null while it has none. */
  @SuppressWarnings("unchecked")
  private final Timed<K, R>[][] entries = (Timed<K, R>[][]) new Timed<?, ?>[LEVELS * BUCKETS][];

  /** Per bucket: the relative deadline each entry was filed by, beside it. */
  private final long[][] deadlines = new long[LEVELS * BUCKETS][];

  /** Per bucket: how many entries it holds. */
  private final int[] counts = new int[LEVELS * BUCKETS];

  /** Per level, bit i set if bucket i is non-empty. */
  private final long[] occupied = new long[LEVELS];

  /** The earliest deadline filed into the current level-0 bucket since it was last handed back. */
  private long currentMin = Long.MAX_VALUE;

  /** How many entries are filed. */
  private int size;

  TimerWheel(long origin) {
    this.origin = origin;
  }

  private static int shift(int level) {
    return SHIFT0 + BUCKET_BITS * level;
  }

  /** The number of entries filed. */
  int size() {
    return size;
  }

  /**
   * Files {@code entry} to be handed back at {@code deadline} (a ticker time): not before, and in
   * the current level-0 bucket, not after either (give or take the owner's own sleep).
   */
  void schedule(Timed<K, R> entry, long deadline) {
    file(entry, relative(deadline));
  }

  /** {@link #schedule} by a relative deadline. */
  private void file(Timed<K, R> entry, long at) {
    // The lowest level at which the deadline is less than a revolution (64 buckets) ahead. Above
    // level 0 it is then at least one bucket ahead (it was 64 or more below), so never in the
    // bucket of the current time: a bucket there comes up exactly when its span begins.
    int level = 0;
    long ahead;
    long bucketAt = at;
    while ((ahead = (at >> shift(level)) - (time >> shift(level))) >= BUCKETS) {
      if (level == LEVELS - 1) {
        // Beyond the top level's revolution (146 years): wait in its last bucket, and be filed
        // again, by the deadline kept, when that comes up.
        bucketAt = ((time >> shift(level)) + BUCKETS - 1) << shift(level);
        break;
      }
      level++;
    }
    int index;
    if (level == 0 && ahead <= 0) {
      // The current bucket (a deadline already past included): handed back at the next advance.
      // Remember its earliest deadline, the time to come back for it.
      index = (int) ((time >> SHIFT0) & MASK);
      currentMin = Math.min(currentMin, at);
    } else {
      index = (int) ((bucketAt >> shift(level)) & MASK);
    }
    int slot = level * BUCKETS + index;
    Timed<K, R>[] bucket = entries[slot];
    int n = counts[slot];
    if (bucket == null) {
      bucket = newEntries(INITIAL_CAPACITY);
      entries[slot] = bucket;
      deadlines[slot] = new long[INITIAL_CAPACITY];
    } else if (n == bucket.length) {
      bucket = Arrays.copyOf(bucket, 2 * n);
      entries[slot] = bucket;
      deadlines[slot] = Arrays.copyOf(deadlines[slot], 2 * n);
    }
    bucket[n] = entry;
    deadlines[slot][n] = at;
    counts[slot] = n + 1;
    occupied[level] |= 1L << index;
    size++;
  }

  @SuppressWarnings("unchecked")
  private static <K, R> Timed<K, R>[] newEntries(int capacity) {
    return (Timed<K, R>[]) new Timed<?, ?>[capacity];
  }

  /**
   * Moves the wheel to {@code now}: empties every bucket that came up (the current level-0
   * bucket, every level-0 bucket passed, and every higher bucket whose span began), hands each
   * entry whose deadline has come to the visitor, and files the others again, lower, by the
   * deadlines they were filed by, without touching them. The visitor may file entries again
   * (relative to {@code now}).
   */
  void advance(long now, Visitor<K, R> visitor) {
    long previous = time;
    long to = Math.max(relative(now), previous);
    time = to;
    try {
      handBackAll(previous, to, visitor);
    } catch (RuntimeException | Error e) {
      // The visitor threw (the owner's run failed), and the time is already the new one: a
      // bucket that came up but was not handed back would now wait for its level to come round
      // again (67 ms at level 0, 4.3 s at level 1, hours higher up). File the entries of every
      // bucket that came up again, by the deadlines kept: the due ones into the current bucket,
      // whose earliest deadline nextTime then gives, for the owner's retry.
      handBackAll(previous, to, null);
      throw e;
    }
  }

  /**
   * Hands back the buckets that come up between {@code previous} and {@code to} (see {@link
   * #advance}); with no visitor, files their entries again instead, due or not.
   */
  private void handBackAll(long previous, long to, Visitor<K, R> visitor) {
    for (int level = LEVELS - 1; level >= 1; level--) {
      long from = previous >> shift(level);
      long until = to >> shift(level);
      // The buckets whose span began since: ticks from + 1 to until (a revolution at most).
      handBackRange(level, from + 1, Math.min(until - from, BUCKETS), visitor);
    }
    long from = previous >> SHIFT0;
    long until = to >> SHIFT0;
    if (until - from >= BUCKETS) {
      handBackRange(0, until + 1, BUCKETS - 1, visitor); // every bucket but the new current
    } else {
      // The bucket current at the last advance may hold entries not due then: hand it back too.
      handBackRange(0, from, until - from, visitor);
    }
    currentMin = Long.MAX_VALUE; // recomputed as the current bucket's entries are filed again
    handBack(0, (int) (until & MASK), visitor);
  }

  /**
   * Hands back the non-empty buckets of {@code count} ticks from {@code firstTick} at {@code
   * level}, in tick order, as they were when called: an entry filed again meanwhile into one of
   * those indices is there for a later tick, and waits for it.
   */
  private void handBackRange(int level, long firstTick, long count, Visitor<K, R> visitor) {
    if (count <= 0) {
      return;
    }
    int first = (int) (firstTick & MASK);
    // Bit j: the bucket j ticks after the first; only the `count` ticks in range.
    long pending = Long.rotateRight(occupied[level], first);
    if (count < BUCKETS) {
      pending &= (1L << count) - 1;
    }
    while (pending != 0) {
      int j = Long.numberOfTrailingZeros(pending);
      pending &= pending - 1;
      handBack(level, (first + j) & MASK, visitor);
    }
  }

  /** Hands back one bucket's due entries, and files the others again; with no visitor, all. */
  private void handBack(int level, int index, Visitor<K, R> visitor) {
    empty(
        level,
        index,
        (entry, at) -> {
          if (visitor != null && at - time <= 0) {
            visitor.visit(entry);
          } else {
            file(entry, at); // not due: down by its deadline, the entry itself untouched
          }
        });
  }

  /** What {@link #empty} hands each entry of a bucket to, with its relative deadline. */
  private interface Each<K, R> {
    void entry(Timed<K, R> entry, long at);
  }

  /**
   * Empties a bucket, handing each of its entries to {@code each} in filing order; {@code each}
   * may file entries again, into this bucket too. If it throws, the entries not reached yet stay
   * filed, or nothing would look at them again (the one it threw on is its own to account for).
   */
  private void empty(int level, int index, Each<K, R> each) {
    int slot = level * BUCKETS + index;
    int n = counts[slot];
    if (n == 0) {
      return;
    }
    Timed<K, R>[] bucket = entries[slot];
    long[] due = deadlines[slot];
    detach(level, index);
    int i = 0;
    try {
      for (; i < n; i++) {
        Timed<K, R> entry = bucket[i];
        bucket[i] = null;
        each.entry(entry, due[i]);
      }
    } finally {
      if (i < n) {
        for (int j = i + 1; j < n; j++) {
          file(bucket[j], due[j]);
        }
      } else {
        keep(slot, bucket, due);
      }
    }
  }

  /** Empties a bucket's bookkeeping; its arrays are the caller's. */
  private void detach(int level, int index) {
    int slot = level * BUCKETS + index;
    size -= counts[slot];
    counts[slot] = 0;
    entries[slot] = null;
    deadlines[slot] = null;
    occupied[level] &= ~(1L << index);
  }

  /** Gives an emptied bucket its arrays back (cleared), if small and it has none again yet. */
  private void keep(int slot, Timed<K, R>[] bucket, long[] due) {
    if (entries[slot] == null && bucket.length <= KEEP_CAPACITY) {
      entries[slot] = bucket;
      deadlines[slot] = due;
    }
  }

  /**
   * Empties a bucket, for an eviction's walk: hands each of its entries, in filing order, to
   * {@code action} with the deadline it was filed by (a ticker time), to be claimed, looked at, or
   * filed again (into this bucket too). If the action throws, the entries not reached yet stay
   * filed.
   */
  void drain(int level, int index, Drain<K, R> action) {
    empty(level, index, (entry, at) -> action.entry(entry, absolute(at)));
  }

  /**
   * The earliest ticker time at which an entry may need handing back: the earliest deadline in
   * the current level-0 bucket, or the start of the next non-empty bucket of any level; {@code
   * Long.MAX_VALUE} if the wheel is empty. Never later than any filed entry's deadline.
   */
  long nextTime() {
    if (size == 0) {
      return Long.MAX_VALUE;
    }
    long best = currentMin;
    for (int level = 0; level < LEVELS; level++) {
      long mask = occupied[level];
      long tick = time >> shift(level);
      int current = (int) (tick & MASK);
      if (level == 0) {
        mask &= ~(1L << current); // the current bucket: currentMin
      }
      if (mask == 0) {
        continue;
      }
      // Bit j of the rotated mask is the bucket j + 1 ahead of the current one.
      long ahead = Long.rotateRight(mask, (current + 1) & MASK);
      long start = (tick + Long.numberOfTrailingZeros(ahead) + 1) << shift(level);
      best = Math.min(best, start);
    }
    return best == Long.MAX_VALUE ? Long.MAX_VALUE : absolute(best);
  }

  /**
   * The buckets in the order they come up at each level, for an eviction looking for the entry
   * due soonest: level 0 from its current bucket, then each level above from its next bucket.
   * Calls {@code action} with the level, index and start (a ticker time) of each non-empty one
   * until it returns true. A bucket of a higher level may begin before the last one of a lower
   * level it follows: entries filed high long ago may be due before ones filed low since, so a
   * walker looking for the soonest goes on through the levels (see {@code TimedExpiry}).
   */
  boolean forEachBucketInDueOrder(BucketAction action) {
    for (int level = 0; level < LEVELS; level++) {
      long tick = time >> shift(level);
      int start = level == 0 ? 0 : 1; // level 0: its current bucket first; above: never current
      for (int k = start; k <= BUCKETS - (level == 0 ? 1 : 0); k++) {
        int index = (int) ((tick + k) & MASK);
        if ((occupied[level] & (1L << index)) != 0
            && action.bucket(level, index, absolute((tick + k) << shift(level)))) {
          return true;
        }
      }
    }
    return false;
  }

  /** See {@link #forEachBucketInDueOrder}. */
  interface BucketAction {
    boolean bucket(int level, int index, long start);
  }

  /** Forgets every entry (shutdown). */
  void clear() {
    for (int level = 0; level < LEVELS; level++) {
      for (int index = 0; index < BUCKETS; index++) {
        detach(level, index);
      }
    }
    currentMin = Long.MAX_VALUE;
  }

  private long relative(long ticker) {
    return ticker - origin;
  }

  /**
   * A relative time as a ticker time. It may wrap past {@link Long#MAX_VALUE}, as the ticker's own
   * readings may (a ticker's origin is arbitrary; {@code System.nanoTime}'s may lie anywhere):
   * every owner compares ticker times by their difference, never by their order, and a deadline
   * is less than 2^62 ns from now. Saturating instead, at a ticker 5 s short of the top, made
   * every deadline past it read as centuries away (review 6).
   */
  private long absolute(long relative) {
    return relative + origin;
  }
}
