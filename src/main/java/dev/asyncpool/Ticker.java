package dev.asyncpool;

/**
 * A monotonic source of nanoseconds, used to measure idle time and the durations a {@link
 * PoolListener} is given. Tests replace it with a fake ticker they advance by hand.
 *
 * <p>Implementations must be thread-safe and must never go backwards. To make a pool with a
 * custom ticker serializable, the ticker must be serializable too.
 */
@FunctionalInterface
public interface Ticker {

  /**
   * Returns the current time in nanoseconds, relative to an arbitrary fixed origin.
   *
   * @return nanoseconds; only differences between two readings are meaningful
   */
  long read();

  /**
   * Returns the ticker that reads {@link System#nanoTime()}.
   *
   * @return the system ticker, a singleton
   */
  static Ticker systemTicker() {
    return SystemTicker.INSTANCE;
  }
}
