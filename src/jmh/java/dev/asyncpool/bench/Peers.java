package dev.asyncpool.bench;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import io.grpc.internal.SharedResourceHolder;
import java.time.Duration;
import java.util.function.Function;
import org.apache.commons.pool2.BaseKeyedPooledObjectFactory;
import org.apache.commons.pool2.PooledObject;
import org.apache.commons.pool2.impl.DefaultPooledObject;
import org.apache.commons.pool2.impl.GenericKeyedObjectPool;
import org.apache.commons.pool2.impl.GenericKeyedObjectPoolConfig;

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

  /** Exclusive borrow/return; {@code maxIdlePerKey} 0 destroys every returned object. */
  static <K> GenericKeyedObjectPool<K, Client> commonsPool(
      Function<? super K, Client> factory, int maxIdlePerKey) {
    return new GenericKeyedObjectPool<>(
        new CommonsFactory<>(factory), commonsConfig(maxIdlePerKey));
  }

  /** gRPC keys its holder by the identity of the {@code Resource}: one per key. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  static SharedResourceHolder.Resource<Client>[] grpcResources(int count) {
    SharedResourceHolder.Resource<Client>[] resources = new SharedResourceHolder.Resource[count];
    for (int i = 0; i < count; i++) {
      String name = "tenant-" + i;
      resources[i] =
          new SharedResourceHolder.Resource<>() {
            @Override
            public Client create() {
              return new Client(name);
            }

            @Override
            public void close(Client instance) {
              instance.closeAsync();
            }
          };
    }
    return resources;
  }

  /** commons-pool2's factory: creates on borrow when no idle object is left, closes on destroy. */
  private static final class CommonsFactory<K> extends BaseKeyedPooledObjectFactory<K, Client> {
    private final Function<? super K, Client> factory;

    CommonsFactory(Function<? super K, Client> factory) {
      this.factory = factory;
    }

    @Override
    public Client create(K key) {
      return factory.apply(key);
    }

    @Override
    public PooledObject<Client> wrap(Client value) {
      return new DefaultPooledObject<>(value);
    }

    @Override
    public void destroyObject(K key, PooledObject<Client> pooled) {
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
