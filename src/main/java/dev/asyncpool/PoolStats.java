package dev.asyncpool;

/**
 * A snapshot of a pool's counters, taken by {@link Pool#stats()}. The counters only grow over the
 * pool's life; {@code live} and {@code idle} are levels. The snapshot is not atomic across fields:
 * each is read once, without a lock, so two figures may disagree by the events that happened while
 * the snapshot was taken.
 *
 * <p>Instances of this record are immutable and safe to share between threads.
 *
 * @param hits leases served by an instance that was already open; counted only when the pool was
 *     built with {@link PoolBuilder#recordStats()} (it costs a counter update on the warm path),
 *     otherwise always 0
 * @param misses lease requests that found no open instance and started or joined a creation,
 *     whether or not that creation then succeeded
 * @param creations instances created by the factory and opened successfully
 * @param creationFailures creation attempts that failed: the factory threw, returned null or
 *     failed, or {@code openAsync} threw, returned null, failed or timed out
 * @param expirations instances retired because they were idle for the time-to-live
 * @param invalidations instances retired by {@link Pool#invalidate(Object)}
 * @param closes instances whose close completed successfully
 * @param closeFailures instances whose close threw, returned {@code null}, failed, or did not
 *     complete within the close timeout
 * @param live instances the pool holds now: being created, open, or being closed; under a bound
 *     this includes the keys still waiting for room (see {@code waiting}), which hold no
 *     instance yet: what exists is {@code weightInUse}
 * @param idle open instances with no lease right now (computed by a scan of the pool)
 * @param leakedLeases leases garbage-collected without being closed, found by {@link
 *     PoolBuilder#leakDetection()} (always 0 without it)
 * @param evictions idle instances closed to make room under the pool's bound ({@link
 *     PoolBuilder#maxInstances}, {@link PoolBuilder#maxWeight}); always 0 without one
 * @param waiting keys whose requests wait now for room under the bound, or for a creation slot
 *     ({@link PoolBuilder#maxConcurrentCreations}); each key counts once, however many requests
 *     share its place
 * @param weightInUse the weight counted against the bound now: with {@link
 *     PoolBuilder#maxInstances}, the instances that exist (being created, open or closing); with
 *     {@link PoolBuilder#maxWeight}, their weights' sum; 0 without a bound
 * @param refreshes instances put in service by {@link Pool#refresh} in place of an open one
 *     (a refresh that found no open instance creates one, counted in {@code creations} only)
 * @param refreshFailures refreshes whose new instance could not be created or opened, the old
 *     one staying in service
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
    long leakedLeases,
    long evictions,
    int waiting,
    long weightInUse,
    long refreshes,
    long refreshFailures) {

  /**
   * Returns the number of lease requests: {@code hits() + misses()}. Without {@link
   * PoolBuilder#recordStats()} hits are not counted, so this equals {@link #misses()}.
   *
   * @return hits plus misses
   */
  public long leases() {
    return hits + misses;
  }
}
