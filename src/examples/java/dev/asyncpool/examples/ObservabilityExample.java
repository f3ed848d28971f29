package dev.asyncpool.examples;

import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import dev.asyncpool.PoolListener;
import dev.asyncpool.micrometer.PoolMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The README's "Observing it" section, compiled and run by the tests so that it cannot rot: a
 * listener that logs opens and failed closes, and a pool's statistics bound to Micrometer.
 */
public final class ObservabilityExample {

  private static final Logger log = LoggerFactory.getLogger(ObservabilityExample.class);

  /** A stand-in for a tenant's database client. */
  static final class TenantDb implements AsyncResource {
    final String tenant;

    TenantDb(String tenant) {
      this.tenant = tenant;
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      return CompletableFuture.completedFuture(null);
    }
  }

  private ObservabilityExample() {}

  /**
   * Leases two tenants' clients, then prints the figures Micrometer sees.
   *
   * @param args ignored
   * @return the registry, for the test to check
   */
  public static MeterRegistry run(String[] args) {
    MeterRegistry registry = new SimpleMeterRegistry();
    try (Pool<String, TenantDb> pool =
        Pool.newBuilder()
            .recordStats()
            .listener(
                new PoolListener<String, TenantDb>() {
                  @Override
                  public void onOpened(String tenant, TenantDb db, Duration took) {
                    log.info("{} connected in {} ms", tenant, took.toMillis());
                  }

                  @Override
                  public void onCloseFailed(
                      String tenant, TenantDb db, Throwable cause, Duration took) {
                    log.warn("{} did not close cleanly", tenant, cause);
                  }
                })
            .build(TenantDb::new)) {
      new PoolMetrics(pool, "tenant-dbs").bindTo(registry);
      for (String tenant : new String[] {"tenant-1", "tenant-2", "tenant-1"}) {
        try (Lease<TenantDb> lease = pool.get(tenant)) {
          log.info("serving {}", lease.get().tenant);
        }
      }
      System.out.println(
          "hits="
              + registry.get("asyncpool.leases").tag("result", "hit").functionCounter().count()
              + " misses="
              + registry.get("asyncpool.leases").tag("result", "miss").functionCounter().count()
              + " live="
              + registry.get("asyncpool.instances.live").gauge().value());
    }
    return registry;
  }

  public static void main(String[] args) {
    run(args);
  }
}
