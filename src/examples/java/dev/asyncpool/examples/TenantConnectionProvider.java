package dev.asyncpool.examples;

import dev.asyncpool.jdbc.TenantDataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Objects;
import java.util.function.Supplier;
import org.hibernate.context.spi.CurrentTenantIdentifierResolver;
import org.hibernate.engine.jdbc.connections.spi.MultiTenantConnectionProvider;

/**
 * Hibernate's multi-tenancy over a {@link TenantDataSource}: each session's connection comes from
 * its tenant's pooled {@code DataSource} and holds that tenant's lease until Hibernate releases it
 * (after each transaction, by default), so a tenant's connection pool stays open while a session
 * works in it, and is closed by the pool's TTL once no session has used it for that long. The
 * {@code SessionFactory} lives on; the tenant's next session opens a new pool.
 *
 * <pre>{@code
 * Configuration config = new Configuration().addAnnotatedClass(Note.class);
 * config.getProperties().put(AvailableSettings.MULTI_TENANT_CONNECTION_PROVIDER,
 *     new TenantConnectionProvider<>(TenantDataSource.of(pools, TenantContext::current), "acme"));
 * SessionFactory sessions = config.buildSessionFactory();
 * try (Session s = sessions.withOptions().tenantIdentifier("acme").openSession()) { ... }
 * }</pre>
 *
 * <p>Thread-safe, as Hibernate requires: it keeps no state but the {@code TenantDataSource}.
 *
 * @param <T> the tenant identifier's type, the pool's key
 */
// Hibernate's services are Serializable by type; a SessionFactory never serializes this one.
@SuppressWarnings("serial")
public final class TenantConnectionProvider<T> implements MultiTenantConnectionProvider<T> {
  private final TenantDataSource<T> dataSource;
  private final T anyTenant;

  /**
   * A provider over {@code dataSource}.
   *
   * @param dataSource the tenants' connections
   * @param anyTenant the tenant whose database Hibernate reads metadata from at boot (any tenant
   *     will do: their schemas are alike); it leases that tenant's pool for that moment only
   */
  public TenantConnectionProvider(TenantDataSource<T> dataSource, T anyTenant) {
    this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    this.anyTenant = Objects.requireNonNull(anyTenant, "anyTenant");
  }

  /**
   * A resolver of the current tenant for sessions opened without one ({@code
   * sessionFactory.openSession()}, {@code getCurrentSession()}): the same supplier the
   * {@code TenantDataSource} uses.
   *
   * @param currentTenant the calling thread's tenant
   * @param <T> the tenant type
   * @return a resolver for {@code AvailableSettings.MULTI_TENANT_IDENTIFIER_RESOLVER}
   */
  public static <T> CurrentTenantIdentifierResolver<T> resolver(Supplier<T> currentTenant) {
    Objects.requireNonNull(currentTenant, "currentTenant");
    return new CurrentTenantIdentifierResolver<>() {
      @Override
      public T resolveCurrentTenantIdentifier() {
        return currentTenant.get();
      }

      @Override
      public boolean validateExistingCurrentSessions() {
        return true;
      }
    };
  }

  @Override
  public Connection getAnyConnection() throws SQLException {
    return dataSource.getConnection(anyTenant);
  }

  @Override
  public void releaseAnyConnection(Connection connection) throws SQLException {
    connection.close(); // gives the lease back
  }

  @Override
  public Connection getConnection(T tenant) throws SQLException {
    return dataSource.getConnection(tenant);
  }

  @Override
  public void releaseConnection(T tenant, Connection connection) throws SQLException {
    connection.close(); // gives the lease back
  }

  /**
   * False: a connection is taken per transaction and released after it, which is what lets an
   * idle tenant's pool expire between a session's transactions.
   */
  @Override
  public boolean supportsAggressiveRelease() {
    return false;
  }

  @Override
  public boolean isUnwrappableAs(Class<?> type) {
    return type.isInstance(this) || type.isInstance(dataSource);
  }

  @Override
  public <U> U unwrap(Class<U> type) {
    if (type.isInstance(this)) {
      return type.cast(this);
    }
    if (type.isInstance(dataSource)) {
      return type.cast(dataSource);
    }
    throw new IllegalArgumentException("cannot unwrap " + this + " as " + type.getName());
  }
}
