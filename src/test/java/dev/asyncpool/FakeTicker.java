package dev.asyncpool;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/** A ticker that moves only when a test advances it. */
final class FakeTicker implements Ticker {
  private final AtomicLong nanos = new AtomicLong(1_000_000_000L);

  @Override
  public long read() {
    return nanos.get();
  }

  /** Sets the time; tests only move it forward. */
  FakeTicker set(long nanos) {
    this.nanos.set(nanos);
    return this;
  }

  FakeTicker advance(Duration duration) {
    nanos.addAndGet(duration.toNanos());
    return this;
  }
}
