package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.asyncpool.examples.ObservabilityExample;
import io.micrometer.core.instrument.MeterRegistry;
import org.junit.jupiter.api.Test;

/** The README's listener and metrics snippets compile and do what the README says. */
class ObservabilityExampleTest {
  @Test
  void listenerAndMetricsExampleRuns() {
    MeterRegistry registry = ObservabilityExample.run(new String[0]);
    assertThat(registry.get("asyncpool.leases").tag("result", "hit").functionCounter().count())
        .isEqualTo(1);
    assertThat(registry.get("asyncpool.creations").tag("result", "success").functionCounter()
            .count())
        .isEqualTo(2);
  }
}
