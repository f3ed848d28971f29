package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InvalidObjectException;
import java.io.Serializable;
import java.lang.reflect.Constructor;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 10, item 9: a serialized pool is only its settings, and a stream may carry any settings.
 * Deserializing one must apply the builder's checks, failing with an {@link
 * InvalidObjectException} that names the bad value, instead of yielding a pool with, say, a
 * negative time-to-live.
 *
 * <p>The streams are crafted the way an attacker would: the pool's serialized form (its private
 * serialization proxy) around settings no builder would accept, written by the JDK itself.
 */
class CraftedStreamTest {

  private static final Function<String, TestResource> FACTORY =
      (Function<String, TestResource> & Serializable) TestResource::new;

  private static final Function<String, CompletionStage<TestResource>> ASYNC_FACTORY =
      (Function<String, CompletionStage<TestResource>> & Serializable)
          key -> CompletableFuture.completedFuture(new TestResource(key));

  /** The settings of a valid pool, with the given ones in place of the builder's. */
  private static PoolConfig<String, TestResource> settings(
      Function<String, TestResource> factory,
      Function<String, CompletionStage<TestResource>> asyncFactory,
      ResourceLifecycle<? super TestResource> lifecycle,
      Duration ttl,
      String name,
      Duration openTimeout,
      Duration closeTimeout) {
    return new PoolConfig<>(
        factory,
        asyncFactory,
        lifecycle,
        ttl,
        null,
        null,
        null,
        name,
        false,
        openTimeout,
        closeTimeout,
        false,
        null,
        null,
        Long.MAX_VALUE,
        null,
        Duration.ofSeconds(30),
        Integer.MAX_VALUE,
        null,
        null,
        null,
        null,
        null);
  }

  private static PoolConfig<String, TestResource> valid() {
    return settings(
        FACTORY,
        null,
        ResourceLifecycle.asyncResource(),
        Duration.ofSeconds(30),
        "crafted",
        Duration.ofSeconds(60),
        Duration.ofSeconds(60));
  }

  /** The pool's serialized form around {@code config}, as {@code writeReplace} would make it. */
  private static Object serializedForm(PoolConfig<?, ?> config) throws Exception {
    Class<?> proxy = Class.forName(KeyedPool.class.getName() + "$SerializedPool");
    Constructor<?> constructor = proxy.getDeclaredConstructor(PoolConfig.class);
    constructor.setAccessible(true);
    return constructor.newInstance(config);
  }

  static Stream<Arguments> badSettings() {
    PoolConfig<String, TestResource> ok = valid();
    Duration ttl = ok.ttl();
    Duration open = ok.openTimeout();
    Duration close = ok.closeTimeout();
    ResourceLifecycle<? super TestResource> lifecycle = ok.lifecycle();
    return Stream.of(
        Arguments.of(
            settings(FACTORY, null, lifecycle, Duration.ofSeconds(-1), "p", open, close),
            "ttl must not be negative: PT-1S"),
        Arguments.of(settings(FACTORY, null, lifecycle, null, "p", open, close), "ttl is missing"),
        Arguments.of(
            settings(FACTORY, null, lifecycle, ttl, "p", Duration.ZERO, close),
            "openTimeout must be positive: PT0S"),
        Arguments.of(
            settings(FACTORY, null, lifecycle, ttl, "p", null, close), "openTimeout is missing"),
        Arguments.of(
            settings(FACTORY, null, lifecycle, ttl, "p", open, Duration.ofSeconds(-2)),
            "closeTimeout must be positive: PT-2S"),
        Arguments.of(
            settings(FACTORY, null, lifecycle, ttl, "p", open, null), "closeTimeout is missing"),
        Arguments.of(settings(FACTORY, null, lifecycle, ttl, null, open, close), "name is missing"),
        Arguments.of(
            settings(FACTORY, null, lifecycle, ttl, " ", open, close),
            "name must not be blank: ' '"),
        Arguments.of(settings(FACTORY, null, null, ttl, "p", open, close), "lifecycle is missing"),
        Arguments.of(
            settings(null, null, lifecycle, ttl, "p", open, close),
            "exactly one of factory and asyncFactory must be set: neither is"),
        Arguments.of(
            settings(FACTORY, ASYNC_FACTORY, lifecycle, ttl, "p", open, close),
            "exactly one of factory and asyncFactory must be set: both are"),
        Arguments.of(
            settings(
                null,
                ASYNC_FACTORY,
                ResourceLifecycle.closedBy(
                    (Function<TestResource, CompletionStage<?>> & Serializable)
                        TestResource::closeAsync),
                ttl,
                "p",
                open,
                close),
            "an asyncFactory opens AsyncResources only"),
        Arguments.of(bounded(valid(), 0, 1, Duration.ZERO), "maxWeight must be positive: 0"),
        Arguments.of(
            bounded(valid(), 5, -1, Duration.ZERO), "maxConcurrentCreations must be positive: -1"),
        Arguments.of(
            bounded(valid(), 5, 1, Duration.ofSeconds(-3)),
            "acquireTimeout must not be negative: PT-3S"),
        Arguments.of(
            retryBackoff(valid(), Duration.ZERO, Duration.ofSeconds(1)),
            "retryBackoff initial must be positive: PT0S"),
        Arguments.of(
            retryBackoff(valid(), Duration.ofSeconds(2), Duration.ofSeconds(1)),
            "retryBackoff max must be at least initial PT2S: PT1S"),
        Arguments.of(
            retryBackoff(valid(), Duration.ofSeconds(1), null),
            "retryBackoff needs both initial and max: max is missing"),
        Arguments.of(
            retryBackoff(valid(), null, Duration.ofSeconds(1)),
            "retryBackoff needs both initial and max: initial is missing"),
        Arguments.of(maxLifetime(valid(), Duration.ZERO), "maxLifetime must be positive: PT0S"),
        Arguments.of(
            maxLifetime(valid(), Duration.ofSeconds(-1)), "maxLifetime must be positive: PT-1S"),
        Arguments.of(null, "config is missing"));
  }

