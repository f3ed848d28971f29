package dev.asyncpool;

/**
 * What {@link Pool#accept(Object, LeaseConsumer)} does with a leased instance: work with no
 * result, which may throw a checked exception that {@code accept} rethrows as it is.
 *
 * <pre>{@code
 * pool.accept(tenant, ds -> {
 *   try (Connection c = ds.getConnection()) {
 *     c.createStatement().execute("vacuum");
 *   }
 * });                                               // throws SQLException
 * }</pre>
 *
 * @param <R> the type of the pooled instance
 * @param <E> what the work may throw; inferred as {@link RuntimeException} when it throws nothing
 *     checked
 */
@FunctionalInterface
public interface LeaseConsumer<R, E extends Exception> {

  /**
   * Works with the leased instance, which must not be kept after this returns.
   *
   * @param resource the leased instance, never null
   * @throws E whatever the work throws; the lease is released first
   */
  void accept(R resource) throws E;
}
