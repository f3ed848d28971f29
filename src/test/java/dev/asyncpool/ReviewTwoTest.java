package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Review 2: failing tests for races in the inline eviction, maxLifetime and refresh. */
@Timeout(30)
class ReviewTwoTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofHours(1);

  /**
   * Bug: failImpatient withdraws every impatient ticket in the room queue as soon as the total
   * does not fit, including those at the head for which room is already being made. Request c
   * (acquireTimeout ZERO) evicts a on its own thread (evictHere); while that eviction runs (here:
   * its onEvicted, which runs inline with a direct executor) another thread asks for d: its
   * tryEvict finds the lock taken and asks for a scheduled run. c's failImpatient then sees
   * used 2 - evicting 1 + waiting 2 > 2 and fails both c, whose room is under way (a closing),
   * and d, for which b is idle and a run is already scheduled.
   */
  @Test
  void anImpatientRequestWhoseRoomIsBeingMadeIsNotFailedByALaterArrival() throws Exception {
    CompletableFuture<Void> aClose = new CompletableFuture<>();
    AtomicReference<CompletableFuture<Lease<TestResource>>> d = new AtomicReference<>();
    PoolListener<String, TestResource> onEvicted =
        new PoolListener<>() {
          @Override
          public void onEvicted(String key, TestResource resource) {
            if (key.equals("a") && d.get() == null) {
              Thread other = new Thread(() -> d.set(pool.acquire("d")));
              other.start();
              try {
                other.join();
              } catch (InterruptedException e) {
                throw new AssertionError(e);
              }
            }
          }
        };
    pool =
        settings()
            .ttl(TTL)
            .maxInstances(2)
            .acquireTimeout(Duration.ZERO)
            .listener(onEvicted)
            .build(
                prepared(
                    r -> {
                      if (r.key.equals("a")) {
                        r.onClose = () -> aClose;
                      }
                    }));
    lease("a");
    ticker.advance(Duration.ofSeconds(1));
    lease("b"); // both idle; a released first

    CompletableFuture<Lease<TestResource>> c = pool.acquire("c");

    assertThat(factory.created.get(0).closes).as("a evicted for c, closing").hasValue(1);
    assertThat(c).as("room for c is being made: a is closing for it").isNotCompletedExceptionally();
    aClose.complete(null);
    scheduler.runDue();
    assertThat(c).isCompleted();
    assertThat(d.get()).as("b was idle and a run was scheduled for d").isNotCompletedExceptionally();
  }
}
