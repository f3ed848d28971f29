package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.junit.jupiter.api.Test;

/**
 * Review 6: attacks on TimedExpiry.claimSoonest, Claim (entry, settle), dueIfUsedSinceFiled,
 * claimable and claimForRoom (da4ce3b, 1d7defb). Found, each fixed: the walk's level order
 * (anInstanceDueSoonerInAHigherLevelGoesFirst, anInstanceDueHoursSoonerInLevelFourGoesFirst); a
 * cold release is never recent (twoInstancesReleasedAtTheSameMomentGoInDueOrder,
 * aHotKeyTheTaskLetGoIsTakenAsIfOldOnceReleased); two failed evictions leave a request to time
 * out while instances are idle (twoTickerFailuresInARow..., aRequestIsNotFailed...); the wheel
 * saturates wrapped deadlines (aDrainHandsBackTheDeadline...). The rest pin properties that hold.
 */
class ReviewSixTest extends PoolTestSupport {

  private final List<String> evicted = new CopyOnWriteArrayList<>();

  private void bounded(int max) {
    boundedPerKey(max, PoolTestSupport::ttlFromKey, evicted);
  }

  /**
   * Found by review 6 (fixed). The walk takes level 2's buckets before level 3's, but a level-3 bucket filed earlier
   * covers times level 2 now reaches: a (due 600 s, filed at 0 in level 3's bucket [549.8,
   * 824.6) s) waits there, b (due 690 s, filed at 490 s) goes to level 2, whose buckets come
   * first in the walk. b goes, 90 s later due than a.
   */
  @Test
  void anInstanceDueSoonerInAHigherLevelGoesFirst() {
    bounded(2);
    lease("a=600"); // due 600 s: level 3 (buckets of 275 s), bucket 2
    scheduler.advance(Duration.ofSeconds(490));
    lease("b=200"); // due 690 s: level 2 (buckets of 4.3 s), 45 buckets ahead
    scheduler.advance(Duration.ofSeconds(10)); // neither is recent
    requestRoom("x=1000");
    assertThat(evicted).as("a, due at 600 s, before b, due at 690 s").containsExactly("a=600");
  }

  /**
   * Found by review 6 (fixed). A first release (cold: the entry was not the task's) stamps the clock, and claimable
   * counts only an epoch stamp as recent; so an instance created and released just now is taken
   * in the first pass, before an instance of the same class released at the same moment but due
   * sooner (warm: an epoch stamp, recent).
   */
  @Test
  void twoInstancesReleasedAtTheSameMomentGoInDueOrder() {
    bounded(2);
    lease("o=10"); // class 2^33 ns (8.6 s), epochs of 134 ms
    scheduler.advance(Duration.ofSeconds(5));
    lease("o=10"); // warm: epoch stamp, recent; due 15 s
    lease("n=12"); // same class, first release: clock stamp; due 17 s
    requestRoom("x=1000");
    assertThat(evicted).as("o, due at 15 s, before n, due at 17 s").containsExactly("o=10");
  }

  /**
   * Found by review 6 (fixed). As {@link #anInstanceDueSoonerInAHigherLevelGoesFirst}, a level up: a (due 20,000 s,
   * filed at 0 in level 4's bucket [17,592, 35,184) s) waits there; b (due 32,800 s, filed at
   * 16,800 s) goes to level 3, walked first. b goes, 12,800 s (3.6 h) later due than a.
   */
  @Test
  void anInstanceDueHoursSoonerInLevelFourGoesFirst() {
    bounded(2);
    lease("a=20000"); // due 20,000 s: level 4 (buckets of 4.9 h), bucket 1
    scheduler.advance(Duration.ofSeconds(16_800));
    lease("b=16000"); // due 32,800 s: level 3 (buckets of 275 s), 58 buckets ahead
    scheduler.advance(Duration.ofSeconds(200)); // neither is recent
    requestRoom("x=100000");
    assertThat(evicted).as("a, due at 20,000 s, before b, due at 32,800 s").containsExactly("a=20000");
  }

