package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Second review of per-key TTLs: {@link TimedExpiry}'s claims of runs, its eviction under a bound
 * and its warm path, each shown on the fake clock.
 */
class PerKeyTtlReviewTwoTest extends PoolTestSupport {

  private static Duration ttlOf(String key) {
    return switch (key) {
      case "hour" -> Duration.ofHours(1);
      case "brief" -> Duration.ofMillis(10);
      case "pinned" -> Duration.ofNanos(Long.MAX_VALUE);
      default -> Duration.ofSeconds(1);
    };
  }

  /** Advances the clock 100 us at a time (for at most a minute) until {@code r} is closed. */
  private Duration closedAfter(TestResource r, long released) {
    for (int i = 0; i < 600_000 && r.closes.get() == 0; i++) {
      scheduler.advance(Duration.ofNanos(100_000));
    }
    return Duration.ofNanos(ticker.read() - released);
  }

  private static final Duration BRIEF = Duration.ofMillis(10);

  // ---- 1. a claim of unknown time loses its time ----------------------------------------------

  /**
   * The ticker fails in the cold release of the 10 ms key: idle() claims a run of unknown time 1
   * ms out (fix 9589ee5). An hour-long key released cold just after claims a run "at" 56 s (its
   * class's epoch; scheduled 1 s out, the cap), and wake() lets any claim of known time supersede
   * one of unknown time: the 1 ms run is cancelled, and the 10 ms key waits for the 1 s run.
   */
  @Test
  void aClaimOfKnownTimeDoesNotPostponeAClaimOfUnknownTime() {
    FlakyTicker flaky = new FlakyTicker();
    newPool(flaky, PerKeyTtlReviewTwoTest::ttlOf);
    Lease<TestResource> brief = pool.get("brief");
    TestResource instance = brief.get();
    long released = ticker.read();
    flaky.fail(0, 1); // the release's read of the clock
    brief.close();
    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly(
            "ERROR test-pool: the ticker failed while key brief went idle | IllegalStateException");
    assertThat(scheduler.pendingDelaysNanos()).as("the run claimed 1 ms out").containsExactly(1_000_000L);
    lease("hour"); // a cold release: a claim of known time, 56 s out (capped at 1 s)
    assertThat(closedAfter(instance, released))
        .as("the 10 ms key closed after (a ticker failure: a TTL and 2 ms late at most)")
        .isBetween(BRIEF, BRIEF.plus(LeaseAndTtlTest.mostLate(BRIEF)));
  }

  /**
   * The other order: the hour-long key's class is active, so a run is claimed at its next epoch
   * (56 s, scheduled 1 s out). The 10 ms key's cold release fails to read the clock and wants a
   * run 1 ms out, but wake() returns at once for a claim of unknown time if any run is claimed:
   * the key waits for the 1 s run.
   */
  @Test
  void aClaimOfUnknownTimeIsNotHeldUpByALaterClaim() {
    FlakyTicker flaky = new FlakyTicker();
    newPool(flaky, PerKeyTtlReviewTwoTest::ttlOf);
    lease("hour");
    scheduler.advance(Duration.ofMillis(5)); // the task owns it; the hour's class is active
    // It started the class 1 ms after the release (a class not active is started at once), and
    // sleeps the longest, a second, from then.
    assertThat(scheduler.pendingDelaysNanos()).as("the task's next run").containsExactly(996_000_000L);
    Lease<TestResource> brief = pool.get("brief");
    TestResource instance = brief.get();
    long released = ticker.read();
    flaky.fail(0, 1);
    brief.close();
    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly(
            "ERROR test-pool: the ticker failed while key brief went idle | IllegalStateException");
    assertThat(closedAfter(instance, released))
        .as("the 10 ms key closed after (a ticker failure: a TTL and 2 ms late at most)")
        .isBetween(BRIEF, BRIEF.plus(LeaseAndTtlTest.mostLate(BRIEF)));
  }

  /**
   * A run fails (the clock), and retries 1 ms later: a claim of unknown time. A cold release of
   * the hour-long key supersedes it with its 1 s run, so the retry, and the 10 ms key already
   * filed, wait a second.
   */
  @Test
  void aFailedRunsRetryIsNotPostponedByALaterClaim() {
    FlakyTicker flaky = new FlakyTicker();
    newPool(flaky, PerKeyTtlReviewTwoTest::ttlOf);
    TestResource brief = lease("brief");
    long released = ticker.read();
    scheduler.advance(Duration.ofMillis(1)); // the task owns it: filed for 10 ms
    flaky.fail(0, 1); // the next run's first read of the clock
    scheduler.advance(Duration.ofMillis(1));
    assertThat(PoolLog.lines(Level.ERROR))
        .containsExactly("ERROR test-pool: the expiry task failed; retrying | IllegalStateException");
    lease("hour"); // a cold release: a claim of known time, 56 s out (capped at 1 s)
    assertThat(closedAfter(brief, released))
        .as("the 10 ms key closed after (a failed run: a TTL and 2 ms late at most)")
        .isBetween(BRIEF, BRIEF.plus(LeaseAndTtlTest.mostLate(BRIEF)));
  }

  // ---- held up: a randomized model check on the fake clock ------------------------------------

  private static Duration modelTtl(String key) {
    return switch (key) {
      case "zero" -> Duration.ZERO;
      case "blink" -> Duration.ofNanos(500_000);
      case "k3" -> Duration.ofMillis(3);
      case "k10" -> Duration.ofMillis(10);
      case "k200" -> Duration.ofMillis(200);
      case "s2" -> Duration.ofSeconds(2);
      case "hour" -> Duration.ofHours(1);
      default -> Duration.ofNanos(Long.MAX_VALUE); // pinned
    };
  }

