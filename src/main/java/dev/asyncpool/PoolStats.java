package dev.asyncpool;

/**
 * A snapshot of a pool's counters, taken by {@link Pool#stats()}. Counters are monotonic over the
 * pool's life; the snapshot is not atomic across fields (each is read once, in no lock).
 *
 * @param hits leases served by an instance that was already open; counted only when the pool was
 *     built with {@link PoolBuilder#recordStats()}, otherwise always 0
 * @param misses leases (or attempts) that found no open instance and started or joined a creation
 * @param creations instances created and opened successfully
 * @param creationFailures creation attempts that failed in the factory or in {@code openAsync}
 * @param expirations instances closed because they were idle for the time-to-live
 * @param invalidations instances retired by {@link Pool#invalidate(Object)}
 * @param closes instances whose close completed successfully
 * @param closeFailures instances whose close threw, returned {@code null}, or failed
 * @param live instances the pool holds now: being created, open, or being closed
 * @param idle open instances with no lease right now (computed by a scan of the pool)
 * @param leakedLeases leases garbage-collected without being closed, found by {@link
 *     PoolBuilder#leakDetection()} (always 0 without it)
 */
public record PoolStats(
    long hits,
    long misses,
    long creations,
    long creationFailures,
    long expirations,
    long invalidations,
    long closes,
    long closeFailures,
    int live,
    int idle,
    long leakedLeases) {}
