package dev.asyncpool.examples;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The README's "Using it" section, compiled and run by the tests so that it cannot rot: the four
 * ways to build, JDBC work that throws {@link SQLException} through {@code apply} and {@code
 * accept}, a deadline with {@code get(key, timeout)}, and looking without creating.
 */
public final class UsingItExample {

  /** A stand-in for a tenant's database client, opened asynchronously. */
  public static final class TenantDb implements AsyncResource {
    final String tenant;

    TenantDb(String tenant) {
      this.tenant = tenant;
    }

    static CompletionStage<TenantDb> connectAsync(String tenant) {
      return CompletableFuture.supplyAsync(() -> new TenantDb(tenant));
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      return CompletableFuture.completedFuture(null);
    }
  }

  /** A tenant's connection settings, whose toString would show the password. */
  public record TenantConfig(String tenantId, String password) {
    HikariDataSource dataSource() {
      HikariConfig hc = new HikariConfig();
      hc.setPoolName("using-it-" + tenantId);
      hc.setJdbcUrl("jdbc:h2:mem:using-it-" + tenantId + ";DB_CLOSE_DELAY=-1");
      hc.setUsername("sa");
      hc.setPassword(password);
      hc.setMaximumPoolSize(2);
      return new HikariDataSource(hc);
    }
  }

  private static final Logger log = LoggerFactory.getLogger(UsingItExample.class);

  private UsingItExample() {}

  private static int count(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("select count(*) from information_schema.tables")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  /**
   * Runs each snippet once.
   *
   * @param args ignored
   * @return how many tables the tenant's database listed, for the test to check
   * @throws SQLException if the database fails
   */
  public static int run(String[] args) throws SQLException {
    try (Pool<String, TenantDb> dbs =
            Pool.newBuilder()
                .ttl(Duration.ofSeconds(5))
                .build(tenant -> new TenantDb(tenant));
        Pool<String, TenantDb> async = Pool.newBuilder().buildAsync(TenantDb::connectAsync);
        Pool<String, TenantDb> tiers =
            Pool.newBuilder() // a TTL per key
                .ttl(
                    (String tenant) ->
                        tenant.equals("system")
                            ? ChronoUnit.FOREVER.getDuration() // pinned
                            : tenant.startsWith("premium-")
                                ? Duration.ofMinutes(30)
                                : Duration.ofMinutes(2))
                .build(TenantDb::new);
        Pool<TenantConfig, HikariDataSource> jdbc =
            Pool.newBuilder()
                .keyFormatter(TenantConfig::tenantId) // never the password, in any log line
                .buildCloseable(TenantConfig::dataSource)) {
      try (Lease<TenantDb> lease = dbs.get("acme", Duration.ofSeconds(2))) {
        log.info("leased {} with a 2 s deadline", lease.get().tenant);
      }
      for (String tenant : new String[] {"system", "premium-acme", "acme"}) {
        tiers.accept(tenant, db -> log.info("{} is idle-closed after its own TTL", db.tenant));
      }
      try (Lease<TenantDb> lease = async.getIfPresent("acme")) {
        log.info("async pool has acme open: {}", lease != null); // false: never made
      }
      TenantConfig acme = new TenantConfig("acme", "");
      int tables =
          jdbc.apply(
              acme,
              ds -> {
                try (Connection c = ds.getConnection()) {
                  return count(c); // throws SQLException, no wrapping
                }
              });
      jdbc.accept(
          acme,
          ds -> {
            try (Connection c = ds.getConnection();
                Statement s = c.createStatement()) {
              s.execute("create table if not exists visits(id int)");
            }
          });
      log.info("{} tenant(s) with an open instance", jdbc.keys().size());
      return tables;
    }
  }

  public static void main(String[] args) throws SQLException {
    System.out.println("tables: " + run(args));
  }
}
