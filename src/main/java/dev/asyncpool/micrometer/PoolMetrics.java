package dev.asyncpool.micrometer;

import dev.asyncpool.Pool;
import dev.asyncpool.PoolBuilder;
import dev.asyncpool.PoolStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.Objects;
import java.util.function.ToDoubleFunction;

/**
 * Publishes a pool's {@link PoolStats} to a Micrometer {@link MeterRegistry}.
 *
 * <pre>{@code
 * new PoolMetrics(pool, "tenant-dbs").bindTo(registry);
 * }</pre>
 *
 * <p>Every meter carries the tag {@code pool=<name>} and the tags given here:
 *
 * <table>
 *   <caption>Meters</caption>
 *   <tr><th>name</th><th>type</th><th>tags</th><th>figure</th></tr>
 *   <tr><td>{@code asyncpool.leases}</td><td>function counter</td><td>{@code result=hit}</td>
 *       <td>{@link PoolStats#hits()} (counted only with {@link PoolBuilder#recordStats()})
 *       </td></tr>
 *   <tr><td>{@code asyncpool.leases}</td><td>function counter</td><td>{@code result=miss}</td>
 *       <td>{@link PoolStats#misses()}</td></tr>
 *   <tr><td>{@code asyncpool.creations}</td><td>function counter</td>
 *       <td>{@code result=success}</td><td>{@link PoolStats#creations()}</td></tr>
 *   <tr><td>{@code asyncpool.creations}</td><td>function counter</td>
 *       <td>{@code result=failure}</td><td>{@link PoolStats#creationFailures()}</td></tr>
 *   <tr><td>{@code asyncpool.expirations}</td><td>function counter</td><td></td>
 *       <td>{@link PoolStats#expirations()}</td></tr>
 *   <tr><td>{@code asyncpool.invalidations}</td><td>function counter</td><td></td>
 *       <td>{@link PoolStats#invalidations()}</td></tr>
 *   <tr><td>{@code asyncpool.closes}</td><td>function counter</td><td>{@code result=success}</td>
 *       <td>{@link PoolStats#closes()}</td></tr>
 *   <tr><td>{@code asyncpool.closes}</td><td>function counter</td><td>{@code result=failure}</td>
 *       <td>{@link PoolStats#closeFailures()}</td></tr>
 *   <tr><td>{@code asyncpool.leases.leaked}</td><td>function counter</td><td></td>
 *       <td>{@link PoolStats#leakedLeases()}</td></tr>
 *   <tr><td>{@code asyncpool.instances.live}</td><td>gauge</td><td></td>
 *       <td>{@link PoolStats#live()}</td></tr>
 *   <tr><td>{@code asyncpool.instances.idle}</td><td>gauge</td><td></td>
 *       <td>{@link PoolStats#idle()}</td></tr>
 *   <tr><td>{@code asyncpool.evictions}</td><td>function counter</td><td></td>
 *       <td>{@link PoolStats#evictions()}</td></tr>
 *   <tr><td>{@code asyncpool.requests.waiting}</td><td>gauge</td><td></td>
 *       <td>{@link PoolStats#waiting()}</td></tr>
 *   <tr><td>{@code asyncpool.weight.used}</td><td>gauge</td><td></td>
 *       <td>{@link PoolStats#weightInUse()}</td></tr>
 *   <tr><td>{@code asyncpool.refreshes}</td><td>function counter</td><td>{@code result=success}</td>
 *       <td>{@link PoolStats#refreshes()}</td></tr>
 *   <tr><td>{@code asyncpool.refreshes}</td><td>function counter</td><td>{@code result=failure}</td>
 *       <td>{@link PoolStats#refreshFailures()}</td></tr>
 * </table>
 *
 * <p>The meters read {@link Pool#stats()} only when the registry reads them (at a scrape), never
 * on the pool's lease path. Since {@code stats()} scans the pool to count idle instances, meters
 * read within 100 ms of each other share one snapshot: a scrape costs one
 * scan, and its figures agree with each other. The meters hold the pool weakly, like Micrometer's
 * own binders: once the pool is garbage-collected they read {@code NaN}.
 *
 * <p>This class needs {@code io.micrometer:micrometer-core} on the class path or module path; the
 * rest of asyncpool does not. A named module that uses it must {@code requires micrometer.core}
 * itself: asyncpool's module requires it {@code static}, not {@code transitive}. Instances are immutable and thread-safe; {@link #bindTo} may be
 * called for several registries.
 */
// "exports": Micrometer types in the signatures are not re-exported (module-info says why); a
// module using this class passes it a MeterRegistry, so it requires micrometer.core already.
@SuppressWarnings("exports")
public final class PoolMetrics implements MeterBinder {

  /** How long a stats snapshot is reused by the meters, in milliseconds. */
  static final long MAX_AGE_MILLIS = 100;

  private final WeakReference<Pool<?, ?>> pool;
  private final Tags tags;
  private final long maxAgeNanos;

  /** The last snapshot and when it was taken; replaced whole, never mutated. */
  private volatile Snapshot last;

  private record Snapshot(PoolStats stats, long takenAt) {}

