package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.NotSerializableException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.time.Duration;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Semantics 8: a copy carries the settings and no instances (the seed's pickle note). */
class SerializationTest {

  /** Counts instances per JVM-wide registry so the test can tell copies apart. */
  static final class CountingFactory implements Function<String, TestResource>, Serializable {
    private static final long serialVersionUID = 1L;
    transient java.util.List<TestResource> made = new java.util.concurrent.CopyOnWriteArrayList<>();

    @Override
    public TestResource apply(String key) {
      if (made == null) {
        made = new java.util.concurrent.CopyOnWriteArrayList<>();
      }
      TestResource r = new TestResource(key);
      made.add(r);
      return r;
    }
  }

  @SuppressWarnings("unchecked")
  static <T> T roundTrip(T value) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(value);
    }
    try (ObjectInputStream in =
        new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      return (T) in.readObject();
    }
  }

  @Test
  void copyCarriesSettingsAndNoInstances() throws Exception {
    CountingFactory factory = new CountingFactory();
    Pool<String, TestResource> original =
        Pool.newBuilder()
            .ttl(Duration.ofSeconds(7))
            .name("tenants")
            .build(factory);
    Lease<TestResource> held = original.get("k");

    Pool<String, TestResource> copy = roundTrip(original);
    assertThat(copy).isNotSameAs(original);
    assertThat(copy.toString()).contains("tenants").contains("ttl=PT7S");
    assertThat(copy.stats().live()).as("starts empty").isZero();

    try (Lease<TestResource> copied = copy.get("k")) {
      assertThat(copied.get()).isNotSameAs(held.get());
    }
    copy.close();
    assertThat(held.get().closes).as("the copy never touches the original's").hasValue(0);
    assertThat(original.stats().live()).isEqualTo(1);
    held.close();
    original.close();
    assertThat(original.stats().closes()).isEqualTo(1);
  }

  @Test
  void serializableLambdaFactoryWorks() throws Exception {
    Pool<String, TestResource> original =
        Pool.newBuilder()
            .build((Function<String, TestResource> & Serializable) TestResource::new);
    Pool<String, TestResource> copy = roundTrip(original);
    try (Lease<TestResource> lease = copy.get("x")) {
      assertThat(lease.get().key).isEqualTo("x");
    }
    copy.close();
    original.close();
  }

  @Test
  void nonSerializableFactoryIsNamed() {
    Pool<String, TestResource> pool = Pool.newBuilder().build(TestResource::new);
    assertThatThrownBy(() -> roundTrip(pool))
        .isInstanceOf(NotSerializableException.class)
        .hasMessageContaining("factory");
    pool.close();
  }

  @Test
  void nonSerializableSchedulerIsNamed() {
    Pool<String, TestResource> pool =
        Pool.newBuilder()
            .scheduler(java.util.concurrent.Executors.newSingleThreadScheduledExecutor())
            .build((Function<String, TestResource> & Serializable) TestResource::new);
    assertThatThrownBy(() -> roundTrip(pool))
        .isInstanceOf(NotSerializableException.class)
        .hasMessageContaining("scheduler");
    pool.close();
  }
}
