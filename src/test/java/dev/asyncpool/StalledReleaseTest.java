package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Issue 10, item 7: the expiry task looks only at the head of its queue of idle entries, assuming
 * that queue order is stamp order. A release that stalls between reading the clock and queueing
 * its entry breaks that: its older stamp waits behind a newer one. The TTL's Javadoc states the
 * bound that still holds: never early, and late by at most that stall (plus the usual lateness).
 */
class StalledReleaseTest extends PoolTestSupport {

  /** The test's fake ticker, except that one chosen thread stalls just after its next read. */
  static final class StallingTicker implements Ticker {
    private final Ticker ticker;
    private final CountDownLatch stalled = new CountDownLatch(1);
    private final CountDownLatch resume = new CountDownLatch(1);
    private volatile Thread victim;

    StallingTicker(Ticker ticker) {
      this.ticker = ticker;
    }

    @Override
    public long read() {
      long now = ticker.read();
      if (Thread.currentThread() == victim) {
        victim = null;
        stalled.countDown();
        await(resume);
      }
      return now;
    }

    /** The next read on {@code thread} returns only once {@link #resume()} is called. */
    void stallNextReadOn(Thread thread) {
      victim = thread;
    }

    void awaitStalled() {
      await(stalled);
    }

    void resume() {
      resume.countDown();
    }

    private static void await(CountDownLatch latch) {
      try {
        if (!latch.await(10, TimeUnit.SECONDS)) {
          throw new AssertionError("the stalled release never got that far");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
  }

  @Test
  void aReleaseStalledBeforeQueueingClosesLateByTheStallButNeverEarly() throws Exception {
    Duration ttl = Duration.ofSeconds(10);
    Duration stall = Duration.ofSeconds(5);
    StallingTicker stalling = new StallingTicker(ticker);
    pool =
        Pool.newBuilder()
            .ticker(stalling)
            .scheduler(scheduler)
            .executor(directExecutor)
            .name("test-pool")
            .ttl(ttl)
            .build(factory);
    Lease<TestResource> lease = pool.get("a");
    TestResource a = lease.get();
    Thread releaser = new Thread(lease::close, "stalled-releaser");
    stalling.stallNextReadOn(releaser);
    releaser.start();
    stalling.awaitStalled(); // "a" went idle at t=0; its releaser read the clock and stalled
    ticker.advance(stall);
    TestResource b = lease("b"); // t=5: "b" is queued first, with the later stamp
    stalling.resume();
    releaser.join(); // "a" is queued behind "b", with its stamp of t=0

    scheduler.advance(ttl.minus(stall).minusMillis(1)); // t=9.999
    assertThat(a.closes).as("never before the TTL since its release").hasValue(0);
    scheduler.advance(stall.plus(LeaseAndTtlTest.mostLate(ttl)).plusMillis(1));
    assertThat(a.closes).as("by TTL + the stall + the usual lateness").hasValue(1);
    assertThat(b.closes).as("\"b\" by its own TTL").hasValue(1);
  }
}
