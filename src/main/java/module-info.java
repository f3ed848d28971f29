/**
 * asyncpool: one shared, asynchronously opened and closed resource per key, closed once it has
 * been idle for a time-to-live.
 *
 * <p>Only {@code dev.asyncpool} is exported, and in it only the API types ({@link
 * dev.asyncpool.Pool}, {@link dev.asyncpool.PoolBuilder}, {@link dev.asyncpool.Lease}, {@link
 * dev.asyncpool.AsyncResource}, {@link dev.asyncpool.Ticker}, {@link dev.asyncpool.PoolStats},
 * {@link dev.asyncpool.PoolListener}) are
 * public; the implementation is package-private. {@code dev.asyncpool.micrometer} holds {@link
 * dev.asyncpool.micrometer.PoolMetrics}, which publishes a pool's statistics to Micrometer; it is
 * the only class that needs Micrometer, an optional dependency. {@code dev.asyncpool.jdbc} holds
 * {@link dev.asyncpool.jdbc.TenantDataSource}, a {@code javax.sql.DataSource} whose connections
 * each hold a lease on their tenant's pooled {@code DataSource}; it needs the JDK's {@code
 * java.sql} module, which the core does not.
 */
// micrometer-core has no module descriptor, only an Automatic-Module-Name: nothing to fix here.
@SuppressWarnings("requires-automatic")
module dev.asyncpool {
  requires org.slf4j;
  // Optional: only dev.asyncpool.micrometer uses it, and nothing needs it unless the application
  // binds the metrics, when it has Micrometer anyway. Not transitive: javac would then demand
  // micrometer.core from every module that requires dev.asyncpool, metrics or not.
  requires static micrometer.core;
  // Optional: only dev.asyncpool.jdbc uses it, and an application that leases DataSources has
  // JDBC anyway; the core never touches it. Transitive because TenantDataSource's signatures are
  // java.sql's types: a module that reads asyncpool reads java.sql when it compiles against it
  // (static: still not needed at run time by an application without JDBC).
  requires static transitive java.sql;

  exports dev.asyncpool;
  exports dev.asyncpool.micrometer;
  exports dev.asyncpool.jdbc;
}
