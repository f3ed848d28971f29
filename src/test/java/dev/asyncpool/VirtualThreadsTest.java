package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

/**
 * 10,000 virtual threads lease cold keys whose open is slow: all complete, one creation per key,
 * and JFR records no pinned carrier thread. Needs JDK 21+ (CI also runs the suite on JDK 25);
 * skipped on older JDKs. Compiled for Java 17, so virtual threads are reached by reflection.
 */
class VirtualThreadsTest {

  @Test
  void tenThousandVirtualThreadsOnSlowColdKeys() throws Exception {
    assumeTrue(Runtime.version().feature() >= 21, "virtual threads need JDK 21+");
    ExecutorService virtualThreads =
        (ExecutorService) Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);

    int keys = 100;
    int threads = 10_000;
    ConcurrentHashMap<String, AtomicInteger> creations = new ConcurrentHashMap<>();
    Pool<String, TestResource> pool =
        Pool.newBuilder()
            .ttl(Duration.ofMinutes(1))
            .build(key -> {
                  creations.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
                  TestResource r = new TestResource(key);
                  r.onOpen =
                      () ->
                          CompletableFuture.runAsync(
                              () -> {},
                              CompletableFuture.delayedExecutor(50, TimeUnit.MILLISECONDS));
                  return r;
                });

    // Initialize the classes the test's own resource uses (TestResource, the JDK's delayed
    // executor) before the recording: virtual threads racing through a class's first use wait
    // for its initialization pinned, which JFR reports (seen on JDK 25, about one run in four).
    // The same holds for the first run through the pool's own code (its classes, and the
    // VarHandle call sites that link on first use: seen about one run in eight): one lease on a
    // throwaway pool, on this platform thread, takes it. The promise is about leasing, not about
    // the JVM loading asyncpool.
    new TestResource("warm-up").onOpen.get().toCompletableFuture().get(10, TimeUnit.SECONDS);
    CompletableFuture.runAsync(() -> {}, CompletableFuture.delayedExecutor(1, TimeUnit.MILLISECONDS))
        .get(10, TimeUnit.SECONDS);
    try (Pool<String, TestResource> warmUp = Pool.newBuilder().build(TestResource::new)) {
      warmUp.get("warm-up").close();
      warmUp.acquire("warm-up").get(10, TimeUnit.SECONDS).close();
    }

    Path jfr = Files.createTempFile("asyncpool-pinned", ".jfr");
    List<RecordedEvent> pinned = new ArrayList<>();
    try (Recording recording = new Recording()) {
      recording.enable("jdk.VirtualThreadPinned").withThreshold(Duration.ZERO).withStackTrace();
      recording.start();
      List<Future<String>> results = new ArrayList<>();
      try {
        for (int i = 0; i < threads; i++) {
          String key = "tenant-" + (i % keys);
          results.add(
              virtualThreads.submit(
                  () -> {
                    try (Lease<TestResource> lease = pool.get(key)) {
                      return (String) lease.get().key;
                    }
                  }));
        }
        for (int i = 0; i < threads; i++) {
          assertThat(results.get(i).get(60, TimeUnit.SECONDS)).isEqualTo("tenant-" + (i % keys));
        }
      } finally {
        virtualThreads.shutdown();
        assertThat(virtualThreads.awaitTermination(60, TimeUnit.SECONDS)).isTrue();
      }
      recording.stop();
      recording.dump(jfr);
      for (RecordedEvent event : RecordingFile.readAllEvents(jfr)) {
        if (event.getEventType().getName().equals("jdk.VirtualThreadPinned")) {
          pinned.add(event);
        }
      }
    } finally {
      Files.deleteIfExists(jfr);
    }
    assertThat(creations).hasSize(keys);
    assertThat(creations.values()).allSatisfy(count -> assertThat(count).hasValue(1));
    assertThat(pinned).as("pinned carrier threads").isEmpty();
    pool.closeAsync().get(30, TimeUnit.SECONDS);
  }
}
