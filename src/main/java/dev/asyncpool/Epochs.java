package dev.asyncpool;

import java.time.Duration;

/**
 * An expiry task's clock for idle stamps: its epochs, the ring of times that bounds them, and the
 * time stamps of releases that read the clock. One TTL's worth: a single-TTL pool's {@link Expiry}
 * has one, a pool with per-key TTLs ({@link TimedExpiry}) one per class of TTLs.
 *
 * <p>Reading the clock costs more than the rest of a warm lease put together, so a release of an
 * entry the task already owns does not read it: it stamps the number of the task's current
 * <em>epoch</em> instead ({@link #epoch}). The task starts an epoch at least every {@link
 * #epochNanos} while it owns entries: it publishes the new number, then reads the clock and keeps
 * that time. A release that read epoch {@code e} happened before epoch {@code e + 1} was
 * published, so before the time kept for {@code e + 1}: counting the TTL from that time is never
 * early, and at most one epoch late (plus however late the task starts it). A stamp has 31 bits:
 * an epoch number, or a time since {@link #tickerOrigin} (never negative) in units of a power of
 * ten nanoseconds, rounded up, chosen so that 2^30 of them span over 1,000 TTLs; both are read
 * against the task's own count, so a stamp is exact unless the task has not looked at it for that
 * long, and then reads as later, never earlier.
 *
 * <p>Thread-safety: {@link #epoch} is read by any releasing thread; everything else is the task's,
 * called under its lock, one run at a time. The stamp arithmetic ({@link #timeStamp}) is pure and
 * may run on any thread.
 *
 * <p>Handshake EPOCH-BOUND (see {@link PoolEntry}'s list) is {@link #advance}'s: publish the
 * number, then read the clock.
 *
 * <p>Not final: {@link TimedExpiry.TtlClass} is one, so that a warm release reaches its epoch
 * from its entry in two reads rather than three.
 */
class Epochs {

  /** An epoch lasts at least this long (and the expiry task batches closes this long). */
  static final long MIN_EPOCH_NANOS = Duration.ofMillis(1).toNanos();

  /** Epochs per TTL: an entry released while owned closes at most this fraction late. */
  static final int EPOCHS_PER_TTL = 64;

  /** An epoch lasts at least this long: a 64th of the TTL, at least 1 ms. */
  final long epochNanos;

  /** The ticker's reading when the pool was built; time stamps count from it. */
  final long tickerOrigin;

  /** The unit of time stamps, in nanoseconds: see {@link #stampUnitNanos(long)}. */
  final long stampUnitNanos;

  /**
   * The number of the task's current epoch, read by releases. Written by the task only. {@link
   * TimedExpiry} stores a class's last number negated while it owns none of its entries, and its
   * releases then read the clock instead; {@link Expiry}'s is never negative.
   */
  volatile long epoch;

  // ---- The task's: written under its lock only ----

  /** The task's own copy of the current epoch's number. */
  long number;

  /** Epoch number (mod the ring) -> the time read just after that epoch was published. */
  private final long[] times;

  private final int mask;

  /**
   * @param ttlNanos the TTL these epochs serve: an epoch is a 64th of it, at least 1 ms
   * @param ring how many epoch times to keep, a power of two; more than the epochs between a
   *     release and the task's look at its stamp, or that look reads the stamp late
   * @param tickerOrigin the ticker's reading when the pool was built
   */
  Epochs(long ttlNanos, int ring, long tickerOrigin) {
    if (Integer.bitCount(ring) != 1) {
      throw new IllegalArgumentException("ring must be a power of two: " + ring);
    }
    this.epochNanos = Math.max(ttlNanos / EPOCHS_PER_TTL, MIN_EPOCH_NANOS);
    this.tickerOrigin = tickerOrigin;
    this.stampUnitNanos = stampUnitNanos(ttlNanos);
    this.times = new long[ring];
    this.mask = ring - 1;
  }

