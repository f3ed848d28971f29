package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.asyncpool.examples.UsingItExample;
import org.junit.jupiter.api.Test;

/** The README's "Using it" snippets compile and run against H2 and HikariCP. */
class UsingItExampleTest {
  @Test
  void usingItSnippetsRun() throws Exception {
    assertThat(UsingItExample.run(new String[0])).isPositive();
  }
}