  /**
   * Creates a binder for {@code pool}, tagging its meters with {@code pool=name}.
   *
   * @param pool the pool to publish
   * @param name the value of the {@code pool} tag, telling this pool's meters from others'
   * @throws NullPointerException if {@code pool} or {@code name} is null
   * @throws IllegalArgumentException if {@code name} is blank
   */
  public PoolMetrics(Pool<?, ?> pool, String name) {
    this(pool, name, Tags.empty());
  }

  /**
   * Creates a binder for {@code pool}, tagging its meters with {@code pool=name} and {@code tags}.
   *
   * @param pool the pool to publish
   * @param name the value of the {@code pool} tag, telling this pool's meters from others'
   * @param tags more tags for every meter, such as the application's
   * @throws NullPointerException if {@code pool}, {@code name} or {@code tags} is null
   * @throws IllegalArgumentException if {@code name} is blank
   */
  public PoolMetrics(Pool<?, ?> pool, String name, Iterable<Tag> tags) {
    this(pool, name, tags, Duration.ofMillis(MAX_AGE_MILLIS));
  }

  /** For tests: {@code maxAge} zero takes a fresh snapshot on every read. */
  PoolMetrics(Pool<?, ?> pool, String name, Iterable<Tag> tags, Duration maxAge) {
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(tags, "tags");
    if (name.isBlank()) {
      throw new IllegalArgumentException("name must not be blank: '" + name + "'");
    }
    this.pool = new WeakReference<>(pool);
    this.tags = Tags.concat(tags, Tags.of("pool", name));
    this.maxAgeNanos = maxAge.toNanos();
  }

  /**
   * Registers this pool's meters with {@code registry}. Binding twice to one registry registers
   * nothing new: Micrometer returns the existing meters.
   *
   * @param registry the registry
   * @throws NullPointerException if {@code registry} is null
   * @throws IllegalStateException if the pool was already garbage-collected
   */
  @Override
  public void bindTo(MeterRegistry registry) {
    Objects.requireNonNull(registry, "registry");
    Pool<?, ?> target = pool.get();
    if (target == null) {
      throw new IllegalStateException("the pool was garbage-collected before it was bound");
    }
    counter(registry, target, "asyncpool.leases", "hit", "leases served by an open instance",
        PoolStats::hits);
    counter(registry, target, "asyncpool.leases", "miss",
        "lease requests that started or joined a creation", PoolStats::misses);
    counter(registry, target, "asyncpool.creations", "success", "instances created and opened",
        PoolStats::creations);
    counter(registry, target, "asyncpool.creations", "failure",
        "creation attempts whose factory or open failed", PoolStats::creationFailures);
    counter(registry, target, "asyncpool.expirations", null,
        "instances closed after being idle for the time-to-live", PoolStats::expirations);
    counter(registry, target, "asyncpool.invalidations", null, "instances retired by invalidate",
        PoolStats::invalidations);
    counter(registry, target, "asyncpool.closes", "success", "instances closed successfully",
        PoolStats::closes);
    counter(registry, target, "asyncpool.closes", "failure",
        "instance closes that failed or timed out", PoolStats::closeFailures);
    counter(registry, target, "asyncpool.leases.leaked", null,
        "leases garbage-collected without being closed", PoolStats::leakedLeases);
    gauge(registry, target, "asyncpool.instances.live",
        "instances being created, open, or being closed", PoolStats::live);
    gauge(registry, target, "asyncpool.instances.idle", "open instances with no lease",
        PoolStats::idle);
    counter(registry, target, "asyncpool.evictions", null,
        "idle instances closed to make room under the bound", PoolStats::evictions);
    gauge(registry, target, "asyncpool.requests.waiting",
        "keys waiting for room under the bound or for a creation slot", PoolStats::waiting);
    gauge(registry, target, "asyncpool.weight.used",
        "the weight counted against the bound", PoolStats::weightInUse);
    counter(registry, target, "asyncpool.refreshes", "success",
        "instances replaced by refresh or their lifetime's end", PoolStats::refreshes);
    counter(registry, target, "asyncpool.refreshes", "failure",
        "replacements that failed, the old instance staying in service",
        PoolStats::refreshFailures);
  }

  private void counter(
      MeterRegistry registry,
      Pool<?, ?> target,
      String name,
      String result,
      String description,
      ToDoubleFunction<PoolStats> figure) {
    FunctionCounter.builder(name, target, p -> figure.applyAsDouble(stats(p)))
        .tags(result == null ? tags : tags.and("result", result))
        .description(description)
        .register(registry);
  }

  private void gauge(
      MeterRegistry registry,
      Pool<?, ?> target,
      String name,
      String description,
      ToDoubleFunction<PoolStats> figure) {
    Gauge.builder(name, target, p -> figure.applyAsDouble(stats(p)))
        .tags(tags)
        .description(description)
        .register(registry);
  }

  /** A snapshot of {@code target}'s stats at most {@link #maxAgeNanos} old. */
  private PoolStats stats(Pool<?, ?> target) {
    long now = System.nanoTime();
    Snapshot snapshot = last;
    // Races between two readers only cost an extra snapshot; either result is recent enough.
    if (snapshot == null || now - snapshot.takenAt() >= maxAgeNanos) {
      snapshot = new Snapshot(target.stats(), now);
      last = snapshot;
    }
    return snapshot.stats();
  }

  @Override
  public String toString() {
    return "PoolMetrics" + tags;
  }
}
