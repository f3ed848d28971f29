package dev.asyncpool.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.Pool;
import dev.asyncpool.jdbc.TenantDataSource;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * What {@link TenantDataSource} adds to HikariCP over in-memory H2, where the driver does no I/O
 * and the wrappers' cost shows whole: a connection taken and closed ({@code hikari*}: HikariCP's
 * own {@code getConnection()}; {@code tenant*}: through {@code TenantDataSource}, which also
 * leases the tenant's pool and wraps the connection), and one call on an open connection and on
 * an open result set, each through HikariCP's proxies alone or through ours in front of them.
 * The tenant's pool is warm: what a request to a busy tenant costs, not the tenant's first.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class TenantDataSourceCost {

  HikariDataSource hikari;
  Pool<String, HikariDataSource> pool;
  TenantDataSource<String> tenants;

  private static HikariDataSource hikari(String name) {
    HikariConfig config = new HikariConfig();
    config.setPoolName(name);
    config.setJdbcUrl("jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1");
    config.setUsername("sa");
    config.setPassword("");
    config.setMaximumPoolSize(4); // the open connections below, and one more per thread
    return new HikariDataSource(config);
  }

  @Setup(Level.Trial)
  public void setUp() throws SQLException {
    hikari = hikari("direct");
    pool = Pool.newBuilder().ttl(Duration.ofMinutes(5)).buildCloseable(t -> hikari("tenant-" + t));
    tenants = TenantDataSource.of(pool, () -> "a");
    tenants.getConnection().close(); // the tenant's pool exists from here on
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    pool.close();
    hikari.close();
  }

  /** A connection and a result set on its row, open for the whole trial: one of each kind. */
  @State(Scope.Thread)
  public static class Open {
    Connection direct;
    Connection leased;
    ResultSet directRow;
    ResultSet leasedRow;

    @Setup(Level.Trial)
    public void setUp(TenantDataSourceCost bench) throws SQLException {
      direct = bench.hikari.getConnection();
      leased = bench.tenants.getConnection();
      directRow = row(direct);
      leasedRow = row(leased);
    }

    private static ResultSet row(Connection c) throws SQLException {
      Statement s = c.createStatement();
      ResultSet rs = s.executeQuery("select 42");
      rs.next();
      return rs;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws SQLException {
      direct.close();
      leased.close();
    }
  }

  @Benchmark
  public Connection hikariGetConnection() throws SQLException {
    try (Connection c = hikari.getConnection()) {
      return c; // to JMH's blackhole: taken and closed, nothing else
    }
  }

  @Benchmark
  public Connection tenantGetConnection() throws SQLException {
    try (Connection c = tenants.getConnection()) {
      return c;
    }
  }

  @Benchmark
  public boolean hikariConnectionCall(Open open) throws SQLException {
    return open.direct.getAutoCommit();
  }

  @Benchmark
  public boolean tenantConnectionCall(Open open) throws SQLException {
    return open.leased.getAutoCommit();
  }

  @Benchmark
  public int hikariResultSetCall(Open open) throws SQLException {
    return open.directRow.getInt(1);
  }

  @Benchmark
  public int tenantResultSetCall(Open open) throws SQLException {
    return open.leasedRow.getInt(1);
  }
}
