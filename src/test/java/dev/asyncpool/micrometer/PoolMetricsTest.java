package dev.asyncpool.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;

import com.github.valfirst.slf4jtest.LoggingEvent;
import com.github.valfirst.slf4jtest.TestLoggerFactory;
import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import dev.asyncpool.PoolStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

/** Issue 6: the Micrometer binder publishes what {@link Pool#stats()} counts. */
class PoolMetricsTest {

  static final class Resource implements AsyncResource {
    final String key;

    Resource(String key) {
      if (key.startsWith("bad")) {
        throw new IllegalStateException("no such tenant: " + key);
      }
      this.key = key;
    }

    @Override
    public CompletionStage<Void> openAsync() {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      return key.startsWith("fragile")
          ? CompletableFuture.failedFuture(new IllegalStateException("close failed"))
          : CompletableFuture.completedFuture(null);
    }
  }

  final MeterRegistry registry = new SimpleMeterRegistry();
  Pool<String, Resource> pool;

  @BeforeEach
  void clearTheLog() {
    TestLoggerFactory.clearAll();
  }

  @AfterEach
  void closePool() {
    if (pool != null) {
      pool.closeAsync();
    }
  }

  double counter(String name, String... tags) {
    return registry.get(name).tags("pool", "tenants").tags(tags).functionCounter().count();
  }

  double gauge(String name) {
    return registry.get(name).tags("pool", "tenants").gauge().value();
  }

  @Test
  void figuresMatchThePoolsAfterLeasesCreationsExpiriesAndFailures() {
    pool =
        Pool.newBuilder()
            .ttl(Duration.ofSeconds(1))
            .executor(Runnable::run)
            .recordStats()
            .build(Resource::new);
    new PoolMetrics(pool, "tenants", Tags.of("app", "test"), Duration.ZERO).bindTo(registry);

    Lease<Resource> held = pool.get("a");
    pool.get("a").close();
    pool.get("b").close();
    pool.get("fragile").close();
    assertThatThrownBy(() -> pool.get("bad")).hasMessageContaining("no such tenant");
    assertThat(gauge("asyncpool.instances.live")).isEqualTo(3);
    assertThat(gauge("asyncpool.instances.idle")).isEqualTo(2);
    pool.invalidate("b");

    // b was invalidated; fragile expires (its close fails); a is still leased.
    await().atMost(Duration.ofSeconds(5)).until(() -> pool.stats().live() == 1);
    held.close();
    await().atMost(Duration.ofSeconds(5)).until(() -> pool.stats().live() == 0);

    PoolStats stats = pool.stats();
    assertThat(counter("asyncpool.leases", "result", "hit")).isEqualTo(stats.hits()).isEqualTo(1);
    assertThat(counter("asyncpool.leases", "result", "miss"))
        .isEqualTo(stats.misses())
        .isEqualTo(4);
    assertThat(counter("asyncpool.creations", "result", "success"))
        .isEqualTo(stats.creations())
        .isEqualTo(3);
    assertThat(counter("asyncpool.creations", "result", "failure"))
        .isEqualTo(stats.creationFailures())
        .isEqualTo(1);
    assertThat(counter("asyncpool.expirations")).isEqualTo(stats.expirations()).isEqualTo(2);
    assertThat(counter("asyncpool.invalidations")).isEqualTo(stats.invalidations()).isEqualTo(1);
    assertThat(counter("asyncpool.closes", "result", "success"))
        .isEqualTo(stats.closes())
        .isEqualTo(2);
    assertThat(counter("asyncpool.closes", "result", "failure"))
        .isEqualTo(stats.closeFailures())
        .isEqualTo(1);
    assertThat(counter("asyncpool.leases.leaked")).isZero();
    assertThat(gauge("asyncpool.instances.live")).isZero();
    assertThat(gauge("asyncpool.instances.idle")).isZero();
    assertThat(registry.get("asyncpool.expirations").tag("app", "test").functionCounter())
        .as("the given tags are on every meter")
        .isNotNull();
    // What the failure counters count, the pool also logged (slf4j-test captured it), once each.
    assertThat(TestLoggerFactory.getTestLogger(Pool.class).getAllLoggingEvents())
        .extracting(LoggingEvent::getLevel, LoggingEvent::getFormattedMessage)
        .containsExactlyInAnyOrder(
            tuple(Level.DEBUG, "asyncpool: creating the instance for key bad failed"),
            tuple(Level.WARN, "asyncpool: closing the instance for key fragile failed"));
  }

  @Test
  void registersSixteenMetersAllTaggedWithThePool() {
    pool = Pool.newBuilder().build(Resource::new);
    new PoolMetrics(pool, "tenants").bindTo(registry);
    assertThat(registry.getMeters()).hasSize(16);
    for (Meter meter : registry.getMeters()) {
      assertThat(meter.getId().getName()).startsWith("asyncpool.");
      assertThat(meter.getId().getTag("pool")).isEqualTo("tenants");
      assertThat(meter.getId().getDescription()).isNotBlank();
    }
    new PoolMetrics(pool, "tenants").bindTo(registry);
    assertThat(registry.getMeters()).as("binding again adds nothing").hasSize(16);
  }

  @Test
  void oneScrapeReadsOneSnapshot() {
    pool = Pool.newBuilder().build(Resource::new);
    new PoolMetrics(pool, "tenants").bindTo(registry);
    FunctionCounter misses =
        registry.get("asyncpool.leases").tags("result", "miss").functionCounter();
    assertThat(misses.count()).isZero();
    pool.get("a").close();
    // Within the snapshot's lifetime the figure may be stale; soon after it is fresh again.
    await().atMost(Duration.ofSeconds(5)).until(() -> misses.count() == 1);
  }

  @Test
  void refusesBadArguments() {
    pool = Pool.newBuilder().build(Resource::new);
    assertThatThrownBy(() -> new PoolMetrics(null, "x")).hasMessage("pool");
    assertThatThrownBy(() -> new PoolMetrics(pool, null)).hasMessage("name");
    assertThatThrownBy(() -> new PoolMetrics(pool, " "))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("name must not be blank: ' '");
    assertThatThrownBy(() -> new PoolMetrics(pool, "x").bindTo(null)).hasMessage("registry");
  }
}
