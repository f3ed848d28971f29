package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Issue 12: {@code ttl(Function)}, each key's own TTL, pinned keys and TTL zero. */
class PerKeyTtlTest extends PoolTestSupport {

  /** Fake times at which the listener heard of each key's expiry. */
  private final Map<String, List<Long>> expiredAt = new ConcurrentHashMap<>();

  private final PoolListener<String, TestResource> recorder =
      new PoolListener<>() {
        @Override
        public void onExpired(String key, TestResource resource) {
          expiredAt.computeIfAbsent(key, k -> new ArrayList<>()).add(ticker.read());
        }
      };

  private Pool<String, TestResource> newPool(Function<String, Duration> ttlByKey) {
    pool = settings().ttl(ttlByKey).listener(recorder).build(factory);
    return pool;
  }

  private static final Duration FOREVER = ChronoUnit.FOREVER.getDuration();

  private static Duration ttlOf(String key) {
    switch (key) {
      case "short":
        return Duration.ofSeconds(1);
      case "long":
        return Duration.ofSeconds(10);
      case "pinned":
        return FOREVER;
      case "zero":
        return Duration.ZERO;
      default:
        return Duration.ofMillis(Long.parseLong(key.substring(key.indexOf('=') + 1)));
    }
  }

  @Test
  void eachKeyExpiresAfterItsOwnTtl() {
    newPool(PerKeyTtlTest::ttlOf);
    TestResource shortOne = lease("short");
    TestResource longOne = lease("long");
    TestResource pinned = lease("pinned");
    TestResource zero = lease("zero");
    assertThat(zero.closes).as("ttl zero: closed at its last release").hasValue(1);

    scheduler.advance(Duration.ofMillis(999));
    assertThat(shortOne.closes).as("never before its ttl").hasValue(0);
    scheduler.advance(Duration.ofMillis(1).plus(LeaseAndTtlTest.mostLate(Duration.ofSeconds(1))));
    assertThat(shortOne.closes).hasValue(1);
    assertThat(longOne.closes).hasValue(0);

    scheduler.advance(Duration.ofSeconds(9).minusMillis(100));
    assertThat(longOne.closes).as("never before its ttl").hasValue(0);
    scheduler.advance(Duration.ofMillis(100).plus(LeaseAndTtlTest.mostLate(Duration.ofSeconds(10))));
    assertThat(longOne.closes).hasValue(1);

    scheduler.advance(Duration.ofHours(1));
    ticker.advance(Duration.ofDays(400));
    scheduler.advance(Duration.ofSeconds(2));
    assertThat(pinned.closes).as("pinned: never expires").hasValue(0);
    assertThat(lease("pinned")).isSameAs(pinned);
    assertThat(pool.stats().expirations()).isEqualTo(3); // short, long, zero

    pool.close();
    assertThat(pinned.closes).as("closed by the pool's close").hasValue(1);
  }

  @Test
  void zeroTtlClosesAtTheLastReleaseOnly() {
    newPool(PerKeyTtlTest::ttlOf);
    Lease<TestResource> first = pool.get("zero");
    Lease<TestResource> second = pool.get("zero");
    TestResource resource = first.get();
    first.close();
    assertThat(resource.closes).hasValue(0);
    second.close();
    assertThat(resource.closes).hasValue(1);
    assertThat(expiredAt).containsKey("zero");
    assertThat(lease("zero")).isNotSameAs(resource);
  }

  @Test
  void durationsTooLongForNanosecondsOrOver146YearsArePinned() {
    newPool(
        key ->
            switch (key) {
              case "max" -> Duration.ofNanos(Long.MAX_VALUE);
              case "200y" -> Duration.ofDays(200 * 365L);
              case "forever" -> FOREVER;
              default -> Duration.ofDays(100 * 365L); // 100 years: expires, in a hundred years
            });
    TestResource max = lease("max");
    TestResource twoHundred = lease("200y");
    TestResource forever = lease("forever");
    TestResource hundred = lease("100y");
    scheduler.advance(Duration.ofHours(2));
    ticker.advance(Duration.ofDays(99 * 365L)); // the clock jumps (the task wakes each second)
    scheduler.advance(Duration.ofSeconds(2));
    assertThat(List.of(max, twoHundred, forever, hundred))
        .allSatisfy(r -> assertThat(r.closes).hasValue(0));
    assertThat(scheduler.pendingDelaysNanos())
        .as("the task wakes once a second at most for a 100-year ttl (its longest sleep)")
        .allSatisfy(d -> assertThat(d).isGreaterThan(Duration.ofMillis(500).toNanos()));
  }

