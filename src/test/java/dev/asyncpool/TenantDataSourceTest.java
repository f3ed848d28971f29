package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.examples.TenantDemo;
import dev.asyncpool.examples.TenantDemo.Config;
import dev.asyncpool.examples.TenantDemo.Tenants;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The multi-tenant example for real: a HikariCP pool per tenant over in-memory H2. */
class TenantDataSourceTest {

  private static Config config(String db, Duration ttl) {
    return new Config(
        2, 50, 4, 2000, 1.1, ttl, "jdbc:h2:mem:" + db + "-%s;DB_CLOSE_DELAY=-1", "sa", "");
  }

  @Test
  void tenantsLeasedConcurrentlyGetOneDataSourceEach() throws Exception {
    Tenants tenants = new Tenants(config("concurrent", Duration.ofSeconds(30)));
    List<String> names = List.of("a", "b", "c");
    Set<HikariDataSource> seen = ConcurrentHashMap.newKeySet();
    ExecutorService threads = Executors.newFixedThreadPool(8);
    try (Pool<String, HikariDataSource> pool =
        Pool.newBuilder().recordStats().buildCloseable(tenants::dataSource)) {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        done.add(
            threads.submit(
                () -> {
                  go.await();
                  for (int i = 0; i < 60; i++) {
                    String tenant = names.get(i % names.size());
                    try (Lease<HikariDataSource> lease = pool.get(tenant)) {
                      seen.add(lease.get());
                      assertThat(Tenants.query(lease.get())).isEqualTo(tenant);
                    }
                  }
                  return null;
                }));
      }
      go.countDown();
      for (Future<?> f : done) {
        f.get(20, TimeUnit.SECONDS);
      }
      assertThat(tenants.made).as("one DataSource per tenant, despite 8 racing threads").hasSize(3);
      assertThat(seen).hasSize(3);
      assertThat(pool.stats().creations()).isEqualTo(3);
    } finally {
      threads.shutdownNow();
    }
    assertThat(tenants.made).allMatch(HikariDataSource::isClosed, "closed by pool.close()");
  }

  @Test
  void idleTenantsDataSourceIsClosedAfterTheTtlAndComesBackOnTheNextRequest() throws Exception {
    Tenants tenants = new Tenants(config("idle", Duration.ofMillis(300)));
    Pool<String, HikariDataSource> pool =
        Pool.newBuilder()
            .ttl(Duration.ofMillis(300))
            .recordStats()
            .buildCloseable(tenants::dataSource);
    HikariDataSource idle;
    try (Lease<HikariDataSource> lease = pool.get("idle")) {
      idle = lease.get();
      assertThat(Tenants.query(idle)).isEqualTo("idle");
    }
    Lease<HikariDataSource> busy = pool.get("busy");

    await().atMost(Duration.ofSeconds(5)).until(idle::isClosed);
    assertThat(pool.stats().expirations()).isEqualTo(1);
    assertThat(busy.get().isClosed()).as("a leased tenant's pool outlives the TTL").isFalse();

    try (Lease<HikariDataSource> lease = pool.get("idle")) {
      assertThat(lease.get()).isNotSameAs(idle);
      assertThat(lease.get().isClosed()).isFalse();
      assertThat(Tenants.query(lease.get())).as("same database, new pool").isEqualTo("idle");
    }
    assertThat(pool.stats().creations()).isEqualTo(3);

    var shutdown = pool.closeAsync();
    assertThat(busy.get().isClosed()).as("shutdown waits for the last lease").isFalse();
    busy.close();
    shutdown.get(5, TimeUnit.SECONDS);
    assertThat(tenants.made).hasSize(3).allMatch(HikariDataSource::isClosed);
  }

  @Test
  void demoRunsBriefly() throws Exception {
    TenantDemo.Result r = TenantDemo.run(config("demo", Duration.ofMillis(200)), false);
    assertThat(r.failures()).isZero();
    // Not a rate: how many requests a loaded machine serves in two seconds is no invariant.
    assertThat(r.requests()).isPositive();
    assertThat(r.stats().expirations()).as("the long tail's pools expired").isPositive();
    assertThat(r.dataSourcesMade()).isEqualTo(r.stats().creations());
    assertThat(r.stillOpenAfterClose()).isZero();
  }
}
