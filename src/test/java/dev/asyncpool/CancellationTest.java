package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Semantics 6: cancelling one caller, interrupting a blocked one. */
class CancellationTest extends PoolTestSupport {

  private final CompletableFuture<Void> open = new CompletableFuture<>();

  private void slowOpeningPool() {
    pool = settings().ttl(Duration.ofSeconds(1)).build(prepared(r -> r.onOpen = () -> open));
  }

  @Test
  void cancellingOneCallerNeitherCancelsTheCreationNorLeaksItsLease() {
    slowOpeningPool();
    CompletableFuture<Lease<TestResource>> cancelled = pool.acquire("k");
    CompletableFuture<Lease<TestResource>> other = pool.acquire("k");
    assertThat(cancelled.cancel(true)).isTrue();
    open.complete(null);
    assertThat(other).isCompleted();
    TestResource resource = other.join().get();
    other.join().close();
    // The cancelled caller's share was released when the lease arrived: the TTL runs.
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(resource.closes).hasValue(1);
    assertThat(factory.created).hasSize(1);
  }

  @Test
  void interruptedGetRestoresTheFlagThrowsAndReleasesItsShareLater() throws Exception {
    slowOpeningPool();
    CompletableFuture<Lease<TestResource>> creator = pool.acquire("k");
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    AtomicReference<Boolean> flag = new AtomicReference<>();
    Thread waiter =
        new Thread(
            () -> {
              try {
                pool.get("k");
              } catch (Throwable t) {
                thrown.set(t);
                flag.set(Thread.currentThread().isInterrupted());
              }
            });
    waiter.start();
    await().until(() -> waiter.getState() == Thread.State.WAITING);
    waiter.interrupt();
    waiter.join(10_000);
    assertThat(thrown.get())
        .isInstanceOf(CompletionException.class)
        .hasCauseInstanceOf(InterruptedException.class);
    assertThat(flag.get()).isTrue();

    open.complete(null);
    TestResource resource = creator.join().get();
    creator.join().close();
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(resource.closes).as("the interrupted waiter's share was given back").hasValue(1);
  }

  @Test
  void nullKeyIsRejectedNamingIt() {
    slowOpeningPool();
    assertThatThrownBy(() -> pool.get(null)).hasMessage("key");
    assertThatThrownBy(() -> pool.acquire(null)).hasMessage("key");
    assertThatThrownBy(() -> pool.invalidate(null)).hasMessage("key");
    assertThatThrownBy(() -> pool.withResource(null, r -> null)).hasMessage("key");
    assertThatThrownBy(() -> pool.withResource("k", null)).hasMessage("action");
  }
}