  /** {@code config} with its max lifetime replaced. */
  private static PoolConfig<String, TestResource> maxLifetime(
      PoolConfig<String, TestResource> config, Duration maxLifetime) {
    return copy(
        config,
        config.maxWeight(),
        config.maxConcurrentCreations(),
        config.acquireTimeout(),
        config.retryBackoffInitial(),
        config.retryBackoffMax(),
        maxLifetime);
  }

  /** {@code config} with the retry backoff's settings replaced. */
  private static PoolConfig<String, TestResource> retryBackoff(
      PoolConfig<String, TestResource> config, Duration initial, Duration max) {
    return copy(
        config,
        config.maxWeight(),
        config.maxConcurrentCreations(),
        config.acquireTimeout(),
        initial,
        max,
        config.maxLifetime());
  }

  /** {@code config} with the bound's settings replaced. */
  private static PoolConfig<String, TestResource> bounded(
      PoolConfig<String, TestResource> config,
      long maxWeight,
      int maxConcurrentCreations,
      Duration acquireTimeout) {
    return copy(
        config,
        maxWeight,
        maxConcurrentCreations,
        acquireTimeout,
        config.retryBackoffInitial(),
        config.retryBackoffMax(),
        config.maxLifetime());
  }

  /** {@code config} with the settings these tests vary replaced. */
  private static PoolConfig<String, TestResource> copy(
      PoolConfig<String, TestResource> config,
      long maxWeight,
      int maxConcurrentCreations,
      Duration acquireTimeout,
      Duration retryBackoffInitial,
      Duration retryBackoffMax,
      Duration maxLifetime) {
    return new PoolConfig<>(
        config.factory(),
        config.asyncFactory(),
        config.lifecycle(),
        config.ttl(),
        null,
        null,
        null,
        config.name(),
        false,
        config.openTimeout(),
        config.closeTimeout(),
        false,
        null,
        null,
        maxWeight,
        null,
        acquireTimeout,
        maxConcurrentCreations,
        null,
        retryBackoffInitial,
        retryBackoffMax,
        maxLifetime,
        null);
  }

  @ParameterizedTest(name = "{1}")
  @MethodSource("badSettings")
  void streamWithSettingsNoBuilderAcceptsIsRefusedNamingTheValue(
      PoolConfig<String, TestResource> config, String message) throws Exception {
    Object crafted = serializedForm(config);
    assertThatThrownBy(() -> SerializationTest.roundTrip(crafted))
        .isInstanceOf(InvalidObjectException.class)
        .hasMessageContaining(message);
  }

  @Test
  void streamWithValidSettingsStillYieldsAWorkingPool() throws Exception {
    @SuppressWarnings("unchecked")
    Pool<String, TestResource> copy =
        (Pool<String, TestResource>) SerializationTest.roundTrip(serializedForm(valid()));
    try (Lease<TestResource> lease = copy.get("k")) {
      assertThat(lease.get().key).isEqualTo("k");
    }
    assertThat(copy.toString()).contains("crafted");
    copy.close();
  }
}