  @Test
  void theTtlIsAskedOnceWhenTheCreationStartsAndAgainForTheNextInstance() {
    AtomicInteger asked = new AtomicInteger();
    newPool(
        key -> {
          asked.incrementAndGet();
          return Duration.ofSeconds(1);
        });
    TestResource first = lease("k");
    lease("k");
    try (Lease<TestResource> held = pool.get("k")) {
      assertThat(lease("k")).isSameAs(held.get());
    }
    assertThat(asked).hasValue(1);
    scheduler.advance(Duration.ofSeconds(2));
    assertThat(first.closes).hasValue(1);
    lease("k");
    assertThat(asked).hasValue(2);
    pool.refresh("k").join();
    assertThat(asked).as("a refresh's replacement asks again").hasValue(3);
  }

  @Test
  void aRefreshTakesTheTtlTheFunctionNowGives() {
    Map<String, Duration> ttls = new ConcurrentHashMap<>(Map.of("k", Duration.ofSeconds(10)));
    newPool(ttls::get);
    TestResource old = lease("k");
    ttls.put("k", Duration.ofSeconds(1));
    pool.refresh("k").join();
    TestResource replacement = lease("k");
    assertThat(replacement).isNotSameAs(old);
    assertThat(old.closes).hasValue(1);
    scheduler.advance(Duration.ofSeconds(1).plus(LeaseAndTtlTest.mostLate(Duration.ofSeconds(1))));
    assertThat(replacement.closes).hasValue(1);
  }

