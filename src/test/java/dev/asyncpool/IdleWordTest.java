package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The entry's idle word (issue 10, items 1 and 6): a release's generation and stamp, written in
 * one store. These check the packing itself, at the edges where generations and stamps wrap.
 */
class IdleWordTest {

  /** States whose generations sit at and around the wrap, with leases and flags set. */
  private static final long[] STATES = {
    0L,
    PoolEntry.RETIRED | PoolEntry.CLAIMED | 5 * PoolEntry.REF,
    PoolEntry.GEN,
    0xFFFF_FFFFL * PoolEntry.GEN, // generation 2^32 - 1
    0xFFFF_FFFFL * PoolEntry.GEN + PoolEntry.RELEASE + 2 * PoolEntry.REF, // one release later: 0
    0x8000_0000L * PoolEntry.GEN | PoolEntry.REFS,
  };

  private static final int[] STAMPS = {
    PoolEntry.timeStamp(0),
    PoolEntry.timeStamp(PoolEntry.STAMP_VALUE),
    PoolEntry.timeStamp(1L << 40), // a time past 2^31 units keeps its low 31 bits
    PoolEntry.epochStamp(0),
    PoolEntry.epochStamp(Long.MAX_VALUE),
    PoolEntry.epochStamp(1L << 31),
  };

  @Test
  void aStampIsReadOnlyWithTheGenerationItWasWrittenFor() {
    for (long state : STATES) {
      for (int stamp : STAMPS) {
        long idle = PoolEntry.idleWord(state, stamp);
        assertThat(PoolEntry.idleGeneration(idle))
            .as("generation of %x written for state %x", idle, state)
            .isEqualTo(PoolEntry.generation(state));
        assertThat(PoolEntry.idleStamp(idle)).as("stamp of %x", idle).isEqualTo(stamp);
      }
    }
  }

  @Test
  void aGenerationThatWrapsIsStillWrittenWithItsOwnStamp() {
    PoolEntry<String, Object> entry = PoolEntry.creating("k", PoolEntry.Creation.NO_START);
    long old = PoolEntry.GEN; // idle in generation 1 at time 0
    entry.stampIdle(old, PoolEntry.timeStamp(0));
    // 2^32 - 1 releases later (one lease held throughout), the last lease is released: the
    // generation is 1 again. That release stores its own word whatever its clock did, here an
    // epoch stamp: the time 0 of 2^32 releases ago cannot be read for it any more.
    long wrapped = old + (0xFFFF_FFFFL * PoolEntry.GEN) + PoolEntry.RELEASE + PoolEntry.REF;
    assertThat(PoolEntry.generation(wrapped)).isEqualTo(PoolEntry.generation(old));
    entry.stampIdle(wrapped, PoolEntry.epochStamp(7));
    assertThat(PoolEntry.idleStamp(entry.idle())).isEqualTo(PoolEntry.epochStamp(7));
    assertThat(PoolEntry.isEpochStamp(PoolEntry.idleStamp(entry.idle()))).isTrue();
  }

  @Test
  void aStampIsReadExactlyAcrossTheWrapOfItsThirtyOneBits() {
    long wrap = 1L << 31;
    assertThat(PoolEntry.stampDistance(wrap + 5, PoolEntry.timeStamp(wrap + 3))).isEqualTo(2);
    assertThat(PoolEntry.stampDistance(5, PoolEntry.timeStamp(wrap - 1))).isEqualTo(6);
    assertThat(PoolEntry.stampDistance(wrap + 5, PoolEntry.timeStamp(wrap + 7)))
        .as("a stamp taken after the reader's clock read")
        .isEqualTo(-2);
    assertThat(PoolEntry.stampDistance(3 * wrap + 9, PoolEntry.epochStamp(3 * wrap + 1)))
        .isEqualTo(8);
  }

  @Test
  void aStampTooOldToReadExactlyReadsAsLaterNeverEarlier() {
    long from = (1L << 30) + 10; // more than 2^30 units after the stamp
    for (long age : new long[] {from, 1L << 31, (1L << 31) + 12345, (1L << 32) - 1}) {
      long distance = PoolEntry.stampDistance(age, PoolEntry.timeStamp(0));
      assertThat(distance).as("age %d", age).isLessThan(age);
    }
  }

  @Test
  void stampUnitsSpanOverAThousandTtlsAndKeepMillisecondsExact() {
    long[] ttls = {1, 1_000_000, 10_000_000_000L, 30_000_000_000L, 86_400_000_000_000L};
    for (long ttl : ttls) {
      long unit = Epochs.stampUnitNanos(ttl);
      assertThat((1L << 30) * (double) unit).as("ttl %d", ttl).isGreaterThanOrEqualTo(1024.0 * ttl);
      assertThat(unit).as("ttl %d: a power of ten", ttl).matches(u -> isPowerOfTen(u));
      assertThat(unit).as("ttl %d: under 1/100,000 of it, or of a second", ttl)
          .isLessThan(Math.max(ttl, 1_000_000_000L) / 100_000);
    }
    assertThat(Epochs.stampUnitNanos(10_000_000_000L)).isEqualTo(10_000L);
    assertThat(Epochs.stampUnitNanos(Long.MAX_VALUE - 1)).isPositive();
  }

  private static boolean isPowerOfTen(long n) {
    while (n % 10 == 0) {
      n /= 10;
    }
    return n == 1;
  }
}
