package dev.asyncpool.bench;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.Scheduler;
import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import io.grpc.internal.SharedResourceHolder;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Workload 3, in a JVM of its own per peer: {@code n} keys each leased once and released, TTL
 * {@code ttl}; every close is timed against its key's release. Prints one {@code RESULT} line:
 * closes that came before the TTL ran out (early), lateness percentiles, and the process CPU time
 * from the last release to the last close.
 *
 * <p>Usage: {@code ExpiryRun <asyncpool|grpc|caffeine> <n> <ttlMillis>}. gRPC's delay is fixed at
 * one second, so it only runs with a TTL of 1000.
 */
public final class ExpiryRun {

  private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

  static long[] releasedAt;
  static long[] closedAt;
  static CountDownLatch allClosed;

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
    long ttlNanos = TimeUnit.MILLISECONDS.toNanos(Long.parseLong(args[2]));
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
            Pool.newBuilder().ttl(Duration.ofNanos(ttlNanos)).build(TimedClient::new);
        @SuppressWarnings({"unchecked", "rawtypes"})
        Lease<TimedClient>[] leases = new Lease[n];
        for (int i = 0; i < n; i++) {
          leases[i] = pool.get(keys[i]);
        }
        System.gc();
        for (int i = 0; i < n; i++) {
          releasedAt[i] = System.nanoTime(); // before the release: a correct close is never early
          leases[i].close();
          leases[i] = null;
        }
        cleanup = pool;
      }
      case "grpc" -> {
        if (ttlNanos != TimeUnit.SECONDS.toNanos(1)) {
          throw new IllegalArgumentException("gRPC's holder closes 1 s after release, not " + args[2] + " ms");
        }
        SharedResourceHolder.Resource<TimedClient>[] resources =
            Peers.grpcResources(n, TimedClient::new);
        TimedClient[] instances = new TimedClient[n];
        for (int i = 0; i < n; i++) {
          instances[i] = SharedResourceHolder.get(resources[i]);
        }
        System.gc();
        for (int i = 0; i < n; i++) {
          releasedAt[i] = System.nanoTime();
          SharedResourceHolder.release(resources[i], instances[i]);
          instances[i] = null;
        }
      }
      case "caffeine" -> {
        Cache<Integer, TimedClient> cache =
            Caffeine.newBuilder()
                .expireAfterAccess(Duration.ofNanos(ttlNanos))
                .scheduler(Scheduler.systemScheduler())
                .removalListener(
                    (Integer key, TimedClient client, RemovalCause cause) -> client.closeAsync())
                .build();
        System.gc();
        for (int i = 0; i < n; i++) {
          releasedAt[i] = System.nanoTime(); // the access time is at or after this
          cache.get(keys[i], TimedClient::new);
        }
        cleanup = cache::cleanUp;
      }
      default -> throw new IllegalArgumentException("unknown peer: " + peer);
    }
    long cpuAtLastRelease = processCpuNanos();
    long lastRelease = System.nanoTime();
    boolean finished = allClosed.await(ttlNanos + TimeUnit.SECONDS.toNanos(60), TimeUnit.NANOSECONDS);
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
      if (idle < ttlNanos) {
        early++;
      }
      lateness[j++] = idle - ttlNanos;
    }
    Arrays.sort(lateness);
    long cpu = cpuAtLastClose - cpuAtLastRelease;
    System.out.printf(
        "RESULT peer=%s n=%d closed=%d finished=%s early=%d releaseMs=%.0f minMs=%.1f p50Ms=%.1f"
            + " p99Ms=%.1f maxMs=%.1f cpuMs=%.0f cpuPerCloseNs=%.0f lastCloseAfterLastReleaseMs=%.0f%n",
        peer,
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
        (lastClose - lastRelease) / 1e6);
    System.exit(0); // gRPC's and Caffeine's timer threads
  }

  private static long percentile(long[] sorted, double p) {
    return sorted.length == 0 ? 0 : sorted[(int) Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  }

  private static double millis(long nanos) {
    return nanos / 1e6;
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }
}
