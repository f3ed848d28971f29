package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Field;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Issue 10, item 6: the release generation in an entry's state word is 32 bits, so it comes round
 * again after 2^32 releases. An idle stamp left over from 2^32 releases ago must never pass for
 * the stamp of the release that just made the entry idle, even when that release could not read
 * the clock. The review showed it with a real loop of 2^32 - 1 lease pairs (72 s); here the
 * generation is moved in one step.
 */
class GenerationWrapAroundTest extends PoolTestSupport {

  /** The test's fake ticker, except that the next read can be made to throw. */
  static final class FailingTicker implements Ticker {
    private final Ticker ticker;
    private volatile boolean failNext;

    FailingTicker(Ticker ticker) {
      this.ticker = ticker;
    }

    void failNextRead() {
      failNext = true;
    }

    @Override
    public long read() {
      if (failNext) {
        failNext = false;
        throw new IllegalStateException("clock source unavailable");
      }
      return ticker.read();
    }
  }

  /** The entry a lease holds a share of. */
  static PoolEntry<?, ?> entryOf(Lease<?> lease) {
    try {
      Field entry = PooledLease.class.getDeclaredField("entry");
      entry.setAccessible(true);
      return (PoolEntry<?, ?>) entry.get(lease);
    } catch (ReflectiveOperationException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void aStampFromTwoToThe32ReleasesAgoIsNeverTrusted() {
    Duration ttl = Duration.ofSeconds(10);
    FailingTicker failing = new FailingTicker(ticker);
    pool =
        Pool.newBuilder()
            .ticker(failing)
            .scheduler(scheduler)
            .executor(directExecutor)
            .name("test-pool")
            .ttl(ttl)
            .build(factory);
    TestResource resource = lease("k"); // t=0: idle in generation 1, stamped 0 s, queued
    Lease<TestResource> held = pool.get("k");
    scheduler.advance(Duration.ofSeconds(1)); // the expiry task found "k" leased and let go of it
    // 2^32 - 1 leases and releases of "k" while `held` is open, in one step: each pair adds one
    // generation, so together they take it one below where it was when "k" last went idle.
    PoolEntry<?, ?> entry = entryOf(held);
    PoolEntry.STATE.getAndAdd(entry, -PoolEntry.GEN);
    ticker.advance(Duration.ofSeconds(59)); // t=60 s
    failing.failNextRead();
    held.close(); // the last release: generation 1 again, and its clock read throws
    assertThat(PoolLog.lines(org.slf4j.event.Level.ERROR))
        .as("the broken ticker, logged once at ERROR with the key")
        .containsExactly("ERROR test-pool: the ticker failed while key k went idle"
            + " | IllegalStateException");
    long idle = entry.idle();
    assertThat(PoolEntry.idleGeneration(idle)).isEqualTo(PoolEntry.generation(entry.state));
    assertThat(PoolEntry.isEpochStamp(PoolEntry.idleStamp(idle)))
        .as("stamped with the expiry task's epoch, the bound that needs no clock")
        .isTrue();
    assertThat(PoolLog.lines())
        .containsExactly(
            "ERROR test-pool: the ticker failed while key k went idle | IllegalStateException");
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(resource.closes)
        .as("closed 1 s after its last release with a 10 s TTL (trusted the stamp of t=0)")
        .hasValue(0);
    scheduler.advance(ttl.plus(LeaseAndTtlTest.mostLate(ttl)));
    assertThat(resource.closes).as("still expires, a TTL after its last release").hasValue(1);
  }
}
