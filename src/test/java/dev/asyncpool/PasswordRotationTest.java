package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.pool.HikariPool.PoolInitializationException;
import dev.asyncpool.examples.TenantDemo.Tenants;
import dev.asyncpool.jdbc.TenantDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.event.Level;

/**
 * Issue 12: a tenant's database password is rotated with {@link Pool#refresh} while four threads
 * send requests, against real HikariCP over in-memory H2, and no request fails. The pool's factory
 * builds a {@code HikariDataSource} from the password the test holds at that moment. Once the
 * password is changed in the database, the old data source's connections keep working (H2 keeps
 * its sessions) but a new login with the old password fails: the refresh must swap in a data
 * source built with the new one, and close the old one only once nothing uses it.
 *
 * <p>A transaction opened through {@link TenantDataSource} before the rotation runs on after it:
 * the old data source must serve it, and close only once it is committed and closed.
 *
 * <p>The phases are counted in requests, not timed: {@value #PHASE} before the rotation, {@value
 * #PHASE} while the new data source is being made (its factory waits for them), {@value #PHASE}
 * after the refresh with the transaction still open, {@value #PHASE} after the old one closed. The
 * threads run on meanwhile, so most of the requests fall in the waits that are not the pool's: H2
 * delays a refused login by 250 ms or more, and the next accepted one by up to that again.
 */
@ExtendWith(PoolLog.Capture.class)
@Timeout(60) // a request or a refresh that hangs fails the test instead of the build
class PasswordRotationTest {

  private static final String TENANT = "acme";
  private static final String USER = "app";
  private static final int THREADS = 4;
  private static final int CONNECTIONS = 4;
  private static final int PHASE = 200;
  private static final long WAIT_SECONDS = 10;

  /** The tenant's database; its admin session keeps it alive and changes the password. */
  private String url;

  private Connection admin;

  /** The password the factory builds the next data source with: a secrets store's answer. */
  private final AtomicReference<String> password = new AtomicReference<>("v1");

  private final AtomicInteger factoryCalls = new AtomicInteger();
  private final List<HikariDataSource> made = new CopyOnWriteArrayList<>();
  private final List<String> refreshEvents = new CopyOnWriteArrayList<>();
  private final Load load = new Load();
  private Pool<String, HikariDataSource> pool;

  @BeforeEach
  void createTheTenantsDatabase() throws SQLException {
    url = "jdbc:h2:mem:rotation-" + UUID.randomUUID();
    admin = DriverManager.getConnection(url, "sa", "");
    try (Statement s = admin.createStatement()) {
      s.execute("CREATE USER " + USER + " PASSWORD 'v1' ADMIN");
      s.execute("CREATE TABLE tenant_info (id INT PRIMARY KEY, name VARCHAR(64))");
      s.execute("INSERT INTO tenant_info (id, name) VALUES (1, '" + TENANT + "')");
    }
    pool =
        Pool.newBuilder()
            .name("rotation")
            .recordStats()
            .listener(
                new PoolListener<String, HikariDataSource>() {
                  @Override
                  public void onRefreshed(
                      String key, HikariDataSource previous, HikariDataSource resource) {
                    refreshEvents.add(key + ": " + name(previous) + " -> " + name(resource));
                  }

                  @Override
                  public void onRefreshFailed(
                      String key, HikariDataSource resource, Throwable cause) {
                    refreshEvents.add(key + ": kept " + name(resource));
                  }
                })
            .buildCloseable(this::dataSource);
  }

  @AfterEach
  void closeEverything() throws Exception {
    load.stop();
    // Bounded: a pool whose shutdown never completes fails the test instead of hanging the build
    // (close() would join it, which no timeout can interrupt).
    pool.closeAsync().get(WAIT_SECONDS, TimeUnit.SECONDS);
    admin.close(); // the last session: the in-memory database goes with it
  }

