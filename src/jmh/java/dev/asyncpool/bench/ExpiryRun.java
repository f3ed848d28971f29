package dev.asyncpool.bench;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.Scheduler;
import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import io.grpc.internal.SharedResourceHolder;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Workload 3, in a JVM of its own per peer: {@code n} keys each leased once and released, each
 * with its TTL; every close is timed against its key's release and its key's own TTL. Prints one
 * {@code RESULT} line: closes that came before the TTL ran out (early), lateness percentiles, the
 * process CPU time from the last release to the last close, and the CPU the process spent beside
 * the releasing thread from the first release to the last close (the expiry's whole work: the
 * filing of entries done while the releases still run included; GC and JIT too).
 *
 * <p>Usage: {@code ExpiryRun <asyncpool|grpc|caffeine> <n> <ttls>}, where {@code ttls} is one TTL
 * in milliseconds ({@code 1000}: the pool's {@code ttl(Duration)}, Caffeine's {@code
 * expireAfterAccess}), or a TTL per key ({@code ttl(Function)}, Caffeine's {@code
 * expireAfter(Expiry)}) drawn with a fixed seed: {@code set:1000,2000,5000} (one of these for each
 * key, equally likely) or {@code uniform:1000-5000} (uniform in that range, to the nanosecond).
 * gRPC's delay is fixed at one second, so it only runs with a TTL of 1000.
 */
public final class ExpiryRun {

  private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

  static long[] releasedAt;
  static long[] closedAt;
  static long[] ttlOf;
  static CountDownLatch allClosed;

  /** The process's CPU time, and the releasing thread's, just before the first release. */
  static long cpuAtFirstRelease;

  static long releasingThreadCpuAtFirst;

  private static void markFirstRelease() {
    cpuAtFirstRelease = processCpuNanos();
    releasingThreadCpuAtFirst = threadCpuNanos();
  }

  /** A resource that records when it was closed. */
  static final class TimedClient implements AsyncResource {
    final int id;

    TimedClient(int id) {
      this.id = id;
    }

    @Override
    public CompletionStage<Void> openAsync() {
      return DONE;
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      closedAt[id] = System.nanoTime();
      allClosed.countDown();
      return DONE;
    }
  }

