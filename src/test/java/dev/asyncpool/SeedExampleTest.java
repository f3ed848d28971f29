package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The README's example runs and its checks pass (it sleeps 1.5 s: it is the demo). */
class SeedExampleTest {
  @Test
  void seedExampleRuns() throws Exception {
    String printed =
        SystemOut.capture(() -> dev.asyncpool.examples.SeedExample.main(new String[0]));
    assertThat(printed.lines())
        .hasSize(7)
        .last()
        .isEqualTo("seed example: all checks passed");
    assertThat(printed.lines().limit(6)).allMatch(line -> line.startsWith("  ok   "));
  }
}
