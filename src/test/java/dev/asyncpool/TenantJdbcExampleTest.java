package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.examples.TenantJdbcExample;
import dev.asyncpool.examples.TenantJdbcExample.Tenants;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The README's TenantDataSource, Spring and Hibernate snippets compile and run against H2. */
class TenantJdbcExampleTest {
  @Test
  // The example's pool.close() waits for every lease: a connection left open would hang it.
  @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void oneLinerSpringAndHibernateSnippetsRun() {
    Tenants tenants = Tenants.h2("example-" + UUID.randomUUID());
    Map<String, List<String>> notes = TenantJdbcExample.run(tenants);
    assertThat(notes)
        .containsExactly(
            Map.entry("acme", List.of("acme, by Spring")),
            Map.entry("globex", List.of("globex, by Hibernate")));
    assertThat(tenants.made).hasSize(2).allMatch(HikariDataSource::isClosed);
  }
}
