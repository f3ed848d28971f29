package dev.asyncpool.examples;

import dev.asyncpool.AsyncResource;
import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The example of asyncio-contextmanager-pool's README, in Java: one instance per argument, kept
 * for a TTL after its last use, closed when the pool closes. Run it with {@code ./mvnw -q -Pdemo}.
 */
public final class SeedExample {

  /** A dummy resource that knows how often it was opened and closed. */
  static final class Example implements AsyncResource {
    final String message;
    final AtomicInteger enterCalled = new AtomicInteger();
    final AtomicInteger exitCalled = new AtomicInteger();

    Example(String message) {
      this.message = message;
    }

    @Override
    public CompletionStage<Void> openAsync() {
      enterCalled.incrementAndGet();
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> closeAsync() {
      exitCalled.incrementAndGet();
      return CompletableFuture.completedFuture(null);
    }
  }

  public static void main(String[] args) throws InterruptedException {
    Example inst1;
    Example inst3;
    try (Pool<String, Example> pool =
        Pool.newBuilder().ttl(Duration.ofSeconds(1)).build(Example::new)) {
      try (Lease<Example> lease = pool.get("hello, world")) {
        inst1 = lease.get();
        check(inst1.message.equals("hello, world"), "the instance was made from its key");
      }
      check(inst1.exitCalled.get() == 0, "released, but still alive within its TTL");

      try (Lease<Example> lease = pool.get("hello, world")) {
        check(lease.get() == inst1, "the same key gives the exact same object");
      }

      Thread.sleep(1_500); // some time passes: more than the TTL

      try (Lease<Example> lease = pool.get("hello, world")) {
        inst3 = lease.get();
      }
      check(inst3 != inst1, "after the TTL, a new object");
      check(inst1.exitCalled.get() == 1, "and the old one was closed, once");
    }
    check(inst3.exitCalled.get() == 1, "closing the pool closed everything");
    System.out.println("seed example: all checks passed");
  }

  private static void check(boolean ok, String what) {
    System.out.println((ok ? "  ok   " : "  FAIL ") + what);
    if (!ok) {
      throw new AssertionError(what);
    }
  }
}