  /**
   * The pool's factory: a HikariCP pool for {@code tenant}, logging in with the current password.
   * Every call after the first is a replacement, and waits until the old data source has served
   * {@value #PHASE} requests beside it, so that requests certainly run during the refresh.
   */
  private HikariDataSource dataSource(String tenant) {
    int n = factoryCalls.incrementAndGet();
    if (n > 1) {
      load.awaitRequests(PHASE);
    }
    HikariConfig config = new HikariConfig();
    config.setPoolName(tenant + "-" + n);
    config.setJdbcUrl(url);
    config.setUsername(USER);
    config.setPassword(password.get());
    config.setMaximumPoolSize(CONNECTIONS);
    config.setMinimumIdle(CONNECTIONS);
    config.setConnectionTimeout(5_000);
    // Fail fast: the constructor logs in once and throws if it cannot, so a wrong password fails
    // the factory, and so the refresh, instead of every later request. 1 ms is HikariCP's default;
    // it is set here because the test depends on it (0 or less would start a pool that cannot log
    // in, and a larger value would retry until it passed).
    config.setInitializationFailTimeout(1);
    HikariDataSource ds = new HikariDataSource(config);
    made.add(ds);
    return ds;
  }

  private static String name(HikariDataSource ds) {
    return ds.getPoolName();
  }

  @Test
  void aRefreshAfterThePasswordChangedRotatesItWithNoFailedRequest() throws Exception {
    HikariDataSource old = pool.apply(TENANT, ds -> ds);
    load.start();
    load.awaitRequests(PHASE);
    await().atMost(Duration.ofSeconds(WAIT_SECONDS))
        .until(() -> old.getHikariPoolMXBean().getTotalConnections() == CONNECTIONS);
    // A transaction that spans the rotation: it holds the old data source's lease throughout.
    TenantDataSource<String> tenants = TenantDataSource.of(pool, () -> TENANT);
    Connection spanning = tenants.getConnection(TENANT);
    spanning.setAutoCommit(false);
    assertThat(nameIn(spanning)).isEqualTo(TENANT);

    try (Statement s = admin.createStatement()) {
      s.execute("ALTER USER " + USER + " SET PASSWORD 'v2'");
    }
    password.set("v2");
    assertThatThrownBy(() -> DriverManager.getConnection(url, USER, "v1").close())
        .as("the old password logs in no more, so the old data source can open no connection")
        .isInstanceOfSatisfying(
            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("28000"));

    pool.refresh(TENANT).get(WAIT_SECONDS, TimeUnit.SECONDS);

    assertThat(made).hasSize(2);
    HikariDataSource fresh = made.get(1);
    load.expect(fresh);
    load.awaitRequests(PHASE); // the new one serves while the spanning transaction goes on
    boolean closedUnderLease = true;
    try {
      assertThat(nameIn(spanning)).isEqualTo(TENANT);
      spanning.commit();
      closedUnderLease = old.isClosed();
      spanning.close();
    } catch (SQLException | RuntimeException e) {
      load.failures.add(e); // a request too: the old data source was closed under it
    }
    await().atMost(Duration.ofSeconds(WAIT_SECONDS)).until(old::isClosed);
    load.awaitRequests(PHASE);
    load.stop();

    assertThat(load.failures).as("failed requests").isEmpty();
    assertThat(closedUnderLease).as("old one closed under the spanning transaction").isFalse();
    assertThat(load.unexpected).as("requests after the refresh that got the old one").hasValue(0);
    assertThat(load.uses.get(old).get()).isGreaterThanOrEqualTo(2 * PHASE);
    assertThat(load.uses.get(fresh).get()).isGreaterThanOrEqualTo(2 * PHASE);
    assertThat(load.uses).hasSize(2);
    assertThat(made).as("one data source per password").hasSize(2);
    assertThat(factoryCalls).hasValue(2);
    assertThat(fresh.isClosed()).isFalse();
    assertThat(refreshEvents).containsExactly("acme: acme-1 -> acme-2");
    PoolStats stats = pool.stats();
    assertThat(stats.refreshes()).isEqualTo(1);
    assertThat(stats.refreshFailures()).isZero();
    assertThat(PoolLog.lines(Level.WARN)).isEmpty();

    pool.closeAsync().get(WAIT_SECONDS, TimeUnit.SECONDS);
    assertThat(fresh.isClosed()).isTrue();
  }

