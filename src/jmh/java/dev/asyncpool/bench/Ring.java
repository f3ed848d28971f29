package dev.asyncpool.bench;

import java.util.Arrays;
import java.util.SplittableRandom;

/** A pre-drawn per-thread sequence of key indices, so drawing the next key costs an array read. */
final class Ring {

  private final int[] indices;
  private final int mask;
  private int next;

  /** {@code size} must be a power of two. */
  Ring(int keys, int size, long seed) {
    if (Integer.bitCount(size) != 1) {
      throw new IllegalArgumentException("size must be a power of two: " + size);
    }
    indices = new int[size];
    mask = size - 1;
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = 0; i < size; i++) {
      indices[i] = random.nextInt(keys);
    }
  }

  private Ring(int[] indices) {
    this.indices = indices;
    this.mask = indices.length - 1;
  }

  /** {@code from, from + 1, ...}: {@code size} distinct keys visited in turn; a power of two. */
  static Ring sequential(int from, int size) {
    if (Integer.bitCount(size) != 1) {
      throw new IllegalArgumentException("size must be a power of two: " + size);
    }
    int[] indices = new int[size];
    for (int i = 0; i < size; i++) {
      indices[i] = from + i;
    }
    return new Ring(indices);
  }

  /**
   * {@code size} draws from a Zipf distribution over {@code keys} keys: key {@code i} (from 0) is
   * drawn with probability proportional to {@code 1 / (i + 1)^exponent}, so key 0 is the hottest.
   */
  static Ring zipf(int keys, int size, double exponent, long seed) {
    if (Integer.bitCount(size) != 1) {
      throw new IllegalArgumentException("size must be a power of two: " + size);
    }
    double[] cumulative = new double[keys];
    double sum = 0;
    for (int i = 0; i < keys; i++) {
      sum += 1 / Math.pow(i + 1, exponent);
      cumulative[i] = sum;
    }
    int[] indices = new int[size];
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = 0; i < size; i++) {
      int at = Arrays.binarySearch(cumulative, random.nextDouble() * sum);
      indices[i] = Math.min(at >= 0 ? at : -at - 1, keys - 1);
    }
    return new Ring(indices);
  }

  int next() {
    return indices[next++ & mask];
  }
}