  /**
   * Found by review 6 (fixed). The same cause as {@link #twoInstancesReleasedAtTheSameMomentGoInDueOrder}, with a hot
   * key: the task found hot leased at its deadline and let it go, so its next release is cold and
   * stamps the clock. Released in its class's current epoch (the class is active: warm=16 is
   * idle in it), it is still taken in the first pass, before old (idle for 10.2 s, due at 25 s),
   * the soonest due of the instances not recent (warm=16 is due at 25.9 s).
   */
  @Test
  @SuppressWarnings("try")
  void aHotKeyTheTaskLetGoIsTakenAsIfOldOnceReleased() {
    bounded(3);
    lease("old=25"); // due 25 s, class 2^34 ns
    lease("warm=16"); // class 2^33 ns: keeps it active
    lease("hot=10"); // class 2^33 ns, due 10 s
    scheduler.advance(Duration.ofMillis(9_900));
    lease("warm=16"); // warm=16 stays idle, owned by the task; due 25.9 s
    try (Lease<TestResource> held = pool.get("hot=10")) {
      scheduler.advance(Duration.ofMillis(300)); // 10.2 s: the task finds hot leased, lets it go
    } // released at 10.2 s: cold, a clock stamp
    requestRoom("x=1000");
    assertThat(evicted)
        .as("old, idle 10.2 s and due at 25 s, before hot, released just now")
        .containsExactly("old=25");
  }

  /**
   * Holds: the control of {@link #aHotKeyTheTaskLetGoIsTakenAsIfOldOnceReleased}. Leased and
   * released at 10.2 s while the task owns it (a warm release, an epoch stamp), hot is recent, and
   * old goes first.
   */
  @Test
  void aHotKeyTheTaskStillOwnsIsRecentOnceReleased() {
    bounded(3);
    lease("old=25");
    lease("warm=16");
    lease("hot=10");
    scheduler.advance(Duration.ofMillis(9_900));
    lease("warm=16");
    lease("hot=10"); // warm, at 9.9 s: the task finds it idle at 10 s and files it again
    scheduler.advance(Duration.ofMillis(300));
    lease("hot=10"); // warm, at 10.2 s: recent
    requestRoom("x=1000");
    assertThat(evicted).containsExactly("old=25");
  }

  // ---- Random walk against a model: invariants ------------------------------------------------

  private static Object field(Object o, String name) throws Exception {
    Field f = o.getClass().getDeclaredField(name);
    f.setAccessible(true);
    return f.get(o);
  }

  /** The wheel's size and the classes' owned counts, as "size/owned". */
  private String wheelAndOwned() throws Exception {
    Object expiry = field(pool, "timedExpiry");
    TimerWheel<?, ?> wheel = (TimerWheel<?, ?>) field(expiry, "wheel");
    AtomicReferenceArray<?> classes = (AtomicReferenceArray<?>) field(expiry, "classes");
    int owned = 0;
    for (int i = 0; i < classes.length(); i++) {
      TimedExpiry.TtlClass c = (TimedExpiry.TtlClass) classes.get(i);
      if (c != null) {
        owned += c.owned;
      }
    }
    return wheel.size() + "/" + owned;
  }

  private final List<String> violations = new CopyOnWriteArrayList<>();
  private final Map<TestResource, Long> releasedAt = new IdentityHashMap<>();
  private final Map<TestResource, Integer> held = new IdentityHashMap<>();

  private String[] keys = {
    "a=1", "b=2", "c=5", "d=10", "e=30", "f=100", "g=600", "h=3", "pinnedA", "pinnedB"
  };

  private int maxAdvanceMs = 20_000;

