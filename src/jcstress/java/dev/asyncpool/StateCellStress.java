package dev.asyncpool;

import static dev.asyncpool.PoolEntry.REF;
import static dev.asyncpool.PoolEntry.STATE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import org.openjdk.jcstress.infra.results.IIII_Result;
import org.openjdk.jcstress.infra.results.ZII_Result;

/**
 * jcstress tests of {@link PoolEntry}'s packed state word: two threads race one step each of the
 * lease protocol, each a call of the method {@code KeyedPool} makes ({@link PoolEntry#retain},
 * {@link PoolEntry#release}, {@link PoolEntry#claimIdle}, {@link PoolEntry#retire}, {@link
 * PoolEntry#forceClaim}: every transition of the word lives there), and an arbiter reads the word
 * after both. Every outcome
 * not listed as acceptable is forbidden: a lease taken on an entry whose close was claimed, a
 * close claimed twice or never, a lease count gone wrong.
 *
 * <p>Results: a retain reports 1 leased, 0 refused, 2 refused and its undo claimed the close; a
 * release reports 0 nothing, 1 made the entry idle, 2 claimed the close; {@code retire()} reports
 * 1 retired and claimed, 0 retired with leases open, -1 already retired; the arbiter reports the
 * lease count left (-1 if it went below zero).
 */
final class StateCellStress {

  private StateCellStress() {}

  /** What a release did: nothing more; made a live entry idle (queued for expiry); claimed it. */
  static final int NOTHING = 0;

  static final int MADE_IDLE = 1;
  static final int CLAIMED_CLOSE = 2;

  /** A pool entry holding {@code leases} leases, its creation done. */
  static PoolEntry<String, Object> entry(int leases) {
    PoolEntry<String, Object> entry = PoolEntry.creating("k", 0L); // holds the creator's share
    entry.value = "instance";
    STATE.getAndAdd(entry, (leases - 1) * REF);
    return entry;
  }

  /** {@link PoolEntry#release}'s answer as a result code (the pool stamps an idle state). */
  static int released(PoolEntry<?, ?> entry) {
    long state = entry.release();
    return state == PoolEntry.KEPT ? NOTHING : state == PoolEntry.CLAIM ? CLAIMED_CLOSE : MADE_IDLE;
  }

  /**
   * A release with a zero TTL or in a closed pool: {@code KeyedPool.onIdle} claims the entry the
   * release left idle at once, from the state it left.
   */
  static int releaseClosingAtZero(PoolEntry<?, ?> entry) {
    long state = entry.release();
    if (state == PoolEntry.KEPT) {
      return NOTHING;
    }
    return state == PoolEntry.CLAIM || entry.claimIdle(state) ? CLAIMED_CLOSE : NOTHING;
  }

  /** The lease count the word holds now, or -1 if its bits are not a sane count. */
  static int leases(PoolEntry<?, ?> entry) {
    int leases = PoolEntry.leases(entry.state);
    return leases > 1_000 ? -1 : leases; // a count gone below zero wraps to about 2^30
  }

  /** A lease requested while {@code invalidate} or shutdown retires an idle entry. */
  @JCStressTest
  @Outcome(id = "1, 0, 1", expect = ACCEPTABLE, desc = "leased first; retired, its release will close it")
  @Outcome(id = "0, 1, 0", expect = ACCEPTABLE, desc = "retired and claimed first; the retain was refused and undone")
  @Outcome(expect = FORBIDDEN, desc = "leased after the close was claimed, claimed twice, or a count gone wrong")
  @State
  public static class RetainVsRetire {
    final PoolEntry<String, Object> entry = entry(0);

    @Actor
    public void lease(III_Result r) {
      r.r1 = entry.retain();
    }

    @Actor
    public void retire(III_Result r) {
      r.r2 = entry.retire();
    }

    @Arbiter
    public void after(III_Result r) {
      r.r3 = leases(entry);
    }
  }

  /** A lease requested while the expiry task retires the idle entry it found due. */
  @JCStressTest
  @Outcome(id = "1, 0, 1", expect = ACCEPTABLE, desc = "leased first; the expiry's CAS failed, it stays open")
  @Outcome(id = "0, 2, 0", expect = ACCEPTABLE, desc = "expired first; the retain was refused and undone")
  @Outcome(expect = FORBIDDEN, desc = "leased an expired entry, claimed twice, or a count gone wrong")
  @State
  public static class RetainVsExpiry {
    final PoolEntry<String, Object> entry = entry(0);

    @Actor
    public void lease(III_Result r) {
      r.r1 = entry.retain();
    }

    @Actor
    public void expire(III_Result r) {
      r.r2 = entry.claimIdle(entry.state) ? CLAIMED_CLOSE : NOTHING;
    }

    @Arbiter
    public void after(III_Result r) {
      r.r3 = leases(entry);
    }
  }

  /** The last lease of an invalidated entry ends while another request tries to lease it. */
  @JCStressTest
  @Outcome(id = "2, 0, 0", expect = ACCEPTABLE, desc = "the release claimed the close; the retain was refused")
  @Outcome(id = "0, 2, 0", expect = ACCEPTABLE, desc = "the refused retain's undo was the last release: it claimed")
  @Outcome(expect = FORBIDDEN, desc = "leased a retired entry, closed twice or never, or a count gone wrong")
  @State
  public static class LastReleaseOfRetiredVsRetain {
    final PoolEntry<String, Object> entry = entry(1);

