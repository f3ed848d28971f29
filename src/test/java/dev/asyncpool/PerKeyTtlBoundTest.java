package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Per-key TTLs under a bound: the idle instance due to expire soonest makes room first, a pinned
 * one only once nothing that expires is idle, a leased one never; and nothing exceeds the bound.
 */
class PerKeyTtlBoundTest extends PoolTestSupport {

  private final List<String> evicted = new CopyOnWriteArrayList<>();


  private void bounded(int max) {
    boundedPerKey(max, PoolTestSupport::ttlFromKey, evicted);
  }


  @Test
  void theIdleInstanceDueSoonestMakesRoomAndPinnedOnesGoLast() {
    bounded(4);
    lease("pinned");
    lease("a=100"); // due at 100 s
    scheduler.advance(Duration.ofSeconds(1));
    lease("b=10"); // due at 11 s
    lease("c=60"); // due at 61 s
    scheduler.advance(Duration.ofMillis(500));
    requestRoom("x=1000");
    requestRoom("y=1000");
    requestRoom("z=1000");
    assertThat(evicted).containsExactly("b=10", "c=60", "a=100");
    requestRoom("w=1000");
    assertThat(evicted).hasSize(4);
    assertThat(evicted.get(3)).as("x, y and z, due together, go before pinned").isIn("x=1000", "y=1000", "z=1000");
    assertThat(mostExisting).as("never above the bound").hasValue(4);
  }

  @Test
  void aPinnedKeyIsEvictedOnlyWhenNothingThatExpiresIsIdle() {
    bounded(2);
    lease("pinned");
    lease("a=3600");
    requestRoom("b=5");
    assertThat(evicted).containsExactly("a=3600");
    requestRoom("c=5");
    assertThat(evicted).containsExactly("a=3600", "b=5");
    try (Lease<TestResource> held = pool.get("c=5")) {
      requestRoom("d=5");
      assertThat(evicted).as("c is leased: the pinned key makes room").containsExactly("a=3600", "b=5", "pinned");
      assertThat(held.get().closes).hasValue(0);
    }
    assertThat(mostExisting).hasValue(2);
  }

  @Test
  void aLeasedInstanceIsNeverEvictedAndARequestWaitsForItsRelease() {
    bounded(1);
    Lease<TestResource> held = pool.get("a=1");
    TestResource a = held.get();
    CompletableFuture<Lease<TestResource>> waiting = pool.acquire("b=1");
    scheduler.runDue();
    assertThat(waiting).isNotDone();
    scheduler.advance(Duration.ofSeconds(3)); // a's TTL is long past, but it is leased
    assertThat(a.closes).hasValue(0);
    held.close(); // idle now: it makes room
    scheduler.runDue();
    assertThat(waiting).isCompleted();
    assertThat(a.closes).hasValue(1);
    assertThat(evicted).containsExactly("a=1");
    waiting.join().close();
  }

  @Test
  void anInstanceReleasedInItsCurrentEpochGoesAfterOlderOnes() {
    bounded(2);
    lease("a=64"); // epochs of 1 s (2^36 ns / 64)
    lease("b=64");
    scheduler.advance(Duration.ofSeconds(3)); // the task owns both
    lease("b=64"); // warm: stamped with the current epoch
    lease("a=64"); // warm too, later, but in the same epoch: both are "recent"
    scheduler.advance(Duration.ofSeconds(2)); // new epochs: both stamps now resolve
    lease("a=64"); // a released last, in the current epoch
    requestRoom("c=64");
    assertThat(evicted).as("b was released before a").containsExactly("b=64");
  }
}
