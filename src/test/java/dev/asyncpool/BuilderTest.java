package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Semantics 9 and 10: bad input is named; the default scheduler never keeps the JVM alive. */
class BuilderTest {

  @Test
  void nullsAreRejectedNamingTheParameter() {
    PoolBuilder<Object, Object> builder = Pool.newBuilder();
    assertThatThrownBy(() -> builder.build((Function<String, TestResource>) null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("factory");
    assertThatThrownBy(() -> builder.buildAsync(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("factory");
    assertThatThrownBy(() -> builder.buildCloseable(null)).hasMessage("factory");
    assertThatThrownBy(() -> builder.build(key -> "client", null)).hasMessage("closer");
    assertThatThrownBy(() -> builder.build(null, client -> null)).hasMessage("factory");
    assertThatThrownBy(() -> builder.ttl((Duration) null)).hasMessage("ttl");
    assertThatThrownBy(() -> builder.ticker(null)).hasMessage("ticker");
    assertThatThrownBy(() -> builder.scheduler(null)).hasMessage("scheduler");
    assertThatThrownBy(() -> builder.executor(null)).hasMessage("executor");
    assertThatThrownBy(() -> builder.name(null)).hasMessage("name");
    assertThatThrownBy(() -> builder.keyFormatter(null)).hasMessage("keyFormatter");
  }

  @Test
  void negativeTtlIsRejectedNamingTheValue() {
    assertThatThrownBy(() -> Pool.newBuilder().ttl(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("ttl must not be negative: PT-1S");
  }

  @Test
  void settingsCannotBeSetTwice() {
    PoolBuilder<Object, Object> builder = Pool.newBuilder().ttl(Duration.ofSeconds(1));
    assertThatThrownBy(() -> builder.ttl(Duration.ofSeconds(2)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("ttl was already set to PT1S");
    assertThatThrownBy(() -> builder.name(" ")).isInstanceOf(IllegalArgumentException.class);
    builder.keyFormatter(key -> "k");
    assertThatThrownBy(() -> builder.keyFormatter(key -> "again"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("keyFormatter was already set to ");
  }

  /**
   * The types come from the assignment, as with Caffeine: an implicitly typed lambda compiles with
   * no type witness, for each of the four ways to build. (This test is mostly the compiler's.)
   */
  @Test
  void lambdasNeedNoTypeWitness() throws Exception {
    try (Pool<String, TestResource> sync =
            Pool.newBuilder().ttl(Duration.ofSeconds(5)).build(tenant -> new TestResource(tenant));
        Pool<String, TestResource> async =
            Pool.newBuilder()
                .buildAsync(tenant -> CompletableFuture.completedFuture(new TestResource(tenant)));
        Pool<String, Closeable> closeable =
            Pool.newBuilder().buildCloseable(tenant -> new Closeable(tenant.length()));
        Pool<String, StringBuilder> closedBy =
            Pool.newBuilder()
                .build(
                    tenant -> new StringBuilder(tenant),
                    sb -> CompletableFuture.completedFuture(sb.append(" closed")))) {
      Object a = sync.apply("a", r -> r.key);
      Object b = async.apply("b", r -> r.key);
      int c = closeable.apply("ccc", Closeable::size);
      String d = closedBy.apply("d", StringBuilder::toString);
      assertThat(List.of(a, b, c, d)).containsExactly("a", "b", 3, "d");
    }
  }

  /** A listener narrows the builder's types: a typed listener's pool has its types. */
  @Test
  void aTypedListenerNarrowsTheBuilder() {
    PoolListener<String, TestResource> typed = new PoolListener<>() {};
    Pool<String, TestResource> pool =
        Pool.newBuilder().listener(typed).keyFormatter(String::trim).build(TestResource::new);
    pool.close();
  }

  private record Closeable(int size) implements AutoCloseable {
    @Override
    public void close() {}
  }

  @Test
  void builderIsReusableAndPoolsAreIndependent() {
    PoolBuilder<Object, Object> builder = Pool.newBuilder();
    Pool<String, TestResource> a = builder.build(TestResource::new);
    Pool<String, TestResource> b = builder.build(TestResource::new);
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
        Pool.newBuilder().ttl(Duration.ofMillis(1)).build(TestResource::new);
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