    {
      entry.retire(); // invalidated while leased
    }

    @Actor
    public void release(III_Result r) {
      r.r1 = released(entry);
    }

    @Actor
    public void lease(III_Result r) {
      r.r2 = entry.retain();
    }

    @Arbiter
    public void after(III_Result r) {
      r.r3 = leases(entry);
    }
  }

  /** With a zero TTL (or a closed pool) the last release closes at once, racing a new lease. */
  @JCStressTest
  @Outcome(id = "2, 0, 0", expect = ACCEPTABLE, desc = "the release claimed the close; the retain was refused")
  @Outcome(id = "0, 1, 1", expect = ACCEPTABLE, desc = "the retain got in first; the release left it open")
  @Outcome(expect = FORBIDDEN, desc = "leased while claimed, closed twice or never, or a count gone wrong")
  @State
  public static class ReleaseToZeroVsRetain {
    final PoolEntry<String, Object> entry = entry(1);

    @Actor
    public void release(III_Result r) {
      r.r1 = releaseClosingAtZero(entry);
    }

    @Actor
    public void lease(III_Result r) {
      r.r2 = entry.retain();
    }

    @Arbiter
    public void after(III_Result r) {
      r.r3 = leases(entry);
    }
  }

  /** The last two leases of an invalidated entry end together: exactly one claims the close. */
  @JCStressTest
  @Outcome(id = "2, 0, 0, 2", expect = ACCEPTABLE, desc = "the first release claimed the close")
  @Outcome(id = "0, 2, 0, 2", expect = ACCEPTABLE, desc = "the second release claimed the close")
  @Outcome(expect = FORBIDDEN, desc = "closed twice or never, a release lost, or a count gone wrong")
  @State
  public static class ReleaseVsReleaseRetired {
    final PoolEntry<String, Object> entry = entry(2);
    final int generation = PoolEntry.generation(entry.state);

    {
      entry.retire();
    }

    @Actor
    public void first(IIII_Result r) {
      r.r1 = released(entry);
    }

    @Actor
    public void second(IIII_Result r) {
      r.r2 = released(entry);
    }

    @Arbiter
    public void after(IIII_Result r) {
      r.r3 = leases(entry);
      r.r4 = PoolEntry.generation(entry.state) - generation; // one generation per release
    }
  }

  /** The last two leases of a live entry end together: exactly one makes it idle (and queues it). */
  @JCStressTest
  @Outcome(id = "1, 0, 0, 2", expect = ACCEPTABLE, desc = "the first release made it idle")
  @Outcome(id = "0, 1, 0, 2", expect = ACCEPTABLE, desc = "the second release made it idle")
  @Outcome(expect = FORBIDDEN, desc = "idled twice or never, a release lost, or a count gone wrong")
  @State
  public static class ReleaseVsReleaseLive {
    final PoolEntry<String, Object> entry = entry(2);
    final int generation = PoolEntry.generation(entry.state);

    @Actor
    public void first(IIII_Result r) {
      r.r1 = released(entry);
    }

    @Actor
    public void second(IIII_Result r) {
      r.r2 = released(entry);
    }

    @Arbiter
    public void after(IIII_Result r) {
      r.r3 = leases(entry);
      r.r4 = PoolEntry.generation(entry.state) - generation;
    }
  }

  /** {@code invalidate} and shutdown retire the same idle entry: it is retired and claimed once. */
  @JCStressTest
  @Outcome(id = "1, -1, 1", expect = ACCEPTABLE, desc = "the first retired and claimed it")
  @Outcome(id = "-1, 1, 1", expect = ACCEPTABLE, desc = "the second retired and claimed it")
  @Outcome(expect = FORBIDDEN, desc = "retired twice, or not retired and claimed at the end")
  @State
  public static class RetireVsRetire {
    final PoolEntry<String, Object> entry = entry(0);

    @Actor
    public void invalidate(III_Result r) {
      r.r1 = entry.retire();
    }

    @Actor
    public void shutdown(III_Result r) {
      r.r2 = entry.retire();
    }

    @Arbiter
    public void after(III_Result r) {
      long s = entry.state;
      r.r3 = PoolEntry.isRetired(s) && PoolEntry.isClaimed(s) && leases(entry) == 0 ? 1 : 0;
    }
  }

  /** A grace period's end force-claims a leased entry while its last lease is released. */
  @JCStressTest
  @Outcome(id = "true, 0, 0", expect = ACCEPTABLE, desc = "force-claimed first; the release found it claimed")
  @Outcome(id = "false, 2, 0", expect = ACCEPTABLE, desc = "the release claimed first; the force-claim failed")
  @Outcome(expect = FORBIDDEN, desc = "claimed twice or never, or a count gone wrong")
  @State
  public static class ForceClaimVsLastRelease {
    final PoolEntry<String, Object> entry = entry(1);

    {
      entry.retire(); // shutdown retired it while leased
    }

    @Actor
    public void graceOver(ZII_Result r) {
      r.r1 = entry.forceClaim();
    }

    @Actor
    public void release(ZII_Result r) {
      r.r2 = released(entry);
    }

    @Arbiter
    public void after(ZII_Result r) {
      r.r3 = leases(entry);
    }
  }
}
