package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Issue 10's suspicions about expiry, decided: user code that throws where the expiry task hands
 * instances to their close, or a scheduler that fails other than by rejecting, must stop no
 * expiry.
 */
class ExpiryFaultsTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofSeconds(1);

  /** An {@link Error} of the key's own, as an assertion or a linkage failure would be. */
  static final class KeyError extends Error {
    private static final long serialVersionUID = 1L;

    KeyError() {
      super("hashCode failed");
    }
  }

  /** A key whose {@code hashCode} throws an {@link Error} once told to. */
  static final class BrokenKey {
    volatile boolean broken;

    @Override
    public int hashCode() {
      if (broken) {
        throw new KeyError();
      }
      return 7;
    }

    @Override
    public boolean equals(Object other) {
      return other == this;
    }

    @Override
    public String toString() {
      return "broken-key";
    }
  }

  @Test
  void errorFromAKeysHashCodeInTheBatchCloseLosesNoOtherClose() {
    Pool<Object, TestResource> mixed = settings().ttl(TTL).build(factory);
    BrokenKey broken = new BrokenKey();
    mixed.get(broken).close(); // idle first: first in the expiry task's batch
    mixed.get("fine").close();
    broken.broken = true; // its removal from the map, when it expires, throws

    scheduler.advance(TTL.plus(LeaseAndTtlTest.mostLate(TTL)));

    assertThat(factory.created)
        .as("both expired; the Error of one key's hashCode stopped neither close")
        .allSatisfy(r -> assertThat(r.closes).hasValue(1));
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly("WARN test-pool: removing key broken-key from the map failed | KeyError");
    assertThat(mixed.closeAsync()).succeedsWithin(Duration.ZERO);
  }

  @Test
  void schedulerThrowingSomethingOtherThanARejectionStopsNoExpiry() {
    newPool(TTL);
    scheduler.failNextTask(new IllegalStateException("scheduler broke"));

    // This release wakes the expiry task; scheduling it throws.
    Throwable thrown = catchThrowable(() -> lease("first"));
    lease("second");

    // The task goes to asyncpool's own scheduler instead; its run there, on a thread of its own,
    // finds nothing due on the fake clock and schedules its next run here again.
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              scheduler.advance(TTL.plus(LeaseAndTtlTest.mostLate(TTL)));
              assertThat(factory.created)
                  .as("both expired: the expiry task was not left marked as running")
                  .hasSize(2)
                  .allSatisfy(r -> assertThat(r.closes).hasValue(1));
            });
    assertThat(thrown).as("never thrown at the releasing caller").isNull();
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: the scheduler failed to take a task; using asyncpool's own"
                + " | IllegalStateException");
  }
}
