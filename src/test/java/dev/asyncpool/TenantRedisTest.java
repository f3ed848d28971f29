package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.asyncpool.examples.TenantRedis;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.resource.ClientResources;
import java.io.File;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Redis example against a real redis-server on a free loopback port (skipped when the binary
 * is not installed): an idle tenant's connection is gone from the server's {@code CLIENT LIST}
 * after the TTL, and comes back on its next request.
 */
class TenantRedisTest {

  private static Process server;
  private static int port;
  private static ClientResources resources;
  private static RedisClient adminClient;
  private static StatefulRedisConnection<String, String> admin;

  @BeforeAll
  static void startServer() throws Exception {
    Path binary =
        java.util.stream.Stream.of("/usr/bin/redis-server", "/usr/local/bin/redis-server")
            .map(Path::of)
            .filter(Files::isExecutable)
            .findFirst()
            .orElse(null);
    assumeTrue(binary != null, "no redis-server installed");
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    server =
        new ProcessBuilder(
                binary.toString(), "--port", String.valueOf(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no")
            .redirectErrorStream(true)
            .redirectOutput(new File(System.getProperty("java.io.tmpdir"), "asyncpool-redis.log"))
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      try {
        new Socket(InetAddress.getLoopbackAddress(), port).close();
        break;
      } catch (java.io.IOException notYet) {
        if (System.nanoTime() > deadline || !server.isAlive()) {
          throw new IllegalStateException("redis-server did not start on port " + port);
        }
        Thread.sleep(20);
      }
    }
    resources = ClientResources.create();
    adminClient = RedisClient.create(resources, RedisURI.create("127.0.0.1", port));
    admin = adminClient.connect();
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (admin != null) {
      admin.close();
      adminClient.shutdown();
      resources.shutdown().get(10, TimeUnit.SECONDS);
    }
    if (server != null) {
      server.destroy();
      server.waitFor(10, TimeUnit.SECONDS);
    }
  }

  private static String clients() {
    return admin.sync().clientList();
  }

  @Test
  void idleTenantsConnectionIsClosedOnTheServerAfterTheTtl() throws Exception {
    Pool<String, TenantRedis.Client> pool =
        TenantRedis.pool(resources, "127.0.0.1", port, Duration.ofMillis(300));
    TenantRedis.Client first;
    try (Lease<TenantRedis.Client> lease = pool.get("tenant-a")) {
      first = lease.get();
      first.connection().sync().set("greeting", "hello from a");
    }
    Lease<TenantRedis.Client> busy = pool.get("tenant-b");
    assertThat(busy.get().connection().sync().get("greeting")).isEqualTo("hello from a");
    assertThat(clients()).contains("name=tenant-a ").contains("name=tenant-b ");

    await().atMost(Duration.ofSeconds(5)).until(() -> !clients().contains("name=tenant-a "));
    assertThat(clients()).as("a leased tenant keeps its connection").contains("name=tenant-b ");
    assertThat(first.connection().isOpen()).isFalse();
    assertThat(pool.stats().expirations()).isEqualTo(1);

    try (Lease<TenantRedis.Client> lease = pool.get("tenant-a")) {
      assertThat(lease.get()).isNotSameAs(first);
      assertThat(lease.get().connection().sync().ping()).isEqualTo("PONG");
    }
    assertThat(clients()).contains("name=tenant-a ");

    busy.close();
    pool.closeAsync().get(10, TimeUnit.SECONDS);
    await()
        .atMost(Duration.ofSeconds(5))
        .until(() -> !clients().contains("name=tenant-a ") && !clients().contains("name=tenant-b "));
    assertThat(pool.stats().closes()).isEqualTo(3);
  }
}
