package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.jdbc.TenantDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;

/**
 * The tenant scenario against a real PostgreSQL, one database per tenant ({@code tenant_a},
 * {@code tenant_b}), watched from the server's side in {@code pg_stat_activity}: an idle tenant's
 * connections leave once its HikariCP pool expires, while a tenant inside a transaction longer
 * than the TTL keeps its connection and commits.
 *
 * <p>Needs the server that {@code .ci/run} starts ({@code eval "$(bash .ci/postgres start)"} by
 * hand): skipped when {@code ASYNCPOOL_PG_URL} is not set; when it is set, the server must answer.
 */
class TenantPostgresTest {

  private static final Duration TTL = Duration.ofMillis(500);

  private static String url;
  private static String user;
  private static String password;
  /** The watcher's own connection, outside the tenants' pools. */
  private static Connection admin;

  private static PreparedStatement activity;

  private final Queue<HikariDataSource> made = new ConcurrentLinkedQueue<>();
  /** Marks this run's rows: the server (and its tables) may outlive a run. */
  private final String run = UUID.randomUUID().toString();
  private Pool<String, HikariDataSource> pool;

  @BeforeAll
  static void needsPostgres() throws SQLException {
    url = System.getenv("ASYNCPOOL_PG_URL");
    user = System.getenv("ASYNCPOOL_PG_USER");
    password = System.getenv("ASYNCPOOL_PG_PASSWORD");
    assumeTrue(
        url != null,
        "no PostgreSQL: ASYNCPOOL_PG_URL is not set (eval \"$(bash .ci/postgres start)\")");
    admin = DriverManager.getConnection(url + "postgres", user, password);
    activity =
        admin.prepareStatement(
            "select datname, count(*) from pg_stat_activity"
                + " where application_name = 'asyncpool-test' group by datname");
  }

  @AfterAll
  static void closeAdmin() throws SQLException {
    if (admin != null) {
      admin.close();
    }
  }

  @AfterEach
  void closeEverything() throws Exception {
    if (pool != null) {
      pool.closeAsync(Duration.ZERO).get(10, TimeUnit.SECONDS);
    }
    made.forEach(HikariDataSource::close);
  }

  /** The pool's factory: a HikariCP pool of at most two connections to the tenant's database. */
  private HikariDataSource tenantPool(String tenant) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("pg-" + tenant);
    config.setJdbcUrl(url + "tenant_" + tenant);
    config.setUsername(user);
    config.setPassword(password);
    config.setMaximumPoolSize(2);
    config.setMinimumIdle(0); // connections only on demand, so the counts below are exact
    config.addDataSourceProperty("ApplicationName", "asyncpool-test");
    HikariDataSource ds = new HikariDataSource(config);
    made.add(ds);
    try (Connection c = ds.getConnection();
        Statement s = c.createStatement()) {
      s.execute("create table if not exists note (id serial primary key, text text)");
    } catch (SQLException e) {
      ds.close();
      throw new IllegalStateException("cannot migrate tenant_" + tenant, e);
    }
    return ds;
  }

  /** This test's connections per tenant database, as the server sees them. */
  private static Map<String, Integer> connections() throws SQLException {
    Map<String, Integer> counts = new HashMap<>();
    // pg_stat_activity is a snapshot taken once per transaction: one statement, one snapshot.
    try (ResultSet rs = activity.executeQuery()) {
      while (rs.next()) {
        counts.put(rs.getString(1), rs.getInt(2));
      }
    }
    return counts;
  }

  private static int select(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getInt(1);
    }
  }

  @Test
  void anIdleTenantsConnectionsLeaveTheServerWhileATransactionPastTheTtlKeepsItsTenant()
      throws Exception {
    pool = Pool.newBuilder().ttl(TTL).recordStats().buildCloseable(this::tenantPool);
    TenantDataSource<String> ds = TenantDataSource.of(pool, () -> "a");

    // b: a transaction that will outlast a's expiry and several TTLs.
    Connection b = ds.getConnection("b");
    b.setAutoCommit(false);
    try (Statement s = b.createStatement()) {
      s.executeUpdate("insert into note (text) values ('" + run + " begun')");
    }
    long begun = System.nanoTime();
    // a: two connections at once, counted by the server, then both closed: a's TTL starts.
    try (Connection one = ds.getConnection();
        Connection two = ds.getConnection()) {
      assertThat(select(one, "select 1") + select(two, "select 2")).isEqualTo(3);
      assertThat(one.unwrap(PGConnection.class).getBackendPID())
          .isNotEqualTo(two.unwrap(PGConnection.class).getBackendPID());
      assertThat(connections()).containsEntry("tenant_a", 2).containsEntry("tenant_b", 1);
    }

    await().atMost(Duration.ofSeconds(10)).until(() -> !connections().containsKey("tenant_a"));
    assertThat(pool.stats().expirations()).isEqualTo(1);
    await()
        .during(TTL.multipliedBy(3))
        .atMost(TTL.multipliedBy(6))
        .until(() -> connections().getOrDefault("tenant_b", 0) == 1);
    assertThat(Duration.ofNanos(System.nanoTime() - begun)).isGreaterThan(TTL.multipliedBy(3));
    try (Statement s = b.createStatement()) {
      s.executeUpdate("insert into note (text) values ('" + run + " after 3 TTLs')");
    }
    b.commit();
    assertThat(select(b, "select count(*) from note where text like '" + run + " %'"))
        .isEqualTo(2);
    b.close();

    await().atMost(Duration.ofSeconds(10)).until(() -> connections().isEmpty());
    assertThat(pool.stats().expirations()).isEqualTo(2);
    assertThat(made).hasSize(2).allMatch(HikariDataSource::isClosed);

    try (Connection again = ds.getConnection()) {
      assertThat(select(again, "select 1")).isEqualTo(1);
      assertThat(connections()).as("a's next request opens a new pool").containsEntry(
          "tenant_a", 1);
    }
    assertThat(pool.stats().creations()).isEqualTo(3);
  }
}
