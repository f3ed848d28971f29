package dev.asyncpool;

/**
 * A request for a key with no instance found no room under the pool's bound ({@link
 * PoolBuilder#maxInstances} or {@link PoolBuilder#maxWeight}) within its {@link
 * PoolBuilder#acquireTimeout}: every instance was leased, so none could be evicted, and none closed
 * in time. Also thrown at once for a key whose weight alone exceeds the bound. The message names
 * the pool, the bound, how many requests waited, and how long this one waited.
 *
 * <p>Requests for a key that has an open instance never see it: they never wait for room.
 */
public class PoolExhaustedException extends IllegalStateException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was exhausted, for whom, and how long the request waited
   */
  public PoolExhaustedException(String message) {
    super(message);
  }
}
