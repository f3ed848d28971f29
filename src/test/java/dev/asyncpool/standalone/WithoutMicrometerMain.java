package dev.asyncpool.standalone;

import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import dev.asyncpool.PoolListener;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Run by {@code WithoutMicrometerTest} in a JVM whose class path or module path holds asyncpool
 * and slf4j-api only: the whole core, listener included, works without Micrometer. Outside the
 * library's packages, so that it also runs beside the named module.
 */
public final class WithoutMicrometerMain {

  static final class Resource implements AsyncResource {
    @Override
    public CompletionStage<Void> openAsync() {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      return CompletableFuture.completedFuture(null);
    }
  }

  private WithoutMicrometerMain() {}

  public static void main(String[] args) {
    try {
      Class.forName("io.micrometer.core.instrument.MeterRegistry");
      System.out.println("micrometer is visible");
      System.exit(2);
    } catch (ClassNotFoundException expected) {
      // the point of this run
    }
    AtomicInteger events = new AtomicInteger();
    PoolListener<String, Resource> listener =
        new PoolListener<>() {
          @Override
          public void onOpened(String key, Resource resource, Duration openTime) {
            events.incrementAndGet();
          }

          @Override
          public void onClosed(String key, Resource resource, Duration closeTime) {
            events.incrementAndGet();
          }
        };
    try (Pool<String, Resource> pool =
        Pool.newBuilder().listener(listener).build(key -> new Resource())) {
      try (Lease<Resource> lease = pool.get("a")) {
        lease.get();
      }
      pool.stats();
    }
    System.out.println(
        "ok in module " + Pool.class.getModule().getName() + ", events=" + events.get());
  }
}
