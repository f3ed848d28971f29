package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.examples.Note;
import dev.asyncpool.examples.TenantConnectionProvider;
import dev.asyncpool.examples.TenantJdbcExample.Tenants;
import dev.asyncpool.jdbc.TenantDataSource;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.hibernate.SessionFactory;
import org.hibernate.cfg.AvailableSettings;
import org.hibernate.cfg.Configuration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The example {@link TenantConnectionProvider} under hibernate-core, one in-memory H2 database
 * per tenant, on the fake clock: entities are saved and read per tenant; idle tenants' HikariCP
 * pools are closed by the TTL while the {@code SessionFactory} lives on, and come back on the
 * tenant's next session; an open transaction keeps its tenant's pool past the TTL.
 */
class TenantHibernateTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofSeconds(1);

  private final Tenants tenants = Tenants.h2("hibernate-" + UUID.randomUUID());
  private final AtomicReference<String> current = new AtomicReference<>();
  private CountingPool<String, HikariDataSource> pools;
  private SessionFactory sessions;

  @BeforeEach
  void boot() {
    Pool<String, HikariDataSource> pool = settings().ttl(TTL).buildCloseable(tenants::dataSource);
    pools = new CountingPool<>(pool);
    TenantDataSource<String> dataSource = TenantDataSource.of(pools, current::get);
    Configuration config = new Configuration().addAnnotatedClass(Note.class);
    config.getProperties().put(AvailableSettings.MULTI_TENANT_CONNECTION_PROVIDER,
        new TenantConnectionProvider<>(dataSource, "a"));
    config.getProperties().put(AvailableSettings.MULTI_TENANT_IDENTIFIER_RESOLVER,
        TenantConnectionProvider.resolver(current::get));
    sessions = config.buildSessionFactory();
  }

  @AfterEach
  void closeEverything() throws Exception {
    sessions.close();
    pools.closeAsync(Duration.ZERO).get(10, TimeUnit.SECONDS);
    tenants.made.forEach(HikariDataSource::close);
  }

  private void save(String tenant, String... texts) {
    current.set(tenant);
    sessions.inTransaction(
        session -> {
          for (String text : texts) {
            session.persist(new Note(text));
          }
        });
  }

  private List<String> read(String tenant) {
    current.set(tenant);
    return sessions.fromTransaction(
        session ->
            session.createSelectionQuery("select n.text from Note n order by n.id", String.class)
                .getResultList());
  }

  @Test
  void entitiesAreSavedAndReadPerTenant() {
    save("a", "a1", "a2");
    save("b", "b1");
    assertThat(read("a")).containsExactly("a1", "a2");
    assertThat(read("b")).containsExactly("b1");
    assertThat(tenants.made).as("a pool per tenant").hasSize(2);
    assertThat(pools.open()).as("every session's connection was released").isZero();
  }

  @Test
  void idleTenantsPoolsAreClosedByTheTtlWhileTheSessionFactoryLivesOn() {
    save("a", "a1");
    save("b", "b1");
    scheduler.advance(TTL.multipliedBy(2));
    assertThat(tenants.made).hasSize(2).allMatch(HikariDataSource::isClosed);
    assertThat(pools.stats().expirations()).isEqualTo(2);
    assertThat(sessions.isOpen()).isTrue();

    assertThat(read("a")).as("the next session opens a new pool").containsExactly("a1");
    assertThat(tenants.made).hasSize(3);
    assertThat(tenants.made).filteredOn(ds -> !ds.isClosed()).hasSize(1);
  }

  @Test
  void anOpenTransactionKeepsItsTenantsPoolOpenPastTheTtl() {
    current.set("a");
    sessions.inTransaction(
        session -> {
          session.persist(new Note("before"));
          session.flush();
          HikariDataSource a =
              tenants.made.stream().filter(ds -> !ds.isClosed()).findFirst().orElseThrow();
          scheduler.advance(TTL.multipliedBy(10));
          assertThat(a.isClosed()).as("ten TTLs into the transaction").isFalse();
          session.persist(new Note("after"));
        });
    assertThat(pools.open()).isZero();
    scheduler.advance(TTL.multipliedBy(2));
    assertThat(tenants.made).allMatch(HikariDataSource::isClosed);
    assertThat(read("a")).containsExactly("before", "after");
  }
}
