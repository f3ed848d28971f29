package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/** Issue 10, items 2 and 3: {@code invalidate} must lose no instance, whatever runs inside it. */
class InvalidateFaultsTest extends PoolTestSupport {

  /** A key whose {@code hashCode} throws on one chosen call from now, counting from 1. */
  static final class TrippingKey {
    final AtomicInteger callsUntilThrow = new AtomicInteger(-1);

    void throwOnCall(int call) {
      callsUntilThrow.set(call);
    }

    @Override
    public int hashCode() {
      if (callsUntilThrow.decrementAndGet() == 0) {
        throw new IllegalStateException("hashCode failed");
      }
      return 42;
    }

    @Override
    public boolean equals(Object other) {
      return other == this;
    }

    @Override
    public String toString() {
      return "tripping-key";
    }
  }

  @Test
  void invalidateWhoseKeyHashCodeThrowsOnTheRemovalStillClosesTheIdleInstance() {
    Pool<TrippingKey, TestResource> keyed =
        settings().ttl(Duration.ofMinutes(5)).build(factory);
    TrippingKey key = new TrippingKey();
    keyed.get(key).close(); // idle now
    TestResource resource = factory.created.get(0);

    key.throwOnCall(2); // 1: invalidate's look-up; 2: its removal, after the entry was claimed
    Throwable thrown = catchThrowable(() -> keyed.invalidate(key));

    assertThat(resource.closes)
        .as("the claimed instance is closed (invalidate threw: %s)", thrown)
        .hasValue(1);
    assertThat(thrown).as("a failed removal is logged, not thrown").isNull();
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: removing key tripping-key from the map failed"
                + " | IllegalStateException");
    assertThat(keyed.closeAsync(Duration.ZERO)).succeedsWithin(Duration.ZERO);
  }

  @Test
  void gracePeriodEndingInsideInvalidateStillClosesTheLeasedInstance() {
    AtomicReference<Pool<String, TestResource>> self = new AtomicReference<>();
    AtomicReference<CompletableFuture<Void>> shutdown = new AtomicReference<>();
    pool =
        settings()
            .ttl(Duration.ofMinutes(5))
            .listener(
                new PoolListener<String, TestResource>() {
                  @Override
                  public void onInvalidated(String key, TestResource resource) {
                    // Runs after the entry left the map and before invalidate returns.
                    shutdown.set(self.get().closeAsync(Duration.ZERO));
                  }
                })
            .build(factory);
    self.set(pool);
    Lease<TestResource> held = pool.get("held"); // never closed

    pool.invalidate("held");

    assertThat(held.get().closes)
        .as("the grace period is over: the leased instance is closed anyway")
        .hasValue(1);
    assertThat(shutdown.get()).succeedsWithin(Duration.ZERO);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: closing the instance for key held with 1 lease(s) still open:"
                + " grace period over");
  }
}
