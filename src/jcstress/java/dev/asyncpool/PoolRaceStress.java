package dev.asyncpool;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

/**
 * jcstress tests through the real pool ({@code get}, {@code invalidate}, {@code Lease.close}),
 * where {@link StateCellStress} isolates the state word: the lease a request gets is of an
 * instance that is not closed and is not closed while the lease is open; an instance replaced
 * is closed. Closes run inline (the executor runs tasks at once), so the arbiter sees them.
 *
 * <p>Results: the lease got 1 the old instance, 2 a new one, 3 an instance already closing; the
 * old instance's close count at the end.
 */
final class PoolRaceStress {

  private PoolRaceStress() {}

  /** An instance that counts its closes. */
  static final class Counted implements AsyncResource {
    final AtomicInteger closes = new AtomicInteger();

    @Override
    public CompletionStage<Void> openAsync() {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      closes.incrementAndGet();
      return CompletableFuture.completedFuture(null);
    }
  }

  /**
   * A pool that closes inline and schedules nothing. A TTL too long for nanoseconds means never:
   * any finite TTL would leave an expiry task on asyncpool's shared scheduler holding each of
   * the millions of pools jcstress makes until it fell due.
   */
  static Pool<String, Counted> pool(Duration ttl) {
    return Pool.newBuilder()
        .executor(Runnable::run)
        .ttl(ttl)
        .name("jcstress")
        .build(key -> new Counted());
  }

  static final Duration NEVER = Duration.ofSeconds(Long.MAX_VALUE);

  static int which(Lease<Counted> lease, Counted old) {
    Counted leased = lease.get();
    if (leased.closes.get() != 0) {
      return 3;
    }
    return leased == old ? 1 : 2;
  }

  /** A lease requested while {@code invalidate} retires the key's idle instance. */
  @JCStressTest
  @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "leased the old instance; it closes at the lease's release")
  @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "invalidated and closed first; the lease got a new instance")
  @Outcome(expect = FORBIDDEN, desc = "leased a closing instance, closed one leased, or leaked the old")
  @State
  public static class GetVsInvalidate {
    final Pool<String, Counted> pool = pool(NEVER);
    final Counted old;

    {
      try (Lease<Counted> lease = pool.get("k")) {
        old = lease.get();
      }
    }

    @Actor
    public void get(II_Result r) {
      r.r1 = which(pool.get("k"), old); // left open: the arbiter checks it was not closed
    }

    @Actor
    public void invalidate() {
      pool.invalidate("k");
    }

    @Arbiter
    public void after(II_Result r) {
      r.r2 = old.closes.get();
    }
  }

  /** With a zero TTL the last lease's close closes the instance, racing a new request. */
  @JCStressTest
  @Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the request got in first and shares the old instance")
  @Outcome(id = "2, 1", expect = ACCEPTABLE, desc = "the old instance closed first; the request got a new one")
  @Outcome(expect = FORBIDDEN, desc = "leased a closing instance, closed one leased, or leaked the old")
  @State
  public static class LastCloseVsGetAtZeroTtl {
    final Pool<String, Counted> pool = pool(Duration.ZERO);
    final Lease<Counted> held = pool.get("k");
    final Counted old = held.get();

    @Actor
    public void close() {
      held.close();
    }

    @Actor
    public void get(II_Result r) {
      r.r1 = which(pool.get("k"), old);
    }

    @Arbiter
    public void after(II_Result r) {
      r.r2 = old.closes.get();
    }
  }
}
