package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.examples.TenantJdbcExample.Tenants;
import dev.asyncpool.jdbc.TenantDataSource;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Spring's {@code JdbcTemplate} and {@code DataSourceTransactionManager} over a {@link
 * TenantDataSource}, on the fake clock: a transaction holds its tenant's lease from begin to
 * commit or rollback, so a TTL far shorter than the transaction never closes the tenant's
 * HikariCP pool under it; the pool expires once the transaction is over.
 */
class TenantDataSourceSpringTest extends PoolTestSupport {

  private static final Duration TTL = Duration.ofSeconds(1);

  private final Tenants tenants = Tenants.h2("spring-" + UUID.randomUUID());
  private final AtomicReference<String> current = new AtomicReference<>();
  private CountingPool<String, HikariDataSource> pools;
  private JdbcTemplate jdbc;
  private TransactionTemplate tx;

  @BeforeEach
  void wire() {
    Pool<String, HikariDataSource> pool = settings().ttl(TTL).buildCloseable(tenants::dataSource);
    pools = new CountingPool<>(pool);
    TenantDataSource<String> dataSource = TenantDataSource.of(pools, current::get);
    jdbc = new JdbcTemplate(dataSource);
    tx = new TransactionTemplate(new DataSourceTransactionManager(dataSource));
  }

  @AfterEach
  void closeEverything() throws Exception {
    pools.closeAsync(Duration.ZERO).get(10, TimeUnit.SECONDS);
    tenants.made.forEach(HikariDataSource::close);
  }

  private List<String> notes(String tenant) {
    current.set(tenant);
    return jdbc.queryForList("select text from note order by id", String.class);
  }

  private void insert(String text) {
    jdbc.update("insert into note (text) values (?)", text);
  }

  private HikariDataSource openPool(String tenant) {
    return tenants.made.stream()
        .filter(ds -> ds.getPoolName().equals("tenant-" + tenant) && !ds.isClosed())
        .findFirst()
        .orElseThrow();
  }

  @Test
  void jdbcTemplateRoutesEachCallToTheCurrentTenant() {
    current.set("a");
    insert("for a");
    current.set("b");
    insert("for b");
    assertThat(notes("a")).containsExactly("for a");
    assertThat(notes("b")).containsExactly("for b");
    assertThat(pools.leased).as("a lease per JdbcTemplate call").hasValue(4);
    assertThat(pools.open()).isZero();
  }

  @Test
  void aTransactionHoldsItsTenantsLeaseFromBeginToCommitEvenPastTheTtl() {
    current.set("a");
    tx.executeWithoutResult(
        status -> {
          assertThat(pools.open()).as("taken at begin, before any statement").isEqualTo(1);
          HikariDataSource a = openPool("a");
          scheduler.advance(TTL.multipliedBy(10));
          assertThat(a.isClosed()).as("ten TTLs into the transaction").isFalse();
          insert("first");
          scheduler.advance(TTL.multipliedBy(10));
          insert("second");
          assertThat(a.isClosed()).isFalse();
          assertThat(pools.leased).as("one connection, one lease").hasValue(1);
        });
    assertThat(pools.open()).as("given back at commit").isZero();
    HikariDataSource a = openPool("a");
    scheduler.advance(TTL.multipliedBy(2));
    assertThat(a.isClosed()).as("expired after the commit").isTrue();
    assertThat(pools.stats().expirations()).isEqualTo(1);
    assertThat(notes("a")).as("committed, read through a new pool").containsExactly(
        "first", "second");
  }

  @Test
  void aRolledBackTransactionHoldsTheLeaseUntilTheRollbackAndThenGivesItBack() {
    current.set("a");
    assertThatThrownBy(
            () ->
                tx.executeWithoutResult(
                    status -> {
                      insert("rolled back");
                      scheduler.advance(TTL.multipliedBy(10));
                      assertThat(openPool("a").isClosed()).isFalse();
                      throw new IllegalStateException("the business rule said no");
                    }))
        .hasMessage("the business rule said no");
    assertThat(pools.open()).isZero();
    tx.executeWithoutResult(
        status -> {
          insert("also rolled back");
          status.setRollbackOnly();
        });
    assertThat(pools.open()).isZero();
    HikariDataSource a = openPool("a");
    scheduler.advance(TTL.multipliedBy(2));
    assertThat(a.isClosed()).isTrue();
    assertThat(notes("a")).isEmpty();
  }

  @Test
  void aTransactionStaysWithItsTenantWhenTheCurrentTenantChangesInsideIt() {
    current.set("a");
    tx.executeWithoutResult(
        status -> {
          current.set("b"); // the connection is bound to the transaction: still a's
          insert("written while b was current");
        });
    assertThat(notes("a")).containsExactly("written while b was current");
    assertThat(notes("b")).isEmpty();
  }
}
