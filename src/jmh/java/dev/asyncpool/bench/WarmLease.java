package dev.asyncpool.bench;

import com.github.benmanes.caffeine.cache.Cache;
import dev.asyncpool.Lease;
import dev.asyncpool.LeaseFunction;
import dev.asyncpool.Pool;
import io.grpc.internal.SharedResourceHolder;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.commons.pool2.impl.GenericKeyedObjectPool;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.Blackhole;
import org.openjdk.jmh.infra.ThreadParams;

/**
 * Workload 1: a lease of an instance that already exists, {@code try (var l = pool.get(k)) {
 * consume(l.get()); }}, for asyncpool and each peer on the same keys and threads. Only the peer
 * the running benchmark method uses is built. {@code asyncpoolBounded} is {@code asyncpool} with
 * {@code maxInstances} set above the key count, so that nothing is ever evicted: what a bound
 * costs a warm lease. {@code asyncpoolLifecycle} is {@code asyncpool} with {@code maxLifetime} (an
 * hour: no instance reaches it in a trial) and {@code retryBackoff} set, which must leave the warm
 * path as it is; it needs a library that has both settings (see {@link CommitPairs}). {@code
 * asyncpoolPerKey} is {@code asyncpool} with a TTL per key ({@code ttl(Function)}: 1, 2 or 5
 * minutes by key, so that three classes of TTLs are in use and nothing expires in a trial), whose
 * warm release must cost what the single TTL's does.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class WarmLease {

  /** 1: every thread on one hot key. 1024: spread, as a service with many tenants. */
  @Param({"1", "1024"})
  public int keys;

  private static final Function<String, Client> NEW_CLIENT = Client::new;

  /** {@code apply}'s action: hands the instance back for the blackhole, as the others consume it. */
  private static final LeaseFunction<Client, Client, RuntimeException> CONSUME_NOTHING =
      client -> client;

  /** The per-key TTLs of {@code asyncpoolPerKey}: key {@code i} gets {@code PER_KEY_TTLS[i % 3]}. */
  static final Duration[] PER_KEY_TTLS = {
    Duration.ofMinutes(1), Duration.ofMinutes(2), Duration.ofMinutes(5)
  };

  String[] names;
  Pool<String, Client> pool;
  Floor<String> floor;
  Cache<String, Client> caffeine;
  GenericKeyedObjectPool<String, Client> commonsPool;
  SharedResourceHolder.Resource<Client>[] grpcResources;

  /** The per-thread key sequence. */
  @State(Scope.Thread)
  public static class Keys {
    Ring ring;

    @Setup(Level.Trial)
    public void setUp(WarmLease bench, ThreadParams thread) {
      ring = new Ring(bench.keys, 4096, 0x5EED + thread.getThreadIndex());
    }
  }

  @Setup(Level.Trial)
  public void setUp(BenchmarkParams params) throws Exception {
    names = Peers.keyNames(keys);
    String method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
    switch (method) {
      case "asyncpool", "asyncpoolApply", "asyncpoolAcquireJoin" -> {
        pool = Pool.newBuilder().ttl(Duration.ofSeconds(30)).build(Client::new);
        for (String name : names) {
          pool.get(name).close();
        }
      }
      case "asyncpoolBounded" -> {
        pool =
            Pool.newBuilder()
                .ttl(Duration.ofSeconds(30))
                .maxInstances(2 * keys)
                .build(Client::new);
        for (String name : names) {
          pool.get(name).close();
        }
      }
      case "asyncpoolPerKey" -> {
        Map<String, Duration> ttls = new HashMap<>();
        for (int i = 0; i < names.length; i++) {
          ttls.put(names[i], PER_KEY_TTLS[i % PER_KEY_TTLS.length]);
        }
        // Asked once per instance, when its creation starts: not on the warm path.
        pool = Pool.newBuilder().ttl((String k) -> ttls.get(k)).build(Client::new);
        for (String name : names) {
          pool.get(name).close();
        }
      }
      case "asyncpoolLifecycle" -> {
        pool =
            Pool.newBuilder()
                .ttl(Duration.ofSeconds(30))
                .maxLifetime(Duration.ofHours(1))
                .retryBackoff(Duration.ofMillis(100), Duration.ofSeconds(10))
                .build(Client::new);
        for (String name : names) {
          pool.get(name).close();
        }
      }
      case "floor" -> {
        floor = new Floor<>(NEW_CLIENT);
        for (String name : names) {
          floor.release(floor.retain(name));
        }
      }
      case "caffeine" -> {
        caffeine = Peers.caffeine(Duration.ofSeconds(30));
        for (String name : names) {
          caffeine.get(name, NEW_CLIENT);
        }
      }
      case "commonsPool2" -> {
        commonsPool = Peers.commonsPool(NEW_CLIENT, 8);
        for (String name : names) {
          commonsPool.returnObject(name, commonsPool.borrowObject(name));
        }
      }
      case "grpc" -> {
        grpcResources = Peers.grpcResources(keys);
        for (SharedResourceHolder.Resource<Client> resource : grpcResources) {
          SharedResourceHolder.release(resource, SharedResourceHolder.get(resource));
        }
      }
      default -> throw new IllegalStateException("no peer for benchmark " + method);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    Peers.close(pool, commonsPool);
  }

  @Benchmark
  public void asyncpool(Keys keys, Blackhole blackhole) {
    Peers.lease(pool, names[keys.ring.next()], blackhole);
  }

  /** The same lease as {@link #asyncpool}, in a pool with {@code maxInstances(2 * keys)}. */
  @Benchmark
  public void asyncpoolBounded(Keys keys, Blackhole blackhole) {
    Peers.lease(pool, names[keys.ring.next()], blackhole);
  }

  /** The same lease as {@link #asyncpool}, in a pool with a TTL per key (1, 2 or 5 minutes). */
  @Benchmark
  public void asyncpoolPerKey(Keys keys, Blackhole blackhole) {
    Peers.lease(pool, names[keys.ring.next()], blackhole);
  }

  /** The same lease as {@link #asyncpool}, with {@code maxLifetime} and {@code retryBackoff} set. */
  @Benchmark
  public void asyncpoolLifecycle(Keys keys, Blackhole blackhole) {
    Peers.lease(pool, names[keys.ring.next()], blackhole);
  }

  @Benchmark
  public void asyncpoolApply(Keys keys, Blackhole blackhole) {
    blackhole.consume(pool.apply(names[keys.ring.next()], CONSUME_NOTHING));
  }

  @Benchmark
  public void asyncpoolAcquireJoin(Keys keys, Blackhole blackhole) {
    try (Lease<Client> lease = pool.acquire(names[keys.ring.next()]).join()) {
      blackhole.consume(lease.get());
    }
  }

  @Benchmark
  public void floor(Keys keys, Blackhole blackhole) {
    Floor.Entry entry = floor.retain(names[keys.ring.next()]);
    try {
      blackhole.consume(entry.value);
    } finally {
      floor.release(entry);
    }
  }

  @Benchmark
  public void grpc(Keys keys, Blackhole blackhole) {
    Peers.lease(grpcResources[keys.ring.next()], blackhole);
  }

  @Benchmark
  public void caffeine(Keys keys, Blackhole blackhole) {
    blackhole.consume(caffeine.get(names[keys.ring.next()], NEW_CLIENT));
  }

  @Benchmark
  public void commonsPool2(Keys keys, Blackhole blackhole) throws Exception {
    Peers.lease(commonsPool, names[keys.ring.next()], blackhole);
  }
}
