/**
 * The asyncpool API: a {@link dev.asyncpool.Pool} keeps one shared, asynchronously opened and
 * closed instance per key, hands out ref-counted {@link dev.asyncpool.Lease}s on it, and closes it
 * once it has had no lease for a time-to-live.
 *
 * <p>Start with {@link dev.asyncpool.Pool#newBuilder()}. Every type here
 * states whether it is thread-safe; pools, leases and statistics are, builders are not. Lifecycle
 * events reach a {@link dev.asyncpool.PoolListener}, counters are in {@link
 * dev.asyncpool.PoolStats}, and {@code dev.asyncpool.micrometer} publishes them to Micrometer.
 */
package dev.asyncpool;