  private void randomWalk(long seed, boolean weighted, int steps) throws Exception {
    Random random = new Random(seed);
    violations.clear();
    releasedAt.clear();
    held.clear();
    evicted.clear();
    factory.created.clear();
    PoolListener<String, TestResource> listener =
        new PoolListener<>() {
          @Override
          public void onEvicted(String key, TestResource r) {
            evicted.add(key);
            check(key, r, "evicted", false);
          }

          @Override
          public void onExpired(String key, TestResource r) {
            check(key, r, "expired", true);
          }
        };
    if (weighted) {
      pool =
          settings()
              .ttl(PoolTestSupport::ttlFromKey)
              .weigher((String key) -> key.startsWith("a") || key.startsWith("pinnedB") ? 2 : 1)
              .maxWeight(6)
              .acquireTimeout(Duration.ofSeconds(5))
              .listener(listener)
              .build(this::counted);
    } else {
      pool =
          settings()
              .ttl(PoolTestSupport::ttlFromKey)
              .maxInstances(4)
              .acquireTimeout(Duration.ofSeconds(5))
              .listener(listener)
              .build(this::counted);
    }
    List<Lease<TestResource>> leases = new ArrayList<>();
    for (int step = 0; step < steps; step++) {
      int op = random.nextInt(10);
      String key = keys[random.nextInt(keys.length)];
      if (op < 5) {
        CompletableFuture<Lease<TestResource>> f = pool.acquire(key);
        scheduler.runDue();
        if (!f.isDone()) {
          // Waiting for room: fine only if nothing is idle; let the leases go and see it served.
          if (idleCount() > 0) {
            violations.add("seed " + seed + " step " + step + ": " + key + " waits with idle " + idleCount());
          }
          for (Lease<TestResource> l : leases) {
            release(l);
          }
          leases.clear();
          scheduler.runDue();
          if (!f.isDone()) {
            violations.add("seed " + seed + " step " + step + ": " + key + " still waits after releases");
            f.cancel(false);
            continue;
          }
        }
        if (f.isCompletedExceptionally()) {
          violations.add("seed " + seed + " step " + step + ": " + key + " failed " + f.handle((v, e) -> e).join());
          continue;
        }
        Lease<TestResource> l = f.join();
        held.merge(l.get(), 1, Integer::sum);
        if (op < 2 && leases.size() < 3) {
          leases.add(l);
        } else {
          release(l);
        }
      } else if (op < 7 && !leases.isEmpty()) {
        release(leases.remove(random.nextInt(leases.size())));
      } else {
        long ms = random.nextInt(4) == 0 ? 1 + random.nextInt(maxAdvanceMs) : 1 + random.nextInt(300);
        scheduler.advance(Duration.ofMillis(ms));
      }
      String wo = wheelAndOwned();
      String[] parts = wo.split("/");
      if (!parts[0].equals(parts[1])) {
        violations.add("seed " + seed + " step " + step + ": wheel size/owned " + wo);
      }
      if (violations.size() > 5) {
        break;
      }
    }
    for (Lease<TestResource> l : leases) {
      release(l);
    }
    scheduler.advance(Duration.ofSeconds(maxAdvanceMs <= 20_000 ? 1_000 : 30_000));
    for (TestResource r : factory.created) {
      boolean pinned = r.key.toString().startsWith("pinned");
      if (r.closes.get() > 1 || (!pinned && r.closes.get() != 1)) {
        violations.add("seed " + seed + ": " + r.key + " closes " + r.closes.get() + " after 1000 s idle");
      }
    }
    assertThat(pool.closeAsync()).isCompleted();
    for (TestResource r : factory.created) {
      if (r.closes.get() != 1) {
        violations.add("seed " + seed + ": " + r.key + " closes " + r.closes.get() + " after shutdown");
      }
    }
  }

  private int idleCount() {
    int n = 0;
    for (TestResource r : factory.created) {
      if (r.closes.get() == 0 && held.getOrDefault(r, 0) == 0 && r.opens.get() > 0) {
        n++;
      }
    }
    return n;
  }

  private void release(Lease<TestResource> l) {
    TestResource r = l.get();
    held.merge(r, -1, Integer::sum);
    releasedAt.put(r, ticker.read());
    l.close();
  }

  private void check(String key, TestResource r, String what, boolean ttl) {
    if (held.getOrDefault(r, 0) != 0) {
      violations.add(what + " while leased: " + key);
    }
    Long at = releasedAt.get(r);
    if (ttl && at != null && ticker.read() - at < ttlFromKey(key).toNanos()) {
      violations.add(what + " early: " + key + " idle " + (ticker.read() - at) / 1_000_000 + " ms");
    }
  }

  @Test
  void randomWalkKeepsTheInvariants() throws Exception {
    List<String> all = new ArrayList<>();
    int evictions = 0;
    for (long seed = 1; seed <= 60; seed++) {
      randomWalk(seed, seed % 2 == 0, 400);
      all.addAll(violations);
      evictions += evicted.size();
    }
    assertThat(all).isEmpty();
    assertThat(evictions).as("evictions over all seeds").isGreaterThan(100);
    System.out.println("review6 random walk evictions: " + evictions);
  }

  // ---- Targeted properties ----------------------------------------------------------------------

