package dev.asyncpool.bench;

import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The warm lease of a pool with per-key TTLs against one with one TTL, interleaved in one JVM: a
 * slice of {@code ops} leases on one pool, then a slice on the other, in alternating order, for
 * {@code rounds} rounds; each round gives a ratio of the two slices' times. The paired JMH rounds
 * ({@code -Dbench.only=warmPerKey}) run each pool in a JVM of its own, a few seconds apart: on
 * this shared VM the throughput of one JVM swings by 20 to 60 % from one 1 s iteration to the
 * next, far more than the 5 % in question. Slices of a few milliseconds, side by side, see the
 * same machine, so the ratio of each pair is what the two leases cost, not when they ran.
 *
 * <p>What this does not show: each pool alone in its JVM. Both run the same compiled code here,
 * whose profile has seen both kinds of pool (the branch on per-key TTLs taken both ways), as in
 * a service with both kinds. JMH's paired rounds remain the check of each alone.
 *
 * <p>With a fourth argument, {@code one} or {@code perKey}, only that pool runs, alone in the JVM
 * (as each is in its own service), and the caller pairs JVMs: {@link BenchMain} alternates them.
 *
 * <p>Usage: {@code WarmInterleaved <keys> <rounds> <ops per slice> [one|perKey]}. Prints one
 * {@code RESULT} line: the median and the mean (with its 95 % interval) of the per-round ratios,
 * per-key time over one-TTL time (above 1: per-key is slower), and the median ns per lease of
 * each; alone, the pool's median ns per lease.
 */
public final class WarmInterleaved {

  /** Consumed leases, so that the JIT cannot drop them. */
  static volatile Object sink;

  public static void main(String[] args) {
    int keys = Integer.parseInt(args[0]);
    int rounds = Integer.parseInt(args[1]);
    int ops = Integer.parseInt(args[2]);
    String only = args.length > 3 ? args[3] : "both";
    if (!only.equals("both")) {
      alone(only.equals("perKey"), keys, rounds, ops);
      return;
    }
    String[] names = Peers.keyNames(keys);
    Pool<String, Client> one = Pool.newBuilder().ttl(Duration.ofSeconds(30)).build(Client::new);
    Map<String, Duration> ttls = new HashMap<>();
    for (int i = 0; i < names.length; i++) {
      ttls.put(names[i], WarmLease.PER_KEY_TTLS[i % WarmLease.PER_KEY_TTLS.length]);
    }
    Pool<String, Client> perKey =
        Pool.newBuilder().ttl((String k) -> ttls.get(k)).build(Client::new);
    for (String name : names) {
      one.get(name).close();
      perKey.get(name).close();
    }
    Ring ring = new Ring(keys, 4096, 0x5EED);
    // Warm-up: both pools, until the JIT has compiled the lease (as JMH's warm-up iterations).
    for (int i = 0; i < 40; i++) {
      slice(one, names, ring, ops);
      slice(perKey, names, ring, ops);
    }
    double[] ratios = new double[rounds];
    double[] oneNs = new double[rounds];
    double[] perKeyNs = new double[rounds];
    for (int round = 0; round < rounds; round++) {
      long a;
      long b;
      if (round % 2 == 0) {
        a = slice(one, names, ring, ops);
        b = slice(perKey, names, ring, ops);
      } else {
        b = slice(perKey, names, ring, ops);
        a = slice(one, names, ring, ops);
      }
      oneNs[round] = (double) a / ops;
      perKeyNs[round] = (double) b / ops;
      ratios[round] = (double) b / a;
    }
    one.close();
    perKey.close();
    double mean = Arrays.stream(ratios).average().orElse(Double.NaN);
    double variance =
        Arrays.stream(ratios).map(r -> (r - mean) * (r - mean)).sum() / (rounds - 1);
    double halfWidth = 1.96 * Math.sqrt(variance / rounds);
    System.out.printf(
        Locale.ROOT,
        "RESULT keys=%d rounds=%d ops=%d medianRatio=%.3f meanRatio=%.3f ci95=%.3f"
            + " oneNsMedian=%.2f perKeyNsMedian=%.2f%n",
        keys,
        rounds,
        ops,
        median(ratios),
        mean,
        halfWidth,
        median(oneNs),
        median(perKeyNs));
  }

  /**
   * One pool alone in this JVM, as each is in its own service: {@code rounds} slices after the
   * same warm-up, and the median ns per lease. Paired with a JVM of the other pool by the caller.
   */
  private static void alone(boolean perKeyTtls, int keys, int rounds, int ops) {
    String[] names = Peers.keyNames(keys);
    Pool<String, Client> pool;
    if (perKeyTtls) {
      Map<String, Duration> ttls = new HashMap<>();
      for (int i = 0; i < names.length; i++) {
        ttls.put(names[i], WarmLease.PER_KEY_TTLS[i % WarmLease.PER_KEY_TTLS.length]);
      }
      pool = Pool.newBuilder().ttl((String k) -> ttls.get(k)).build(Client::new);
    } else {
      pool = Pool.newBuilder().ttl(Duration.ofSeconds(30)).build(Client::new);
    }
    for (String name : names) {
      pool.get(name).close();
    }
    Ring ring = new Ring(keys, 4096, 0x5EED);
    for (int i = 0; i < 80; i++) {
      slice(pool, names, ring, ops);
    }
    double[] ns = new double[rounds];
    for (int round = 0; round < rounds; round++) {
      ns[round] = (double) slice(pool, names, ring, ops) / ops;
    }
    pool.close();
    System.out.printf(
        Locale.ROOT,
        "RESULT keys=%d rounds=%d ops=%d pool=%s nsMedian=%.3f%n",
        keys,
        rounds,
        ops,
        perKeyTtls ? "perKey" : "one",
        median(ns));
  }

  /** Times {@code ops} warm leases on {@code pool}, keys drawn from {@code ring}. */
  private static long slice(Pool<String, Client> pool, String[] names, Ring ring, int ops) {
    Object last = null;
    long start = System.nanoTime();
    for (int i = 0; i < ops; i++) {
      try (Lease<Client> lease = pool.get(names[ring.next()])) {
        last = lease.get();
      }
    }
    long elapsed = System.nanoTime() - start;
    sink = last;
    return elapsed;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}
