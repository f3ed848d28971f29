package dev.asyncpool.jdbc;

import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletionException;
import java.util.function.Supplier;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * One {@link DataSource} for every tenant of a {@link Pool} of per-tenant {@code DataSource}s:
 * each connection it hands out holds a lease on its tenant's pooled {@code DataSource}, taken
 * before the connection and given back when the connection is closed. An open connection, and so
 * an open transaction, keeps its tenant's connection pool open however long it lasts, even past
 * the pool's time-to-live; a tenant with no open connection is closed once idle for the TTL.
 *
 * <pre>{@code
 * Pool<String, HikariDataSource> pools =
 *     Pool.newBuilder().ttl(ofMinutes(5)).buildCloseable(tenants::dataSource);
 * DataSource dataSource = TenantDataSource.of(pools, TenantContext::current);
 * }</pre>
 *
 * <p>Hand it to anything that takes a {@code DataSource}: Spring's {@code JdbcTemplate} and
 * {@code DataSourceTransactionManager}, or a Hibernate {@code MultiTenantConnectionProvider}
 * (through {@link #getConnection(Object)}). The pool stays the application's: this class never
 * closes it.
 *
 * <h2>The connections</h2>
 *
 * <ul>
 *   <li>The lease is taken before the tenant's {@code getConnection} is called, and given back
 *       exactly once: when the connection is first closed (after the real connection's close,
 *       even if that throws), or at once if {@code getConnection} throws or returns null.
 *   <li>{@link Connection#close()} is idempotent and may be called from any thread; two racing
 *       closes close the real connection and give the lease back once. After the close every
 *       method throws {@link SQLException}, except {@code close} and {@code isClosed} (and, as
 *       JDBC asks, {@code isValid}, which returns false, and {@code abort}, which does nothing).
 *   <li>{@link java.sql.Statement}s, {@link java.sql.ResultSet}s and {@link
 *       java.sql.DatabaseMetaData} obtained from a connection, directly or through one another,
 *       are wrapped so that they cannot outlive its lease: once the connection is closed they
 *       throw {@link SQLException} too (except {@code close} and {@code isClosed}). Their {@code
 *       getConnection()} and {@code getStatement()} return the wrappers, never the real objects.
 *       LOBs, arrays, savepoints and metadata of results are the driver's own objects.
 *   <li>{@code unwrap} and {@code isWrapperFor} reach the real objects: {@code
 *       connection.unwrap(PGConnection.class)} returns the driver's connection. Using what it
 *       returns after the connection's close is the caller's responsibility.
 *   <li>A connection that is dropped without {@code close()} keeps its lease, and so its tenant's
 *       pool, until the lease is collected: build the pool with {@link
 *       dev.asyncpool.PoolBuilder#leakDetection()} to have that reported with the stack that took
 *       it, and the share given back.
 * </ul>
 *
 * <p>Failures to lease the tenant's {@code DataSource} surface as {@link SQLException}s, as a
 * {@code DataSource} should, with the pool's exception as the cause and SQLState {@code 08001}:
 * {@link SQLNonTransientConnectionException} for the pool's {@link IllegalStateException} (it is
 * closed), {@link SQLTransientConnectionException} for anything else (the tenant's {@code
 * DataSource} could not be created or opened, or the {@linkplain #setLoginTimeout(int) login
 * timeout} ran out), which the pool does not remember.
 *
 * <p>Thread-safe: any number of threads may get and close connections concurrently. A connection
 * and the objects made from it follow JDBC's rule of one thread at a time, except that {@code
 * close} may come from any thread.
 *
 * @param <K> the pool's key type: the tenant
 */
public final class TenantDataSource<K> implements DataSource {

  private final Pool<K, ? extends DataSource> pool;
  private final Supplier<? extends K> currentTenant;
  private volatile int loginTimeoutSeconds;

  private TenantDataSource(
      Pool<K, ? extends DataSource> pool, Supplier<? extends K> currentTenant) {
    this.pool = pool;
    this.currentTenant = currentTenant;
  }

  /**
   * Returns a {@code DataSource} over {@code pool} whose {@link #getConnection()} serves the
   * tenant {@code currentTenant} names at that moment (a request-scoped or thread-local tenant).
   *
   * @param pool the pool of per-tenant {@code DataSource}s; it stays the caller's to close
   * @param currentTenant the tenant of the calling thread, asked once per {@link #getConnection()}
   *     and never for {@link #getConnection(Object)}; it must not return null while one is needed
   * @param <K> the tenant type
   * @return a new {@code TenantDataSource}
   * @throws NullPointerException if {@code pool} or {@code currentTenant} is null
   */
  public static <K> TenantDataSource<K> of(
      Pool<K, ? extends DataSource> pool, Supplier<? extends K> currentTenant) {
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(currentTenant, "currentTenant");
    return new TenantDataSource<>(pool, currentTenant);
  }

  /**
   * Opens a connection to the current tenant's database: leases that tenant's {@code DataSource}
   * (creating it if it has none) and asks it for a connection. The lease is held until the
   * connection is closed.
   *
   * @return a connection that gives its tenant's lease back when closed
   * @throws SQLException if the current tenant is null, its {@code DataSource} could not be
   *     leased, or its {@code getConnection()} failed; no lease is kept then
   */
  @Override
  public Connection getConnection() throws SQLException {
    return connect(currentTenant(), null, null, false);
  }

  /**
   * Opens a connection to the current tenant's database as the given user: like {@link
   * #getConnection()}, with the tenant's {@code getConnection(user, password)} (which a pooling
   * {@code DataSource} such as HikariCP may not support).
   *
   * @param user the database user
   * @param password the user's password
   * @return a connection that gives its tenant's lease back when closed
   * @throws SQLException as {@link #getConnection()} does
   */
  @Override
  public Connection getConnection(String user, String password) throws SQLException {
    return connect(currentTenant(), user, password, true);
  }

  /**
   * Opens a connection to {@code tenant}'s database, whatever the current tenant: what a
   * Hibernate {@code MultiTenantConnectionProvider} calls. Otherwise as {@link #getConnection()}.
   *
   * @param tenant the tenant
   * @return a connection that gives the tenant's lease back when closed
   * @throws NullPointerException if {@code tenant} is null
   * @throws SQLException if the tenant's {@code DataSource} could not be leased, or its {@code
   *     getConnection()} failed; no lease is kept then
   */
  public Connection getConnection(K tenant) throws SQLException {
    return connect(Objects.requireNonNull(tenant, "tenant"), null, null, false);
  }

  /**
   * Opens a connection to {@code tenant}'s database as the given user: {@link
   * #getConnection(Object)} with the tenant's {@code getConnection(user, password)}.
   *
   * @param tenant the tenant
   * @param user the database user
   * @param password the user's password
   * @return a connection that gives the tenant's lease back when closed
   * @throws NullPointerException if {@code tenant} is null
   * @throws SQLException as {@link #getConnection(Object)} does
   */
  public Connection getConnection(K tenant, String user, String password) throws SQLException {
    return connect(Objects.requireNonNull(tenant, "tenant"), user, password, true);
  }

  private K currentTenant() throws SQLException {
    K tenant = currentTenant.get();
    if (tenant == null) {
      throw new SQLNonTransientConnectionException(
          "no current tenant: the TenantDataSource's tenant supplier returned null", "08001");
    }
    return tenant;
  }

  private Connection connect(K tenant, String user, String password, boolean withCredentials)
      throws SQLException {
    Lease<? extends DataSource> lease = lease(tenant);
    try {
      DataSource dataSource = lease.get();
      Connection real =
          withCredentials ? dataSource.getConnection(user, password) : dataSource.getConnection();
      if (real == null) {
        throw new SQLTransientConnectionException(
            "the DataSource of " + lease + " returned no connection", "08001");
      }
      return LeasedConnection.wrap(real, lease);
    } catch (Throwable failure) {
      // No connection holds the lease: it goes back now, not at a close that will never come.
      lease.close();
      throw failure;
    }
  }

  private Lease<? extends DataSource> lease(K tenant) throws SQLException {
    int timeout = loginTimeoutSeconds;
    try {
      return timeout == 0 ? pool.get(tenant) : pool.get(tenant, Duration.ofSeconds(timeout));
    } catch (IllegalStateException closed) {
      // The pool is closed (or the factory asked for its own key): trying again will not help.
      throw new SQLNonTransientConnectionException(
          "cannot lease the tenant's DataSource: " + closed.getMessage(), "08001", closed);
    } catch (RuntimeException e) {
      // The factory's or openAsync's failure (a checked one wrapped in a CompletionException, an
      // unchecked one as it is, say HikariCP's PoolInitializationException), or the timeout:
      // the pool does not remember it, so the next try may succeed.
      Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      throw new SQLTransientConnectionException(
          "cannot lease the tenant's DataSource: " + cause, "08001", cause);
    }
  }

  /**
   * Sets how long {@code getConnection} waits for a tenant's {@code DataSource} to be created and
   * opened, through {@link Pool#get(Object, Duration)}; 0, the default, waits as long as it takes
   * ({@link Pool#get(Object)}). On an open tenant it has no effect. The wait for a connection
   * from the tenant's {@code DataSource} is that {@code DataSource}'s own setting.
   *
   * @param seconds the most to wait, in seconds; 0 for no limit
   * @throws IllegalArgumentException if {@code seconds} is negative
   */
  @Override
  public void setLoginTimeout(int seconds) {
    if (seconds < 0) {
      throw new IllegalArgumentException("loginTimeout must not be negative: " + seconds);
    }
    loginTimeoutSeconds = seconds;
  }

  /**
   * Returns the time, in seconds, that {@code getConnection} waits for a tenant's {@code
   * DataSource} to be created; see {@link #setLoginTimeout(int)}.
   *
   * @return the timeout in seconds; 0 (the default) for no limit
   */
  @Override
  public int getLoginTimeout() {
    return loginTimeoutSeconds;
  }

  /**
   * Returns null: a {@code TenantDataSource} writes no log of its own (each tenant's {@code
   * DataSource} keeps its own log writer).
   *
   * @return null
   */
  @Override
  public PrintWriter getLogWriter() {
    return null;
  }

  /**
   * Not supported: set the log writer on the tenants' {@code DataSource}s, in the pool's factory.
   *
   * @param out ignored
   * @throws SQLFeatureNotSupportedException always
   */
  @Override
  public void setLogWriter(PrintWriter out) throws SQLFeatureNotSupportedException {
    throw new SQLFeatureNotSupportedException(
        "TenantDataSource has no log writer: set one on each tenant's DataSource");
  }

  /**
   * Not supported: {@code TenantDataSource} logs nothing through {@code java.util.logging}.
   *
   * @return never
   * @throws SQLFeatureNotSupportedException always
   */
  @Override
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    throw new SQLFeatureNotSupportedException("TenantDataSource does not use java.util.logging");
  }

  /**
   * Returns this object if it implements {@code iface}. A {@code TenantDataSource} wraps no
   * single {@code DataSource}: lease a tenant's from the pool to reach it.
   *
   * @param iface the interface or class wanted
   * @param <T> its type
   * @return this
   * @throws SQLException if this object does not implement {@code iface}
   */
  @Override
  public <T> T unwrap(Class<T> iface) throws SQLException {
    if (iface.isInstance(this)) {
      return iface.cast(this);
    }
    throw new SQLException("TenantDataSource is not a wrapper for " + iface.getName());
  }

  /**
   * Tells whether this object implements {@code iface}.
   *
   * @param iface the interface or class
   * @return whether {@link #unwrap(Class)} would return this object
   */
  @Override
  public boolean isWrapperFor(Class<?> iface) {
    return iface.isInstance(this);
  }

  @Override
  public String toString() {
    return "TenantDataSource[" + pool + "]";
  }
}
