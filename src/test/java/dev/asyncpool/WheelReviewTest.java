package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.asyncpool.PoolEntry.Timed;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/**
 * Review of the array-bucket {@link TimerWheel} (6c92d87) and of the at-once class start in
 * {@link TimedExpiry#idle} (19d446b): the wheel alone, then the pool on the fake clock. Found: a
 * visitor that threw mid-advance left the other buckets that came up a revolution behind; a batch
 * whose hand-off to the executor threw an Error was never closed, and close() never completed;
 * an eviction took an instance by the deadline it was filed by, gone stale since.
 */
class WheelReviewTest extends PoolTestSupport {

  private static final long MS = 1_000_000L;

  private static Timed<String, Object> entry(String key) {
    return PoolEntry.creatingTimed(key, 1, 0, 1, null);
  }

  // ---- 1. a visitor that throws mid-advance leaves the buckets after it behind ---------------

  /**
   * An advance that passes several level-0 buckets hands them back in tick order; if the visitor
   * throws in the first, the wheel's time is already the new one, so the passed buckets it did not
   * reach are now behind the current tick: nothing hands them back until the level comes round
   * again, a revolution (67 ms) later, and nextTime() says so. The commit keeps the rest of the
   * failing bucket filed, but not the other buckets of the same advance.
   */
  @Test
  void aVisitorThatThrowsMustNotLeaveThePassedBucketsAfterItForARevolution() {
    TimerWheel<String, Object> wheel = new TimerWheel<>(0);
    Timed<String, Object> first = entry("first");
    Timed<String, Object> second = entry("second");
    wheel.schedule(first, 2 * MS);
    wheel.schedule(second, 5 * MS);
    List<Timed<String, Object>> handed = new ArrayList<>();
    TimerWheel.Visitor<String, Object> throwingOnFirst =
        e -> {
          if (e == first) {
            throw new IllegalStateException("the visitor failed");
          }
          handed.add(e);
        };
    // A late run: the task was due at 2 ms and runs at 10 ms.
    assertThatThrownBy(() -> wheel.advance(10 * MS, throwingOnFirst)).hasMessage("the visitor failed");
    assertThat(wheel.size()).as("second stays filed").isEqualTo(1);
    assertThat(wheel.nextTime())
        .as("nextTime, with an entry due at 5 ms filed (now 10 ms)")
        .isLessThanOrEqualTo(5 * MS);
    long at = driveUntilHandedBack(wheel, second, handed, 10 * MS);
    assertThat(at).as("when the entry due at 5 ms came back, after the failed run at 10 ms").isEqualTo(11 * MS);
  }

  /**
   * The same one level up: a level-2 bucket and a level-1 bucket both begin at 2^32 ns; the level-2
   * one is handed back first, and its visitor throws: the level-1 bucket is then the current one
   * of its level, which an advance never hands back (it hands back the ticks after it), so its
   * entry waits a revolution of level 1: 4.3 s.
   */
  @Test
  void aVisitorThatThrowsOnAHigherLevelMustNotLeaveTheLowerLevelsBucketForARevolution() {
    long span2 = 1L << 32; // a level-2 bucket, 4.3 s
    TimerWheel<String, Object> wheel = new TimerWheel<>(0);
    Timed<String, Object> first = entry("first");
    Timed<String, Object> second = entry("second");
    wheel.schedule(first, span2); // level 2, bucket 1
    List<Timed<String, Object>> handed = new ArrayList<>();
    wheel.advance(span2 - 100 * MS, handed::add);
    wheel.schedule(second, span2 + MS); // 101 ms ahead: level 1, the bucket beginning at 2^32
    TimerWheel.Visitor<String, Object> throwingOnFirst =
        e -> {
          if (e == first) {
            throw new IllegalStateException("the visitor failed");
          }
          handed.add(e);
        };
    assertThatThrownBy(() -> wheel.advance(span2 + 2 * MS, throwingOnFirst))
        .hasMessage("the visitor failed");
    long at = driveUntilHandedBack(wheel, second, handed, span2 + 2 * MS);
    assertThat(Duration.ofNanos(at - (span2 + MS)))
        .as("how late the entry came back, after the failed run 1 ms past its deadline")
        .isLessThanOrEqualTo(Duration.ofMillis(2));
  }