  /**
   * Holds. A recent instance whose estimated due (0.5 s + 1 s) is sooner than the non-recent
   * candidate's (10 s) is set aside in the first pass, not claimed, and filed again: it expires
   * at its TTL, and the wheel's size stays the classes' owned count.
   */
  @Test
  void aRecentInstanceDueSoonerIsNotTakenInTheFirstPassAndIsNotLost() throws Exception {
    bounded(2);
    lease("old=10"); // due 10 s, not recent by the request
    lease("hot=1"); // first release: cold
    scheduler.advance(Duration.ofMillis(500));
    lease("hot=1"); // warm: recent, estimated due 1.5 s
    requestRoom("x=1000");
    assertThat(evicted).containsExactly("old=10");
    String wo = wheelAndOwned();
    assertThat(wo.split("/")[0]).as("wheel size/owned %s", wo).isEqualTo(wo.split("/")[1]);
    TestResource hot =
        factory.created.stream().filter(r -> r.key.equals("hot=1")).findFirst().orElseThrow();
    assertThat(hot.closes).hasValue(0);
    scheduler.advance(Duration.ofMillis(980));
    assertThat(hot.closes).as("not before its TTL").hasValue(0);
    scheduler.advance(Duration.ofMillis(100));
    assertThat(hot.closes).as("closed once, at its TTL").hasValue(1);
  }

  /**
   * Holds. Filed into one level-3 bucket in the order of their deadlines, latest first, the
   * candidate is replaced twice; three requests then take them soonest first.
   */
  @Test
  void aCandidateReplacedTwiceInItsBucketGoesInDueOrder() {
    bounded(3);
    lease("p=700"); // due 700 s, level 3 bucket [549.8, 824.6) s
    scheduler.advance(Duration.ofSeconds(10));
    lease("q=680"); // due 690 s, same bucket
    scheduler.advance(Duration.ofSeconds(10));
    lease("r=660"); // due 680 s, same bucket
    scheduler.advance(Duration.ofSeconds(10));
    requestRoom("x=5000");
    requestRoom("y=5000");
    requestRoom("z=5000");
    assertThat(evicted).containsExactly("r=660", "q=680", "p=700");
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(factory.created).allSatisfy(r -> assertThat(r.closes).hasValue(1));
  }

  /**
   * All idle instances recent, in five classes: one heavy request takes four, in due order.
   */
  @Test
  void aHeavyRequestAmongRecentInstancesOfManyClassesTakesThemInDueOrder() {
    weightedPerKey(4, 5, evicted);
    String[] keys = {"e=200", "c=10", "a=1", "d=40", "b=3"};
    for (String k : keys) {
      lease(k);
    }
    scheduler.advance(Duration.ofMillis(500));
    for (String k : keys) {
      lease(k); // warm: each recent in its class
    }
    requestRoom("X=1000");
    assertThat(evicted).containsExactly("a=1", "b=3", "c=10", "d=40");
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(factory.created).allSatisfy(r -> assertThat(r.closes).hasValue(1));
    assertThat(existing).hasValue(0);
  }

  /** Weights with pinned, recent and older instances: older first, then recent, then pinned. */
  @Test
  void aHeavyRequestTakesOlderThenRecentThenPinned() {
    weightedPerKey(4, 5, evicted);
    lease("pinned1");
    lease("pinned2");
    lease("hot=2");
    lease("old=100");
    lease("old2=50");
    scheduler.advance(Duration.ofSeconds(1));
    lease("hot=2"); // recent, due 3 s
    requestRoom("X=1000");
    assertThat(evicted.subList(0, 3)).containsExactly("old2=50", "old=100", "hot=2");
    assertThat(evicted.get(3)).startsWith("pinned");
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(factory.created).allSatisfy(r -> assertThat(r.closes).hasValue(1));
  }

  /** Equal deadlines: one request takes one of them, the next the other; each closed once. */
  @Test
  void equalDeadlinesGoOneAtATime() throws Exception {
    bounded(3);
    lease("a=10");
    lease("b=10");
    lease("c=20");
    scheduler.advance(Duration.ofSeconds(1));
    requestRoom("x=1000");
    requestRoom("y=1000");
    assertThat(evicted).containsExactlyInAnyOrder("a=10", "b=10");
    String wo = wheelAndOwned();
    assertThat(wo.split("/")[0]).as("wheel size/owned %s", wo).isEqualTo(wo.split("/")[1]);
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(factory.created).allSatisfy(r -> assertThat(r.closes).hasValue(1));
  }

  /** Holds: as {@link #randomWalkKeepsTheInvariants}, with TTLs up to hours (higher levels). */
  @Test
  void randomWalkWithLongTtlsKeepsTheInvariants() throws Exception {
    keys = new String[] {"a=1", "b=7", "c=90", "d=700", "e=3000", "f=20000", "g=150", "pinnedA", "pinnedB"};
    maxAdvanceMs = 900_000;
    List<String> all = new ArrayList<>();
    int evictions = 0;
    for (long seed = 100; seed <= 130; seed++) {
      randomWalk(seed, seed % 2 == 0, 300);
      all.addAll(violations);
      evictions += evicted.size();
    }
    assertThat(all).isEmpty();
    assertThat(evictions).as("evictions over all seeds").isGreaterThan(100);
  }

