package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.asyncpool.examples.TenantJdbcExample;
import dev.asyncpool.examples.TenantJdbcExample.Tenants;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The README's TenantDataSource, Spring and Hibernate snippets compile and run against H2: each of
 * their statements is in {@link TenantJdbcExample}, in the README's order, and the example runs.
 */
class TenantJdbcExampleTest {
  private static final Path README = Path.of("README.md");
  private static final Path EXAMPLE =
      Path.of("src/examples/java/dev/asyncpool/examples/TenantJdbcExample.java");

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

  @Test
  void everyStatementOfTheReadmesSnippetsIsInTheExampleInTheSameOrder() throws Exception {
    String readme = Files.readString(README);
    int start = readme.indexOf("\n## JDBC, Spring and Hibernate\n");
    assertThat(start).as("the README's JDBC section").isNotNegative();
    int end = readme.indexOf("\n## ", start + 1);
    String section = readme.substring(start, end < 0 ? readme.length() : end);
    // The example without its comments and whitespace, which the README may lay out otherwise.
    String example = squeeze(Files.readString(EXAMPLE).replaceAll("(?m)^\\s*//.*$", ""));

    List<String> blocks = new ArrayList<>();
    Matcher java = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(section);
    while (java.find()) {
      blocks.add(java.group(1));
    }
    assertThat(blocks).as("the one-liner, Spring and Hibernate").hasSize(3);
    int from = 0;
    int statements = 0;
    for (String block : blocks) {
      StringBuilder statement = new StringBuilder();
      for (String line : block.split("\n")) {
        String code = line.replaceAll("\\s+//.*$", ""); // the README's trailing comments
        statement.append(code).append('\n');
        if (!code.strip().endsWith(";")) {
          continue; // the statement goes on
        }
        int at = example.indexOf(squeeze(statement.toString()), from);
        assertThat(at)
            .as("README statement in TenantJdbcExample, after the previous one: %s", statement)
            .isNotNegative();
        from = at + 1;
        statements++;
        statement.setLength(0);
      }
      assertThat(statement.toString()).as("a block ends with a whole statement").isBlank();
    }
    assertThat(statements).as("2 + 3 + 5 statements").isEqualTo(10);
  }

  private static String squeeze(String code) {
    return code.replaceAll("\\s+", "");
  }
}
