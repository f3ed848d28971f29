package dev.asyncpool.examples.spark;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.Pool;
import java.io.Serializable;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * Writing per tenant from Spark: each partition writes its events to their tenant's database
 * through a pool captured in the {@code foreachPartition} closure. The pool is built {@code
 * sharedPerJvm()}, so the copy that each task deserializes is the executor's one live pool, and
 * every task on an executor leases the same {@code DataSource} per tenant instead of opening its
 * own. Each {@code DataSource} closes once idle for the TTL, so the executors need no shutdown
 * hook and no task calls {@code close()}.
 *
 * <pre>{@code
 * Pool<String, HikariDataSource> dbs = Pool.newBuilder()
 *     .ttl(Duration.ofSeconds(30))
 *     .sharedPerJvm()
 *     .buildCloseable((Function<String, HikariDataSource> & Serializable) Tenants::dataSource);
 * events.foreachPartition(partition -> {
 *   while (partition.hasNext()) {
 *     Event event = partition.next();
 *     dbs.accept(event.tenant(), ds -> insert(ds, event));
 *   }
 * });
 * }</pre>
 *
 * <p>It lives in {@code src/spark}, not {@code src/examples}: a plain build has no Spark, so this
 * compiles only in the spark profile, whose test runs it ({@code ./mvnw -B -Pspark test}). Each
 * tenant's database is an in-memory H2 database behind a small HikariCP pool.
 */
public final class SparkTenantWrites {

  /**
   * One event to write to its tenant's database.
   *
   * @param tenant the tenant
   * @param id the event's id, unique across tenants
   */
  public record Event(String tenant, long id) implements Serializable {}

  /**
   * Writes one event with its tenant's client. Serializable: it travels in the job's closure.
   *
   * @param <C> the client type
   */
  @FunctionalInterface
  public interface Writer<C> extends Serializable {
    /**
     * Writes {@code event}.
     *
     * @param client the tenant's client, leased for the call
     * @param event the event
     * @throws Exception if the write fails (Spark then retries the task)
     */
    void write(C client, Event event) throws Exception;
  }

  /** Opens a tenant's database; serializable, as the pool that carries it travels to the tasks. */
  private static final Function<String, HikariDataSource> TENANT_DATA_SOURCE =
      (Function<String, HikariDataSource> & Serializable) SparkTenantWrites::dataSource;

  private SparkTenantWrites() {}

  /**
   * The idiom: every partition writes each of its events through its tenant's client, leased
   * from {@code clients} for the one write. Spark serializes the closure, so each task has its own
   * copy of {@code clients}; built {@code sharedPerJvm()}, those copies are one pool per executor.
   *
   * @param events the events to write
   * @param clients a serializable pool of clients by tenant
   * @param writer writes one event with its tenant's client
   * @param <C> the client type
   */
  public static <C> void writePerTenant(
      JavaRDD<Event> events, Pool<String, C> clients, Writer<? super C> writer) {
    events.foreachPartition(
        partition -> {
          while (partition.hasNext()) {
            Event event = partition.next();
            clients.accept(event.tenant(), client -> writer.write(client, event));
          }
        });
  }

  /**
   * Writes {@code count} events of {@code tenants} tenants in {@code partitions} partitions to the
   * tenants' databases, then counts each tenant's rows through the same pool: in local mode the
   * executors are this JVM, so the tasks' copies were this very pool, and its {@code DataSource}s
   * are the ones they wrote with.
   *
   * @param spark the Spark context
   * @param tenants how many tenants
   * @param count how many events
   * @param partitions how many partitions, one task each
   * @return the rows in each tenant's database, by tenant
   * @throws SQLException if counting fails
   */
  public static Map<String, Integer> run(
      JavaSparkContext spark, int tenants, int count, int partitions) throws SQLException {
    List<Event> events = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      events.add(new Event("tenant-" + i % tenants, i));
    }
    try (Pool<String, HikariDataSource> dbs =
        Pool.newBuilder()
            .ttl(Duration.ofSeconds(30))
            .name("tenant-dbs")
            .sharedPerJvm()
            .buildCloseable(TENANT_DATA_SOURCE)) {
      writePerTenant(spark.parallelize(events, partitions), dbs, SparkTenantWrites::insert);
      Map<String, Integer> rows = new TreeMap<>();
      for (int t = 0; t < tenants; t++) {
        String tenant = "tenant-" + t;
        rows.put(tenant, dbs.apply(tenant, SparkTenantWrites::countRows));
      }
      return rows;
    }
  }

  /**
   * Runs the example in local mode and prints the rows per tenant.
   *
   * @param args ignored
   * @throws SQLException if the database fails
   */
  public static void main(String[] args) throws SQLException {
    SparkConf conf =
        new SparkConf()
            .setMaster("local[4]")
            .setAppName("asyncpool-tenant-writes")
            .set("spark.ui.enabled", "false");
    try (JavaSparkContext spark = new JavaSparkContext(conf)) {
      System.out.println("rows per tenant: " + run(spark, 4, 10_000, 40));
    }
  }

  /** A tenant's database: in-memory H2 behind a HikariCP pool of two connections. */
  static HikariDataSource dataSource(String tenant) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("spark-" + tenant);
    config.setJdbcUrl("jdbc:h2:mem:spark-" + tenant + ";DB_CLOSE_DELAY=-1");
    config.setUsername("sa");
    config.setMaximumPoolSize(2);
    HikariDataSource ds = new HikariDataSource(config);
    try (Connection c = ds.getConnection();
        Statement s = c.createStatement()) {
      s.execute("create table if not exists events(id bigint primary key, tenant varchar(64))");
    } catch (SQLException e) {
      ds.close();
      throw new IllegalStateException("cannot prepare the database of " + tenant, e);
    }
    return ds;
  }

  /** An upsert, so that a task Spark runs again writes nothing twice. */
  static void insert(HikariDataSource ds, Event event) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement s = c.prepareStatement("merge into events key(id) values (?, ?)")) {
      s.setLong(1, event.id());
      s.setString(2, event.tenant());
      s.executeUpdate();
    }
  }

  private static int countRows(HikariDataSource ds) throws SQLException {
    try (Connection c = ds.getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("select count(*) from events")) {
      rs.next();
      return rs.getInt(1);
    }
  }
}