  // ---- A ticker that fails twice in a row around an eviction ----------------------------------

  /**
   * Found by review 6 (fixed; only count 3, skip 2 failed; see the next test). Ticker failures in a row (2 or 3) around a
   * request for room, for each place they may start. The
   * request must get its room (two idle instances exist, due at 10 s and 20 s) within its acquire
   * timeout of 5 s, not fail with PoolExhaustedException.
   */
  @Test
  void twoTickerFailuresInARowNeverLeaveARequestWaitingWhileInstancesAreIdle() {
    List<String> failures = new ArrayList<>();
    for (int count = 2; count <= 3; count++) {
      for (int skip = 0; skip < 10; skip++) {
        PoolLog.clear();
        factory.created.clear();
        FlakyTicker flaky = new FlakyTicker();
        pool =
            settings(flaky)
                .ttl(PoolTestSupport::ttlFromKey)
                .maxInstances(2)
                .acquireTimeout(Duration.ofSeconds(5))
                .build(factory);
        lease("a=10");
        lease("b=20");
        scheduler.advance(Duration.ofSeconds(1));
        flaky.fail(skip, count);
        CompletableFuture<Lease<TestResource>> x = pool.acquire("x=10");
        for (int i = 0; i < 600 && !x.isDone(); i++) {
          scheduler.advance(Duration.ofMillis(10));
        }
        if (!x.isDone() || x.isCompletedExceptionally()) {
          Object why = x.isDone() ? x.handle((v, e) -> e).join() : "still waiting";
          failures.add(
              "count " + count + " skip " + skip + ": " + why + ", log " + PoolLog.lines(org.slf4j.event.Level.ERROR));
        } else {
          x.join().close();
        }
        pool.closeAsync();
      }
    }
    assertThat(failures).isEmpty();
  }

  /**
   * Found by review 6 (fixed). The case the sweep above finds: after 2 good reads, 3 failing ones. The eviction on
   * the request's thread fails ("tried again on the scheduler"), the eviction run on the
   * scheduler fails too ("tried again at the next release"), and no release comes: the request
   * fails after its 5 s with PoolExhaustedException ("every instance is leased, being created or
   * closing") while a=10 and b=20 sit idle, though the clock works again from the fourth read.
   */
  @Test
  void aRequestIsNotFailedWhileInstancesAreIdleAfterTwoFailedEvictions() {
    FlakyTicker flaky = new FlakyTicker();
    pool =
        settings(flaky)
            .ttl(PoolTestSupport::ttlFromKey)
            .maxInstances(2)
            .acquireTimeout(Duration.ofSeconds(5))
            .build(factory);
    lease("a=10");
    lease("b=20");
    scheduler.advance(Duration.ofSeconds(1));
    flaky.fail(2, 3);
    CompletableFuture<Lease<TestResource>> x = pool.acquire("x=10");
    scheduler.advance(Duration.ofSeconds(6));
    assertThat(PoolLog.lines(org.slf4j.event.Level.ERROR))
        .containsExactly(
            "ERROR test-pool: an eviction failed; it is tried again on the scheduler | IllegalStateException",
            "ERROR test-pool: an eviction failed; it is tried again on the scheduler | IllegalStateException");
    assertThat(flaky.failuresLeft()).as("the clock works again").isZero();
    assertThat(x).as("x gets the room a or b makes, within its 5 s").isCompleted();
    assertThat(x.isCompletedExceptionally()).isFalse();
  }

  // ---- A ticker whose readings wrap past Long.MAX_VALUE ----------------------------------------

  private static final long WRAP_SOON = Long.MAX_VALUE - Duration.ofSeconds(5).toNanos();

  /**
   * Holds, by luck: a ticker (System.nanoTime has an arbitrary origin) 5 s short of
   * Long.MAX_VALUE, so deadlines past it wrap, as they may. The wheel's drain hands the eviction
   * Long.MAX_VALUE for every wrapped deadline (see {@link
   * #aDrainHandsBackTheDeadlineAnEntryWasFiledByWhenItWraps}); dueIfUsedSinceFiled then finds
   * every such entry "used since filed" (real due - MAX_VALUE > 0 when wrapped), so none becomes
   * the candidate, all are set aside and settle sorts them by their real deadlines.
   */
  @Test
  void withATickerThatWrapsTheInstanceDueSoonestGoes() {
    ticker.set(WRAP_SOON);
    bounded(2);
    lease("a=10"); // filed by 10 s
    lease("b=20"); // due 20 s
    scheduler.advance(Duration.ofSeconds(1));
    lease("a=10"); // used since filed: really due at 11 s
    scheduler.advance(Duration.ofSeconds(1)); // not recent
    requestRoom("x=1000");
    assertThat(evicted).as("a, due at 11 s, before b, due at 20 s").containsExactly("a=10");
  }

