package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.github.valfirst.slf4jtest.LoggingEvent;
import com.github.valfirst.slf4jtest.TestLoggerFactory;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.pool.HikariProxyConnection;
import dev.asyncpool.jdbc.TenantDataSource;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Proxy;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.h2.jdbc.JdbcConnection;
import org.h2.jdbc.JdbcStatement;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link TenantDataSource} against real HikariCP pools over in-memory H2, one database per tenant,
 * on the fake clock: each connection holds its tenant's lease from before {@code getConnection}
 * to its first close, whatever fails in whatever order, and nothing made from it outlives it.
 */
class TenantDataSourceJdbcTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofSeconds(1);

  private final String db = "tds-" + UUID.randomUUID();
  private final Queue<HikariDataSource> made = new ConcurrentLinkedQueue<>();
  private final List<Pool<?, ?>> pools = new ArrayList<>();
  private CountingPool<String, HikariDataSource> tenants;
  private long connectionTimeoutMillis = 5_000;

  @BeforeEach
  void clearLogs() {
    TestLoggerFactory.clearAll();
  }

  @AfterEach
  void closeEverything() throws Exception {
    for (Pool<?, ?> pool : pools) {
      pool.closeAsync(Duration.ZERO).get(10, TimeUnit.SECONDS); // even if a test left a lease
    }
    made.forEach(HikariDataSource::close);
  }

  /** The pool's factory: a HikariCP pool of at most two connections over the tenant's H2. */
  private HikariDataSource h2(String tenant) {
    HikariConfig config = new HikariConfig();
    config.setPoolName(db + "-" + tenant);
    config.setJdbcUrl(url(tenant));
    config.setUsername("sa");
    config.setPassword("");
    config.setMaximumPoolSize(2);
    config.setConnectionTimeout(connectionTimeoutMillis);
    HikariDataSource ds = new HikariDataSource(config);
    made.add(ds);
    return ds;
  }

  private String url(String tenant) {
    return "jdbc:h2:mem:" + db + "-" + tenant + ";DB_CLOSE_DELAY=-1";
  }

  private <P extends Pool<?, ?>> P track(P pool) {
    pools.add(pool);
    return pool;
  }

  private TenantDataSource<String> dataSource(Supplier<String> currentTenant) {
    Pool<String, HikariDataSource> pool = settings().ttl(TTL).buildCloseable(this::h2);
    tenants = track(new CountingPool<>(pool));
    return TenantDataSource.of(tenants, currentTenant);
  }

  private HikariDataSource only() {
    assertThat(made).hasSize(1);
    return made.peek();
  }

  private static void exec(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute(sql);
    }
  }

  private static List<String> names(Connection c) throws SQLException {
    List<String> names = new ArrayList<>();
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("select name from t order by name")) {
      while (rs.next()) {
        names.add(rs.getString(1));
      }
    }
    return names;
  }

  @Test
  void getConnectionServesTheCurrentTenantAndGetConnectionOfATenantThatTenant() throws Exception {
    AtomicReference<String> current = new AtomicReference<>("a");
    TenantDataSource<String> ds = dataSource(current::get);
    for (String tenant : List.of("a", "b")) {
      current.set(tenant);
      try (Connection c = ds.getConnection()) {
        exec(c, "create table t(name varchar(20))");
        exec(c, "insert into t values('" + tenant + "')");
      }
    }
    try (Connection c = ds.getConnection("a")) {
      assertThat(names(c)).as("b is current, a was asked for").containsExactly("a");
    }
    try (Connection c = ds.getConnection()) {
      assertThat(names(c)).containsExactly("b");
    }
    assertThat(made).as("one HikariCP pool per tenant").hasSize(2);
    assertThat(tenants.leased).hasValue(4);
    assertThat(tenants.open()).isZero();
  }

  @Test
  void anOpenConnectionKeepsItsTenantsPoolOpenPastTheTtlAndItsCloseLetsItExpire()
      throws Exception {
    TenantDataSource<String> ds = dataSource(() -> "a");
    Connection c = ds.getConnection();
    HikariDataSource a = only();
    exec(c, "create table t(name varchar(20))");
    c.setAutoCommit(false);
    exec(c, "insert into t values('during')");

    scheduler.advance(TTL.multipliedBy(10));
    assertThat(a.isClosed()).as("leased through the connection").isFalse();
    exec(c, "insert into t values('after the ttl')");
    c.commit();
    assertThat(names(c)).containsExactly("after the ttl", "during");
    assertThat(tenants.stats().expirations()).isZero();

    c.close();
    assertThat(tenants.open()).isZero();
    scheduler.advance(TTL.minusMillis(1));
    assertThat(a.isClosed()).as("the TTL counts from the connection's close").isFalse();
    scheduler.advance(TTL);
    assertThat(a.isClosed()).as("idle for the TTL once the connection closed").isTrue();
    assertThat(tenants.stats().expirations()).isEqualTo(1);
  }

  @Test
  void closeGivesTheLeaseBackExactlyOnceEvenWhenRacing() throws Exception {
    TenantDataSource<String> ds = dataSource(() -> "a");
    Connection c = ds.getConnection();
    c.close();
    c.close();
    assertThat(c.isClosed()).isTrue();
    assertThat(tenants.closeCalls).as("the second close does nothing").hasValue(1);

    ExecutorService threads = Executors.newFixedThreadPool(2);
    try {
      for (int i = 0; i < 200; i++) {
        Connection racing = ds.getConnection();
        CountDownLatch go = new CountDownLatch(1);
        List<Future<?>> closes = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
          closes.add(
              threads.submit(
                  () -> {
                    go.await();
                    racing.close();
                    return null;
                  }));
        }
        go.countDown();
        for (Future<?> close : closes) {
          close.get(5, TimeUnit.SECONDS);
        }
      }
    } finally {
      threads.shutdownNow();
    }
    assertThat(tenants.leased).hasValue(201);
    assertThat(tenants.closeCalls).as("one release per connection").hasValue(201);
    scheduler.advance(TTL.multipliedBy(2));
    assertThat(only().isClosed()).isTrue();
  }

  @Test
  void aGetConnectionThatThrowsGivesTheLeaseBackAtOnce() throws Exception {
    connectionTimeoutMillis = 250; // HikariCP's least
    TenantDataSource<String> ds = dataSource(() -> "a");
    // HikariCP does not support getConnection(user, password): it throws.
    assertThatThrownBy(() -> ds.getConnection("sa", ""))
        .isInstanceOf(SQLFeatureNotSupportedException.class);
    assertThat(tenants.leased).hasValue(1);
    assertThat(tenants.open()).as("given back before the exception left").isZero();

    // An exhausted HikariCP pool (two connections) times out after 250 ms.
    try (Connection one = ds.getConnection();
        Connection two = ds.getConnection("a")) {
      assertThat(one).isNotSameAs(two);
      assertThatThrownBy(ds::getConnection).isInstanceOf(SQLTransientConnectionException.class);
      assertThat(tenants.open()).as("only the two open connections hold a lease").isEqualTo(2);
    }
    assertThat(tenants.open()).isZero();
    scheduler.advance(TTL.multipliedBy(2));
    assertThat(only().isClosed()).isTrue();
  }

  /** What a faulty tenant DataSource does. */
  private enum Fault {
    GET_THROWS,
    GET_RETURNS_NULL,
    CLOSE_THROWS_AND_STAYS_OPEN
  }

  /**
   * A tenant DataSource over H2 that fails as told: its getConnection throws or returns null, or
   * its connections' close throws without closing (a driver that lost the connection's state).
   */
  private static DataSource faulty(String url, Fault fault) {
    JdbcDataSource h2 = new JdbcDataSource();
    h2.setURL(url);
    h2.setUser("sa");
    return (DataSource)
        Proxy.newProxyInstance(
            DataSource.class.getClassLoader(),
            new Class<?>[] {DataSource.class},
            (self, method, args) -> {
              if (!method.getName().equals("getConnection")) {
                return method.invoke(h2, args);
              }
              switch (fault) {
                case GET_THROWS:
                  throw new SQLTransientConnectionException("database unreachable", "08001");
                case GET_RETURNS_NULL:
                  return null;
                default:
                  Connection real = h2.getConnection();
                  return Proxy.newProxyInstance(
                      Connection.class.getClassLoader(),
                      new Class<?>[] {Connection.class},
                      (c, m, a) -> {
                        if (m.getName().equals("close")) {
                          throw new SQLException("close failed");
                        }
                        try {
                          return m.invoke(real, a);
                        } catch (InvocationTargetException e) {
                          throw e.getCause();
                        }
                      });
              }
            });
  }

  private TenantDataSource<String> faultyDataSource(Fault fault) {
    Pool<String, DataSource> pool =
        settings()
            .ttl(TTL)
            .build(
                tenant -> faulty(url(tenant), fault),
                closed -> CompletableFuture.completedFuture(null));
    CountingPool<String, DataSource> counting = track(new CountingPool<>(pool));
    faultyCounts = counting;
    return TenantDataSource.of(counting, () -> "a");
  }

  private CountingPool<String, DataSource> faultyCounts;

  @Test
  void aGetConnectionThatThrowsOrReturnsNullGivesTheLeaseBackAtOnce() {
    TenantDataSource<String> throwing = faultyDataSource(Fault.GET_THROWS);
    assertThatThrownBy(throwing::getConnection)
        .isInstanceOf(SQLTransientConnectionException.class)
        .hasMessage("database unreachable");
    assertThat(faultyCounts.leased).hasValue(1);
    assertThat(faultyCounts.open()).isZero();

    TenantDataSource<String> nulls = faultyDataSource(Fault.GET_RETURNS_NULL);
    assertThatThrownBy(nulls::getConnection)
        .isInstanceOf(SQLTransientConnectionException.class)
        .hasMessageContaining("returned no connection")
        .hasMessageContaining("key=a");
    assertThat(faultyCounts.leased).hasValue(1);
    assertThat(faultyCounts.open()).isZero();
  }

  @Test
  void aCloseThatThrowsStillClosesTheConnectionAndGivesTheLeaseBackOnce() throws Exception {
    TenantDataSource<String> ds = faultyDataSource(Fault.CLOSE_THROWS_AND_STAYS_OPEN);
    Connection c = ds.getConnection();
    Statement s = c.createStatement();
    assertThatThrownBy(c::close).isInstanceOf(SQLException.class).hasMessage("close failed");
    assertThat(faultyCounts.closeCalls).as("released despite the failure").hasValue(1);
    assertThat(c.isClosed()).isTrue();
    assertThatThrownBy(c::createStatement)
        .as("the real connection is still open; the wrapper is not")
        .isInstanceOf(SQLNonTransientConnectionException.class)
        .hasMessageContaining("is closed");
    assertThatThrownBy(() -> s.executeQuery("select 1")).isInstanceOf(SQLException.class);
    c.close();
    assertThat(faultyCounts.closeCalls).as("a second close does not close again").hasValue(1);
  }

  @Test
  void theRealConnectionGoesBackBeforeTheLeaseSoTheTenantsPoolNeverClosesUnderIt()
      throws Exception {
    List<String> events = new java.util.concurrent.CopyOnWriteArrayList<>();
    JdbcDataSource h2 = new JdbcDataSource();
    h2.setURL(url("order"));
    Pool<String, DataSource> zeroTtl =
        track(
            settings()
                .ttl(Duration.ZERO) // closes at the last release, on this thread (direct executor)
                .build(
                    tenant ->
                        (DataSource)
                            Proxy.newProxyInstance(
                                DataSource.class.getClassLoader(),
                                new Class<?>[] {DataSource.class},
                                (self, method, args) -> {
                                  Connection real = h2.getConnection();
                                  return Proxy.newProxyInstance(
                                      Connection.class.getClassLoader(),
                                      new Class<?>[] {Connection.class},
                                      (c, m, a) -> {
                                        if (m.getName().equals("close")) {
                                          events.add("connection returned");
                                        }
                                        return m.invoke(real, a);
                                      });
                                }),
                    closed -> {
                      events.add("tenant's pool closed");
                      return CompletableFuture.completedFuture(null);
                    }));
    Connection c = TenantDataSource.of(zeroTtl, () -> "order").getConnection();
    assertThat(events).isEmpty();
    c.close();
    assertThat(events).containsExactly("connection returned", "tenant's pool closed");
  }

  /** A value of each parameter type: zero, false or null. */
  private static Object dummy(Class<?> type) {
    if (type == boolean.class) {
      return false;
    }
    if (type == char.class) {
      return 'x';
    }
    if (type == long.class) {
      return 0L;
    }
    if (type == float.class) {
      return 0f;
    }
    if (type == double.class) {
      return 0d;
    }
    if (type == byte.class) {
      return (byte) 0;
    }
    if (type == short.class) {
      return (short) 0;
    }
    if (type == int.class) {
      return 0;
    }
    return null;
  }

  /**
   * Calls every method of {@code type} on {@code wrapper} except {@code allowed} and asserts each
   * throws {@link SQLException}; returns how many were called.
   */
  private static int assertEveryCallThrows(Object wrapper, Class<?> type, Set<String> allowed) {
    int called = 0;
    for (Method m : type.getMethods()) {
      if (Modifier.isStatic(m.getModifiers()) || allowed.contains(m.getName())) {
        continue;
      }
      Object[] args = new Object[m.getParameterCount()];
      for (int i = 0; i < args.length; i++) {
        args[i] = dummy(m.getParameterTypes()[i]);
      }
      assertThatThrownBy(
              () -> {
                try {
                  m.invoke(wrapper, args);
                } catch (InvocationTargetException e) {
                  throw e.getCause();
                }
              })
          .as("%s.%s after the connection's close", type.getSimpleName(), m.getName())
          .isInstanceOf(SQLException.class);
      called++;
    }
    return called;
  }

  @Test
  void afterCloseEveryMethodButCloseAndIsClosedThrowsOnTheConnectionAndAllItMade()
      throws Exception {
    TenantDataSource<String> ds = dataSource(() -> "a");
    Connection c = ds.getConnection();
    Statement s = c.createStatement();
    PreparedStatement ps = c.prepareStatement("select 1");
    CallableStatement cs = c.prepareCall("call 1");
    ResultSet rs = s.executeQuery("select 1");
    DatabaseMetaData md = c.getMetaData();
    ResultSet tables = md.getTables(null, null, "%", null);
    c.close();

    assertThat(c.isClosed()).isTrue();
    assertThat(c.isValid(1)).as("JDBC: false once closed").isFalse();
    c.abort(Runnable::run); // JDBC: does nothing once closed
    c.close();
    assertThat(tenants.closeCalls).hasValue(1);
    Set<String> closeAndIsClosed = Set.of("close", "isClosed");
    int called = assertEveryCallThrows(c, Connection.class, Set.of("close", "isClosed", "isValid",
        "abort"));
    called += assertEveryCallThrows(s, Statement.class, closeAndIsClosed);
    called += assertEveryCallThrows(ps, PreparedStatement.class, closeAndIsClosed);
    called += assertEveryCallThrows(cs, CallableStatement.class, closeAndIsClosed);
    called += assertEveryCallThrows(rs, ResultSet.class, closeAndIsClosed);
    called += assertEveryCallThrows(tables, ResultSet.class, closeAndIsClosed);
    // Metadata has no close: HikariCP's metadata wrapper would still answer from the physical
    // connection, back in the tenant's pool; ours does not.
    called +=
        assertEveryCallThrows(
            md, DatabaseMetaData.class, Set.of("getDriverMajorVersion", "getDriverMinorVersion"));
    assertThat(md.getDriverMajorVersion()).as("declares no exception: answered").isEqualTo(2);
    assertThat(called).isGreaterThan(1000);
    for (AutoCloseable closedWithIt : List.of(s, ps, cs, rs, tables)) {
      closedWithIt.close(); // JDBC: closing again does nothing
    }
    assertThat(s.isClosed()).isTrue();
    assertThat(rs.isClosed()).isTrue();
    assertThat(tables.isClosed()).isTrue();
  }

  @Test
  void unwrapAndIsWrapperForReachTheRealConnection() throws Exception {
    TenantDataSource<String> ds = dataSource(() -> "a");
    try (Connection c = ds.getConnection();
        Statement s = c.createStatement()) {
      assertThat(c.unwrap(Connection.class)).as("it is a Connection itself").isSameAs(c);
      assertThat(c.isWrapperFor(Connection.class)).isTrue();
      assertThat(c.isWrapperFor(JdbcConnection.class)).isTrue();
      assertThat(c.unwrap(JdbcConnection.class)).isInstanceOf(JdbcConnection.class);
      assertThat(c.isWrapperFor(HikariProxyConnection.class)).isTrue();
      assertThat(c.unwrap(HikariProxyConnection.class)).isInstanceOf(HikariProxyConnection.class);
      assertThat(c.isWrapperFor(java.sql.Array.class)).isFalse();
      assertThatThrownBy(() -> c.unwrap(java.sql.Array.class)).isInstanceOf(SQLException.class);
      assertThat(s.unwrap(Statement.class)).isSameAs(s);
      assertThat(s.unwrap(JdbcStatement.class)).isInstanceOf(JdbcStatement.class);
      assertThat(s.isWrapperFor(JdbcStatement.class)).isTrue();
    }
  }

  @Test
  void statementsResultSetsAndMetadataLeadBackToTheWrappersNeverTheRealObjects()
      throws Exception {
    TenantDataSource<String> ds = dataSource(() -> "a");
    try (Connection c = ds.getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("select 1");
        PreparedStatement ps = c.prepareStatement("select ?");
        CallableStatement cs = c.prepareCall("call 1")) {
      assertThat(s.getConnection()).isSameAs(c);
      assertThat(rs.getStatement()).isSameAs(s);
      assertThat(rs.next()).isTrue();
      assertThat(rs.getInt(1)).isEqualTo(1);
      ps.setInt(1, 42);
      try (ResultSet prs = ps.executeQuery()) {
        assertThat(prs.getStatement()).isSameAs(ps);
        assertThat(prs.next()).isTrue();
        assertThat(prs.getInt(1)).isEqualTo(42);
      }
      assertThat(ps.getConnection()).isSameAs(c);
      assertThat(cs.getConnection()).isSameAs(c);
      assertThat(s.execute("select 2")).isTrue();
      try (ResultSet more = s.getResultSet()) {
        assertThat(more.getStatement()).isSameAs(s);
      }
      DatabaseMetaData md = c.getMetaData();
      assertThat(md.getConnection()).isSameAs(c);
      try (ResultSet tables = md.getTables(null, null, "%", null)) {
        Statement maker = tables.getStatement();
        if (maker != null) {
          assertThat(maker.getConnection()).isSameAs(c);
        }
      }
      assertThat(c.toString()).contains("key=a");
      try (Connection b = ds.getConnection("b")) {
        assertThat(c).isEqualTo(c).isNotEqualTo(b).hasSameHashCodeAs(c);
      }
    }
    assertThat(tenants.open()).isZero();
  }

  @Test
  void aConnectionNeverClosedIsReportedByLeakDetectionAndItsTenantStillExpires() {
    Pool<String, HikariDataSource> pool =
        track(settings().ttl(TTL).leakDetection().buildCloseable(this::h2));
    TenantDataSource<String> ds = TenantDataSource.of(pool, () -> "leaky");
    leakAConnection(ds);
    await()
        .atMost(Duration.ofSeconds(20))
        .until(
            () -> {
              System.gc();
              return pool.stats().leakedLeases() == 1;
            });
    List<LoggingEvent> warnings =
        TestLoggerFactory.getTestLogger(Pool.class).getAllLoggingEvents().stream()
            .filter(e -> e.getLevel() == org.slf4j.event.Level.WARN)
            .toList();
    assertThat(warnings).hasSize(1);
    LoggingEvent warning = warnings.get(0);
    assertThat(warning.getLevel()).isEqualTo(org.slf4j.event.Level.WARN);
    assertThat(warning.getFormattedMessage()).contains("key leaky").contains("without close()");
    StringWriter trace = new StringWriter();
    warning.getThrowable().orElseThrow().printStackTrace(new PrintWriter(trace));
    assertThat(trace.toString())
        .as("the warning shows who took the connection")
        .contains("TenantDataSource.getConnection")
        .contains("leakAConnection");
    scheduler.advance(TTL.multipliedBy(2));
    assertThat(only().isClosed()).as("the leaked share was given back; it expired").isTrue();
  }

  private static void leakAConnection(TenantDataSource<String> ds) {
    try {
      ds.getConnection(); // never closed
    } catch (SQLException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void failuresToLeaseTheTenantsDataSourceAreSqlExceptionsAndKeepNoLease() {
    TenantDataSource<String> ds = dataSource(() -> null);
    assertThatThrownBy(ds::getConnection)
        .isInstanceOf(SQLNonTransientConnectionException.class)
        .hasMessageContaining("no current tenant");
    assertThatThrownBy(() -> ds.getConnection((String) null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("tenant");
    assertThatThrownBy(() -> TenantDataSource.of(null, () -> "a")).hasMessage("pool");
    assertThatThrownBy(() -> TenantDataSource.of(tenants, null)).hasMessage("currentTenant");
    assertThat(tenants.leased).hasValue(0);

    Pool<String, HikariDataSource> failing =
        track(
            settings()
                .ttl(TTL)
                .buildCloseable(
                    tenant -> {
                      throw new IllegalArgumentException("no database for " + tenant);
                    }));
    assertThatThrownBy(() -> TenantDataSource.of(failing, () -> "x").getConnection())
        .isInstanceOf(SQLTransientConnectionException.class)
        .hasMessageContaining("no database for x")
        .hasCauseInstanceOf(IllegalArgumentException.class)
        .extracting(e -> ((SQLException) e).getSQLState())
        .isEqualTo("08001");

    tenants.close();
    assertThatThrownBy(() -> ds.getConnection("a"))
        .isInstanceOf(SQLNonTransientConnectionException.class)
        .hasMessageContaining("closed")
        .hasCauseInstanceOf(IllegalStateException.class);
  }

  @Test
  void theLoginTimeoutBoundsTheWaitForATenantsDataSource() throws Exception {
    CountDownLatch factoryMayFinish = new CountDownLatch(1);
    Pool<String, HikariDataSource> slow =
        track(
            Pool.newBuilder()
                .buildCloseable(
                    (String tenant) -> {
                      try {
                        factoryMayFinish.await(10, TimeUnit.SECONDS);
                      } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                      }
                      return h2(tenant);
                    }));
    TenantDataSource<String> ds = TenantDataSource.of(slow, () -> "slow");
    assertThat(ds.getLoginTimeout()).isZero();
    ds.setLoginTimeout(1);
    long start = System.nanoTime();
    assertThatThrownBy(ds::getConnection)
        .isInstanceOf(SQLTransientConnectionException.class)
        .hasCauseInstanceOf(TimeoutException.class);
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(
        Duration.ofMillis(900), Duration.ofSeconds(5));
    factoryMayFinish.countDown();
    try (Connection c = ds.getConnection()) {
      assertThat(c.isValid(1)).isTrue();
    }
    assertThatThrownBy(() -> ds.setLoginTimeout(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("loginTimeout must not be negative: -1");
  }

  @Test
  void theDataSourceItselfWrapsNothingAndHasNoLog() throws Exception {
    TenantDataSource<String> ds = dataSource(() -> "a");
    assertThat(ds.isWrapperFor(DataSource.class)).isTrue();
    assertThat(ds.unwrap(TenantDataSource.class)).isSameAs(ds);
    assertThat(ds.isWrapperFor(HikariDataSource.class)).isFalse();
    assertThatThrownBy(() -> ds.unwrap(HikariDataSource.class)).isInstanceOf(SQLException.class);
    assertThat(ds.getLogWriter()).isNull();
    assertThatThrownBy(() -> ds.setLogWriter(new PrintWriter(new StringWriter())))
        .isInstanceOf(SQLFeatureNotSupportedException.class);
    assertThatThrownBy(ds::getParentLogger).isInstanceOf(SQLFeatureNotSupportedException.class);
    assertThat(ds.toString()).contains("test-pool");
    assertThat(made).as("none of this leased a tenant").isEmpty();
  }

  @Test
  void manyThreadsOnSeveralTenantsBalanceTheirLeasesAndEveryTenantExpiresAfterwards()
      throws Exception {
    TenantDataSource<String> ds = dataSource(() -> "a");
    ExecutorService threads = Executors.newFixedThreadPool(4);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        int thread = t;
        done.add(
            threads.submit(
                () -> {
                  for (int i = 0; i < 100; i++) {
                    String tenant = "t" + (i + thread) % 3;
                    try (Connection c = ds.getConnection(tenant);
                        PreparedStatement ps = c.prepareStatement("select ?")) {
                      ps.setString(1, tenant);
                      try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        assertThat(rs.getString(1)).isEqualTo(tenant);
                      }
                    }
                  }
                  return null;
                }));
      }
      for (Future<?> f : done) {
        f.get(30, TimeUnit.SECONDS);
      }
    } finally {
      threads.shutdownNow();
    }
    assertThat(tenants.leased).hasValue(400);
    assertThat(tenants.open()).isZero();
    assertThat(made).hasSize(3);
    scheduler.advance(TTL.multipliedBy(2));
    assertThat(made).allMatch(HikariDataSource::isClosed);
  }
}
