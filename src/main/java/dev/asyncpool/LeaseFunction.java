package dev.asyncpool;

/**
 * What {@link Pool#apply(Object, LeaseFunction)} does with a leased instance: a function that may
 * throw a checked exception, which {@code apply} rethrows as it is. JDBC work needs no
 * try/catch around its {@code SQLException}:
 *
 * <pre>{@code
 * int rows = pool.apply(tenant, ds -> {
 *   try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
 *     return s.executeUpdate("delete from sessions");
 *   }
 * });                                               // throws SQLException
 * }</pre>
 *
 * @param <R> the type of the pooled instance
 * @param <T> the result type
 * @param <E> what the function may throw; inferred as {@link RuntimeException} when it throws
 *     nothing checked
 */
@FunctionalInterface
public interface LeaseFunction<R, T, E extends Exception> {

  /**
   * Works with the leased instance, which must not be kept after this returns.
   *
   * @param resource the leased instance, never null
   * @return the result, which may be null
   * @throws E whatever the work throws; the lease is released first
   */
  T apply(R resource) throws E;
}