  /**
   * Holds: with the same ticker, expiry closes each instance at its TTL (within its class's
   * epoch), never before, across the wrap at 5 s.
   */
  @Test
  void withATickerThatWrapsInstancesExpireAtTheirTtl() {
    ticker.set(WRAP_SOON);
    bounded(3);
    TestResource a = lease("a=10");
    TestResource b = lease("b=20");
    scheduler.advance(Duration.ofSeconds(1));
    lease("a=10"); // due 11 s
    scheduler.advance(Duration.ofMillis(9_900)); // 10.9 s after the wrap point's 5 s
    assertThat(a.closes).as("a not before 11 s").hasValue(0);
    scheduler.advance(Duration.ofMillis(200)); // 11.1 s
    scheduler.advance(Duration.ofMillis(200)); // 11.3 s: an epoch (134 ms) late at most
    assertThat(a.closes).as("a at 11 s, within its class's epoch").hasValue(1);
    scheduler.advance(Duration.ofMillis(8_600)); // 19.9 s
    assertThat(b.closes).as("b not before 20 s").hasValue(0);
    scheduler.advance(Duration.ofMillis(500)); // 20.4 s: its class's epoch is 268 ms
    assertThat(b.closes).as("b at 20 s").hasValue(1);
  }

  /**
   * Found by review 6 (fixed). The wheel alone, origin 5 s short of Long.MAX_VALUE: an eviction's drain should hand
   * back the deadline an entry was filed by (origin + 11 s, wrapped), which Claim compares and
   * files again by; saturatedAbsolute hands back Long.MAX_VALUE ("a deadline centuries away"),
   * though the deadline is 11 s away. Claim.fileAgain(entry, MAX_VALUE) then files the entry by
   * relative time 5 s instead of 11 s, and nextTime() says MAX_VALUE (nothing filed) for it.
   */
  @Test
  void aDrainHandsBackTheDeadlineAnEntryWasFiledByWhenItWraps() {
    TimerWheel<String, Object> wheel = new TimerWheel<>(WRAP_SOON);
    PoolEntry.Timed<String, Object> e = PoolEntry.creatingTimed("a", 1, 0, 1, null);
    long deadline = WRAP_SOON + Duration.ofSeconds(11).toNanos(); // wraps, as a ticker time may
    wheel.schedule(e, deadline);
    long next = wheel.nextTime();
    List<Long> handed = new ArrayList<>();
    wheel.forEachBucketInDueOrder(
        (level, index, start) -> {
          wheel.drain(level, index, (entry, at) -> handed.add(at));
          return false;
        });
    org.assertj.core.api.SoftAssertions soft = new org.assertj.core.api.SoftAssertions();
    soft.assertThat(next).as("nextTime: a bucket 11 s away, not 'nothing filed'").isNotEqualTo(Long.MAX_VALUE);
    soft.assertThat(handed).as("the deadline drained").containsExactly(deadline);
    soft.assertAll();
  }

  /**
   * Holds: all idle instances recent, in five classes; four requests in a row (for pinned keys,
   * which go last) take them one at a time in due order, each walk in the recentToo pass.
   */
  @Test
  void requestsOneAtATimeAmongRecentInstancesOfManyClassesTakeThemInDueOrder() throws Exception {
    bounded(5);
    String[] keys = {"e=200", "c=10", "a=1", "d=40", "b=3"};
    for (String k : keys) {
      lease(k);
    }
    scheduler.advance(Duration.ofMillis(500));
    for (String k : keys) {
      lease(k);
    }
    for (int i = 1; i <= 4; i++) {
      requestRoom("pinned" + i);
    }
    assertThat(evicted).containsExactly("a=1", "b=3", "c=10", "d=40");
    String wo = wheelAndOwned();
    assertThat(wo.split("/")[0]).as("wheel size/owned %s", wo).isEqualTo(wo.split("/")[1]);
    assertThat(pool.closeAsync()).isCompleted();
    assertThat(factory.created).allSatisfy(r -> assertThat(r.closes).hasValue(1));
  }
}
