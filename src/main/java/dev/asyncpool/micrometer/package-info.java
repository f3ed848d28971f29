/**
 * Publishes a pool's statistics to Micrometer: {@link dev.asyncpool.micrometer.PoolMetrics}. The
 * only package of asyncpool that needs {@code io.micrometer:micrometer-core}, an optional
 * dependency that an application using this package must declare itself.
 */
package dev.asyncpool.micrometer;
