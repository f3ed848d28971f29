package dev.asyncpool.bench;

import com.github.benmanes.caffeine.cache.Cache;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Locale;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.commons.pool2.impl.GenericKeyedObjectPool;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.Blackhole;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.infra.ThreadParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * Workload 5: a bound of {@value #BOUND} instances over {@value #KEYS} keys drawn from a Zipf
 * distribution (exponent {@value #EXPONENT}, as YCSB's), a get and a release per operation. Most
 * operations find their key's instance; the others need one made, and at the bound something
 * else must go first:
 *
 * <ul>
 *   <li><b>asyncpool</b> with {@code maxInstances(100)} and a TTL of 10 minutes, so that eviction
 *       (of the least recently released idle instance), not expiry, makes room. {@code
 *       asyncpoolDirect} is the same with {@code executor(Runnable::run)}: a diagnostic, not a
 *       recommendation, to see how much of a miss is the hand-off of the eviction's close and of
 *       the waiting creation to the executor;
 *   <li><b>commons-pool2</b> {@code GenericKeyedObjectPool} with {@code maxTotal} 100 (see {@link
 *       Peers#commonsPoolBounded}): exclusive objects, the only peer with a bound;
 *   <li><b>caffeine</b> with {@code maximumSize(100)}, closing on removal: a speed reference that
 *       breaks the guarantee, as its eviction may close a value that is still in use. Its removal
 *       listener runs on its default executor, the common pool; {@code caffeineInlineClose} sets
 *       {@code executor(Runnable::run)}, so that evicted values close on the caller's thread.
 * </ul>
 *
 * <p>Besides the throughput, each trial counts (in {@link CountedClient}, the factory and close
 * of every peer) the instances made per operation and the peak of instances existing at once, and
 * counts the operations that found, at the end of their use, that their instance had been closed.
 * It appends one line of these to the file named by {@code -Dbench.census}, which {@code
 * BenchMain} reads into its table, and prints it.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class BoundedZipf {

  static final int KEYS = 10_000;
  static final int BOUND = 100;
  static final double EXPONENT = 0.99;

  /** Draws per thread before the sequence repeats: about a second of work at the rates seen. */
  static final int RING = 1 << 20;

  private static final Function<String, CountedClient> NEW_CLIENT = CountedClient::new;

  String[] names;
  String method;
  int threads;
  Pool<String, CountedClient> pool;
  GenericKeyedObjectPool<String, CountedClient> commonsPool;
  Cache<String, CountedClient> caffeine;

  /** Every thread's state, to sum their counts between iterations. */
  final Queue<Keys> allKeys = new ConcurrentLinkedQueue<>();

  // Sums over the measured iterations only, and the figures at the start of the current one.
  long measuredOps;
  long measuredCreations;
  long measuredClosedInUse;
  private long opsAtStart;
  private long createdAtStart;
  private long closedInUseAtStart;

  /** The per-thread key sequence and counts. */
  @State(Scope.Thread)
  public static class Keys {
    Ring ring;

    /** Written by this thread only; read between iterations. */
    long ops;

    long closedInUse;

    @Setup(Level.Trial)
    public void setUp(BoundedZipf bench, ThreadParams thread) {
      ring = Ring.zipf(KEYS, RING, EXPONENT, 0x21FF + thread.getThreadIndex());
      bench.allKeys.add(this);
    }

    /** What every peer does with its instance: consume it, then check it was not closed. */
    void use(CountedClient client, Blackhole blackhole) {
      blackhole.consume(client);
      if (client.isClosed()) {
        closedInUse++;
      }
      ops++;
    }
  }

  @Setup(Level.Trial)
  public void setUp(BenchmarkParams params) {
    names = Peers.keyNames(KEYS);
    method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
    threads = params.getThreads();
    switch (method) {
      case "asyncpool" ->
          pool =
              Pool.newBuilder()
                  .ttl(Duration.ofMinutes(10))
                  .maxInstances(BOUND)
                  .build(CountedClient::new);
      case "asyncpoolDirect" ->
          pool =
              Pool.newBuilder()
                  .ttl(Duration.ofMinutes(10))
                  .maxInstances(BOUND)
                  .executor(Runnable::run)
                  .build(CountedClient::new);
      case "commonsPool2" -> commonsPool = Peers.commonsPoolBounded(NEW_CLIENT, BOUND);
      case "caffeine" -> caffeine = Peers.caffeineBounded(BOUND);
      case "caffeineInlineClose" -> caffeine = Peers.caffeineBoundedInline(BOUND);
      default -> throw new IllegalStateException("no peer for benchmark " + method);
    }
  }

  @Setup(Level.Iteration)
  public void startIteration() {
    opsAtStart = sum(false);
    closedInUseAtStart = sum(true);
    createdAtStart = CountedClient.created();
  }

  @TearDown(Level.Iteration)
  public void endIteration(IterationParams iteration) {
    if (iteration.getType() == IterationType.MEASUREMENT) {
      measuredOps += sum(false) - opsAtStart;
      measuredClosedInUse += sum(true) - closedInUseAtStart;
      measuredCreations += CountedClient.created() - createdAtStart;
    }
  }

  private long sum(boolean closedInUse) {
    long sum = 0;
    for (Keys keys : allKeys) {
      sum += closedInUse ? keys.closedInUse : keys.ops;
    }
    return sum;
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    long evictions = pool == null ? 0 : pool.stats().evictions();
    int liveAtEnd = CountedClient.live();
    Peers.close(pool, commonsPool);
    String line =
        String.format(
            Locale.ROOT,
            "CENSUS method=%s threads=%d ops=%d creations=%d peak=%d closedInUse=%d evictions=%d"
                + " liveAtEnd=%d",
            method,
            threads,
            measuredOps,
            measuredCreations,
            CountedClient.peak(),
            measuredClosedInUse,
            evictions,
            liveAtEnd);
    System.out.println();
    System.out.println(line);
    String census = System.getProperty("bench.census");
    if (census != null) {
      try {
        Files.writeString(
            Path.of(census),
            line + "\n",
            StandardCharsets.UTF_8,
            StandardOpenOption.CREATE,
            StandardOpenOption.APPEND);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  @Benchmark
  public void asyncpool(Keys keys, Blackhole blackhole) {
    try (Lease<CountedClient> lease = pool.get(names[keys.ring.next()])) {
      keys.use(lease.get(), blackhole);
    }
  }

  /** {@link #asyncpool} with {@code executor(Runnable::run)}: a diagnostic. */
  @Benchmark
  public void asyncpoolDirect(Keys keys, Blackhole blackhole) {
    try (Lease<CountedClient> lease = pool.get(names[keys.ring.next()])) {
      keys.use(lease.get(), blackhole);
    }
  }

  @Benchmark
  public void commonsPool2(Keys keys, Blackhole blackhole) throws Exception {
    String name = names[keys.ring.next()];
    CountedClient client = commonsPool.borrowObject(name);
    try {
      keys.use(client, blackhole);
    } finally {
      commonsPool.returnObject(name, client);
    }
  }

  @Benchmark
  public void caffeine(Keys keys, Blackhole blackhole) {
    keys.use(caffeine.get(names[keys.ring.next()], NEW_CLIENT), blackhole);
  }

  /** {@link #caffeine} with its maintenance and closes on the caller's thread. */
  @Benchmark
  public void caffeineInlineClose(Keys keys, Blackhole blackhole) {
    keys.use(caffeine.get(names[keys.ring.next()], NEW_CLIENT), blackhole);
  }
}
