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
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
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
    int[] order = releaseOrder(n);
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
          int k = order[i];
          releasedAt[k] = System.nanoTime(); // before the release: a correct close is never early
          leases[k].close();
          leases[k] = null;
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
          int k = order[i];
          releasedAt[k] = System.nanoTime(); // the access time is at or after this
          cache.get(keys[k], TimedClient::new);
        }
        cleanup = cache::cleanUp;
      }
      default -> throw new IllegalArgumentException("unknown peer: " + peer);
    }
    Map<String, Long> threadsAtLastRelease = BREAKDOWN ? threadCpu() : Map.of();
    long cpuAtLastRelease = processCpuNanos();
    long releasingThreadCpu = threadCpuNanos() - releasingThreadCpuAtFirst;
    long lastRelease = System.nanoTime();
    boolean finished =
        allClosed.await(maxTtlNanos + TimeUnit.SECONDS.toNanos(60), TimeUnit.NANOSECONDS);
    long cpuAtLastClose = processCpuNanos();
    if (BREAKDOWN) {
      printBreakdown(threadsAtLastRelease, threadCpu(), cpuAtLastClose - cpuAtLastRelease);
    }
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
    if (BREAKDOWN) {
      printLatenessByTtl();
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
        (releasedAt[order[n - 1]] - releasedAt[order[0]]) / 1e6,
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

  /**
   * {@code -Dexpiry.shuffle=true} (asyncpool and Caffeine): release the keys in a random order
   * (fixed seed) instead of in the order they were created, so that instances close in an order
   * unrelated to where they lie in memory and in the map, as with random per-key TTLs. A
   * diagnostic: with one TTL and keys released in order, every close walks memory in order.
   */
  private static final boolean SHUFFLE = Boolean.getBoolean("expiry.shuffle");

  private static int[] releaseOrder(int n) {
    int[] order = new int[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    if (SHUFFLE) {
      SplittableRandom random = new SplittableRandom(0xC0FFEE);
      for (int i = n - 1; i > 0; i--) {
        int j = random.nextInt(i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    return order;
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

  /**
   * {@code -Dexpiry.breakdown=true}: also print, from the last release to the last close, each
   * thread's CPU time, and the rest (GC and JIT threads, which are not Java threads), with the GC's
   * and the JIT's own counts: where the CPU per close goes.
   */
  private static final boolean BREAKDOWN = Boolean.getBoolean("expiry.breakdown");

  /** Lateness percentiles per TTL, in whole seconds (rounded down): which keys are late. */
  private static void printLatenessByTtl() {
    Map<Long, List<Long>> byTtl = new TreeMap<>();
    for (int i = 0; i < ttlOf.length; i++) {
      if (closedAt[i] != 0) {
        byTtl.computeIfAbsent(ttlOf[i] / 1_000_000_000L, t -> new ArrayList<>())
            .add(closedAt[i] - releasedAt[i] - ttlOf[i]);
      }
    }
    for (Map.Entry<Long, List<Long>> group : byTtl.entrySet()) {
      long[] sorted = group.getValue().stream().mapToLong(Long::longValue).sorted().toArray();
      System.out.printf(
          "BREAKDOWN ttlSeconds=%d closed=%d p50Ms=%.1f p99Ms=%.1f maxMs=%.1f%n",
          group.getKey(), sorted.length, millis(percentile(sorted, 0.5)),
          millis(percentile(sorted, 0.99)), millis(sorted[sorted.length - 1]));
    }
  }

  private static long gcMillisAtStart;
  private static long jitMillisAtStart;

  private static Map<String, Long> threadCpu() {
    gcMillisAtStart = gcMillis();
    jitMillisAtStart = ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    Map<String, Long> cpu = new TreeMap<>();
    for (ThreadInfo info : threads.getThreadInfo(threads.getAllThreadIds())) {
      if (info != null) {
        long t = threads.getThreadCpuTime(info.getThreadId());
        cpu.merge(info.getThreadName() + "#" + info.getThreadId(), Math.max(t, 0), Long::sum);
      }
    }
    return cpu;
  }

  private static long gcMillis() {
    long total = 0;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      total += Math.max(gc.getCollectionTime(), 0);
    }
    return total;
  }

  private static void printBreakdown(Map<String, Long> before, Map<String, Long> after, long cpu) {
    long gcPause = gcMillis() - gcMillisAtStart;
    long jit = ManagementFactory.getCompilationMXBean().getTotalCompilationTime() - jitMillisAtStart;
    long javaThreads = 0;
    for (Map.Entry<String, Long> thread : after.entrySet()) {
      long used = thread.getValue() - before.getOrDefault(thread.getKey(), 0L);
      javaThreads += used;
      if (used >= 1_000_000) {
        System.out.printf("BREAKDOWN thread=%s cpuMs=%.0f%n", thread.getKey(), used / 1e6);
      }
    }
    System.out.printf(
        "BREAKDOWN javaThreadsMs=%.0f otherMs=%.0f gcElapsedMs=%d jitCompileMs=%d%n",
        javaThreads / 1e6, (cpu - javaThreads) / 1e6, gcPause, jit);
  }

  private static long threadCpuNanos() {
    return ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }
}
