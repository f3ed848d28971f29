package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.event.Level;

/**
 * Issue 12: {@code maxLifetime} closes an idle instance past its lifetime, replaces a leased one
 * with no gap, keeps it when the replacement fails and tries again, and spreads the lifetimes of
 * instances made together. On the fake clock and the manual scheduler.
 */
@Timeout(30)
class MaxLifetimeTest extends PoolTestSupport {

  private static final Duration LIFETIME = Duration.ofMinutes(10);
  private static final Duration LONG_TTL = Duration.ofHours(5);

  final List<String> events = new CopyOnWriteArrayList<>();

  /** When the factory failed, on the fake clock. */
  final AtomicLong failedAt = new AtomicLong();

  /** Calls of the factory {@link #secondCallFails} made so far. */
  final AtomicInteger calls = new AtomicInteger();

  /** {@link #factory}, except that its second call (the first replacement) fails, at failedAt. */
  private java.util.function.Function<String, TestResource> secondCallFails() {
    return key -> {
      if (calls.incrementAndGet() == 2) {
        failedAt.set(ticker.read());
        throw new IllegalStateException("token service down");
      }
      return factory.apply(key);
    };
  }

  final PoolListener<String, TestResource> recorder =
      new PoolListener<>() {
        @Override
        public void onExpired(String key, TestResource resource) {
          events.add("expired " + factory.created.indexOf(resource));
        }

        @Override
        public void onRefreshed(String key, TestResource previous, TestResource resource) {
          events.add(
              "replaced " + factory.created.indexOf(previous) + " by "
                  + factory.created.indexOf(resource));
        }
      };

  private Duration beforeItsEarliestEnd() {
    return LIFETIME.multipliedBy(9).dividedBy(10).minusMillis(1);
  }

  @Test
  void anIdleInstancePastItsLifetimeIsClosedAsExpired() {
    pool = settings().ttl(LONG_TTL).maxLifetime(LIFETIME).listener(recorder).build(factory);
    TestResource first = lease("a");

    scheduler.advance(beforeItsEarliestEnd());
    assertThat(first.closes).as("not before 0.9 of its lifetime").hasValue(0);
    scheduler.advance(LIFETIME.dividedBy(10).plusMillis(1));

    assertThat(first.closes).as("closed by its lifetime's end").hasValue(1);
    assertThat(events).containsExactly("expired 0");
    assertThat(pool.stats().expirations()).isEqualTo(1);
    assertThat(lease("a")).as("the next request creates a new one").isNotSameAs(first);
  }

  @Test
  void aLeasedInstanceIsReplacedWithNoGapAndClosesAtItsLastRelease() {
    pool = settings().ttl(LONG_TTL).maxLifetime(LIFETIME).listener(recorder).build(factory);
    Lease<TestResource> held = pool.get("a");

    scheduler.advance(LIFETIME);

    assertThat(factory.created).as("replaced in the background").hasSize(2);
    assertThat(held.get().closes).as("never under its lease").hasValue(0);
    assertThat(lease("a")).isSameAs(factory.created.get(1));
    held.close();
    assertThat(factory.created.get(0).closes).hasValue(1);
    assertThat(events).containsExactly("replaced 0 by 1");
    assertThat(pool.stats().refreshes()).isEqualTo(1);
  }

  @Test
  void theReplacementHasALifetimeOfItsOwn() {
    pool = settings().ttl(LONG_TTL).maxLifetime(LIFETIME).build(factory);
    Lease<TestResource> held = pool.get("a");
    scheduler.advance(LIFETIME);
    held.close();
    Lease<TestResource> second = pool.get("a");

    scheduler.advance(LIFETIME);

    assertThat(factory.created).as("the second one replaced in turn").hasSize(3);
    second.close();
    assertThat(factory.created.get(1).closes).hasValue(1);
  }

  @Test
  void aFailedReplacementLeavesTheOldInstanceServingAndIsTriedAgainASecondLater() {
    pool =
        settings()
            .ttl(LONG_TTL)
            .maxLifetime(LIFETIME)
            .build(secondCallFails());
    Lease<TestResource> held = pool.get("a");

    advanceUntilCalled(calls, 2);
    assertThat(lease("a")).as("the old instance serves on").isSameAs(held.get());
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: refreshing key a failed; its current instance stays in service"
                + " | IllegalStateException");