  @Test
  void aRefreshWithAWrongPasswordFailsAndTheOldDataSourceServesOn() throws Exception {
    HikariDataSource old = pool.apply(TENANT, ds -> ds);
    load.expect(old);
    load.start();
    load.awaitRequests(PHASE);
    password.set("not-the-password"); // the secrets store is wrong; the database is unchanged

    CompletableFuture<Void> refreshed = pool.refresh(TENANT);

    assertThatThrownBy(() -> refreshed.get(WAIT_SECONDS, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause()
        .as("HikariCP's constructor failed on its login, with H2's refusal as the cause")
        .isInstanceOf(PoolInitializationException.class)
        .cause()
        .isInstanceOfSatisfying(
            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("28000"));
    load.awaitRequests(PHASE);
    load.stop();

    assertThat(load.failures).as("failed requests").isEmpty();
    assertThat(load.unexpected).as("requests that got another data source").hasValue(0);
    assertThat(load.uses.get(old).get()).isGreaterThanOrEqualTo(3 * PHASE);
    assertThat(factoryCalls).hasValue(2);
    assertThat(made).as("the second one failed in its constructor").containsExactly(old);
    assertThat(old.isClosed()).isFalse();
    HikariDataSource now = pool.apply(TENANT, ds -> ds);
    assertThat(now).isSameAs(old);
    assertThat(refreshEvents).containsExactly("acme: kept acme-1");
    assertThat(pool.stats().refreshFailures()).isEqualTo(1);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN rotation: refreshing key acme failed; its current instance stays in service"
                + " | PoolInitializationException");
  }

  private static String nameIn(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        var rs = s.executeQuery("SELECT name FROM tenant_info WHERE id = 1")) {
      return rs.next() ? rs.getString(1) : null;
    }
  }

  /**
   * {@value #THREADS} threads sending requests through {@code pool.apply} until stopped, each
   * request a query on a connection of the data source it leased. Counts what each data source
   * served and keeps every failure.
   */
  private final class Load {
    final Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
    final Map<HikariDataSource, AtomicInteger> uses = new ConcurrentHashMap<>();
    /** Requests that started once {@link #expected} was set and got another data source. */
    final AtomicInteger unexpected = new AtomicInteger();

    private volatile HikariDataSource expected;
    private volatile CountDownLatch watch = new CountDownLatch(0);
    private volatile boolean stop;
    private final ExecutorService threads = Executors.newFixedThreadPool(THREADS);
    private final List<Future<?>> running = new ArrayList<>();

    void start() {
      for (int t = 0; t < THREADS; t++) {
        running.add(threads.submit(this::run));
      }
    }

    /** Requests started from now on must get {@code ds}. */
    void expect(HikariDataSource ds) {
      expected = ds;
    }

    /** Waits until {@code n} more requests ended, failed or not. */
    void awaitRequests(int n) {
      CountDownLatch latch = new CountDownLatch(n);
      watch = latch;
      try {
        if (!latch.await(WAIT_SECONDS, TimeUnit.SECONDS)) {
          throw new AssertionError(
              (n - latch.getCount()) + " of " + n + " requests in " + WAIT_SECONDS + " s");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }

    private void run() {
      while (!stop) {
        HikariDataSource expect = expected;
        try {
          String name =
              pool.apply(
                  TENANT,
                  ds -> {
                    uses.computeIfAbsent(ds, k -> new AtomicInteger()).incrementAndGet();
                    if (expect != null && ds != expect) {
                      unexpected.incrementAndGet();
                    }
                    return Tenants.query(ds);
                  });
          assertThat(name).isEqualTo(TENANT);
        } catch (Exception | AssertionError e) {
          failures.add(e);
        }
        watch.countDown();
      }
    }

    /** Stops the threads once their requests end; idempotent. */
    void stop() throws Exception {
      stop = true;
      for (Future<?> f : running) {
        f.get(WAIT_SECONDS, TimeUnit.SECONDS);
      }
      threads.shutdownNow();
    }
  }
}
