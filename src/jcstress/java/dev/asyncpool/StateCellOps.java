package dev.asyncpool;

import static dev.asyncpool.PoolEntry.CLAIMED;
import static dev.asyncpool.PoolEntry.REF;
import static dev.asyncpool.PoolEntry.REFS;
import static dev.asyncpool.PoolEntry.RELEASE;
import static dev.asyncpool.PoolEntry.RETIRED;
import static dev.asyncpool.PoolEntry.STATE;

/**
 * The steps {@code KeyedPool.retain}, {@code KeyedPool.release} and the expiry task take on a
 * {@link PoolEntry}'s state word, atomic for atomic, without the map, clock and executor around
 * them. {@code retire}, {@code claimIfIdle} and {@code forceClaim} are {@link PoolEntry}'s own.
 * Keep these in step with {@code KeyedPool} (its design note lists who may move the word).
 */
final class StateCellOps {

  /** What a retain did: took a lease; was refused; was refused and its undo claimed the close. */
  static final int LEASED = 1;
  static final int REFUSED = 0;
  static final int REFUSED_AND_CLAIMED = 2;

  /** What a release did: nothing more; made a live entry idle (queued for expiry); claimed it. */
  static final int NOTHING = 0;
  static final int MADE_IDLE = 1;
  static final int CLAIMED_CLOSE = 2;

  private StateCellOps() {}

  /** A pool entry holding {@code leases} leases, its creation done. */
  static PoolEntry<String, Object> entry(int leases) {
    PoolEntry<String, Object> entry = PoolEntry.creating("k", 0L); // holds the creator's share
    entry.value = "instance";
    STATE.getAndAdd(entry, (leases - 1) * REF);
    return entry;
  }

  /** {@code KeyedPool.retain}: one unconditional add; on a retired entry, undone by a release. */
  static int retain(PoolEntry<?, ?> entry) {
    long previous = (long) STATE.getAndAdd(entry, REF);
    if ((previous & RETIRED) == 0) {
      return LEASED;
    }
    return release(entry) == CLAIMED_CLOSE ? REFUSED_AND_CLAIMED : REFUSED;
  }

  /** {@code KeyedPool.release} with a TTL: the last release claims a retired entry, else idles it. */
  static int release(PoolEntry<?, ?> entry) {
    long previous = (long) STATE.getAndAdd(entry, RELEASE);
    if ((previous & REFS) != REF) {
      return NOTHING;
    }
    long state = previous + RELEASE;
    if ((state & RETIRED) != 0) {
      return entry.claimIfIdle() ? CLAIMED_CLOSE : NOTHING;
    }
    return MADE_IDLE;
  }

  /** {@code KeyedPool.release} with a zero TTL or a closed pool: the last release closes at once. */
  static int releaseClosingAtZero(PoolEntry<?, ?> entry) {
    long previous = (long) STATE.getAndAdd(entry, RELEASE);
    if ((previous & REFS) != REF) {
      return NOTHING;
    }
    long state = previous + RELEASE;
    if ((state & RETIRED) != 0) {
      return entry.claimIfIdle() ? CLAIMED_CLOSE : NOTHING;
    }
    // Fails if a retain came in since our add: then that lease's release decides.
    return STATE.compareAndSet(entry, state, state | RETIRED | CLAIMED) ? CLAIMED_CLOSE : NOTHING;
  }

  /** The expiry task's CAS: expire an entry only from the idle state it checked. */
  static int expire(PoolEntry<?, ?> entry) {
    long state = entry.state;
    if ((state & (REFS | RETIRED)) != 0) {
      return NOTHING; // leased or already retired: the task drops it
    }
    return STATE.compareAndSet(entry, state, state | RETIRED | CLAIMED) ? CLAIMED_CLOSE : NOTHING;
  }

  /** The lease count the word holds now, or -1 if its bits are not a sane count. */
  static int leases(PoolEntry<?, ?> entry) {
    int leases = PoolEntry.leases(entry.state);
    return leases > 1_000 ? -1 : leases; // a count gone below zero wraps to about 2^30
  }
}
