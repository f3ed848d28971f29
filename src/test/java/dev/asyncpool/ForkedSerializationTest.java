package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Serialization for real: a pool written to a file is read back by another JVM, whose copy
 * creates its own instances there (the factory says which process it runs in), while the
 * original's instance is left alone.
 */
class ForkedSerializationTest {

  /** The factory the copy carries: a serializable lambda that reports the process it runs in. */
  static Function<String, TestResource> factory() {
    return (Function<String, TestResource> & Serializable)
        key -> {
          System.out.println("factory ran in pid " + ProcessHandle.current().pid() + " for " + key);
          return new TestResource(key);
        };
  }

  @Test
  void copyInAnotherJvmCreatesItsOwnInstances(@TempDir Path dir) throws Exception {
    Pool<String, TestResource> original =
        Pool.newBuilder()
            .ttl(Duration.ofSeconds(30))
            .name("tenants")
            .recordStats()
            .build(factory());
    Lease<TestResource> held = original.get("tenant-1");
    TestResource mine = held.get();
    Path file = dir.resolve("pool.ser");
    try (ObjectOutputStream out = new ObjectOutputStream(Files.newOutputStream(file))) {
      out.writeObject(original);
    }

    Process child =
        new ProcessBuilder(
                Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Dslf4j.provider=org.slf4j.simple.SimpleServiceProvider",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
                ForkedPoolMain.class.getName(),
                file.toString())
            .redirectErrorStream(true)
            .start();
    assertThat(child.waitFor(30, TimeUnit.SECONDS)).as("child finished").isTrue();
    String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.exitValue()).as(output).isZero();

    long childPid = child.pid();
    assertThat(childPid).isNotEqualTo(ProcessHandle.current().pid());
    assertThat(output)
        .contains("factory ran in pid " + childPid + " for tenant-1")
        .contains("child: same instance on the second lease")
        .contains("child: stats creations=1 live=1")
        .contains("child: after close closes=1 live=0");

    assertThat(mine.closes).as("the copy never touched the original's").hasValue(0);
    assertThat(original.stats().creations()).isEqualTo(1);
    assertThat(original.stats().live()).isEqualTo(1);
    held.close();
    original.close();
    assertThat(mine.closes).hasValue(1);
  }

  /** The child JVM: reads the pool, uses it, closes it, and says what happened. */
  static final class ForkedPoolMain {
    public static void main(String[] args) throws Exception {
      Pool<String, TestResource> copy;
      try (ObjectInputStream in = new ObjectInputStream(Files.newInputStream(Path.of(args[0])))) {
        @SuppressWarnings("unchecked")
        Pool<String, TestResource> read = (Pool<String, TestResource>) in.readObject();
        copy = read;
      }
      System.out.println("child: read " + copy);
      TestResource first;
      try (Lease<TestResource> lease = copy.get("tenant-1")) {
        first = lease.get();
      }
      try (Lease<TestResource> lease = copy.get("tenant-1")) {
        if (lease.get() == first) {
          System.out.println("child: same instance on the second lease");
        }
      }
      PoolStats s = copy.stats();
      System.out.println("child: stats creations=" + s.creations() + " live=" + s.live());
      copy.close();
      s = copy.stats();
      System.out.println(
          "child: after close closes=" + first.closes.get() + " live=" + s.live());
    }
  }
}
