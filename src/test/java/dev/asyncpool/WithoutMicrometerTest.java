package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.asyncpool.standalone.WithoutMicrometerMain;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Micrometer is optional: no core class refers to it, and the core runs without it. */
class WithoutMicrometerTest {

  static Path mainClasses() throws Exception {
    return Paths.get(Pool.class.getProtectionDomain().getCodeSource().getLocation().toURI());
  }

  static Path testClasses() throws Exception {
    return Paths.get(
        WithoutMicrometerMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
  }

  static String slf4jApi() {
    return Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
        .filter(entry -> Paths.get(entry).getFileName().toString().startsWith("slf4j-api"))
        .findFirst()
        .orElseThrow();
  }

  @Test
  void noCoreClassRefersToMicrometer() throws Exception {
    Path core = mainClasses().resolve("dev/asyncpool");
    List<Path> classes;
    try (Stream<Path> files = Files.list(core)) {
      classes = files.filter(f -> f.toString().endsWith(".class")).toList();
    }
    assertThat(classes).hasSizeGreaterThan(10);
    for (Path file : classes) {
      String bytes = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
      assertThat(bytes).as(file.getFileName().toString()).doesNotContain("io/micrometer");
    }
  }

  @Test
  void theCoreRunsOnAClassPathWithoutMicrometer() throws Exception {
    String output =
        run(
            "-cp",
            String.join(
                File.pathSeparator,
                mainClasses().toString(),
                testClasses().toString(),
                slf4jApi()));
    assertThat(output).contains("ok in module null, events=2");
  }

  @Test
  void theModuleResolvesWithoutMicrometer() throws Exception {
    String output =
        run(
            "--module-path",
            mainClasses() + File.pathSeparator + slf4jApi(),
            "--add-modules",
            "dev.asyncpool",
            "-cp",
            testClasses().toString());
    assertThat(output).contains("ok in module dev.asyncpool, events=2");
  }

  /**
   * Guards module-info: with {@code requires static transitive micrometer.core}, javac would
   * demand Micrometer from every module that requires asyncpool.
   */
  @Test
  void aModuleRequiringAsyncpoolCompilesWithoutMicrometer(@TempDir Path dir) throws Exception {
    Path source = dir.resolve("src/app");
    Files.createDirectories(source.resolve("app"));
    Files.writeString(source.resolve("module-info.java"), "module app { requires dev.asyncpool; }");
    Files.writeString(
        source.resolve("app/Main.java"),
        "package app;\n"
            + "public class Main {\n"
            + "  dev.asyncpool.Pool<String, AutoCloseable> pool =\n"
            + "      dev.asyncpool.Pool.newBuilder()\n"
            + "          .buildCloseable(k -> () -> {});\n"
            + "}\n");
    Process javac =
        new ProcessBuilder(
                Paths.get(System.getProperty("java.home"), "bin", "javac").toString(),
                "-d",
                dir.resolve("out").toString(),
                "--module-source-path",
                dir.resolve("src").toString(),
                "--module-path",
                mainClasses() + File.pathSeparator + slf4jApi(),
                "-m",
                "app")
            .redirectErrorStream(true)
            .start();
    assertThat(javac.waitFor(60, TimeUnit.SECONDS)).as("javac finished").isTrue();
    String output = new String(javac.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(javac.exitValue()).as(output).isZero();
  }

  private static String run(String... pathArgs) throws Exception {
    List<String> command = new ArrayList<>();
    command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(List.of(pathArgs));
    command.add(WithoutMicrometerMain.class.getName());
    Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
    assertThat(child.waitFor(30, TimeUnit.SECONDS)).as("child finished").isTrue();
    String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.exitValue()).as(output).isZero();
    return output;
  }
}
