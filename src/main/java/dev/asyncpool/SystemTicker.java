package dev.asyncpool;

/** {@link System#nanoTime()}; an enum so that it stays a singleton across serialization. */
enum SystemTicker implements Ticker {
  INSTANCE;

  @Override
  public long read() {
    return System.nanoTime();
  }
}
