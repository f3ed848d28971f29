package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * {@link Pool#get(Object, Duration)}: a caller's deadline for a creation, even one that a
 * synchronous factory blocks, while the creation goes on for the others.
 */
class GetWithTimeoutTest extends PoolTestSupport {

  private final ExecutorService threads = Executors.newCachedThreadPool();
  private final CountDownLatch factoryMayReturn = new CountDownLatch(1);
  private final CountDownLatch factoryEntered = new CountDownLatch(1);

  /** A synchronous factory that blocks the thread running it until the test lets it go. */
  private TestResource blockingFactory(String key) {
    factoryEntered.countDown();
    try {
      factoryMayReturn.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return factory.apply(key);
  }

  @AfterEach
  void letGo() {
    factoryMayReturn.countDown();
    threads.shutdownNow();
  }

  @Test
  void timesOutWaitingForAFactoryBlockedOnAnotherThreadAndTheCreationGoesOn() throws Exception {
    pool = settings().ttl(Duration.ofSeconds(10)).build(this::blockingFactory);
    // The first caller runs the factory on its own thread (plain get) and is stuck there.
    CompletableFuture<TestResource> first =
        CompletableFuture.supplyAsync(
            () -> {
              try (Lease<TestResource> lease = pool.get("k")) {
                return lease.get();
              }
            },
            threads);
    assertThat(factoryEntered.await(10, TimeUnit.SECONDS)).isTrue();

    assertThatThrownBy(() -> pool.get("k", Duration.ofMillis(50)))
        .isInstanceOf(CompletionException.class)
        .cause()
        .isInstanceOf(TimeoutException.class)
        .hasMessageContaining("key k")
        .hasMessageContaining("PT0.05S");
    assertThatThrownBy(() -> pool.get("k", Duration.ZERO))
        .cause()
        .isInstanceOf(TimeoutException.class);

    factoryMayReturn.countDown();
    TestResource created = first.get(10, TimeUnit.SECONDS);
    assertThat(factory.created).as("one creation for every caller").hasSize(1);
    // The two callers that gave up left their shares with the creation, which gave them back:
    // the instance is idle, and expires on time.
    assertThat(pool.stats().idle()).isEqualTo(1);
    try (Lease<TestResource> lease = pool.get("k", Duration.ZERO)) {
      assertThat(lease.get()).as("open now: no wait at all").isSameAs(created);
    }
    scheduler.advance(Duration.ofSeconds(11));
    assertThat(created.closes).hasValue(1);
  }

  @Test
  void runsASynchronousFactoryOffTheCallersThreadSoTheCallerCanStop() throws Exception {
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(threads)
            .name("test-pool")
            .ttl(Duration.ofSeconds(10))
            .build(this::blockingFactory);
    // Alone, and the key is cold: with a plain get this thread would run the factory itself and
    // block until it returned, whatever its deadline.
    assertThatThrownBy(() -> pool.get("cold", Duration.ofMillis(50)))
        .cause()
        .isInstanceOf(TimeoutException.class)
        .hasMessageContaining("key cold");
    assertThat(factoryEntered.await(10, TimeUnit.SECONDS))
        .as("the factory ran on the executor")
        .isTrue();
    factoryMayReturn.countDown();
    try (Lease<TestResource> lease = pool.get("cold", Duration.ofSeconds(10))) {
      assertThat(lease.get().opens).hasValue(1);
    }
    assertThat(factory.created).hasSize(1);
  }

  @Test
  void aFailedCreationReachesTheWaiterAsGetWould() {
    IllegalStateException boom = new IllegalStateException("factory down");
    pool =
        settings()
            .build(
                key -> {
                  throw boom;
                });
    assertThatThrownBy(() -> pool.get("k", Duration.ofSeconds(5))).isSameAs(boom);
    assertThat(PoolLog.causes(Level.DEBUG)).containsExactly(boom);
  }

  @Test
  void badArgumentsAreNamed() {
    newPool(Duration.ofSeconds(1));
    assertThatThrownBy(() -> pool.get("k", null)).hasMessage("timeout");
    assertThatThrownBy(() -> pool.get(null, Duration.ZERO)).hasMessage("key");
    assertThatThrownBy(() -> pool.get("k", Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeout must not be negative: PT-0.001S");
    pool.close();
    assertThatThrownBy(() -> pool.get("k", Duration.ofSeconds(1)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
  }
}