  /** Advances the wheel as the task does (to each nextTime, 1 ms at least) until {@code e} is back. */
  private static long driveUntilHandedBack(
      TimerWheel<String, Object> wheel,
      Timed<String, Object> e,
      List<Timed<String, Object>> handed,
      long now) {
    TimerWheel.Visitor<String, Object> collect = handed::add;
    for (int step = 0; !handed.contains(e) && step < 1_000_000; step++) {
      now = Math.max(wheel.nextTime(), now + MS);
      wheel.advance(now, collect);
    }
    return now;
  }

  // ---- 2. the same in the pool: the sink throws (an executor's Error) -------------------------

  /** Throws an OutOfMemoryError ("unable to create native thread") from execute() when armed. */
  private final AtomicBoolean executorFails = new AtomicBoolean();

  private final Executor failingOnce =
      r -> {
        if (executorFails.getAndSet(false)) {
          throw new OutOfMemoryError("unable to create native thread");
        }
        r.run();
      };

  private final List<TestResource> batch = new ArrayList<>();
  private TestResource other;

  /**
   * 1,024 keys of 50 ms (a close batch: the visitor flushes it to the sink while it walks the
   * bucket) and one of 55 ms, all released at 0; the task's run due at 3 ms comes at 62 ms (a late
   * scheduler), its single advance passes both buckets, and the executor throws an Error from the
   * flush.
   */
  private void aLateRunWhoseFlushThrows() {
    pool =
        Pool.newBuilder()
            .ticker(ticker)
            .scheduler(scheduler)
            .executor(failingOnce)
            .name("test-pool")
            .ttl((String key) -> key.equals("other") ? Duration.ofMillis(55) : Duration.ofMillis(50))
            .build(factory);
    for (int i = 0; i < Expiry.CLOSE_BATCH; i++) {
      batch.add(lease("a" + i));
    }
    other = lease("other");
    scheduler.advance(Duration.ofMillis(2)); // the task owns them all
    ticker.advance(Duration.ofMillis(60)); // the scheduler is late
    executorFails.set(true);
    scheduler.runDue();
    // The pool closes the batch inline (an Error from execute() no longer fails the task's run,
    // whose claimed batch nothing would close): a WARN, and no ERROR.
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN test-pool: executor rejected 1024 closes; closing inline | OutOfMemoryError");
    assertThat(PoolLog.lines(Level.ERROR)).isEmpty();
  }

  /**
   * The run's advance hands back the 50 ms bucket, its flush throws, and the 55 ms key's bucket,
   * passed by the same advance, is left behind the current tick: it comes back a revolution of
   * level 0 later, though the task retries 1 ms after the failure.
   */
  @Test
  void aSinkThatThrowsMidAdvanceMustNotMakeTheNextBucketsKeysARevolutionLate() {
    aLateRunWhoseFlushThrows();
    long failedAt = ticker.read();
    for (int i = 0; i < 200 && other.closes.get() == 0; i++) {
      scheduler.advance(Duration.ofMillis(1));
    }
    assertThat(other.closes).hasValue(1);
    assertThat(Duration.ofNanos(ticker.read() - failedAt))
        .as("the 55 ms key (due 7 ms before the failed run) closed after the failed run by")
        .isLessThanOrEqualTo(Duration.ofMillis(2));
  }

  /**
   * The batch the visitor flushed was claimed (claimIdle) and taken out of {@code expired} before
   * the sink threw: nothing hands it over again (handOverClaimed sees the new, empty list), and
   * shutdown skips claimed entries. Outside the diff (flushExpired), but the promise is "no entry
   * the task owns is ever lost, even when the sink throws".
   */
  @Test
  void aBatchWhoseFlushThrowsIsStillClosed() {
    aLateRunWhoseFlushThrows();
    scheduler.advance(Duration.ofSeconds(5));
    CompletableFuture<Void> closed = pool.closeAsync();
    scheduler.advance(Duration.ofSeconds(60));
    long unclosed = batch.stream().filter(r -> r.closes.get() != 1).count();
    assertThat(unclosed)
        .as(
            "instances of the 1,024 keys of 50 ms not closed once, 65 s on and after close() (which %s)",
            closed.isDone() ? "completed" : "did not complete")
        .isZero();
    assertThat(closed).as("close() completes").isCompleted();
  }

  // ---- 3. eviction by a deadline gone stale --------------------------------------------------

  private final List<String> evicted = new CopyOnWriteArrayList<>();

