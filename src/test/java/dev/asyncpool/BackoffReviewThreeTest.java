package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** Review 3 of retryBackoff: failing tests for the bugs found. */
class BackoffReviewThreeTest extends PoolTestSupport {

  private static final Duration INITIAL = Duration.ofSeconds(1);
  private static final Duration MAX = Duration.ofSeconds(4);

  /** How the next instance's open completes: the test completes it. */
  private volatile CompletableFuture<Void> open = new CompletableFuture<>();

  /**
   * A retry that takes longer than max (a connect timeout as long as max, as in the builder's own
   * example: 500 ms / 30 s with Hikari's default 30 s connectionTimeout) is forgotten while it is
   * in flight, though its own request (and every request that joined it) is asking for the key
   * all along: its failure is then a first one again, so the delay never doubles.
   */
  @Test
  void aRetryLongerThanMaxStillCountsAsTheSecondFailureInARow() {
    pool =
        settings()
            .openTimeout(Duration.ofMinutes(1))
            .retryBackoff(INITIAL, MAX)
            .build(prepared(r -> {
              CompletableFuture<Void> mine = open;
              r.onOpen = () -> mine;
            }));
    CompletableFuture<Lease<TestResource>> first = pool.acquire("k");
    open.completeExceptionally(new IllegalStateException("connect timed out"));
    assertThatThrownBy(first::join).hasCauseInstanceOf(IllegalStateException.class);
    scheduler.advance(INITIAL); // the first wait is over

    open = new CompletableFuture<>();
    CompletableFuture<Lease<TestResource>> retry = pool.acquire("k"); // the retry starts
    for (int i = 0; i < 5; i++) { // it takes 5 s; requests ask for the key each second
      scheduler.advance(Duration.ofSeconds(1));
      assertThat(pool.acquire("k")).as("joins the retry").isNotDone();
    }
    open.completeExceptionally(new IllegalStateException("connect timed out"));
    assertThatThrownBy(retry::join).hasCauseInstanceOf(IllegalStateException.class);

    RetryBackoffException refused =
        catchThrowableOfType(RetryBackoffException.class, () -> pool.get("k"));
    assertThat(refused).isNotNull();
    assertThat(refused.getMessage())
        .as("two creations failed in a row, with requests asking throughout")
        .contains("failed 2 times in a row");
    assertThat(refused.retryIn()).as("delay 2 s: a wait in [1 s, 2 s]").isGreaterThan(INITIAL);
  }

  /**
   * A caller of get() runs a synchronous factory itself; if that caller is interrupted (its
   * request cancelled), the factory fails with the interrupt. That is the requester giving up,
   * not the key failing, yet it starts a backoff: every other request for a healthy key is
   * refused for up to {@code initial}, with an InterruptedException as the cause.
   */
  @Test
  void anInterruptedRequesterStartsNoBackoff() {
    pool =
        settings()
            .retryBackoff(INITIAL, MAX)
            .build(
                key -> {
                  try {
                    Thread.sleep(1); // a blocking connect
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CompletionException(e);
                  }
                  return factory.apply(key);
                });
    Thread.currentThread().interrupt(); // the request is cancelled
    assertThatThrownBy(() -> pool.get("k")).isNotNull();
    assertThat(Thread.interrupted()).isTrue();

    assertThat(lease("k").key).as("another request for a healthy key").isEqualTo("k");
  }
}
