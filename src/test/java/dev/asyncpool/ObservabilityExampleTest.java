package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.asyncpool.examples.ObservabilityExample;
import io.micrometer.core.instrument.MeterRegistry;
import org.junit.jupiter.api.Test;

/** The README's listener and metrics snippets compile and do what the README says. */
class ObservabilityExampleTest {
  @Test
  void listenerAndMetricsExampleRuns() throws Exception {
    MeterRegistry[] ran = new MeterRegistry[1];
    String printed = SystemOut.capture(() -> ran[0] = ObservabilityExample.run(new String[0]));
    assertThat(printed).isEqualTo("hits=1.0 misses=2.0 live=2.0" + System.lineSeparator());
    MeterRegistry registry = ran[0];
    assertThat(registry.get("asyncpool.leases").tag("result", "hit").functionCounter().count())
        .isEqualTo(1);
    assertThat(registry.get("asyncpool.creations").tag("result", "success").functionCounter()
            .count())
        .isEqualTo(2);
  }
}
