package dev.asyncpool;

/**
 * A share of a pooled instance. While at least one lease on an instance is open, the pool never
 * closes that instance (unless a shutdown grace period ran out); once the last lease is closed,
 * the instance's time-to-live starts.
 *
 * <p>Use it with try-with-resources:
 *
 * <pre>{@code
 * try (Lease<TenantDb> lease = pool.get(tenant)) {
 *   lease.get().query("...");
 * }
 * }</pre>
 *
 * <p>A lease is meant to be used by one thread at a time, but it is safe to close it from any
 * thread and more than once: {@link #close()} is idempotent, and only its first call releases the
 * share.
 *
 * @param <R> the type of the pooled instance
 */
public interface Lease<R> extends AutoCloseable {

  /**
   * Returns the leased instance.
   *
   * @return the instance, never {@code null}
   * @throws IllegalStateException if this lease has been closed
   */
  R get();

  /**
   * Releases this share of the instance. Idempotent: calls after the first do nothing. Never
   * throws, and never closes the instance on the calling thread.
   */
  @Override
  void close();
}
