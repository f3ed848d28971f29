package dev.asyncpool.standalone;

import dev.asyncpool.Pool;
import dev.asyncpool.jdbc.TenantDataSource;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;

/**
 * {@link JavaSqlModuleMain}'s JDBC part: a connection from {@link TenantDataSource} over a driver
 * that is a {@link Proxy}, holding its tenant's lease until it is closed.
 */
final class TenantDataSourceRun {

  private TenantDataSourceRun() {}

  static void run() throws Exception {
    AtomicBoolean realClosed = new AtomicBoolean();
    Connection real =
        (Connection)
            Proxy.newProxyInstance(
                Connection.class.getClassLoader(),
                new Class<?>[] {Connection.class},
                (self, method, args) -> {
                  switch (method.getName()) {
                    case "close":
                      realClosed.set(true);
                      return null;
                    case "isClosed":
                      return realClosed.get();
                    default:
                      throw new UnsupportedOperationException(method.getName());
                  }
                });
    DataSource driver =
        (DataSource)
            Proxy.newProxyInstance(
                DataSource.class.getClassLoader(),
                new Class<?>[] {DataSource.class},
                (self, method, args) -> real);
    try (Pool<String, DataSource> pool =
        Pool.newBuilder()
            .build(tenant -> driver, closed -> CompletableFuture.completedFuture(null))) {
      Connection c = TenantDataSource.of(pool, () -> "a").getConnection();
      int idleWhileOpen = pool.stats().idle();
      c.close();
      System.out.println(
          "jdbc ok, asyncpool reads java.sql: "
              + Pool.class.getModule().canRead(Connection.class.getModule())
              + ", idle while open="
              + idleWhileOpen
              + ", after close="
              + pool.stats().idle()
              + ", real connection closed: "
              + realClosed.get());
    }
  }
}
