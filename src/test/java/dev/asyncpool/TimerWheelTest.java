package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.asyncpool.PoolEntry.Timed;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link TimerWheel} alone: an entry comes back at the first advance that reaches its deadline,
 * never before; driven by {@link TimerWheel#nextTime}, exactly at it; and it is handed back once,
 * then, not on its way down the levels.
 */
class TimerWheelTest {

  private static final long ORIGIN = -7_000_000_000_000L; // a ticker reading, as nanoTime's may be

  /** A wheel and its entries' deadlines, with a visitor that fires the due and files the rest. */
  private static final class Driver implements TimerWheel.Visitor<String, Object> {
    final TimerWheel<String, Object> wheel = new TimerWheel<>(ORIGIN);
    final Map<Timed<String, Object>, Long> deadlines = new HashMap<>();
    final Map<Timed<String, Object>, Long> firedAt = new HashMap<>();
    final Map<Timed<String, Object>, Integer> looks = new HashMap<>();
    /** How many advances came before each entry was added. */
    final Map<Timed<String, Object>, Integer> addedAfter = new HashMap<>();
    int advances;
    long now = ORIGIN;

    Timed<String, Object> add(long deadline) {
      Timed<String, Object> entry =
          PoolEntry.creatingTimed("k" + deadlines.size(), 1, 0, 1, null);
      deadlines.put(entry, deadline);
      addedAfter.put(entry, advances);
      wheel.schedule(entry, deadline);
      return entry;
    }

    void advance(long to) {
      advances++;
      now = to;
      wheel.advance(to, this);
    }

    @Override
    public void visit(Timed<String, Object> entry) {
      looks.merge(entry, 1, Integer::sum);
      long deadline = deadlines.get(entry);
      if (deadline - now <= 0) {
        assertThat(firedAt).doesNotContainKey(entry);
        firedAt.put(entry, now);
      } else {
        wheel.schedule(entry, deadline);
      }
    }
  }

  private static long randomDeadline(SplittableRandom random, long from) {
    int kind = random.nextInt(10);
    if (kind == 0) {
      return from + random.nextLong(1L << 20); // within the current millisecond
    }
    if (kind == 1) {
      return from + (random.nextLong(8) << 20); // exactly on level-0 bucket boundaries
    }
    if (kind == 2) {
      return from + 100L * 365 * 86_400_000_000_000L + random.nextLong(1L << 40); // a century
    }
    return from + random.nextLong(1L << (20 + random.nextInt(26))); // 1 ms to 9 hours, log-ish
  }

  @Test
  void drivenByNextTimeEveryEntryComesBackExactlyAtItsDeadline() {
    for (int seed = 0; seed < 8; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      Driver driver = new Driver();
      driver.advance(ORIGIN + random.nextLong(1L << 30));
      for (int round = 0; round < 30; round++) {
        for (int i = 0; i < 50; i++) {
          driver.add(randomDeadline(random, driver.now));
        }
        // Run as the expiry task does, to each next time, for a while.
        for (int step = 0; step < 200 && driver.wheel.size() > 0; step++) {
          long next = driver.wheel.nextTime();
          long earliest =
              driver.deadlines.entrySet().stream()
                  .filter(e -> !driver.firedAt.containsKey(e.getKey()))
                  .mapToLong(Map.Entry::getValue)
                  .min()
                  .orElseThrow();
          assertThat(next - earliest).as("seed %s: nextTime never after a deadline", seed).isNotPositive();
          driver.advance(Math.max(next, driver.now));
        }
      }
      for (Map.Entry<Timed<String, Object>, Long> fired : driver.firedAt.entrySet()) {
        assertThat(fired.getValue())
            .as("seed %s: fired exactly at its deadline", seed)
            .isEqualTo(Math.max(driver.deadlines.get(fired.getKey()), ORIGIN));
      }
      assertThat(driver.firedAt).as("seed %s: something fired", seed).isNotEmpty();
    }
  }

  @Test
  void withRandomJumpsEachEntryComesBackAtTheFirstAdvanceThatReachesItsDeadline() {
    for (int seed = 0; seed < 20; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      Driver driver = new Driver();
      List<Long> advances = new ArrayList<>();
      for (int round = 0; round < 300; round++) {
        for (int i = random.nextInt(8); i > 0; i--) {
          driver.add(randomDeadline(random, driver.now));
        }
        long jump =
            switch (random.nextInt(4)) {
              case 0 -> random.nextLong(1L << 20);
              case 1 -> random.nextLong(1L << 27); // up to two level-0 revolutions
              case 2 -> random.nextLong(1L << 34); // up to four level-1 revolutions
              default -> random.nextLong(1L << 44); // hours
            };
        driver.advance(driver.now + jump);
        advances.add(driver.now);
      }
      for (Map.Entry<Timed<String, Object>, Long> e : driver.deadlines.entrySet()) {
        long deadline = e.getValue();
        Long fired = driver.firedAt.get(e.getKey());
        Long firstReaching =
            advances.stream()
                .skip(driver.addedAfter.get(e.getKey()))
                .filter(t -> t - deadline >= 0)
                .findFirst()
                .orElse(null);
        assertThat(fired).as("seed %s: deadline %s", seed, deadline).isEqualTo(firstReaching);
        // Down the levels by the deadline it was filed by: its own memory is touched only when
        // that deadline comes.
        assertThat(driver.looks.get(e.getKey()) == null ? 0 : driver.looks.get(e.getKey()))
            .as("seed %s: looked at once, when due, and only if due", seed)
            .isEqualTo(fired == null ? 0 : 1);
      }
    }
  }

  /**
   * A deadline a whole revolution of a level ahead, in ticks of that level, has the index of the
   * current bucket there: it belongs a level up, or it would come up a revolution late (or, at
   * level 0, be missed by nextTime).
   */
  @Test
  void aDeadlineARevolutionAheadIsNotTakenForTheCurrentBucket() {
    for (int level = 0; level < TimerWheel.LEVELS - 1; level++) {
      int shift = TimerWheel.SHIFT0 + TimerWheel.BUCKET_BITS * level;
      for (long offset : new long[] {0, 1, (1L << shift) - 1}) {
        Driver driver = new Driver();
        driver.advance(ORIGIN + (5L << shift) + offset);
        long tick = (driver.now - ORIGIN) >> shift;
        long deadline = ORIGIN + ((tick + TimerWheel.BUCKETS) << shift) + offset / 2;
        Timed<String, Object> entry = driver.add(deadline);
        for (int step = 0; !driver.firedAt.containsKey(entry); step++) {
          assertThat(step).as("level %s offset %s: handed back by now", level, offset).isLessThan(100);
          long next = driver.wheel.nextTime();
          assertThat(next - deadline).as("level %s offset %s", level, offset).isNotPositive();
          driver.advance(Math.max(next, driver.now));
        }
        assertThat(driver.firedAt.get(entry)).as("level %s offset %s", level, offset).isEqualTo(deadline);
      }
    }
  }

  @Test
  void aDeadlineAlreadyPastComesBackAtTheNextAdvance() {
    Driver driver = new Driver();
    driver.advance(ORIGIN + 5_000_000_000L);
    Timed<String, Object> late = driver.add(driver.now - 1_000_000);
    assertThat(driver.wheel.nextTime()).isEqualTo(driver.now - 1_000_000);
    driver.advance(driver.now);
    assertThat(driver.firedAt).containsKey(late);
    assertThat(driver.wheel.size()).isZero();
    assertThat(driver.wheel.nextTime()).isEqualTo(Long.MAX_VALUE);
  }

  /**
   * A visitor that throws (the task's run fails while it looks at an entry) must not take the
   * rest of the bucket with it: the entries not reached yet stay filed and come back at the next
   * advance, or nothing would ever look at them again, and their instances would never close.
   */
  @Test
  void aVisitorThatThrowsLeavesTheRestOfTheBucketFiled() {
    Driver driver = new Driver();
    driver.advance(ORIGIN + 5_000_000_000L);
    List<Timed<String, Object>> added = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      // Far enough for level 1, all in one bucket there: they come down together.
      added.add(driver.add(driver.now + 200_000_000L + i));
    }
    Timed<String, Object> poisoned = added.get(7);
    TimerWheel.Visitor<String, Object> throwing =
        entry -> {
          if (entry == poisoned) {
            throw new IllegalStateException("the visitor failed");
          }
          driver.visit(entry);
        };
    driver.now += 300_000_000L;
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> driver.wheel.advance(driver.now, throwing))
        .hasMessage("the visitor failed");
    assertThat(driver.firedAt).hasSize(7);
    assertThat(driver.wheel.size()).as("the 12 not reached stay filed").isEqualTo(12);
    driver.advance(driver.now);
    assertThat(driver.firedAt).hasSize(19).doesNotContainKey(poisoned);
    assertThat(driver.wheel.size()).isZero();
  }

  @Test
  void clearForgetsEverything() {
    Driver driver = new Driver();
    for (int i = 0; i < 100; i++) {
      driver.add(driver.now + (long) i * 123_456_789L);
    }
    driver.wheel.clear();
    assertThat(driver.wheel.size()).isZero();
    driver.advance(driver.now + (1L << 50));
    assertThat(driver.firedAt).isEmpty();
  }
}
