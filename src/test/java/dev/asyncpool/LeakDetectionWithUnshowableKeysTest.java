package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Issue 10, item 8: with {@code leakDetection()}, a lease of a key that cannot be shown (its
 * {@code toString} or the pool's key formatter throws) must give its share back like any other,
 * so that the instance still expires and closes.
 */
class LeakDetectionWithUnshowableKeysTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofSeconds(1);

  /** A key that cannot be shown: its {@code toString} throws. */
  static final class UnshowableKey {
    @Override
    public String toString() {
      throw new IllegalStateException("toString failed");
    }
  }

  @Test
  void keyWhoseToStringThrowsLeaksNoShare() {
    Pool<UnshowableKey, TestResource> leaky = settings().ttl(TTL).leakDetection().build(factory);
    UnshowableKey key = new UnshowableKey();

    Throwable thrown = catchThrowable(() -> leaky.get(key).close());
    scheduler.advance(TTL);

    assertThat(factory.created.get(0).closes)
        .as("its share was given back, so it expired (get threw: %s)", thrown)
        .hasValue(1);
    assertThat(thrown).isNull();
    assertThat(PoolLog.lines(Level.WARN)).as("nothing went wrong").isEmpty();
    assertThat(leaky.closeAsync()).succeedsWithin(Duration.ZERO);
  }

  @Test
  void keyFormatterThatThrowsLeaksNoShare() {
    Pool<String, TestResource> leaky =
        settings()
            .ttl(TTL)
            .leakDetection()
            .keyFormatter(
                key -> {
                  throw new IllegalStateException("formatter failed");
                })
            .build(factory);

    AtomicReference<String> shown = new AtomicReference<>();
    Throwable thrown =
        catchThrowable(
            () -> {
              try (Lease<TestResource> lease = leaky.get("k")) {
                shown.set(lease.toString());
              }
            });
    scheduler.advance(TTL);

    assertThat(factory.created.get(0).closes)
        .as("its share was given back, so it expired (threw: %s)", thrown)
        .hasValue(1);
    assertThat(thrown).isNull();
    assertThat(shown.get()).contains("<key of type java.lang.String");
    assertThat(PoolLog.lines(Level.WARN)).as("nothing went wrong").isEmpty();
    assertThat(leaky.closeAsync()).succeedsWithin(Duration.ZERO);
  }

  @Test
  void leakedLeaseOfAKeyWhoseToStringThrowsIsReportedAndItsShareReleased() {
    Pool<UnshowableKey, TestResource> leaky = settings().ttl(TTL).leakDetection().build(factory);
    UnshowableKey key = new UnshowableKey();
    Throwable thrown = catchThrowable(() -> leakALease(leaky, key));

    await()
        .atMost(Duration.ofSeconds(20))
        .until(
            () -> {
              System.gc();
              return leaky.stats().leakedLeases() == 1;
            });
    scheduler.advance(TTL);

    assertThat(factory.created.get(0).closes)
        .as("the leaked share was given back, so it expired (get threw: %s)", thrown)
        .hasValue(1);
    assertThat(PoolLog.lines(Level.WARN))
        .as("the leak is reported, naming the key by its type")
        .containsExactly(
            "WARN test-pool: a lease of key <key of type "
                + UnshowableKey.class.getName()
                + ": showing it threw java.lang.IllegalStateException> was garbage-collected"
                + " without close(); releasing it | LeakTrace");
    assertThat(leaky.closeAsync()).succeedsWithin(Duration.ZERO);
  }

  private static void leakALease(Pool<UnshowableKey, TestResource> leaky, UnshowableKey key) {
    leaky.get(key); // never closed
  }
}
