package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PoolBuilder#sharedPerJvm()} in a fresh JVM, as on a Spark executor: eight copies of a pool
 * deserialized there at once end as one live pool with one instance per key; a copy read after a
 * close there starts a new live pool; and the identity survives the trip, so a copy the child
 * sends back is the parent's own pool.
 */
class SharedPerJvmForkedTest {

  @Test
  void copiesInAFreshJvmShareOneLivePool(@TempDir Path dir) throws Exception {
    Pool<String, TestResource> original =
        Pool.newBuilder()
            .ttl(Duration.ofSeconds(30))
            .name("tenants")
            .sharedPerJvm()
            .build(factoryThatNamesOtherJvms());
    Lease<TestResource> held = original.get("tenant-1");
    TestResource mine = held.get();
    Path out = dir.resolve("pool.ser");
    Path back = dir.resolve("back.ser");
    try (ObjectOutputStream stream = new ObjectOutputStream(Files.newOutputStream(out))) {
      stream.writeObject(original);
    }

    Process child =
        new ProcessBuilder(
                Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Dslf4j.provider=org.slf4j.simple.SimpleServiceProvider",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
                ChildMain.class.getName(),
                out.toString(),
                back.toString())
            .redirectErrorStream(true)
            .start();
    assertThat(child.waitFor(60, TimeUnit.SECONDS)).as("child finished").isTrue();
    String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.exitValue()).as(output).isZero();

    assertThat(output)
        .contains("child: 8 copies, 1 pool(s), 1 instance(s), creations=1")
        .contains("child: after a close, the next copy is a new, empty pool: true")
        .contains("child: and the copy after it joins that one: true");
    assertThat(output.split("factory ran in pid " + child.pid(), -1))
        .as("the factory ran once in the child: " + output)
        .hasSize(2);
    try (ObjectInputStream stream = new ObjectInputStream(Files.newInputStream(back))) {
      assertThat(stream.readObject())
          .as("a copy sent back from the other JVM is this JVM's live pool")
          .isSameAs(original);
    }
    assertThat(mine.closes).as("the child never touched ours").hasValue(0);
    held.close();
    original.close();
    assertThat(mine.closes).hasValue(1);
  }

  /** A factory that says so when it runs in a JVM other than this one, and in which. */
  static Function<String, TestResource> factoryThatNamesOtherJvms() {
    long here = ProcessHandle.current().pid();
    return (Function<String, TestResource> & Serializable)
        key -> {
          long pid = ProcessHandle.current().pid();
          if (pid != here) {
            System.out.println("factory ran in pid " + pid + " for " + key);
          }
          return new TestResource(key);
        };
  }

  /** The fresh JVM: reads eight copies at once, uses them, sends one back, then closes it. */
  static final class ChildMain {
    public static void main(String[] args) throws Exception {
      byte[] bytes = Files.readAllBytes(Path.of(args[0]));
      int copies = 8;
      CyclicBarrier start = new CyclicBarrier(copies);
      ExecutorService threads = Executors.newFixedThreadPool(copies);
      List<Future<Pool<String, TestResource>>> read = new ArrayList<>();
      List<Future<TestResource>> leased = new ArrayList<>();
      for (int i = 0; i < copies; i++) {
        Future<Pool<String, TestResource>> copy =
            threads.submit(
                () -> {
                  start.await(30, TimeUnit.SECONDS);
                  return ChildMain.<Pool<String, TestResource>>deserialize(bytes);
                });
        read.add(copy);
      }
      Set<Object> pools = Collections.newSetFromMap(new IdentityHashMap<>());
      for (Future<Pool<String, TestResource>> copy : read) {
        Pool<String, TestResource> pool = copy.get(30, TimeUnit.SECONDS);
        pools.add(pool);
        leased.add(
            threads.submit(
                () -> {
                  try (Lease<TestResource> lease = pool.get("tenant-1")) {
                    return lease.get();
                  }
                }));
      }
      Set<Object> instances = Collections.newSetFromMap(new IdentityHashMap<>());
      for (Future<TestResource> instance : leased) {
        instances.add(instance.get(30, TimeUnit.SECONDS));
      }
      threads.shutdown();
      Pool<String, TestResource> pool = read.get(0).get();
      System.out.println(
          "child: "
              + copies
              + " copies, "
              + pools.size()
              + " pool(s), "
              + instances.size()
              + " instance(s), creations="
              + pool.stats().creations());

      Path back = Path.of(args[1]);
      try (ObjectOutputStream out = new ObjectOutputStream(Files.newOutputStream(back))) {
        out.writeObject(pool);
      }

      pool.close();
      Pool<String, TestResource> next = deserialize(bytes);
      System.out.println(
          "child: after a close, the next copy is a new, empty pool: "
              + (next != pool && next.stats().live() == 0));
      System.out.println(
          "child: and the copy after it joins that one: " + (deserialize(bytes) == next));
      next.close();
    }

    @SuppressWarnings("unchecked")
    private static <T> T deserialize(byte[] bytes) throws Exception {
      try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes))) {
        return (T) in.readObject();
      }
    }
  }
}
