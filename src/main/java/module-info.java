/**
 * asyncpool: one shared, asynchronously opened and closed resource per key, closed once it has
 * been idle for a time-to-live.
 *
 * <p>Only {@code dev.asyncpool} is exported, and in it only the API types ({@link
 * dev.asyncpool.Pool}, {@link dev.asyncpool.PoolBuilder}, {@link dev.asyncpool.Lease}, {@link
 * dev.asyncpool.AsyncResource}, {@link dev.asyncpool.Ticker}, {@link dev.asyncpool.PoolStats},
 * {@link dev.asyncpool.PoolListener}) are
 * public; the implementation is package-private.
 */
module dev.asyncpool {
  requires org.slf4j;

  exports dev.asyncpool;
}