  /**
   * Same TTL, 10 s: a released at 0 (filed by 10 s, in the level-2 bucket [8.6 s, 12.9 s)), b at
   * 2.5 s (due 12.5 s, the same bucket), a used again at 5 s (due 15 s). At 8.6 s that bucket comes
   * up. Before 6c92d87 the task looked at both then: b went down to level 1 by 12.5 s, a was filed
   * by its real deadline, 15 s, in the next level-2 bucket, and an eviction at 9.5 s took b. Now a
   * moves down by the 10 s it was filed by, untouched, ahead of b, and the eviction takes a, due
   * 2.5 s after b and used 2.5 s after it, while b is idle. (Passes at 5b8cf21.)
   */
  @Test
  void anEvictionTakesTheInstanceDueSoonestNotOneWhoseFiledDeadlineWentStale() {
    pool =
        settings()
            .ttl((String key) -> Duration.ofSeconds(10))
            .maxInstances(2)
            .acquireTimeout(Duration.ofSeconds(5))
            .listener(evictionsInto(evicted))
            .build(factory);
    lease("a"); // due 10 s
    scheduler.advance(Duration.ofMillis(2_500));
    lease("b"); // due 12.5 s
    scheduler.advance(Duration.ofMillis(2_500));
    lease("a"); // warm: due 15 s
    scheduler.advance(Duration.ofMillis(4_500)); // 9.5 s
    CompletableFuture<Lease<TestResource>> c = pool.acquire("c");
    scheduler.runDue();
    assertThat(c).isCompleted();
    c.join().close();
    assertThat(evicted).as("b is due at 12.5 s, a at 15 s").containsExactly("b");
  }

  // ---- 4. the wheel against a model: advances, eviction drains, throwing drains --------------

  /**
   * Random deadlines (a bucket boundary, within the current millisecond, up to hours, beyond the
   * top level's 146 years), advances by jumps and to nextTime, and eviction walks whose drain
   * claims, files again by the deadline handed, or throws. After every step: size() is the
   * model's count, nextTime() is never after a filed deadline, every entry due by an advance came
   * back in it (once, and only when due), drain hands the deadline the entry was filed by, and no
   * bucket array holds a reference beyond its count (nothing is retained by a kept array).
   */
  @Test
  void theWheelKeepsItsBooksUnderAdvancesDrainsAndThrowingDrains() throws Exception {
    for (int s = 0; s < 6; s++) {
      final int seed = s;
      SplittableRandom random = new SplittableRandom(seed);
      long origin = random.nextLong() >> 2;
      TimerWheel<String, Object> wheel = new TimerWheel<>(origin);
      Map<Timed<String, Object>, Long> filed = new HashMap<>();
      Set<Timed<String, Object>> gone = new HashSet<>();
      long[] now = {origin};
      int[] added = {0};
      TimerWheel.Visitor<String, Object> visitor =
          e -> {
            assertThat(filed).as("seed %s: handed back while filed", seed).containsKey(e);
            long deadline = filed.get(e);
            assertThat(deadline - now[0]).as("seed %s: handed back only when due", seed).isNotPositive();
            filed.remove(e);
            assertThat(gone.add(e)).as("seed %s: handed back once", seed).isTrue();
          };
      for (int st = 0; st < 1_500; st++) {
        final int step = st;
        int op = random.nextInt(10);
        if (op < 4) {
          for (int i = random.nextInt(40); i >= 0; i--) {
            Timed<String, Object> e = entry("k" + added[0]++);
            long deadline = deadline(random, now[0]);
            filed.put(e, deadline);
            wheel.schedule(e, deadline);
          }
        } else if (op < 7) {
          long to =
              random.nextBoolean() && wheel.size() > 0
                  ? Math.max(wheel.nextTime(), now[0])
                  : now[0] + random.nextLong(1L << (10 + random.nextInt(36)));
          now[0] = to;
          wheel.advance(to, visitor);
          for (Map.Entry<Timed<String, Object>, Long> e : filed.entrySet()) {
            assertThat(e.getValue() - to)
                .as("seed %s step %s: an entry due by the advance came back in it", seed, step)
                .isPositive();
          }
        } else {
          int claims = 1 + random.nextInt(5);
          boolean throwing = random.nextInt(4) == 0;
          int[] seen = {0};
          int throwAt = random.nextInt(30);
          Map<Timed<String, Object>, Long> before = new HashMap<>(filed);
          try {
            wheel.forEachBucketInDueOrder(
                (level, index, start) -> {
                  wheel.drain(
                      level,
                      index,
                      (e, deadline) -> {
                        assertThat(deadline).as("seed %s: the deadline filed by", seed).isEqualTo(before.get(e));
                        if (throwing && seen[0]++ == throwAt) {
                          filed.remove(e); // the one it threw on is the drain's own
                          gone.add(e);
                          throw new IllegalStateException("drain failed");
                        }
                        if (random.nextInt(3) == 0) {
                          filed.remove(e); // claimed
                          gone.add(e);
                          seen[0]++;
                        } else {
                          wheel.schedule(e, deadline); // passed, filed again as it was
                        }
                      });
                  return filed.size() <= before.size() - claims;
                });
          } catch (IllegalStateException expected) {
            assertThat(expected).hasMessage("drain failed");
          }
        }
        assertThat(wheel.size()).as("seed %s step %s: size", seed, step).isEqualTo(filed.size());
        long next = wheel.nextTime();
        long earliest = filed.values().stream().mapToLong(d -> d - origin).min().orElse(Long.MAX_VALUE);
        if (earliest != Long.MAX_VALUE) {
          assertThat(next - origin).as("seed %s step %s: nextTime never after a deadline", seed, step).isLessThanOrEqualTo(earliest);
        } else {
          assertThat(next).isEqualTo(Long.MAX_VALUE);
        }
        assertNothingRetained(wheel, seed);
      }
    }
  }

