package dev.asyncpool.examples;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import dev.asyncpool.PoolBuilder;
import dev.asyncpool.PoolStats;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A simulated multi-tenant service: one HikariCP connection pool per tenant, pooled by asyncpool
 * with a short TTL, driven by Zipf-distributed tenant traffic from several threads. A few hot
 * tenants keep their pools; the long tail's pools are closed once idle for the TTL and come back
 * on their next request, so {@code created} keeps growing beyond {@code live}.
 *
 * <p>Run it with {@code ./mvnw -q -Pdemo}. System properties (all optional):
 *
 * <ul>
 *   <li>{@code demo.seconds} (20), {@code demo.tenants} (200), {@code demo.threads} (8), {@code
 *       demo.rps} (total requests per second, 1000; 0 = as fast as possible), {@code demo.zipf}
 *       (exponent, 1.1), {@code demo.ttlMillis} (2000), {@code demo.maxInstances} (0: no bound;
 *       e.g. 100 with {@code demo.tenants=5000} shows live never above 100, with evictions and
 *       waits)
 *   <li>{@code demo.jdbcUrl}: a JDBC URL template whose {@code %s} receives the tenant's name
 *       (default {@code jdbc:h2:mem:%s;DB_CLOSE_DELAY=-1}, embedded H2). For PostgreSQL, e.g.
 *       {@code -Ddemo.jdbcUrl=jdbc:postgresql://localhost/db_%s -Ddemo.user=.. -Ddemo.password=..};
 *       the databases ({@code "db_tenant-1"} ... ) must exist. Each tenant's table is created on
 *       first use. {@code ASYNCPOOL_PG_DEMO_TENANTS=50 bash .ci/postgres start} starts a
 *       throwaway server with them; the README's JDBC section has the whole run.
 * </ul>
 */
public final class TenantDemo {

  /** The demo's settings, read from system properties. */
  public record Config(
      int seconds,
      int tenants,
      int threads,
      int rps,
      double zipf,
      Duration ttl,
      String jdbcUrl,
      String user,
      String password) {

    public static Config fromSystemProperties() {
      return new Config(
          Integer.getInteger("demo.seconds", 20),
          Integer.getInteger("demo.tenants", 200),
          Integer.getInteger("demo.threads", 8),
          Integer.getInteger("demo.rps", 1000),
          Double.parseDouble(System.getProperty("demo.zipf", "1.1")),
          Duration.ofMillis(Long.getLong("demo.ttlMillis", 2000)),
          System.getProperty("demo.jdbcUrl", "jdbc:h2:mem:%s;DB_CLOSE_DELAY=-1"),
          System.getProperty("demo.user", "sa"),
          System.getProperty("demo.password", ""));
    }

    public String urlOf(String tenant) {
      return String.format(jdbcUrl, tenant);
    }
  }

  /** The tenants' connection pools: what the service would have, one per tenant. */
  public static final class Tenants {
    private final Config config;
    /** Every DataSource ever made, so the demo and its test can check they were all closed. */
    public final Queue<HikariDataSource> made = new ConcurrentLinkedQueue<>();

    public Tenants(Config config) {
      this.config = config;
    }

    /** The pool factory: a small HikariCP pool for one tenant, with its table in place. */
    public HikariDataSource dataSource(String tenant) {
      HikariConfig hc = new HikariConfig();
      hc.setPoolName(tenant);
      hc.setJdbcUrl(config.urlOf(tenant));
      hc.setUsername(config.user());
      hc.setPassword(config.password());
      hc.setMaximumPoolSize(2);
      hc.setMinimumIdle(1);
      hc.setConnectionTimeout(5_000);
      HikariDataSource ds = new HikariDataSource(hc);
      made.add(ds);
      try (Connection c = ds.getConnection();
          Statement s = c.createStatement()) {
        s.execute("CREATE TABLE IF NOT EXISTS tenant_info (id INT PRIMARY KEY, name VARCHAR(64))");
        try (ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM tenant_info")) {
          rs.next();
          if (rs.getInt(1) == 0) {
            try (PreparedStatement ins =
                c.prepareStatement("INSERT INTO tenant_info (id, name) VALUES (1, ?)")) {
              ins.setString(1, tenant);
              ins.executeUpdate();
            }
          }
        }
      } catch (SQLException | RuntimeException e) {
        ds.close();
        throw new IllegalStateException("cannot set up " + tenant + ": " + e.getMessage(), e);
      }
      return ds;
    }

    /** The tiny query each request runs. */
    public static String query(HikariDataSource ds) throws SQLException {
      try (Connection c = ds.getConnection();
          PreparedStatement ps = c.prepareStatement("SELECT name FROM tenant_info WHERE id = 1");
          ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }

    public long stillOpen() {
      return made.stream().filter(ds -> !ds.isClosed()).count();
    }
  }

  /** Zipf-distributed ranks 1..n, sampled by binary search over a precomputed CDF. */
  static final class Zipf {
    private final double[] cdf;

    Zipf(int n, double exponent) {
      cdf = new double[n];
      double sum = 0;
      for (int k = 1; k <= n; k++) {
        sum += 1 / Math.pow(k, exponent);
        cdf[k - 1] = sum;
      }
      for (int i = 0; i < n; i++) {
        cdf[i] /= sum;
      }
    }

    int next() {
      double u = ThreadLocalRandom.current().nextDouble();
      int lo = 0;
      int hi = cdf.length - 1;
      while (lo < hi) {
        int mid = (lo + hi) >>> 1;
        if (cdf[mid] < u) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      return lo + 1;
    }
  }

  /**
   * A latency histogram in microseconds: 1 µs buckets below 1 ms, 100 µs buckets up to 100 ms,
   * one overflow bucket.
   */
  static final class Histogram {
    private static final int FINE = 1000;
    private static final int COARSE = 990;
    private final AtomicLongArray counts = new AtomicLongArray(FINE + COARSE + 1);
    private final AtomicLong max = new AtomicLong();

    void record(long micros) {
      int i =
          micros < FINE
              ? (int) micros
              : (int) Math.min(FINE + (micros - FINE) / 100, FINE + COARSE);
      counts.incrementAndGet(i);
      max.accumulateAndGet(micros, Math::max);
    }

    /** Moves this histogram's counts into {@code into}, leaving this one empty. */
    void drainInto(Histogram into) {
      for (int i = 0; i < counts.length(); i++) {
        long n = counts.getAndSet(i, 0);
        if (n != 0) {
          into.counts.addAndGet(i, n);
        }
      }
      into.max.accumulateAndGet(max.getAndSet(0), Math::max);
    }

    long count() {
      long n = 0;
      for (int i = 0; i < counts.length(); i++) {
        n += counts.get(i);
      }
      return n;
    }

    /** The upper bound in µs of the bucket holding the {@code q} quantile. */
    long quantile(double q) {
      long total = count();
      if (total == 0) {
        return 0;
      }
      long rank = (long) Math.ceil(q * total);
      long seen = 0;
      for (int i = 0; i < counts.length(); i++) {
        seen += counts.get(i);
        if (seen >= rank) {
          return i < FINE ? i + 1 : i == FINE + COARSE ? max.get() : FINE + (i - FINE + 1) * 100L;
        }
      }
      return max.get();
    }

    long max() {
      return max.get();
    }
  }

  /** What a run measured, for the summary and for tests. */
  public record Result(
      long requests, long failures, PoolStats stats, long dataSourcesMade, long stillOpenAfterClose) {}

  public static void main(String[] args) throws InterruptedException {
    Config config = Config.fromSystemProperties();
    if (args.length > 0) {
      config =
          new Config(
              Integer.parseInt(args[0]),
              config.tenants(),
              config.threads(),
              config.rps(),
              config.zipf(),
              config.ttl(),
              config.jdbcUrl(),
              config.user(),
              config.password());
    }
    Result r = run(config, true);
    if (r.stillOpenAfterClose() != 0 || r.failures() != 0) {
      throw new AssertionError("demo failed: " + r);
    }
  }

  public static Result run(Config config, boolean print) throws InterruptedException {
    Tenants tenants = new Tenants(config);
    Zipf zipf = new Zipf(config.tenants(), config.zipf());
    Histogram window = new Histogram();
    Histogram total = new Histogram();
    AtomicLong requests = new AtomicLong();
    AtomicLong failures = new AtomicLong();
    if (print) {
      System.out.printf(
          "%d tenants (Zipf %.2f), %d threads, %s req/s, TTL %d ms, %d s, on %s%n",
          config.tenants(),
          config.zipf(),
          config.threads(),
          config.rps() == 0 ? "unthrottled" : String.valueOf(config.rps()),
          config.ttl().toMillis(),
          config.seconds(),
          config.urlOf("<tenant>"));
    }

    // -Ddemo.maxInstances=100: at most that many tenant pools exist at once (0: no bound).
    int maxInstances = Integer.getInteger("demo.maxInstances", 0);
    PoolBuilder<Object, Object> builder =
        Pool.newBuilder().ttl(config.ttl()).name("tenant-dbs").recordStats();
    if (maxInstances > 0) {
      builder.maxInstances(maxInstances);
    }
    Pool<String, HikariDataSource> pool = builder.buildCloseable(tenants::dataSource);
    long mostLive = 0;
    long start = System.nanoTime();
    long end = start + TimeUnit.SECONDS.toNanos(config.seconds());
    List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < config.threads(); t++) {
      Thread w =
          new Thread(
              () -> work(pool, zipf, config, end, window, requests, failures), "client-" + t);
      w.setDaemon(true);
      w.start();
      workers.add(w);
    }

    long lastRequests = 0;
    for (int second = 1; System.nanoTime() < end; second++) {
      long due = start + TimeUnit.SECONDS.toNanos(second);
      long wait;
      while ((wait = Math.min(due, end) - System.nanoTime()) > 0) {
        TimeUnit.NANOSECONDS.sleep(wait);
      }
      Histogram thisSecond = new Histogram();
      window.drainInto(thisSecond);
      long p99 = thisSecond.quantile(0.99);
      thisSecond.drainInto(total);
      long n = requests.get();
      PoolStats s = pool.stats();
      // Under a bound, what exists is weightInUse (each tenant weighs 1); live also counts the
      // keys still waiting for room, which hold no instance yet.
      long existing = maxInstances > 0 ? s.weightInUse() : s.live();
      mostLive = Math.max(mostLive, existing);
      if (print && maxInstances > 0) {
        System.out.printf(
            "t=%3ds  %7d req/s  live %3d/%d  created %4d  expired %4d  evicted %4d  waiting %3d"
                + "  lease p99 %6d us%n",
            second, n - lastRequests, existing, maxInstances, s.creations(), s.expirations(),
            s.evictions(), s.waiting(), p99);
      } else if (print) {
        System.out.printf(
            "t=%3ds  %7d req/s  live %3d  created %4d  expired %4d  lease p99 %6d us%n",
            second, n - lastRequests, s.live(), s.creations(), s.expirations(),
            p99);
      }
      lastRequests = n;
    }
    for (Thread w : workers) {
      w.join();
    }
    window.drainInto(total);
    PoolStats before = pool.stats();
    pool.close();
    PoolStats after = pool.stats();
    long stillOpen = tenants.stillOpen();
    double secs = (System.nanoTime() - start) / 1e9;
    if (print) {
      String f = "  %-38s %12s%n";
      System.out.println();
      System.out.println("  summary");
      System.out.printf(f, "requests", requests.get());
      System.out.printf(f, "requests/s", String.format("%.0f", requests.get() / secs));
      System.out.printf(f, "failed requests", failures.get());
      System.out.printf(f, "lease hits / misses", before.hits() + " / " + before.misses());
      System.out.printf(f, "tenant pools created", before.creations());
      System.out.printf(f, "  of which failed", before.creationFailures());
      System.out.printf(f, "tenant pools expired (idle > TTL)", before.expirations());
      System.out.printf(f, "tenant pools live at the end", before.live());
      System.out.printf(f, "most tenant pools live (each second)", mostLive);
      if (maxInstances > 0) {
        System.out.printf(f, "  bound (demo.maxInstances)", maxInstances);
        System.out.printf(f, "tenant pools evicted to make room", before.evictions());
      }
      System.out.printf(f, "tenant pools closed by pool.close()", after.closes() - before.closes());
      System.out.printf(f, "tenant pools closed in all", after.closes());
      System.out.printf(f, "close failures", after.closeFailures());
      System.out.printf(f, "HikariDataSources still open", stillOpen);
      System.out.printf(f, "lease p50 / p99 / p99.9 (us)",
          total.quantile(0.5) + " / " + total.quantile(0.99) + " / " + total.quantile(0.999));
      System.out.printf(f, "lease max (us)", total.max());
    }
    return new Result(requests.get(), failures.get(), after, tenants.made.size(), stillOpen);
  }

  private static void work(
      Pool<String, HikariDataSource> pool,
      Zipf zipf,
      Config config,
      long end,
      Histogram latencies,
      AtomicLong requests,
      AtomicLong failures) {
    long interval =
        config.rps() == 0 ? 0 : TimeUnit.SECONDS.toNanos(1) * config.threads() / config.rps();
    long next = System.nanoTime();
    while (true) {
      if (interval > 0) {
        next += interval;
        long wait = next - System.nanoTime();
        if (wait > 0) {
          LockSupport.parkNanos(wait);
        }
      }
      if (System.nanoTime() >= end) {
        return;
      }
      String tenant = "tenant-" + zipf.next();
      long t0 = System.nanoTime();
      try (Lease<HikariDataSource> lease = pool.get(tenant)) {
        latencies.record((System.nanoTime() - t0) / 1000);
        if (!tenant.equals(Tenants.query(lease.get()))) {
          throw new IllegalStateException("wrong tenant's data");
        }
      } catch (Exception e) {
        if (failures.incrementAndGet() <= 5) {
          System.err.println(tenant + ": " + e);
        }
      }
      requests.incrementAndGet();
    }
  }
}
