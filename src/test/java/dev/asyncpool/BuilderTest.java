package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Semantics 9 and 10: bad input is named; the default scheduler never keeps the JVM alive. */
class BuilderTest {

  @Test
  void nullsAreRejectedNamingTheParameter() {
    assertThatThrownBy(() -> Pool.builder((Function<String, TestResource>) null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("factory");
    assertThatThrownBy(() -> Pool.asyncBuilder(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("factory");
    PoolBuilder<String, TestResource> builder = Pool.builder(TestResource::new);
    assertThatThrownBy(() -> builder.ttl(null)).hasMessage("ttl");
    assertThatThrownBy(() -> builder.ticker(null)).hasMessage("ticker");
    assertThatThrownBy(() -> builder.scheduler(null)).hasMessage("scheduler");
    assertThatThrownBy(() -> builder.executor(null)).hasMessage("executor");
    assertThatThrownBy(() -> builder.name(null)).hasMessage("name");
  }

  @Test
  void negativeTtlIsRejectedNamingTheValue() {
    assertThatThrownBy(() -> Pool.builder(TestResource::new).ttl(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("ttl must not be negative: PT-1S");
  }

  @Test
  void settingsCannotBeSetTwice() {
    PoolBuilder<String, TestResource> builder =
        Pool.<String, TestResource>builder(TestResource::new).ttl(Duration.ofSeconds(1));
    assertThatThrownBy(() -> builder.ttl(Duration.ofSeconds(2)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("ttl was already set to PT1S");
    assertThatThrownBy(() -> builder.name(" ")).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void builderIsReusableAndPoolsAreIndependent() {
    PoolBuilder<String, TestResource> builder = Pool.builder(TestResource::new);
    Pool<String, TestResource> a = builder.build();
    Pool<String, TestResource> b = builder.build();
    try (Lease<TestResource> la = a.get("k");
        Lease<TestResource> lb = b.get("k")) {
      assertThat(la.get()).isNotSameAs(lb.get());
    }
    a.close();
    b.close();
    assertThat(a.toString()).contains("ttl=PT30S").contains("closed");
  }

  @Test
  void defaultSchedulerThreadIsADaemon() throws Exception {
    Pool<String, TestResource> pool =
        Pool.<String, TestResource>builder(TestResource::new).ttl(Duration.ofMillis(1)).build();
    pool.get("k").close(); // schedules the expiry task on the default scheduler
    Thread[] threads = new Thread[Thread.activeCount() + 16];
    int n = Thread.enumerate(threads);
    boolean found = false;
    for (int i = 0; i < n; i++) {
      if (threads[i].getName().startsWith("asyncpool-expiry")) {
        found = true;
        assertThat(threads[i].isDaemon()).isTrue();
      }
    }
    assertThat(found).isTrue();
    assertThat(DefaultScheduler.get()).isSameAs(DefaultScheduler.get());
    pool.close();
  }
}
