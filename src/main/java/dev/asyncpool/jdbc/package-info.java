/**
 * JDBC over a pool of per-tenant {@code DataSource}s: {@link dev.asyncpool.jdbc.TenantDataSource}
 * is one {@link javax.sql.DataSource} for all tenants, whose every {@link java.sql.Connection}
 * holds a lease on its tenant's pooled {@code DataSource} from {@code getConnection} to {@code
 * close}, so the pool's time-to-live never closes a tenant's connection pool under an open
 * connection or transaction, and an idle tenant's pool still closes on time.
 *
 * <p>Note: this package needs the JDK's {@code java.sql} module, which asyncpool requires only
 * statically (the core does not use it); an application that uses JDBC has it resolved anyway.
 * It adds no dependency: Spring, Hibernate and the connection pool are the application's choice.
 */
package dev.asyncpool.jdbc;
