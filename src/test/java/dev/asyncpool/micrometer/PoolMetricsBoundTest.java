package dev.asyncpool.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.Test;

/** The bound's figures reach Micrometer: evictions, requests waiting, weight in use. */
class PoolMetricsBoundTest {

  record Resource(String key) implements AsyncResource {
    @Override
    public CompletionStage<Void> closeAsync() {
      return CompletableFuture.completedFuture(null);
    }
  }

  @Test
  void evictionsWaitingAndWeightArePublished() {
    MeterRegistry registry = new SimpleMeterRegistry();
    try (Pool<String, Resource> pool =
        Pool.newBuilder()
            .name("bounded")
            .maxInstances(1)
            .ttl(Duration.ofMinutes(10))
            .executor(Runnable::run)
            .build(Resource::new)) {
      new PoolMetrics(pool, "bounded", io.micrometer.core.instrument.Tags.empty(), Duration.ZERO)
          .bindTo(registry);
      Lease<Resource> a = pool.get("a");
      CompletableFuture<Lease<Resource>> b = pool.acquire("b");
      assertThat(registry.get("asyncpool.requests.waiting").gauge().value()).isEqualTo(1);
      assertThat(registry.get("asyncpool.weight.used").gauge().value()).isEqualTo(1);
      a.close();
      await().atMost(Duration.ofSeconds(10)).until(b::isDone);
      b.join().close();
      assertThat(registry.get("asyncpool.evictions").functionCounter().count()).isEqualTo(1);
      assertThat(registry.get("asyncpool.requests.waiting").gauge().value()).isZero();
      assertThat(registry.get("asyncpool.weight.used").gauge().value()).isEqualTo(1);
    }
  }
}
