package dev.asyncpool.bench;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import io.grpc.internal.SharedResourceHolder;
import java.time.Duration;
import java.util.function.Function;
import java.util.function.IntFunction;
import org.apache.commons.pool2.BaseKeyedPooledObjectFactory;
import org.apache.commons.pool2.PooledObject;
import org.apache.commons.pool2.impl.DefaultPooledObject;
import org.apache.commons.pool2.impl.GenericKeyedObjectPool;
import org.apache.commons.pool2.impl.GenericKeyedObjectPoolConfig;
import org.openjdk.jmh.infra.Blackhole;

/** How each peer is set up, the same way in every workload. */
final class Peers {

  private Peers() {}

  /** Distinct key strings with their hash codes already computed. */
  static String[] keyNames(int count) {
    String[] names = new String[count];
    for (int i = 0; i < count; i++) {
      names[i] = "tenant-" + i;
      names[i].hashCode();
    }
    return names;
  }

  /** What people use today: expire after access, close in the removal listener. */
  static <K> Cache<K, Client> caffeine(Duration expireAfterAccess) {
    return Caffeine.newBuilder()
        .expireAfterAccess(expireAfterAccess)
        .removalListener((K key, Client client, RemovalCause cause) -> client.closeAsync())
        .build();
  }

  /**
   * Caffeine bounded by size, closing what it removes: a speed reference for a bounded pool that
   * breaks the pool's guarantee, since its eviction does not know whether a value is in use.
   * Removal listeners run on its default executor ({@code ForkJoinPool.commonPool()}), as they do
   * for anyone who does not set one.
   */
  static <K, V extends AsyncResource> Cache<K, V> caffeineBounded(long maximumSize) {
    return Caffeine.newBuilder()
        .maximumSize(maximumSize)
        .removalListener((K key, V value, RemovalCause cause) -> value.closeAsync())
        .build();
  }

  /**
   * {@link #caffeineBounded} with {@code executor(Runnable::run)}: its maintenance, the eviction
   * and the removal listener's close, runs on the caller's thread instead of the common pool.
   */
  static <K, V extends AsyncResource> Cache<K, V> caffeineBoundedInline(long maximumSize) {
    return Caffeine.newBuilder()
        .maximumSize(maximumSize)
        .executor(Runnable::run)
        .removalListener((K key, V value, RemovalCause cause) -> value.closeAsync())
        .build();
  }

  /**
   * commons-pool2 with a bound on what exists, {@code maxTotal} over all keys. At that bound a
   * borrow of a key with no idle object destroys the oldest idle objects of other keys ({@code
   * clearOldest}: 15 % of the idle ones, plus one) and creates; it blocks ({@code
   * blockWhenExhausted}, at most {@code maxWait}, 30 s as asyncpool's acquire timeout) only when
   * nothing is idle. {@code maxIdlePerKey} 1: a key keeps one idle object, as asyncpool keeps one
   * instance per key; a second one, made when two borrowers overlap on a key (objects are lent
   * exclusively), is destroyed on its return. {@code maxTotalPerKey} 8 is never reached by 2
   * threads. No evictor thread: the bound, not idle time, is what makes room.
   */
  static <K, V extends AsyncResource> GenericKeyedObjectPool<K, V> commonsPoolBounded(
      Function<? super K, V> factory, int maxTotal) {
    GenericKeyedObjectPoolConfig<V> config = new GenericKeyedObjectPoolConfig<>();
    config.setMaxTotal(maxTotal);
    config.setMaxTotalPerKey(8);
    config.setMaxIdlePerKey(1);
    config.setMinIdlePerKey(0);
    config.setBlockWhenExhausted(true);
    config.setMaxWait(Duration.ofSeconds(30));
    config.setJmxEnabled(false);
    return new GenericKeyedObjectPool<>(new CommonsFactory<>(factory), config);
  }

  /** Exclusive borrow/return; {@code maxIdlePerKey} 0 destroys every returned object. */
  static <K> GenericKeyedObjectPool<K, Client> commonsPool(
      Function<? super K, Client> factory, int maxIdlePerKey) {
    return new GenericKeyedObjectPool<>(
        new CommonsFactory<>(factory), commonsConfig(maxIdlePerKey));
  }

  /** gRPC keys its holder by the identity of the {@code Resource}: one per key. */
  static SharedResourceHolder.Resource<Client>[] grpcResources(int count) {
    return grpcResources(count, i -> new Client("tenant-" + i));
  }

  /** One {@code Resource} per key {@code 0..count-1}, creating with {@code create}. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  static <T extends AsyncResource> SharedResourceHolder.Resource<T>[] grpcResources(
      int count, IntFunction<T> create) {
    SharedResourceHolder.Resource<T>[] resources = new SharedResourceHolder.Resource[count];
    for (int i = 0; i < count; i++) {
      int key = i;
      resources[i] =
          new SharedResourceHolder.Resource<>() {
            @Override
            public T create() {
              return create.apply(key);
            }

            @Override
            public void close(T instance) {
              instance.closeAsync();
            }
          };
    }
    return resources;
  }

  // ---- One lease of each peer, the same in every workload (small enough to be inlined) ----

  static void lease(Pool<String, Client> pool, String key, Blackhole blackhole) {
    try (Lease<Client> lease = pool.get(key)) {
      blackhole.consume(lease.get());
    }
  }

  static void lease(SharedResourceHolder.Resource<Client> resource, Blackhole blackhole) {
    Client client = SharedResourceHolder.get(resource);
    try {
      blackhole.consume(client);
    } finally {
      SharedResourceHolder.release(resource, client);
    }
  }

  static void lease(GenericKeyedObjectPool<String, Client> pool, String key, Blackhole blackhole)
      throws Exception {
    Client client = pool.borrowObject(key);
    try {
      blackhole.consume(client);
    } finally {
      pool.returnObject(key, client);
    }
  }

  /** Closes whichever of the two closeable peers a trial built. */
  static void close(Pool<?, ?> pool, GenericKeyedObjectPool<?, ?> commonsPool) {
    if (pool != null) {
      pool.close();
    }
    if (commonsPool != null) {
      commonsPool.close();
    }
  }

  /** commons-pool2's factory: creates on borrow when no idle object is left, closes on destroy. */
  private static final class CommonsFactory<K, V extends AsyncResource>
      extends BaseKeyedPooledObjectFactory<K, V> {
    private final Function<? super K, V> factory;

    CommonsFactory(Function<? super K, V> factory) {
      this.factory = factory;
    }

    @Override
    public V create(K key) {
      return factory.apply(key);
    }

    @Override
    public PooledObject<V> wrap(V value) {
      return new DefaultPooledObject<>(value);
    }

    @Override
    public void destroyObject(K key, PooledObject<V> pooled) {
      pooled.getObject().closeAsync();
    }
  }

  private static GenericKeyedObjectPoolConfig<Client> commonsConfig(int maxIdlePerKey) {
    GenericKeyedObjectPoolConfig<Client> config = new GenericKeyedObjectPoolConfig<>();
    config.setMaxTotal(-1);
    config.setMaxTotalPerKey(8);
    config.setMaxIdlePerKey(maxIdlePerKey);
    config.setJmxEnabled(false);
    return config;
  }
}
