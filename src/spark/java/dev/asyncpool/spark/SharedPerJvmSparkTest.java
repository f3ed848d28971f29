package dev.asyncpool.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.asyncpool.Pool;
import dev.asyncpool.examples.spark.SparkTenantWrites;
import dev.asyncpool.examples.spark.SparkTenantWrites.Event;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 on a real Spark in local mode ({@code local[4]}, one executor in this JVM): a job of
 * many short tasks, one per partition, writes each event through its tenant's client, leased from
 * a pool captured in the closure ({@link SparkTenantWrites#writePerTenant}). Spark deserializes
 * the closure once per task. Built {@code sharedPerJvm()}, the pool opens one client per tenant
 * for the whole job; without it, each task's copy opens its own, one per task and tenant. Either
 * way every client is closed once idle for the TTL, and nobody calls {@code close()}.
 *
 * <p>Runs only in the spark profile: {@code ./mvnw -B -Pspark test}.
 */
class SharedPerJvmSparkTest {

  static final Duration TTL = Duration.ofSeconds(3);
  static final int TENANTS = 4;
  static final int PARTITIONS = 48;
  static final int EVENTS = 4_800; // 100 per partition, every tenant in every partition

  static JavaSparkContext spark;

  @BeforeAll
  static void startSpark() {
    SparkConf conf =
        new SparkConf()
            .setMaster("local[4]")
            .setAppName("asyncpool-shared-per-jvm")
            .set("spark.ui.enabled", "false")
            .set("spark.ui.showConsoleProgress", "false")
            .set("spark.driver.host", "127.0.0.1")
            .set("spark.driver.bindAddress", "127.0.0.1");
    spark = new JavaSparkContext(conf);
  }

  @AfterAll
  static void stopSpark() {
    if (spark != null) {
      spark.close();
    }
  }

  @Test
  void oneClientPerTenantWithTheSettingOnePerTaskAndTenantWithout() {
    long started = System.nanoTime();
    Pool<String, Client> unshared =
        Pool.newBuilder().ttl(TTL).name("unshared").buildCloseable(new Factory("unshared"));
    Pool<String, Client> shared =
        Pool.newBuilder()
            .ttl(TTL)
            .name("shared")
            .sharedPerJvm()
            .buildCloseable(new Factory("shared"));
    JavaRDD<Event> events = spark.parallelize(events(), PARTITIONS);

    SparkTenantWrites.writePerTenant(events, unshared, Client::write);
    SparkTenantWrites.writePerTenant(events, shared, Client::write);
    long jobsNanos = System.nanoTime() - started;

    int tasks = Client.tasks("unshared");
    assertThat(tasks).as("one task per partition").isEqualTo(PARTITIONS);
    assertThat(Client.tasks("shared")).isEqualTo(PARTITIONS);
    for (int t = 0; t < TENANTS; t++) {
      String tenant = "tenant-" + t;
      assertThat(Client.created("unshared", tenant))
          .as("one per task for " + tenant)
          .hasSize(tasks);
      assertThat(Client.created("shared", tenant)).as("one for " + tenant).hasSize(1);
    }
    assertThat(Client.created("shared"))
        .as("the job ran within the TTL: no shared client had expired yet")
        .allSatisfy(client -> assertThat(client.closes).hasValue(0));
    assertThat(unshared.stats().creations()).as("the driver's own pool: unused").isZero();
    assertThat(shared.stats().creations())
        .as("local mode: the tasks' copies were the driver's very pool")
        .isEqualTo(TENANTS);

    List<Client> all = new ArrayList<>(Client.created("unshared"));
    all.addAll(Client.created("shared"));
    await()
        .atMost(TTL.plusSeconds(30))
        .pollInterval(Duration.ofMillis(50))
        .until(() -> all.stream().allMatch(client -> client.closes.get() > 0));
    long ttlNanos = TTL.toNanos();
    assertThat(all)
        .allSatisfy(client -> assertThat(client.closes).as(client.toString()).hasValue(1))
        .allSatisfy(
            client ->
                assertThat(client.closedAt - client.lastUse.get())
                    .as("closed once idle for the TTL: " + client)
                    .isGreaterThanOrEqualTo(ttlNanos));
    assertThat(shared.stats().expirations()).isEqualTo(TENANTS);

    System.out.printf(
        "spark local[4], %d tasks a job, %d tenants: clients created %d with sharedPerJvm(),"
            + " %d without (one per task and tenant)%n",
        tasks,
        TENANTS,
        Client.created("shared").size(),
        Client.created("unshared").size());
    System.out.printf(
        "all %d closed once, each >= %d s after its last use, none by close();"
            + " the jobs took %.1f s, the test %.1f s%n",
        all.size(),
        TTL.toSeconds(),
        jobsNanos / 1e9,
        (System.nanoTime() - started) / 1e9);
    shared.close(); // nothing left to close: the TTL closed everything
    unshared.close();
  }

  @Test
  void theExampleWritesEveryEventToItsTenantsDatabase() throws Exception {
    Map<String, Integer> rows = SparkTenantWrites.run(spark, 3, 1_200, 12);

    assertThat(rows)
        .containsExactlyInAnyOrderEntriesOf(
            Map.of("tenant-0", 400, "tenant-1", 400, "tenant-2", 400));
  }

  private static List<Event> events() {
    List<Event> events = new ArrayList<>();
    for (int i = 0; i < EVENTS; i++) {
      events.add(new Event("tenant-" + i % TENANTS, i));
    }
    return events;
  }

  /** Makes the clients of one pool, by label: serializable, as it travels with the pool. */
  record Factory(String label) implements Function<String, Client>, Serializable {
    @Override
    public Client apply(String tenant) {
      return new Client(label, tenant);
    }
  }

  /**
   * A tenant's client that remembers, in this JVM (local mode: the executor's), that it was made,
   * when it was last used, and when and how often it was closed.
   */
  static final class Client implements AutoCloseable {
    private static final Map<String, Queue<Client>> CREATED = new ConcurrentHashMap<>();
    private static final Map<String, Set<Long>> TASKS = new ConcurrentHashMap<>();

    final String label;
    final String tenant;
    final AtomicLong lastUse = new AtomicLong(System.nanoTime());
    final AtomicInteger closes = new AtomicInteger();
    volatile long closedAt;

    Client(String label, String tenant) {
      this.label = label;
      this.tenant = tenant;
      CREATED.computeIfAbsent(label, l -> new ConcurrentLinkedQueue<>()).add(this);
    }

    void write(Event event) {
      TASKS
          .computeIfAbsent(label, l -> ConcurrentHashMap.newKeySet())
          .add(TaskContext.get().taskAttemptId());
      lastUse.accumulateAndGet(System.nanoTime(), Math::max);
    }

    @Override
    public void close() {
      closedAt = System.nanoTime();
      closes.incrementAndGet();
    }

    static List<Client> created(String label) {
      return new ArrayList<>(CREATED.getOrDefault(label, new ConcurrentLinkedQueue<>()));
    }

    static List<Client> created(String label, String tenant) {
      return created(label).stream().filter(c -> c.tenant.equals(tenant)).toList();
    }

    static int tasks(String label) {
      return TASKS.getOrDefault(label, Set.of()).size();
    }

    @Override
    public String toString() {
      return "Client[" + label + ", " + tenant + ", closes=" + closes + "]";
    }
  }
}
