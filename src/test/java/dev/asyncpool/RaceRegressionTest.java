package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/** Regression tests for races an independent review of the core found; each failed before. */
class RaceRegressionTest extends PoolTestSupport {

  @Test
  void withResourceCancelledBeforeTheLeaseArrivesDoesNotLeakIt() {
    CompletableFuture<Void> open = new CompletableFuture<>();
    pool = settings().ttl(Duration.ofSeconds(1)).build(prepared(r -> r.onOpen = () -> open));
    CompletableFuture<String> result =
        pool.withResource("k", r -> CompletableFuture.completedFuture("x"));
    result.cancel(true);
    open.complete(null);
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(factory.created.get(0).closes).as("its share was released; it expired").hasValue(1);
    assertThat(pool.closeAsync()).isCompleted();
  }

  @Test
  void requestRacingShutdownCannotHideALeasedEntryFromTheGracePeriod() throws Exception {
    CountDownLatch parked = new CountDownLatch(1);
    CountDownLatch goOn = new CountDownLatch(1);
    Thread[] racer = new Thread[1];
    AtomicInteger hashCalls = new AtomicInteger();
    /** A key whose second hashCode on the racer thread parks it inside the slow path. */
    final class ParkingKey {
      @Override
      public int hashCode() {
        if (Thread.currentThread() == racer[0] && hashCalls.incrementAndGet() == 2) {
          parked.countDown();
          try {
            goOn.await(10, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        return 42;
      }

      @Override
      public boolean equals(Object other) {
        return other == this;
      }
    }
    ParkingKey key = new ParkingKey();
    Pool<ParkingKey, TestResource> racy =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(directExecutor)
            .build(factory);
    racer[0] =
        new Thread(
            () -> {
              try {
                racy.get(key).close();
              } catch (IllegalStateException closed) {
                // expected: the pool closed while it was parked
              }
            });
    racer[0].start();
    parked.await(10, TimeUnit.SECONDS); // past the closed check, about to read the map
    Lease<TestResource> held = racy.get(key);
    CompletableFuture<Void> closing = racy.closeAsync(Duration.ofSeconds(1));
    goOn.countDown();
    racer[0].join(10_000); // its retain fails; it helps remove the retired entry from the map
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(held.get().closes).as("closed when the grace period ended").hasValue(1);
    assertThat(closing).isCompleted();
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN asyncpool: closing the instance for key "
                + key
                + " with 1 lease(s) still open: grace period over");
    held.close();
  }

  @Test
  void tickerThatThrowsOnReleaseDoesNotLoseTheEntry() {
    AtomicBoolean fail = new AtomicBoolean();
    Ticker flaky =
        () -> {
          if (fail.getAndSet(false)) {
            throw new IllegalStateException("ticker broke");
          }
          return ticker.read();
        };
    pool =
        Pool.newBuilder()
            .ticker(flaky)
            .scheduler(scheduler)
            .executor(directExecutor)
            .ttl(Duration.ofSeconds(1))
            .build(factory);
    Lease<TestResource> lease = pool.get("k");
    fail.set(true);
    lease.close(); // never throws
    scheduler.advance(Duration.ofSeconds(1)); // first look: no stamp, filed provisionally
    assertThat(factory.created.get(0).closes).as("never early").hasValue(0);
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(factory.created.get(0).closes).hasValue(1);
    // A broken ticker is logged at ERROR, naming the key it could not stamp.
    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly(
            "ERROR asyncpool: the ticker failed while key k went idle | IllegalStateException");
    assertThat(PoolLog.causes(Level.ERROR))
        .extracting(Throwable::getMessage)
        .containsExactly("ticker broke");
  }

  @Test
  void leaseCloseNeverThrowsEvenIfTheTickerDoes() {
    pool =
        Pool.newBuilder()
            .ticker(
                () -> {
                  throw new IllegalStateException("always broken");
                })
            .scheduler(scheduler)
            .executor(directExecutor)
            .build(factory);
    Lease<TestResource> lease = pool.get("k");
    lease.close();
    assertThatThrownBy(lease::get).isInstanceOf(IllegalStateException.class);
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly(
            // Logged while the pool is being built, and naming it as every other line does.
            "ERROR asyncpool: the ticker failed while the pool was built; idle times count from 0"
                + " | IllegalStateException",
            "ERROR asyncpool: the ticker failed while key k went idle | IllegalStateException");
  }
}
