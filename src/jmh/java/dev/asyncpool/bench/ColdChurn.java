package dev.asyncpool.bench;

import com.github.benmanes.caffeine.cache.Cache;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import io.grpc.internal.SharedResourceHolder;
import java.time.Duration;
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
import org.openjdk.jmh.infra.ThreadParams;

/**
 * Workload 4: every lease creates an instance and its release closes it. asyncpool, the
 * hand-rolled compute floor and commons-pool2 (no idle objects kept) do it with a TTL of zero;
 * Caffeine with {@code expireAfterAccess(0)}; gRPC's holder cannot (its delay is a fixed second),
 * so it gets a key space too large to revisit a key within that second.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class ColdChurn {

  static final int KEYS = 1024;
  static final int GRPC_KEYS = 1 << 22;

  private static final Function<String, Client> NEW_CLIENT = Client::new;

  String[] names;
  Pool<String, Client> pool;
  ChurnFloor<String> floor;
  Cache<String, Client> caffeine;
  GenericKeyedObjectPool<String, Client> commonsPool;
  SharedResourceHolder.Resource<Client>[] grpcResources;

  /** The per-thread key sequence. */
  @State(Scope.Thread)
  public static class Keys {
    Ring ring;

    @Setup(Level.Trial)
    public void setUp(ColdChurn bench, ThreadParams thread) {
      if (bench.grpcResources == null) {
        ring = new Ring(KEYS, 4096, 0xC01D + thread.getThreadIndex());
      } else {
        // Each thread walks its own slice, so no key comes back within gRPC's one-second delay.
        int slice = Integer.highestOneBit(GRPC_KEYS / thread.getThreadCount());
        ring = Ring.sequential(slice * thread.getThreadIndex(), slice);
      }
    }
  }

  @Setup(Level.Trial)
  public void setUp(BenchmarkParams params) {
    names = Peers.keyNames(KEYS);
    String method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
    switch (method) {
      case "asyncpool" -> pool = Pool.newBuilder().ttl(Duration.ZERO).build(Client::new);
      case "floor" -> floor = new ChurnFloor<>();
      case "caffeine" -> caffeine = Peers.caffeine(Duration.ZERO);
      case "commonsPool2" -> commonsPool = Peers.commonsPool(NEW_CLIENT, 0);
      case "grpc" -> grpcResources = Peers.grpcResources(GRPC_KEYS);
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

  @Benchmark
  public void floor(Keys keys, Blackhole blackhole) {
    String name = names[keys.ring.next()];
    blackhole.consume(floor.retain(name));
    floor.release(name);
  }

  @Benchmark
  public void caffeine(Keys keys, Blackhole blackhole) {
    blackhole.consume(caffeine.get(names[keys.ring.next()], NEW_CLIENT));
  }

  @Benchmark
  public void commonsPool2(Keys keys, Blackhole blackhole) throws Exception {
    Peers.lease(commonsPool, names[keys.ring.next()], blackhole);
  }

  @Benchmark
  public void grpc(Keys keys, Blackhole blackhole) {
    Peers.lease(grpcResources[keys.ring.next()], blackhole);
  }
}