  @Test
  void aFunctionThatFailsFailsTheRequestNamingTheKeyAndCreatesNothing() {
    Map<String, Object> answers = new HashMap<>();
    answers.put("null", null);
    answers.put("negative", Duration.ofSeconds(-3));
    answers.put("throws", new IllegalStateException("no ttl for you"));
    answers.put("fine", Duration.ofSeconds(1));
    newPool(
        key -> {
          Object answer = answers.get(key);
          if (answer instanceof RuntimeException e) {
            throw e;
          }
          return (Duration) answer;
        });
    assertThatThrownBy(() -> pool.get("null"))
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("ttl function returned null for key null");
    assertThatThrownBy(() -> pool.get("negative"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("negative ttl PT-3S for key negative");
    assertThatThrownBy(() -> pool.get("throws")).hasMessage("no ttl for you");
    assertThat(factory.created).isEmpty();
    assertThat(pool.keys()).isEmpty();
    answers.put("throws", Duration.ofSeconds(1));
    assertThat(lease("throws").key).as("the key is not stuck").isEqualTo("throws");
    assertThat(lease("fine").key).isEqualTo("fine");
  }

  @Test
  void aShortTtlReleasedWhileTheTaskSleepsForALongOneWakesIt() {
    newPool(PerKeyTtlTest::ttlOf);
    TestResource hour = lease("k=3600000"); // the task now sleeps for about a minute (an epoch)
    scheduler.advance(Duration.ofSeconds(3));
    TestResource brief = lease("k=10");
    scheduler.advance(Duration.ofMillis(9));
    assertThat(brief.closes).as("never before its ttl").hasValue(0);
    scheduler.advance(Duration.ofMillis(1).plus(LeaseAndTtlTest.mostLate(Duration.ofMillis(10))));
    assertThat(brief.closes).as("not held up by the long key's sleep").hasValue(1);
    assertThat(hour.closes).hasValue(0);
  }

  @Test
  void theTaskWakesForTheShortestTtlItWatchesOnly() {
    newPool(PerKeyTtlTest::ttlOf);
    lease("k=3600000");
    // The class starts 1 ms after the release, and the task then sleeps a second at a time: 1.2 s
    // in, its next run is 0.8 s away.
    scheduler.advance(Duration.ofMillis(1_200));
    assertThat(scheduler.pendingDelaysNanos())
        .as("an hour's class: epochs of about half a minute, sleeps of a second (the longest)")
        .allSatisfy(d -> assertThat(d).isGreaterThan(Duration.ofMillis(500).toNanos()));
    lease("short");
    scheduler.advance(Duration.ofMillis(100));
    assertThat(scheduler.pendingDelaysNanos()).anySatisfy(d -> assertThat(d).isLessThan(Duration.ofMillis(20).toNanos()));
    scheduler.advance(Duration.ofSeconds(2)); // the short key expired: its class stops
    assertThat(scheduler.pendingDelaysNanos())
        .as("back to the hour's pace once nothing short is idle")
        .allSatisfy(d -> assertThat(d).isGreaterThan(Duration.ofMillis(500).toNanos()));
  }

  /**
   * The promise, for TTLs from 1 ms to an hour, released warm (stamped with their class's epoch)
   * and cold, at random times, with classes that stop and start again: never early, and at most
   * max(ttl/64, 1 ms) + 1 ms late, each key by its own TTL.
   */
  @Test
  void randomizedNeverEarlyAndAtMostAFractionLatePerKey() {
    for (int seed = 0; seed < 20; seed++) {
      runRandomized(seed);
    }
  }

  private void runRandomized(long seed) {
    expiredAt.clear();
    if (pool != null) {
      pool.close();
    }
    Random random = new Random(seed);
    newPool(PerKeyTtlTest::ttlOf);
    Map<String, Long> releasedAt = new HashMap<>();
    Map<String, Long> ttlOf = new HashMap<>();
    long start = ticker.read();
    int keys = 60;
    for (int i = 0; i < keys; i++) {
      // log-uniform from 1 ms to about 1 hour
      long ttlMillis = Math.max(1, (long) Math.exp(random.nextDouble() * Math.log(3_600_000)));
      ttlOf.put(i + "=" + ttlMillis, ttlMillis * 1_000_000);
    }
    List<String> names = new ArrayList<>(ttlOf.keySet());
    names.sort(null);
    for (int step = 0; step < 400; step++) {
      String key = names.get(random.nextInt(names.size()));
      if (!expiredAt.containsKey(key)) {
        lease(key);
        releasedAt.put(key, ticker.read());
      }
      long jump =
          random.nextInt(4) == 0
              ? (long) (random.nextDouble() * 5_000_000_000L)
              : random.nextInt(3_000_000);
      scheduler.advance(Duration.ofNanos(jump));
    }
    scheduler.advance(Duration.ofHours(3));
    for (String key : releasedAt.keySet()) {
      long ttl = ttlOf.get(key);
      long late = LeaseAndTtlTest.mostLate(Duration.ofNanos(ttl)).toNanos();
      assertThat(expiredAt.get(key)).as("seed %s key %s expired once", seed, key).hasSize(1);
      long closed = expiredAt.get(key).get(0) - releasedAt.get(key);
      assertThat(closed)
          .as("seed %s key %s (ttl %s ms): never early, at most %s ns late", seed, key, ttl / 1e6, late)
          .isBetween(ttl, ttl + late);
    }
    assertThat(start).isLessThanOrEqualTo(ticker.read());
  }

  @Test
  void theBuilderTakesOneTtlOnly() {
    assertThatThrownBy(
            () -> Pool.newBuilder().ttl(Duration.ofSeconds(1)).ttl(key -> Duration.ZERO))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("ttl was already set to PT1S");
    assertThatThrownBy(
            () -> Pool.newBuilder().ttl(key -> Duration.ZERO).ttl(Duration.ofSeconds(1)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("ttl was already set to a function of the key");
    assertThatThrownBy(() -> Pool.newBuilder().ttl((Function<Object, Duration>) null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("ttlByKey");
  }

  @Test
  void aCopyKeepsItsTtlPerKeyAndAFunctionThatIsNotSerializableIsNamed() throws Exception {
    Pool<String, TestResource> original =
        Pool.newBuilder()
            .ttl((Function<String, Duration> & java.io.Serializable) PerKeyTtlTest::ttlOf)
            .name("tiers")
            .build(new SerializationTest.CountingFactory());
    try (Pool<String, TestResource> copy = SerializationTest.roundTrip(original)) {
      assertThat(copy.toString()).isEqualTo("Pool[tiers, ttl=per key]");
      try (Lease<TestResource> lease = copy.get("zero")) {
        assertThat(lease.get().key).isEqualTo("zero");
      }
      assertThat(copy.stats().expirations())
          .as("the copy asks the function too: zero expires at its last release")
          .isEqualTo(1);
    } finally {
      original.close();
    }
    Pool<String, TestResource> notSerializable =
        Pool.newBuilder().ttl((String key) -> Duration.ofSeconds(1)).build(factory);
    assertThatThrownBy(() -> SerializationTest.roundTrip(notSerializable))
        .isInstanceOf(java.io.NotSerializableException.class);
    notSerializable.close();
  }

  /**
   * A hot key's entry is leased whenever the task looks at it: the task lets it go, and its class
   * of TTLs owns nothing. If the class stopped at once, every warm release of the key would read
   * the clock until the task took the entry again, up to an epoch later (found by the warm lease
   * benchmark: half the trials at 16 instead of 38 ops/us). The class goes on for two epochs
   * instead, so the releases stay clock-free but for the one that queues the entry again.
   */
  /** The test's ticker, counting its reads while {@link #on}: the clock reads of releases. */
  private final class ReadsWhile implements Ticker {
    boolean on;
    int reads;

    @Override
    public long read() {
      if (on) {
        reads++;
      }
      return ticker.read();
    }
  }

  @Test
  void aHotKeysWarmReleasesReadNoClockAcrossTheTasksLooks() {
    ReadsWhile counting = new ReadsWhile();
    pool =
        settings(counting)
            .ttl((String key) -> Duration.ofMillis(6_400)) // epochs of 67 ms (2^32 ns / 64)
            .build(factory);
    int releases = 20_000;
    for (int i = 0; i < releases; i++) {
      Lease<TestResource> lease = pool.get("hot");
      scheduler.advance(Duration.ofMillis(1)); // the task may look, and find it leased
      counting.on = true;
      lease.close();
      counting.on = false;
    }
    assertThat(factory.created).hasSize(1);
    // Here every run of the task finds the key leased (the lease is held while the clock moves),
    // lets it go, and the next release reads the clock to queue it again: one read per run, a
    // run per 67 ms epoch or so, about 370 in all. Without the grace each run would also stop the
    // class, and every release until the next run would read the clock: about 20,000.
    assertThat(counting.reads).as("clock reads in %s releases", releases).isLessThan(1_000);
  }

  /**
   * A key's first release queues its entry for the task, which starts the entry's class of TTLs
   * when it takes it; until then, every warm release of the key reads the clock (its class has no
   * epoch to stamp). So the task must come at once for a class that is not active, not an epoch of
   * the class later: for an hour's TTL that was 34 s of clock reads on every release of every key
   * of the class after the pool's start (found by the warm lease benchmark: a per-key pool at 43
   * to 49 ns a lease in 4 of 16 JVMs, against 32 to 38 ns in the others).
   */
  @Test
  void aClassStartsWithinMillisecondsOfItsFirstIdleEntryNotAnEpochLater() {
    ReadsWhile counting = new ReadsWhile();
    pool = settings(counting).ttl((String key) -> Duration.ofHours(1)).build(factory);
    for (String key : List.of("a", "b", "c")) {
      pool.get(key).close(); // cold: queued, with a clock read
    }
    scheduler.advance(Duration.ofMillis(5));
    counting.on = true;
    for (int i = 0; i < 1_000; i++) {
      pool.get(List.of("a", "b", "c").get(i % 3)).close();
    }
    counting.on = false;
    assertThat(counting.reads).as("clock reads in 1,000 warm releases").isZero();
    assertThat(factory.created).hasSize(3);
  }

  @Test
  void itSaysItsTtlIsPerKey() {
    newPool(PerKeyTtlTest::ttlOf);
    assertThat(pool.toString()).isEqualTo("Pool[test-pool, ttl=per key]");
  }

  @Test
  void aSharedPerJvmPoolRefusesAPinnedKey() {
    pool =
        settings()
            .ttl((String key) -> key.equals("pinned") ? FOREVER : Duration.ofSeconds(1))
            .sharedPerJvm()
            .build(factory);
    assertThatThrownBy(() -> pool.get("pinned"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("sharedPerJvm() needs a ttl that ends")
        .hasMessageContaining("for key pinned");
    assertThat(lease("other").key).isEqualTo("other");
  }

  @Test
  void shutdownClosesIdleInstancesOfEveryTtl() {
    newPool(PerKeyTtlTest::ttlOf);
    List<TestResource> resources =
        List.of(lease("short"), lease("long"), lease("pinned"), lease("k=5"));
    scheduler.advance(Duration.ofMillis(2));
    pool.close();
    assertThat(resources).allSatisfy(r -> assertThat(r.closes).hasValue(1));
    assertThat(expiredAt).isEmpty();
    scheduler.advance(Duration.ofHours(1));
    assertThat(resources).allSatisfy(r -> assertThat(r.closes).hasValue(1));
  }
}
