package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/** Semantics 7: graceful shutdown. */
class ShutdownTest extends PoolTestSupport {

  @Test
  void refusesNewLeasesAtOnceNamingThePool() {
    newPool(Duration.ofSeconds(30));
    pool.closeAsync();
    assertThatThrownBy(() -> pool.get("k"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("test-pool")
        .hasMessageContaining("closed");
    assertThat(pool.acquire("k"))
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(IllegalStateException.class);
    assertThat(factory.created).isEmpty();
  }

  @Test
  void closesIdleAtOnceLeasedAtLastReleaseAndCompletesAfterTheLastClose() {
    newPool(Duration.ofMinutes(5));
    TestResource idle = lease("idle");
    Lease<TestResource> held = pool.get("held");
    Lease<TestResource> heldToo = pool.get("held");
    CompletableFuture<Void> slowClose = new CompletableFuture<>();
    held.get().onClose = () -> slowClose;

    CompletableFuture<Void> closed = pool.closeAsync();
    assertThat(idle.closes).hasValue(1);
    assertThat(held.get().closes).hasValue(0);
    assertThat(closed).isNotDone();

    held.close();
    assertThat(heldToo.get().closes).hasValue(0);
    heldToo.close();
    assertThat(factory.created.get(1).closes).hasValue(1);
    assertThat(closed).as("the close stage is still running").isNotDone();
    slowClose.complete(null);
    assertThat(closed).isCompleted();
    assertThat(pool.closeAsync()).as("idempotent: the same future").isSameAs(closed);
    pool.close();
    assertThat(PoolLog.lines())
        .as("a shutdown is routine: one DEBUG line, however many calls")
        .containsExactly("DEBUG test-pool: shutting down, 2 live instances");
  }

  @Test
  void emptyPoolClosesAtOnce() {
    newPool(Duration.ofSeconds(1));
    assertThat(pool.closeAsync()).isCompleted();
    pool.close();
  }

  @Test
  void creationFinishingAfterShutdownIsClosedNotHandedOut() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    pool = settings().build(prepared(r -> r.onOpen = () -> open));
    CompletableFuture<Lease<TestResource>> waiting = pool.acquire("k");
    CompletableFuture<Void> closed = pool.closeAsync();
    assertThat(closed).isNotDone();
    open.complete(null);
    assertThat(waiting).isCompletedExceptionally();
    assertThatThrownBy(waiting::join).hasCauseInstanceOf(IllegalStateException.class);
    assertThat(factory.created.get(0).closes).hasValue(1);
    assertThat(closed).isCompleted();
  }

  @Test
  void gracePeriodClosesLeasedInstancesAnyway() {
    newPool(Duration.ofMinutes(5));
    Lease<TestResource> held = pool.get("held");
    TestResource resource = held.get();
    CompletableFuture<Void> closed = pool.closeAsync(Duration.ofSeconds(10));
    assertThat(resource.closes).hasValue(0);
    scheduler.advance(Duration.ofSeconds(9));
    assertThat(resource.closes).hasValue(0);
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(resource.closes).hasValue(1);
    assertThat(closed).isCompleted();
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: closing the instance for key held with 1 lease(s) still open:"
                + " grace period over");
    held.close(); // late release: no second close
    assertThat(resource.closes).hasValue(1);
    assertThat(pool.closeAsync(Duration.ZERO)).isSameAs(closed);
  }

  @Test
  void gracePeriodAlsoCoversInvalidatedLeasedInstances() {
    newPool(Duration.ofMinutes(5));
    Lease<TestResource> held = pool.get("held");
    pool.invalidate("held");
    pool.closeAsync(Duration.ZERO);
    assertThat(held.get().closes).hasValue(1);
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: closing the instance for key held with 1 lease(s) still open:"
                + " grace period over");
  }

  @Test
  void gracePeriodMustNotBeNegative() {
    newPool(Duration.ofSeconds(1));
    assertThatThrownBy(() -> pool.closeAsync(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("PT-1S");
    assertThatThrownBy(() -> pool.closeAsync(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("gracePeriod");
  }

  @Test
  void completingTheReturnedFutureDoesNotFakeTheShutdown() {
    newPool(Duration.ofMinutes(5));
    Lease<TestResource> held = pool.get("held");
    pool.closeAsync().complete(null); // a careless caller
    assertThat(held.get().closes).hasValue(0);
    held.close();
    assertThat(held.toString()).contains("closed");
    assertThat(factory.created.get(0).closes).hasValue(1);
  }
}