  /** The time the current epoch started (0 before the first). */
  long currentStart() {
    return times[(int) (number & mask)];
  }

  /** When the next epoch is due to start. */
  long nextStart() {
    return currentStart() + epochNanos;
  }

  /**
   * A ticker time no earlier than any release that stamped {@code epochStamp}: the time read just
   * after the next epoch was published (a release that read the epoch came before that
   * publication). {@link Long#MIN_VALUE} if that epoch is still the current one.
   */
  long releasedBefore(int epochStamp) {
    // The stamp keeps 31 bits of the epoch number. Read against ours, it is exact for a stamp
    // less than 2^30 epochs old (12 days of 1 ms epochs; a task on time looks at a stamp within
    // about 66); an older one reads as newer, so later: late, never early.
    long behind = PoolEntry.stampDistance(number, epochStamp);
    if (behind <= 0) {
      return Long.MIN_VALUE; // the current epoch, or the one a failed advance published
    }
    // Older than the ring: the oldest time kept is later than the one we would want. Late, never
    // early; and only for an entry not looked at for a ring of epochs.
    long next = number - Math.min(behind - 1, mask);
    return times[(int) (next & mask)];
  }

  /**
   * The time stamp of a release at ticker time {@code time}: the time since the pool's origin in
   * stamp units, rounded up (never early), mod 2^31.
   */
  int timeStamp(long time) {
    // Before the origin only if the ticker went back: then the origin, which is later.
    long sinceOrigin = Math.max(time - tickerOrigin, 0);
    long units = sinceOrigin / stampUnitNanos;
    return PoolEntry.timeStamp(units * stampUnitNanos == sinceOrigin ? units : units + 1);
  }

  /**
   * The ticker time a time stamp stands for, read at {@code now}: the time {@code now} was at,
   * in stamp units since the origin, minus how far it is ahead of the stamp. Exact for a stamp
   * less than 2^30 units old (over 1,000 TTLs, see {@link #stampUnitNanos}); an older one reads as
   * newer, so later: late, never early.
   */
  long stampTime(int stamp, long now) {
    long nowUnits = Math.floorDiv(now - tickerOrigin, stampUnitNanos);
    return tickerOrigin + (nowUnits - PoolEntry.stampDistance(nowUnits, stamp)) * stampUnitNanos;
  }

  /**
   * The unit of time stamps: the smallest power of ten nanoseconds of which 2^30 span at least
   * 1,024 TTLs (or 1,024 s for a shorter TTL), so that a stamp is read exactly unless the task has
   * not looked at it for a thousand TTLs. A power of ten keeps whole milliseconds exact, and a
   * stamp is late by less than a unit: under 1/100,000 of the TTL (or of a second).
   */
  static long stampUnitNanos(long ttlNanos) {
    long atLeast = Math.max(ttlNanos, 1_000_000_000L) >> 20;
    long unit = 1;
    while (unit < atLeast) {
      unit *= 10;
    }
    return unit;
  }

  /**
   * Starts a new epoch if the current one is {@link #epochNanos} old: publishes its number, then
   * reads the clock, so the time recorded for it is later than every release that saw the
   * previous number. Returns the time to use for this run.
   */
  long advance(long now, Ticker ticker) {
    // Handshake EPOCH-BOUND (see PoolEntry): publish the number, then read the clock.
    if (number != 0 && now - currentStart() < epochNanos) {
      return now;
    }
    return start(ticker);
  }

  /**
   * Starts a new epoch now, whatever the current one's age: publishes its number, then reads the
   * clock. Returns that reading.
   */
  long start(Ticker ticker) {
    long next = number + 1;
    epoch = next;
    // If this read throws, `number` stays put: the retry publishes the same number again, so no
    // number is ever in use (by the ring, or by releasedBefore) without a time of its own.
    long now = ticker.read();
    times[(int) (next & mask)] = now;
    number = next;
    return now;
  }
}
