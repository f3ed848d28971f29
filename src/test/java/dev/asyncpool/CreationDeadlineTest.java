package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Issue 10, items 4 and 5: a creation that cannot finish (a factory stage that never completes,
 * an {@code openAsync} waiting for its own key) must neither wedge its key nor shutdown.
 */
class CreationDeadlineTest extends PoolTestSupport {

  /** Bounds every wait on another thread: a test that would hang fails instead. */
  private static final Duration BOUND = Duration.ofSeconds(5);

  @Test
  void openAsyncAskingForItsOwnKeyOnTheThreadThatCompletedTheFactoryFailsInsteadOfDeadlocking() {
    AtomicReference<Pool<String, TestResource>> self = new AtomicReference<>();
    CompletableFuture<TestResource> made = new CompletableFuture<>();
    pool = settings().buildAsync(key -> made);
    self.set(pool);
    TestResource resource = new TestResource("loop");
    resource.onOpen =
        () -> {
          self.get().get("loop").close();
          return CompletableFuture.completedFuture(null);
        };
    CompletableFuture<Lease<TestResource>> waiter = pool.acquire("loop"); // the stage is pending

    // Another thread completes the factory's stage, and so runs openAsync.
    Thread completer = new Thread(() -> made.complete(resource), "stage-completer");
    completer.setDaemon(true); // before the fix it blocks for good
    completer.start();

    assertThat(waiter)
        .failsWithin(BOUND)
        .withThrowableOfType(ExecutionException.class)
        .withRootCauseInstanceOf(IllegalStateException.class)
        .withMessageContaining("loop")
        .withMessageContaining("same key");
    assertThat(resource.closes).as("the instance whose open failed is closed").hasValue(1);
    assertThat(pool.closeAsync()).succeedsWithin(Duration.ZERO);
  }
}
