package dev.asyncpool;

import static dev.asyncpool.WithoutMicrometerTest.compileApp;
import static dev.asyncpool.WithoutMicrometerTest.java;
import static dev.asyncpool.WithoutMicrometerTest.mainClasses;
import static dev.asyncpool.WithoutMicrometerTest.slf4jApi;
import static dev.asyncpool.WithoutMicrometerTest.testClasses;
import static org.assertj.core.api.Assertions.assertThat;

import dev.asyncpool.standalone.JavaSqlModuleMain;
import java.io.File;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The module descriptor's {@code requires static transitive java.sql}, in JVMs and a javac of
 * their own with asyncpool as a named module: <em>static</em>, so the core runs where {@code
 * java.sql} is not even observable; <em>transitive</em>, so a module that requires asyncpool
 * compiles against {@code TenantDataSource}'s signatures without requiring {@code java.sql}
 * itself; and {@code TenantDataSource} works once {@code java.sql} is resolved.
 */
class TenantDataSourceModuleTest {

  private static List<String> modulePath(String limitModules) throws Exception {
    return List.of(
        "--module-path",
        mainClasses() + File.pathSeparator + slf4jApi(),
        "--add-modules",
        limitModules,
        // Only these and what they require (not what they require statically) are observable.
        "--limit-modules",
        limitModules,
        "-cp",
        testClasses().toString());
  }

  @Test
  void theCoreRunsWithoutJavaSqlInTheJvm() throws Exception {
    String output = java(modulePath("dev.asyncpool"), JavaSqlModuleMain.class);
    assertThat(output)
        .contains("java.sql resolved: false")
        .contains("core ok in module dev.asyncpool, closes=1");
  }

  @Test
  void tenantDataSourceWorksWhereJavaSqlIsResolved() throws Exception {
    String output = java(modulePath("dev.asyncpool,java.sql"), JavaSqlModuleMain.class, "jdbc");
    assertThat(output)
        .contains("java.sql resolved: true")
        .contains("core ok in module dev.asyncpool, closes=1")
        .contains(
            "jdbc ok, asyncpool reads java.sql: true, idle while open=0, after close=1,"
                + " real connection closed: true");
  }

  @Test
  void aModuleRequiringOnlyAsyncpoolCompilesAgainstTenantDataSource(@TempDir Path dir)
      throws Exception {
    compileApp(
        dir,
        "module app { requires dev.asyncpool; }",
        "package app;\n"
            + "import dev.asyncpool.Pool;\n"
            + "import dev.asyncpool.jdbc.TenantDataSource;\n"
            + "public class Main {\n"
            + "  static java.sql.Connection connect(Pool<String, javax.sql.DataSource> pool)\n"
            + "      throws java.sql.SQLException {\n"
            + "    return TenantDataSource.of(pool, () -> \"a\").getConnection(\"a\");\n"
            + "  }\n"
            + "}\n");
  }
}