  private static long deadline(SplittableRandom random, long now) {
    return switch (random.nextInt(8)) {
      case 0 -> now + random.nextLong(1L << 20);
      case 1 -> now + (random.nextLong(70) << 20);
      case 2 -> now - random.nextLong(1L << 22); // already past
      case 3 -> now + (1L << 62) - random.nextLong(1L << 57); // just under the top revolution
      case 4 -> now + random.nextLong(1L << 50);
      default -> now + random.nextLong(1L << (20 + random.nextInt(24)));
    };
  }

  @SuppressWarnings("unchecked")
  private static void assertNothingRetained(TimerWheel<String, Object> wheel, int seed) throws Exception {
    Field entriesField = TimerWheel.class.getDeclaredField("entries");
    Field countsField = TimerWheel.class.getDeclaredField("counts");
    entriesField.setAccessible(true);
    countsField.setAccessible(true);
    Object[][] entries = (Object[][]) entriesField.get(wheel);
    int[] counts = (int[]) countsField.get(wheel);
    for (int slot = 0; slot < entries.length; slot++) {
      Object[] bucket = entries[slot];
      if (bucket == null) {
        assertThat(counts[slot]).isZero();
        continue;
      }
      for (int i = counts[slot]; i < bucket.length; i++) {
        assertThat(bucket[i]).as("seed %s: slot %s holds an entry beyond its count, at %s", seed, slot, i).isNull();
      }
    }
  }

  // ---- 5. 19d446b: the at-once class start does not pile up runs -----------------------------

  /**
   * 40 classes of TTLs (2^i ms, 1 ms to 17 years), each key used again every 7 ms for 1.4 s: the
   * short classes stop between uses and start again at each cold release, 1 ms after it; the long
   * ones stay active. The task never has more than one run scheduled (superseded ones are
   * cancelled), every instance of a key whose TTL is 64 ms or less was closed once by the end,
   * and nothing is logged at ERROR.
   */
  @Test
  void classesStoppingAndStartingDoNotPileUpRuns() {
    newPool(ticker, key -> Duration.ofMillis(1L << Integer.parseInt(key.substring(1))));
    int most = 0;
    for (int round = 0; round < 200; round++) {
      for (int i = 0; i < 40; i++) {
        lease("k" + i);
        most = Math.max(most, scheduler.pending());
      }
      scheduler.advance(Duration.ofMillis(7));
      most = Math.max(most, scheduler.pending());
    }
    scheduler.advance(Duration.ofSeconds(1));
    assertThat(most).as("most runs scheduled at once").isLessThanOrEqualTo(1);
    assertThat(factory.created.stream().filter(r -> Integer.parseInt(((String) r.key).substring(1)) <= 6))
        .allSatisfy(r -> assertThat(r.closes).hasValue(1));
    assertThat(factory.created.stream().filter(r -> Integer.parseInt(((String) r.key).substring(1)) >= 12))
        .as("one instance each for the keys of 4 s and more")
        .hasSize(28);
    assertThat(PoolLog.events(Level.ERROR)).isEmpty();
  }
}
