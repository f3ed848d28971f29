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
    compileApp(
        dir,
        "module app { requires dev.asyncpool; }",
        "package app;\n"
            + "public class Main {\n"
            + "  dev.asyncpool.Pool<String, AutoCloseable> pool =\n"
            + "      dev.asyncpool.Pool.newBuilder()\n"
            + "          .buildCloseable(k -> () -> {});\n"
            + "}\n");
  }

  private static String run(String... pathArgs) throws Exception {
    return java(List.of(pathArgs), WithoutMicrometerMain.class);
  }

  /**
   * Runs {@code main} with {@code args} in a JVM of its own, started with {@code options} (its
   * class and module paths), and returns what it printed; asserts that it exited with 0.
   */
  static String java(List<String> options, Class<?> main, String... args) throws Exception {
    List<String> command = new ArrayList<>();
    command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(options);
    command.add(main.getName());
    command.addAll(List.of(args));
    return finish(new ProcessBuilder(command).redirectErrorStream(true).start(), "child");
  }

  /**
   * Compiles the module {@code app}, whose {@code module-info.java} and {@code app/Main.java} are
   * given, against asyncpool's module and slf4j-api only (the module path a user's build would
   * have); asserts that javac succeeded and returns what it printed.
   */
  static String compileApp(Path dir, String moduleInfo, String main) throws Exception {
    Path source = dir.resolve("src/app");
    Files.createDirectories(source.resolve("app"));
    Files.writeString(source.resolve("module-info.java"), moduleInfo);
    Files.writeString(source.resolve("app/Main.java"), main);
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
    return finish(javac, "javac");
  }

  private static String finish(Process process, String what) throws Exception {
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).as(what + " finished").isTrue();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.exitValue()).as(what + ": " + output).isZero();
    return output;
  }
}
