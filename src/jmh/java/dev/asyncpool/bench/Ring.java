package dev.asyncpool.bench;

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

  int next() {
    return indices[next++ & mask];
  }
}
