package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.NotSerializableException;
import java.io.Serializable;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.event.Level;

/** Third-party clients pooled without wrappers: AutoCloseable, and close-returns-a-stage. */
@ExtendWith(PoolLog.Capture.class)
class AdaptersTest {

  /** A client with a blocking close, like a JDBC DataSource. */
  static final class BlockingClient implements AutoCloseable {
    final String tenant;
    final AtomicInteger closes = new AtomicInteger();
    volatile Thread closedOn;
    volatile boolean failClose;

    BlockingClient(String tenant) {
      this.tenant = tenant;
    }

    @Override
    public void close() throws IOException {
      closedOn = Thread.currentThread();
      closes.incrementAndGet();
      if (failClose) {
        throw new IOException("close failed");
      }
    }
  }

  /** A client whose close returns a stage, like Lettuce's RedisClient.shutdownAsync(). */
  static final class AsyncClient {
    final String tenant;
    final AtomicInteger shutdowns = new AtomicInteger();

    AsyncClient(String tenant) {
      this.tenant = tenant;
    }

    CompletionStage<Void> shutdownAsync() {
      shutdowns.incrementAndGet();
      return CompletableFuture.completedFuture(null);
    }
  }

  @Test
  void autoCloseableIsLeasedAsItselfAndClosedOffTheReleasingThread() throws Exception {
    Pool<String, BlockingClient> pool =
        Pool.newBuilder()
            .ttl(Duration.ZERO)
            .buildCloseable(BlockingClient::new);
    BlockingClient client;
    try (Lease<BlockingClient> lease = pool.get("tenant-a")) {
      client = lease.get(); // the client itself, no wrapper
      assertThat(client.tenant).isEqualTo("tenant-a");
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> client.closes.get() == 1);
    assertThat(client.closedOn).isNotSameAs(Thread.currentThread());
    assertThat(client.closedOn.getName()).startsWith("asyncpool-close-");
    assertThat(client.closedOn.isDaemon()).isTrue();

    BlockingClient failing;
    try (Lease<BlockingClient> lease = pool.get("tenant-b")) {
      failing = lease.get();
      failing.failClose = true;
    }
    pool.closeAsync().get(10, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(failing.closes).hasValue(1);
    assertThat(pool.stats().closeFailures()).isEqualTo(1);
    // Logged on the close thread before the shutdown completed.
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN asyncpool: closing the instance for key tenant-b failed | IOException");
  }

  @Test
  void closerReturningAStageIsCalledOnce() throws Exception {
    Pool<String, AsyncClient> pool =
        Pool.newBuilder().build(AsyncClient::new, AsyncClient::shutdownAsync);
    AsyncClient client;
    try (Lease<AsyncClient> lease = pool.get("tenant-a")) {
      client = lease.get();
    }
    assertThat(client.shutdowns).hasValue(0);
    pool.closeAsync().get(10, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(client.shutdowns).hasValue(1);
  }

  @Test
  void closerReturningNullIsACountedFailure() throws Exception {
    Pool<String, AsyncClient> pool =
        Pool.newBuilder().build(AsyncClient::new, c -> null);
    pool.get("k").close();
    pool.closeAsync().get(10, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(pool.stats().closeFailures()).isEqualTo(1);
    assertThat(PoolLog.lines(Level.WARN))
        .containsExactly(
            "WARN asyncpool: closing the instance for key k failed | NullPointerException");
  }

  @Test
  void adaptersRejectNullsAndNameANonSerializableCloser() {
    Pool<String, AsyncClient> pool =
        Pool.newBuilder()
            .build((Function<String, AsyncClient> & Serializable) AsyncClient::new,
                AsyncClient::shutdownAsync);
    assertThatThrownBy(() -> SerializationTest.roundTrip(pool))
        .isInstanceOf(NotSerializableException.class)
        .hasMessageContaining("closer");
    pool.close();
  }
}
