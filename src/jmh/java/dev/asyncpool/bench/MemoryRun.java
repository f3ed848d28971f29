package dev.asyncpool.bench;

import com.github.benmanes.caffeine.cache.Cache;
import dev.asyncpool.Pool;
import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Function;
import org.apache.commons.pool2.impl.GenericKeyedObjectPool;

/**
 * Workload 2, in a JVM of its own per peer (run it with {@code -XX:+UseSerialGC}, whose full
 * collection leaves an exact figure): the heap a peer retains per idle key with {@code n} keys
 * leased once and released, after GC, minus the keys and instances themselves (they exist before
 * the first measurement and the factory hands them out). Prints one {@code RESULT} line.
 *
 * <p>Usage: {@code MemoryRun <asyncpool|floor|caffeine|commonsPool2> <n>}. gRPC's holder is left
 * out: it closes each instance a fixed second after its release, so it holds no idle instances
 * to measure, only timers.
 */
public final class MemoryRun {

  public static void main(String[] args) throws Exception {
    String peer = args[0];
    int n = Integer.parseInt(args[1]);
    Integer[] keys = new Integer[n];
    Client[] clients = new Client[n];
    int base = 1_000_000; // beyond Integer's cache: every key is an object of its own
    for (int i = 0; i < n; i++) {
      keys[i] = base + i;
      clients[i] = new Client(keys[i]);
    }
    Function<Integer, Client> factory = key -> clients[key - base];

    // Load and initialise the peer's classes, threads and statics on other keys first, so that
    // only the per-key cost is left in the measured difference.
    Integer[] warmUpKeys = new Integer[1_000];
    for (int i = 0; i < warmUpKeys.length; i++) {
      warmUpKeys[i] = -1 - i;
    }
    close(populate(peer, warmUpKeys, key -> new Client(key)));

    long before = usedAfterGc();
    Object peerState = populate(peer, keys, factory);
    long after = usedAfterGc();
    if (Boolean.getBoolean("bench.histogram")) {
      // -Dbench.histogram=true: what the bytes are, from the JDK's own class histogram.
      new ProcessBuilder(
              Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
              String.valueOf(ProcessHandle.current().pid()),
              "GC.class_histogram")
          .inheritIO()
          .start()
          .waitFor();
    }
    Reference.reachabilityFence(peerState);
    Reference.reachabilityFence(keys);
    Reference.reachabilityFence(clients);
    System.out.printf(
        "RESULT peer=%s n=%d bytesPerEntry=%.1f%n", peer, n, (double) (after - before) / n);
    System.exit(0);
  }

  /** Builds the peer and leases and releases each key once; returns what holds the entries. */
  private static Object populate(String peer, Integer[] keys, Function<Integer, Client> factory)
      throws Exception {
    Duration ttl = Duration.ofHours(1);
    switch (peer) {
      case "asyncpool" -> {
        Pool<Integer, Client> pool = Pool.newBuilder().ttl(ttl).build(factory);
        for (Integer key : keys) {
          pool.get(key).close();
        }
        return pool;
      }
      case "floor" -> {
        Floor<Integer> floor = new Floor<>(factory);
        for (Integer key : keys) {
          floor.release(floor.retain(key));
        }
        return floor;
      }
      case "caffeine" -> {
        Cache<Integer, Client> cache = Peers.caffeine(ttl);
        for (Integer key : keys) {
          cache.get(key, factory);
        }
        cache.cleanUp();
        return cache;
      }
      case "commonsPool2" -> {
        GenericKeyedObjectPool<Integer, Client> pool = Peers.commonsPool(factory, 8);
        for (Integer key : keys) {
          pool.returnObject(key, pool.borrowObject(key));
        }
        return pool;
      }
      default -> throw new IllegalArgumentException("unknown peer: " + peer);
    }
  }

  private static void close(Object peerState) throws Exception {
    if (peerState instanceof AutoCloseable closeable) {
      closeable.close();
    }
  }

  private static long usedAfterGc() throws InterruptedException {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(50);
      used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
    }
    return used;
  }
}