  public static void main(String[] args) throws Exception {
    String peer = args[0];
    int n = Integer.parseInt(args[1]);
    String spec = args[2];
    boolean perKey = spec.contains(":");
    ttlOf = ttls(spec, n);
    long ttlNanos = ttlOf[0]; // the single TTL, when there is one
    long maxTtlNanos = Arrays.stream(ttlOf).max().orElse(0);
    releasedAt = new long[n];
    closedAt = new long[n];
    allClosed = new CountDownLatch(n);
    Integer[] keys = new Integer[n];
    for (int i = 0; i < n; i++) {
      keys[i] = i;
    }
    AutoCloseable cleanup = () -> {};
    switch (peer) {
      case "asyncpool" -> {
        Pool<Integer, TimedClient> pool =
            perKey
                ? Pool.newBuilder()
                    .ttl((Integer k) -> Duration.ofNanos(ttlOf[k]))
                    .build(TimedClient::new)
                : Pool.newBuilder().ttl(Duration.ofNanos(ttlNanos)).build(TimedClient::new);
        @SuppressWarnings({"unchecked", "rawtypes"})
        Lease<TimedClient>[] leases = new Lease[n];
        for (int i = 0; i < n; i++) {
          leases[i] = pool.get(keys[i]);
        }
        System.gc();
        markFirstRelease();
        for (int i = 0; i < n; i++) {
          releasedAt[i] = System.nanoTime(); // before the release: a correct close is never early
          leases[i].close();
          leases[i] = null;
        }
        cleanup = pool;
      }
      case "grpc" -> {
        if (perKey || ttlNanos != TimeUnit.SECONDS.toNanos(1)) {
          throw new IllegalArgumentException("gRPC's holder closes 1 s after release, not " + spec);
        }
        SharedResourceHolder.Resource<TimedClient>[] resources =
            Peers.grpcResources(n, TimedClient::new);
        TimedClient[] instances = new TimedClient[n];
        for (int i = 0; i < n; i++) {
          instances[i] = SharedResourceHolder.get(resources[i]);
        }
        System.gc();
        markFirstRelease();
        for (int i = 0; i < n; i++) {
          releasedAt[i] = System.nanoTime();
          SharedResourceHolder.release(resources[i], instances[i]);
          instances[i] = null;
        }
      }
      case "caffeine" -> {
        Caffeine<Integer, TimedClient> builder =
            Caffeine.newBuilder()
                .scheduler(Scheduler.systemScheduler())
                .removalListener(
                    (Integer key, TimedClient client, RemovalCause cause) -> client.closeAsync());
        Cache<Integer, TimedClient> cache =
            perKey
                ? builder.expireAfter(new PerKeyAccess()).build()
                : builder.expireAfterAccess(Duration.ofNanos(ttlNanos)).build();
        System.gc();
        markFirstRelease();
        for (int i = 0; i < n; i++) {
          releasedAt[i] = System.nanoTime(); // the access time is at or after this
          cache.get(keys[i], TimedClient::new);
        }
        cleanup = cache::cleanUp;
      }
      default -> throw new IllegalArgumentException("unknown peer: " + peer);
    }
    long cpuAtLastRelease = processCpuNanos();
    long releasingThreadCpu = threadCpuNanos() - releasingThreadCpuAtFirst;
    long lastRelease = System.nanoTime();
    boolean finished =
        allClosed.await(maxTtlNanos + TimeUnit.SECONDS.toNanos(60), TimeUnit.NANOSECONDS);
    long cpuAtLastClose = processCpuNanos();
    long lastClose = Arrays.stream(closedAt).max().orElse(lastRelease);
    cleanup.close();

    long closed = n - allClosed.getCount();
    long early = 0;
    long[] lateness = new long[(int) closed];
    int j = 0;
    for (int i = 0; i < n; i++) {
      if (closedAt[i] == 0) {
        continue;
      }
      long idle = closedAt[i] - releasedAt[i];
      if (idle < ttlOf[i]) {
        early++;
      }
      lateness[j++] = idle - ttlOf[i];
    }
    Arrays.sort(lateness);
    long cpu = cpuAtLastClose - cpuAtLastRelease;
    long offThreadCpu = cpuAtLastClose - cpuAtFirstRelease - releasingThreadCpu;
    System.out.printf(
        "RESULT peer=%s ttls=%s n=%d closed=%d finished=%s early=%d releaseMs=%.0f minMs=%.1f"
            + " p50Ms=%.1f p99Ms=%.1f maxMs=%.1f cpuMs=%.0f cpuPerCloseNs=%.0f"
            + " offThreadCpuMs=%.0f offThreadCpuPerCloseNs=%.0f lastCloseAfterLastReleaseMs=%.0f%n",
        peer,
        spec,
        n,
        closed,
        finished,
        early,
        (releasedAt[n - 1] - releasedAt[0]) / 1e6,
        millis(lateness.length == 0 ? 0 : lateness[0]),
        millis(percentile(lateness, 0.50)),
        millis(percentile(lateness, 0.99)),
        millis(lateness.length == 0 ? 0 : lateness[lateness.length - 1]),
        cpu / 1e6,
        closed == 0 ? 0.0 : (double) cpu / closed,
        offThreadCpu / 1e6,
        closed == 0 ? 0.0 : (double) offThreadCpu / closed,
        (lastClose - lastRelease) / 1e6);
    System.exit(0); // gRPC's and Caffeine's timer threads
  }

  /** Each key's TTL in nanoseconds, from the spec (see the class's usage), with a fixed seed. */
  static long[] ttls(String spec, int n) {
    long[] ttls = new long[n];
    SplittableRandom random = new SplittableRandom(0x5EED);
    if (spec.startsWith("set:")) {
      long[] set =
          Arrays.stream(spec.substring(4).split(","))
              .mapToLong(ms -> TimeUnit.MILLISECONDS.toNanos(Long.parseLong(ms)))
              .toArray();
      for (int i = 0; i < n; i++) {
        ttls[i] = set[random.nextInt(set.length)];
      }
    } else if (spec.startsWith("uniform:")) {
      String[] range = spec.substring(8).split("-");
      long from = TimeUnit.MILLISECONDS.toNanos(Long.parseLong(range[0]));
      long to = TimeUnit.MILLISECONDS.toNanos(Long.parseLong(range[1]));
      for (int i = 0; i < n; i++) {
        ttls[i] = random.nextLong(from, to + 1);
      }
    } else {
      Arrays.fill(ttls, TimeUnit.MILLISECONDS.toNanos(Long.parseLong(spec)));
    }
    return ttls;
  }

  /**
   * Caffeine's per-entry expiry with each key's own TTL, counted from its last access, as {@code
   * expireAfterAccess} counts one TTL: the comparison for {@code ttl(Function)}.
   */
  static final class PerKeyAccess implements Expiry<Integer, TimedClient> {
    @Override
    public long expireAfterCreate(Integer key, TimedClient value, long currentTime) {
      return ttlOf[key];
    }

    @Override
    public long expireAfterUpdate(
        Integer key, TimedClient value, long currentTime, long currentDuration) {
      return ttlOf[key];
    }

    @Override
    public long expireAfterRead(
        Integer key, TimedClient value, long currentTime, long currentDuration) {
      return ttlOf[key];
    }
  }

  private static long percentile(long[] sorted, double p) {
    return sorted.length == 0 ? 0 : sorted[(int) Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  }

  private static double millis(long nanos) {
    return nanos / 1e6;
  }

  private static long threadCpuNanos() {
    return ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }
}
