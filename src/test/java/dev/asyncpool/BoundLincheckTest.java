package dev.asyncpool;

import static dev.asyncpool.LincheckRaceTest.concurrently;

import dev.asyncpool.LincheckRaceTest.CheckedResource;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jetbrains.lincheck.Lincheck;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Model-checks the bound's races with Lincheck (see {@link LincheckRaceTest} for how): a waiter
 * against the last release of the instance it would evict, an eviction against a new lease of its
 * victim, and two cold keys racing for the last place. After each run: never more instances than
 * the bound (counted from the factory's call to the close), never one closed while leased, every
 * request served in the end, and every instance closed exactly once.
 */
@Tag("lincheck") // in Lincheck's own JVM, as LincheckRaceTest (see pom.xml)
class BoundLincheckTest {

  private static final int INVOCATIONS = LincheckRaceTest.INVOCATIONS;

  @BeforeAll
  static void instrumentFirst() {
    LincheckWarmUp.run();
  }

  /** A pool of at most {@code max} instances on a fake clock, counting what exists. */
  static final class Bounded {
    final FakeTicker ticker = new FakeTicker();
    final ManualScheduler scheduler = new ManualScheduler(ticker);
    final ConcurrentLinkedQueue<CheckedResource> created = new ConcurrentLinkedQueue<>();
    final AtomicInteger existing = new AtomicInteger();
    final AtomicInteger mostExisting = new AtomicInteger();
    final int max;
    final Pool<String, CheckedResource> pool;

    Bounded(int max) {
      this.max = max;
      pool =
          Pool.newBuilder()
              .ticker(ticker)
              .scheduler(scheduler)
              .executor(Runnable::run)
              .ttl(Duration.ofSeconds(60))
              .maxInstances(max)
              .name("lincheck-bound")
              .build(
                  key -> {
                    mostExisting.accumulateAndGet(existing.incrementAndGet(), Math::max);
                    CheckedResource r =
                        new CheckedResource(key) {
                          @Override
                          public java.util.concurrent.CompletionStage<Void> closeAsync() {
                            existing.decrementAndGet();
                            return super.closeAsync();
                          }
                        };
                    created.add(r);
                    return r;
                  });
    }

    /** Leases without blocking; checks and marks the instance held while the lease is open. */
    CompletableFuture<Lease<CheckedResource>> lease(String key) {
      return pool.acquire(key)
          .thenApply(
              lease -> {
                CheckedResource r = lease.get();
                r.held.incrementAndGet();
                check(r.closes.get() == 0, "handed out after its close began: " + r);
                return lease;
              });
    }

    static void release(Lease<CheckedResource> lease) {
      lease.get().held.decrementAndGet();
      lease.close();
    }

    /** Runs the scheduler until {@code lease} is served (room is made), then releases it. */
    void serveAndRelease(CompletableFuture<Lease<CheckedResource>> lease) {
      for (int i = 0; i < 10 && !lease.isDone(); i++) {
        scheduler.runDue();
      }
      check(lease.isDone() && !lease.isCompletedExceptionally(), "served once room was made");
      release(lease.join());
    }

    void shutDownAndCheck() {
      CompletableFuture<Void> closing = pool.closeAsync();
      check(closing.isDone() && !closing.isCompletedExceptionally(), "shutdown completed");
      check(mostExisting.get() <= max, "at most " + max + " existed, not " + mostExisting);
      for (CheckedResource r : created) {
        check(r.closes.get() == 1, "closed exactly once: " + r);
        check(!r.closedWhileHeld, "closed while a lease held it: " + r);
      }
    }

    static void check(boolean ok, String invariant) {
      if (!ok) {
        throw new AssertionError("violated: " + invariant);
      }
    }
  }

  @Test
  void aWaiterRacingTheLastReleaseOfItsVictim() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Bounded h = new Bounded(1);
          Lease<CheckedResource> a = h.lease("a").join();
          CheckedResource first = a.get();
          AtomicReference<CompletableFuture<Lease<CheckedResource>>> b = new AtomicReference<>();
          concurrently(() -> b.set(h.lease("b")), () -> Bounded.release(a));
          h.serveAndRelease(b.get());
          Bounded.check(first.closes.get() == 1, "a was evicted to make room for b");
          h.shutDownAndCheck();
        });
  }

  @Test
  void anEvictionRacingANewLeaseOfItsVictim() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Bounded h = new Bounded(1);
          Bounded.release(h.lease("a").join()); // a is idle
          CompletableFuture<Lease<CheckedResource>> b = h.lease("b"); // waits; eviction asked
          AtomicReference<CompletableFuture<Lease<CheckedResource>>> a =
              new AtomicReference<>();
          concurrently(h.scheduler::runDue, () -> a.set(h.lease("a")));
          // Either the lease got a (the eviction then waits for it, or took it first and the
          // lease waits behind b for a new a): serve everyone, one at a time.
          CompletableFuture<Lease<CheckedResource>> first = a.get().isDone() ? a.get() : b;
          CompletableFuture<Lease<CheckedResource>> second = first == b ? a.get() : b;
          h.serveAndRelease(first);
          h.serveAndRelease(second);
          h.shutDownAndCheck();
        });
  }

  @Test
  void twoColdKeysRacingForTheLastPlace() {
    Lincheck.runConcurrentTest(
        INVOCATIONS,
        () -> {
          Bounded h = new Bounded(1);
          AtomicReference<CompletableFuture<Lease<CheckedResource>>> a = new AtomicReference<>();
          AtomicReference<CompletableFuture<Lease<CheckedResource>>> b = new AtomicReference<>();
          concurrently(() -> a.set(h.lease("a")), () -> b.set(h.lease("b")));
          Bounded.check(a.get().isDone() != b.get().isDone(), "exactly one got the place");
          CompletableFuture<Lease<CheckedResource>> first = a.get().isDone() ? a.get() : b.get();
          h.serveAndRelease(first);
          h.serveAndRelease(first == a.get() ? b.get() : a.get());
          Bounded.check(h.created.size() == 2, "one creation per key");
          h.shutDownAndCheck();
        });
  }
}
