package dev.asyncpool;

import org.junit.jupiter.api.Test;

/** The README's example runs and its checks pass (it sleeps 1.5 s: it is the demo). */
class SeedExampleTest {
  @Test
  void seedExampleRuns() throws Exception {
    dev.asyncpool.examples.SeedExample.main(new String[0]);
  }
}