  /**
   * Random leases, releases, invalidations and clock steps, bounded (4) and not, with keys of TTLs
   * from zero to pinned: never handed out closed, never above the bound, an instance that expires
   * closes neither early nor more than max(TTL/64, 1 ms) + 1 ms late (unless evicted or
   * invalidated first), and every instance closes exactly once.
   */
  @Test
  void randomUseOnTheFakeClockKeepsEveryPromise() {
    String[] keys = {"zero", "blink", "k3", "k10", "k200", "s2", "hour", "pinned", "pinned2"};
    for (int seed = 0; seed < 40; seed++) {
      boolean bounded = seed % 2 == 1;
      Random random = new Random(seed);
      TestFactory made = new TestFactory();
      Map<TestResource, Long> closedAt = new ConcurrentHashMap<>();
      Set<TestResource> removedEarly = ConcurrentHashMap.newKeySet();
      Set<TestResource> expired = ConcurrentHashMap.newKeySet();
      int[] existing = {0, 0};
      PoolBuilder<Object, Object> settings = settings();
      if (bounded) {
        settings.maxInstances(4).acquireTimeout(Duration.ofSeconds(30));
      }
      Pool<String, TestResource> p =
          settings
              .ttl((String k) -> modelTtl(k))
              .listener(
                  new PoolListener<String, TestResource>() {
                    @Override
                    public void onEvicted(String key, TestResource r) {
                      removedEarly.add(r);
                    }

                    @Override
                    public void onInvalidated(String key, TestResource r) {
                      removedEarly.add(r);
                    }

                    @Override
                    public void onExpired(String key, TestResource r) {
                      expired.add(r);
                    }
                  })
              .build(
                  (String key) -> {
                    TestResource r = made.apply(key);
                    existing[0]++;
                    existing[1] = Math.max(existing[1], existing[0]);
                    r.onClose =
                        () -> {
                          closedAt.put(r, ticker.read());
                          existing[0]--;
                          return CompletableFuture.completedFuture(null);
                        };
                    return r;
                  });
      pool = p;
      List<Lease<TestResource>> held = new ArrayList<>();
      Map<TestResource, Integer> leases = new IdentityHashMap<>();
      Map<TestResource, Long> idleSince = new IdentityHashMap<>();
      String where = "seed " + seed;
      for (int step = 0; step < 3000; step++) {
        int op = random.nextInt(10);
        if (op < 4 && held.size() < 2) {
          String key = keys[random.nextInt(keys.length)];
          CompletableFuture<Lease<TestResource>> f = p.acquire(key);
          scheduler.runDue();
          assertThat(f).as("%s step %s: %s", where, step, key).isCompleted();
          Lease<TestResource> lease = f.join();
          TestResource r = lease.get();
          assertThat(r.isClosed()).as("%s step %s: handed out closed", where, step).isFalse();
          held.add(lease);
          leases.merge(r, 1, Integer::sum);
          idleSince.remove(r);
        } else if (op < 7 && !held.isEmpty()) {
          Lease<TestResource> lease = held.remove(random.nextInt(held.size()));
          TestResource r = lease.get();
          lease.close();
          if (leases.merge(r, -1, Integer::sum) == 0) {
            leases.remove(r);
            idleSince.put(r, ticker.read());
          }
        } else if (op == 7 && random.nextInt(8) == 0) {
          p.invalidate(keys[random.nextInt(keys.length)]);
        } else {
          int kind = random.nextInt(20);
          Duration step1 =
              kind < 14
                  ? Duration.ofNanos(random.nextInt(3_000_000))
                  : kind < 19 ? Duration.ofMillis(random.nextInt(300)) : Duration.ofSeconds(3);
          scheduler.advance(step1);
        }
        long now = ticker.read();
        for (Map.Entry<TestResource, Long> e : idleSince.entrySet()) {
          TestResource r = e.getKey();
          Duration ttl = modelTtl((String) r.key);
          if (ttl.toNanos() >= (1L << 62) || removedEarly.contains(r)) {
            continue;
          }
          long due = e.getValue() + ttl.toNanos();
          Long closed = closedAt.get(r);
          if (closed != null && expired.contains(r)) {
            assertThat(closed - due).as("%s step %s: %s closed early by (ns)", where, step, r).isGreaterThanOrEqualTo(0);
          }
          if (closed == null) {
            assertThat(now - due)
                .as("%s step %s: %s still open past its TTL by (ns)", where, step, r)
                .isLessThanOrEqualTo(LeaseAndTtlTest.mostLate(ttl).toNanos());
          } else if (expired.contains(r)) {
            assertThat(closed - due)
                .as("%s step %s: %s closed late by (ns)", where, step, r)
                .isLessThanOrEqualTo(LeaseAndTtlTest.mostLate(ttl).toNanos());
          }
        }
        if (bounded) {
          assertThat(existing[0]).as("%s step %s: instances", where, step).isLessThanOrEqualTo(4);
        }
      }
      for (Lease<TestResource> lease : held) {
        lease.close();
      }
      p.closeAsync();
      scheduler.advance(Duration.ofSeconds(5));
      assertThat(made.created)
          .as("%s: %s instances", where, made.created.size())
          .allSatisfy(r -> assertThat(r.closes).as("%s", r).hasValue(1));
      pool = null;
    }
  }
}