    advanceTo(failedAt.get() + Duration.ofMillis(999).toNanos());
    assertThat(calls).as("not before a second").hasValue(2);
    scheduler.advance(Duration.ofMillis(1));
    assertThat(calls).hasValue(3);
    assertThat(lease("a")).isSameAs(factory.created.get(1));
    held.close();
    assertThat(factory.created.get(0).closes).hasValue(1);
  }

  @Test
  void withARetryBackoffAFailedReplacementIsTriedAgainWhenTheBackoffEnds() {
    pool =
        settings()
            .ttl(LONG_TTL)
            .maxLifetime(LIFETIME)
            .retryBackoff(Duration.ofSeconds(20), Duration.ofSeconds(20))
            .build(secondCallFails());
    Lease<TestResource> held = pool.get("a");
    advanceUntilCalled(calls, 2);

    advanceTo(failedAt.get() + Duration.ofSeconds(10).toNanos() - 1); // the wait: from [10 s, 20 s]
    assertThat(calls).as("not within the backoff").hasValue(2);
    scheduler.advance(Duration.ofSeconds(10).plusNanos(1));
    assertThat(calls).hasValue(3);
    assertThat(lease("a")).isSameAs(factory.created.get(1));
    held.close();
    PoolLog.lines(Level.WARN); // the failed replacement, read
  }

  @Test
  void lifetimesOfInstancesMadeTogetherAreSpreadOverTheirLastTenth() {
    Duration lifetime = Duration.ofSeconds(100);
    pool = settings().ttl(LONG_TTL).maxLifetime(lifetime).build(factory);
    for (int i = 0; i < 200; i++) {
      lease("k" + i);
    }
    scheduler.advance(Duration.ofSeconds(90).minusMillis(1));
    assertThat(factory.created).allSatisfy(r -> assertThat(r.closes).hasValue(0));

    Set<Integer> closedAtSecond = new TreeSet<>();
    int closedBefore = 0;
    for (int second = 90; second <= 100; second++) {
      scheduler.advance(second == 90 ? Duration.ofMillis(1) : Duration.ofSeconds(1));
      int closed = (int) factory.created.stream().filter(TestResource::isClosed).count();
      if (closed > closedBefore) {
        closedAtSecond.add(second);
      }
      closedBefore = closed;
    }

    assertThat(factory.created).allSatisfy(r -> assertThat(r.closes).hasValue(1));
    assertThat(closedAtSecond)
        .as("spread over the last tenth, not all at once")
        .hasSizeGreaterThan(5);
  }

  @Test
  void anInstanceClosedBeforeItsLifetimeEndsIsLeftAlone() {
    pool = settings().ttl(Duration.ofMinutes(1)).maxLifetime(LIFETIME).build(factory);
    TestResource first = lease("a");
    scheduler.advance(Duration.ofMinutes(2));
    assertThat(first.closes).as("expired by its TTL").hasValue(1);

    scheduler.advance(LIFETIME);

    assertThat(factory.created).as("nothing created for a key nobody asked for").hasSize(1);
    assertThat(first.closes).hasValue(1);
  }

  @Test
  void theBuilderRefusesALifetimeThatIsNotPositiveOrSetTwice() {
    assertThatThrownBy(() -> Pool.newBuilder().maxLifetime(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxLifetime must be positive: PT0S");
    assertThatThrownBy(() -> Pool.newBuilder().maxLifetime(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxLifetime must be positive: PT-1S");
    assertThatThrownBy(() -> Pool.newBuilder().maxLifetime(LIFETIME).maxLifetime(LIFETIME))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("maxLifetime was already set to PT10M");
    assertThatThrownBy(() -> Pool.newBuilder().maxLifetime(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("maxLifetime");
  }

  /**
   * Advances the clock a second at a time until the factory was called {@code calls} times:
   * nothing scheduled a second or more after that call has run yet.
   */
  private void advanceUntilCalled(AtomicInteger counter, int calls) {
    for (int i = 0; i < 1_000 && counter.get() < calls; i++) {
      scheduler.advance(Duration.ofSeconds(1));
    }
    assertThat(counter).hasValue(calls);
  }

  private void advanceTo(long time) {
    long now = ticker.read();
    if (time > now) {
      scheduler.advance(Duration.ofNanos(time - now));
    }
  }
}
