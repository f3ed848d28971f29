package dev.asyncpool.examples;

import dev.asyncpool.Pool;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.resource.ClientResources;
import java.time.Duration;
import java.util.concurrent.CompletionStage;

/**
 * A Lettuce client and connection per tenant, pooled by asyncpool: closing is Lettuce's own
 * asynchronous {@code shutdownAsync}, which also closes the client's connections. The tenants
 * share one {@link ClientResources} (event loops), which the application owns and shuts down.
 */
public final class TenantRedis {

  /** One tenant's client and its connection, named after the tenant on the server. */
  public record Client(RedisClient client, StatefulRedisConnection<String, String> connection) {
    CompletionStage<Void> shutdownAsync() {
      return client.shutdownAsync();
    }
  }

  private TenantRedis() {}

  /**
   * A pool of per-tenant Redis clients.
   *
   * @param resources shared event loops, owned by the caller
   * @param host the server's host
   * @param port the server's port
   * @param ttl how long an idle tenant keeps its connection
   */
  public static Pool<String, Client> pool(
      ClientResources resources, String host, int port, Duration ttl) {
    return Pool.newBuilder()
        .ttl(ttl)
        .name("tenant-redis")
        .recordStats()
        .build(tenant -> {
              RedisURI uri = RedisURI.builder().withHost(host).withPort(port).build();
              uri.setClientName(tenant);
              RedisClient client = RedisClient.create(resources, uri);
              try {
                return new Client(client, client.connect());
              } catch (RuntimeException e) {
                client.shutdown();
                throw e;
              }
            },
            Client::shutdownAsync);
  }
}
