package dev.asyncpool.standalone;

import dev.asyncpool.Lease;
import dev.asyncpool.Pool;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Run by {@code TenantDataSourceModuleTest} in a JVM whose module path holds asyncpool and
 * slf4j-api only. Without arguments it uses the core, which must work with {@code java.sql} not
 * even observable; with {@code jdbc} it also leases through {@code TenantDataSource} (in {@link
 * TenantDataSourceRun}, a class of its own, so that this one never names a {@code java.sql} type).
 * Outside the library's packages, so that it runs beside the named module.
 */
public final class JavaSqlModuleMain {

  private JavaSqlModuleMain() {}

  public static void main(String[] args) throws Exception {
    System.out.println(
        "java.sql resolved: " + ModuleLayer.boot().findModule("java.sql").isPresent());
    AtomicInteger closes = new AtomicInteger();
    try (Pool<String, AutoCloseable> pool =
        Pool.newBuilder().buildCloseable(key -> closes::incrementAndGet)) {
      try (Lease<AutoCloseable> lease = pool.get("a")) {
        lease.get();
      }
    }
    System.out.println(
        "core ok in module " + Pool.class.getModule().getName() + ", closes=" + closes.get());
    if (args.length > 0 && args[0].equals("jdbc")) {
      TenantDataSourceRun.run();
    }
  }
}
