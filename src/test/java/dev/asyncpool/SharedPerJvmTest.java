package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link PoolBuilder#sharedPerJvm()} (issue 14): the copies of one pool that are deserialized in
 * a JVM are one live pool there. One test per rule, on the fake clock; {@code
 * SharedPerJvmForkedTest} does it in a fresh JVM.
 */
class SharedPerJvmTest {

  static final Duration TTL = Duration.ofSeconds(2);

  /** Past the TTL and its allowed lateness (a 64th of it, and 1 ms): idle instances are closed. */
  static final Duration PAST_TTL = TTL.plusSeconds(1);

  // The clock, scheduler and factory are static, and the serializable stand-ins below delegate to
  // them: a copy reads back as a stand-in, so a pool that a copy builds runs on the same fake
  // clock and counts its instances in the same factory as the pool the test built.
  static FakeTicker ticker;
  static ManualScheduler scheduler;
  static TestFactory factory;

  /** Pools to close after the test (never those a test wants collected). */
  private final List<Pool<?, ?>> toClose = new ArrayList<>();

  @BeforeEach
  void freshClock() {
    ticker = new FakeTicker();
    scheduler = new ManualScheduler(ticker);
    factory = new TestFactory();
  }

  @AfterEach
  void closePools() {
    toClose.forEach(Pool::closeAsync);
  }

  // ---- Rules -----------------------------------------------------------------------------------

  @Test
  void withoutTheSettingEachCopyIsAPoolOfItsOwnAndStartsEmpty() throws Exception {
    Pool<String, TestResource> pool = closing(settings().build(new Factory()));
    TestResource mine = lease(pool, "k");
    byte[] bytes = serialize(pool);

    Pool<String, TestResource> copy = closing(deserialize(bytes));
    Pool<String, TestResource> another = closing(deserialize(bytes));

    assertThat(copy).isNotSameAs(pool).isNotSameAs(another);
    assertThat(lease(copy, "k")).isNotSameAs(mine);
    assertThat(lease(another, "k")).isNotSameAs(mine);
    assertThat(factory.created).as("one instance per pool").hasSize(3);
  }

  @Test
  void aCopyDeserializedWhereThePoolLivesIsThatPool() throws Exception {
    Pool<String, TestResource> pool = closing(settings().sharedPerJvm().build(new Factory()));
    TestResource mine = lease(pool, "k");

    Pool<String, TestResource> copy = roundTrip(pool);

    assertThat(copy).isSameAs(pool);
    assertThat(lease(copy, "k")).isSameAs(mine);
    assertThat(factory.created).as("one instance for the key in this JVM").hasSize(1);
  }

  @Test
  void everyCopyOfACopyIsThePoolToo() throws Exception {
    Pool<String, TestResource> pool = closing(settings().sharedPerJvm().build(new Factory()));
    byte[] bytes = serialize(pool); // as an engine ships one closure to many tasks

    Pool<String, TestResource> first = deserialize(bytes);
    Pool<String, TestResource> second = deserialize(bytes);
    Pool<String, TestResource> ofACopy = roundTrip(first);

    assertThat(List.of(first, second, ofACopy)).allSatisfy(copy -> assertThat(copy).isSameAs(pool));
  }

  @Test
  void eachBuildIsAnIdentityOfItsOwn() throws Exception {
    PoolBuilder<Object, Object> builder = settings().sharedPerJvm();
    Pool<String, TestResource> one = closing(builder.build(new Factory()));
    Pool<String, TestResource> two = closing(builder.build(new Factory()));

    assertThat(roundTrip(one)).isSameAs(one);
    assertThat(roundTrip(two)).isSameAs(two);
    assertThat(one).isNotSameAs(two);
  }

  @Test
  void closeOnACopyClosesTheSharedPoolForTheWholeJvm() throws Exception {
    Pool<String, TestResource> pool = settings().sharedPerJvm().build(new Factory());
    TestResource idle = lease(pool, "k");
    Pool<String, TestResource> copy = roundTrip(pool);

    copy.close();

    assertThat(idle.closes).hasValue(1);
    assertThatThrownBy(() -> pool.get("k"))
        .as("whoever still holds it holds a closed pool")
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
  }

  @Test
  void aCopyArrivingAfterTheCloseStartsANewLivePoolThatLaterCopiesJoin() throws Exception {
    Pool<String, TestResource> pool = settings().sharedPerJvm().build(new Factory());
    TestResource before = lease(pool, "k");
    byte[] bytes = serialize(pool); // a task shipped before the close, run after it
    pool.close();

    Pool<String, TestResource> next = closing(deserialize(bytes));
    Pool<String, TestResource> later = deserialize(bytes);

    assertThat(next).isNotSameAs(pool);
    assertThat(next.stats().live()).as("starts empty").isZero();
    TestResource after = lease(next, "k");
    assertThat(after).isNotSameAs(before);
    assertThat(later).as("joins the new live pool").isSameAs(next);
    assertThat(roundTrip(pool)).as("the closed one's copies too").isSameAs(next);
    assertThat(pool.toString()).contains("closed");
  }

  @Test
  void aPoolWithIdleInstancesIsFoundAgainThoughNoOneHoldsIt() throws Exception {
    byte[] bytes = serializedAfterOneLease(); // the pool itself is no longer referenced
    collectGarbage();

    Pool<String, TestResource> copy = deserialize(bytes);

    assertThat(lease(copy, "k"))
        .as("its pending expiry keeps the pool, and its instance, alive")
        .isSameAs(factory.created.get(0));
    assertThat(factory.created).hasSize(1);
    scheduler.advance(PAST_TTL);
    assertThat(factory.created.get(0).closes).as("closed by its TTL, no close()").hasValue(1);
  }

  private static byte[] serializedAfterOneLease() throws IOException {
    Pool<String, TestResource> pool = settings().sharedPerJvm().build(new Factory());
    lease(pool, "k");
    return serialize(pool);
  }

  /**
   * Many jobs, each with a pool of its own identity, some closed and some left to expire: once
   * their instances are closed, the sharing keeps none of them alive, and the JVM's table of
   * shared pools shrinks back as they are collected.
   */
  @Test
  void manyJobsLeaveNoPoolBehind() throws Exception {
    int before = SharedPools.size();
    int jobs = 500;
    List<WeakReference<Pool<?, ?>>> collected = new ArrayList<>();
    byte[] firstBytes = null;
    for (int job = 0; job < jobs; job++) {
      Pool<String, TestResource> pool = settings().sharedPerJvm().build(new Factory());
      byte[] bytes = serialize(pool);
      Pool<String, TestResource> copy = deserialize(bytes);
      lease(copy, "tenant-" + job % 7);
      if (job % 2 == 0) {
        copy.close(); // a job that closes its pool; the odd ones leave theirs to the TTL
      }
      collected.add(new WeakReference<>(pool));
      if (firstBytes == null) {
        firstBytes = bytes;
      }
    }
    assertThat(SharedPools.size()).isGreaterThanOrEqualTo(jobs / 2);

    scheduler.advance(PAST_TTL);
    assertThat(factory.created).hasSize(jobs).allSatisfy(r -> assertThat(r.closes).hasValue(1));
    await()
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(10))
        .until(
            () -> {
              System.gc();
              return collected.stream().allMatch(ref -> ref.get() == null)
                  && SharedPools.size() <= before;
            });

    Pool<String, TestResource> again = closing(deserialize(firstBytes));
    assertThat(again.stats().live()).as("a new, empty pool: the old one is gone").isZero();
    lease(again, "k");
    assertThat(factory.created).hasSize(jobs + 1);
  }

  @Test
  void copiesDeserializedAtOnceAfterACloseEndWithOneLivePool() throws Exception {
    ExecutorService threads = Executors.newFixedThreadPool(THREADS);
    try {
      for (int round = 0; round < 20; round++) {
        Pool<String, TestResource> pool = settings().sharedPerJvm().build(new Factory());
        byte[] bytes = serialize(pool);
        pool.close(); // the entry is stale: every copy below races to replace it

        Set<Pool<String, TestResource>> pools = deserializeAtOnce(threads, bytes);

        assertThat(pools).as("round %d", round).hasSize(1).doesNotContain(pool);
        Pool<String, TestResource> live = pools.iterator().next();
        assertThat(live.toString()).doesNotContain("closed");
        live.close();
      }
    } finally {
      threads.shutdownNow();
    }
  }

  @Test
  void copiesDeserializedAtOnceWhereThePoolIsUnknownEndWithOneLivePool() throws Exception {
    List<byte[]> forgotten = serializedThenForgotten(20); // as in a JVM that never saw them
    ExecutorService threads = Executors.newFixedThreadPool(THREADS);
    try {
      for (int round = 0; round < forgotten.size(); round++) {
        Set<Pool<String, TestResource>> pools = deserializeAtOnce(threads, forgotten.get(round));

        assertThat(pools).as("round %d", round).hasSize(1);
        pools.iterator().next().close();
      }
    } finally {
      threads.shutdownNow();
    }
  }

  /** The serialized forms of {@code count} empty shared pools, once all were collected. */
  private static List<byte[]> serializedThenForgotten(int count) throws IOException {
    List<byte[]> forms = new ArrayList<>();
    List<WeakReference<Pool<?, ?>>> refs = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Pool<String, TestResource> pool = settings().sharedPerJvm().build(new Factory());
      forms.add(serialize(pool));
      refs.add(new WeakReference<>(pool)); // nothing else knows the pool now but the table, weakly
    }
    await()
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(10))
        .until(
            () -> {
              System.gc();
              return refs.stream().allMatch(ref -> ref.get() == null);
            });
    return forms;
  }

  @Test
  void aTtlThatNeverEndsIsRefused() {
    // Nothing would keep such a pool's idle instances alive, nor close them once it is collected.
    assertThatThrownBy(
            () ->
                Pool.newBuilder()
                    .ttl(Duration.ofSeconds(Long.MAX_VALUE))
                    .sharedPerJvm()
                    .build(new Factory()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "sharedPerJvm() needs a ttl that ends; PT2562047788015215H30M7S never does");
    Pool<String, TestResource> twice =
        closing(Pool.newBuilder().sharedPerJvm().sharedPerJvm().build(new Factory()));
    assertThat(twice.toString()).contains("ttl=PT30S");
  }

  // ---- Helpers ---------------------------------------------------------------------------------

  static final int THREADS = 4;

  /**
   * {@link #THREADS} copies of {@code bytes}, deserialized by as many threads at once, where none
   * of them finds a live pool: each builds a pool of its own, and the clock, which a pool reads
   * once as it is built, holds every one of them at a barrier until all have built theirs. So
   * they all race to install theirs, every time: the race is not left to chance.
   */
  private static Set<Pool<String, TestResource>> deserializeAtOnce(
      ExecutorService threads, byte[] bytes) throws Exception {
    List<Future<Pool<String, TestResource>>> copies = new ArrayList<>();
    candidatesBuilt = new CyclicBarrier(THREADS);
    try {
      for (int i = 0; i < THREADS; i++) {
        Callable<Pool<String, TestResource>> copy = () -> deserialize(bytes);
        copies.add(threads.submit(copy));
      }
      Set<Pool<String, TestResource>> pools = Collections.newSetFromMap(new IdentityHashMap<>());
      for (Future<Pool<String, TestResource>> copy : copies) {
        pools.add(copy.get(20, TimeUnit.SECONDS));
      }
      return pools;
    } finally {
      candidatesBuilt = null;
    }
  }

  /** While set, each read of {@link Clock} waits there: see {@link #deserializeAtOnce}. */
  static volatile CyclicBarrier candidatesBuilt;

  /** The test pool's settings, all serializable (see the stand-ins below). */
  static PoolBuilder<Object, Object> settings() {
    return Pool.newBuilder()
        .ttl(TTL)
        .ticker(Clock.INSTANCE)
        .scheduler(new Scheduler())
        .executor(Direct.INSTANCE)
        .name("shared");
  }

  private <P extends Pool<?, ?>> P closing(P pool) {
    toClose.add(pool);
    return pool;
  }

  static TestResource lease(Pool<String, TestResource> pool, String key) {
    try (Lease<TestResource> lease = pool.get(key)) {
      return lease.get();
    }
  }

  private static void collectGarbage() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
  }

  static byte[] serialize(Object value) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(value);
    }
    return bytes.toByteArray();
  }

  @SuppressWarnings("unchecked")
  static <T> T deserialize(byte[] bytes) throws IOException, ClassNotFoundException {
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes))) {
      return (T) in.readObject();
    }
  }

  static <T> T roundTrip(T value) throws IOException, ClassNotFoundException {
    return deserialize(serialize(value));
  }

  // ---- Serializable stand-ins for the test's clock, scheduler, executor and factory ------------

  enum Clock implements Ticker {
    INSTANCE;

    @Override
    public long read() {
      CyclicBarrier gate = candidatesBuilt;
      if (gate != null) {
        try {
          gate.await(10, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new IllegalStateException("not every copy built a pool of its own", e);
        }
      }
      return ticker.read();
    }
  }

  enum Direct implements Executor {
    INSTANCE;

    @Override
    public void execute(Runnable task) {
      task.run();
    }
  }

  static final class Factory implements Function<String, TestResource>, Serializable {
    private static final long serialVersionUID = 1L;

    @Override
    public TestResource apply(String key) {
      return factory.apply(key);
    }
  }

  static final class Scheduler extends AbstractExecutorService
      implements ScheduledExecutorService, Serializable {
    private static final long serialVersionUID = 1L;

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
      return scheduler.schedule(command, delay, unit);
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
      return scheduler.schedule(callable, delay, unit);
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(
        Runnable command, long initialDelay, long period, TimeUnit unit) {
      return scheduler.scheduleAtFixedRate(command, initialDelay, period, unit);
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(
        Runnable command, long initialDelay, long delay, TimeUnit unit) {
      return scheduler.scheduleWithFixedDelay(command, initialDelay, delay, unit);
    }

    @Override
    public void execute(Runnable command) {
      scheduler.execute(command);
    }

    @Override
    public void shutdown() {
      scheduler.shutdown();
    }

    @Override
    public List<Runnable> shutdownNow() {
      return scheduler.shutdownNow();
    }

    @Override
    public boolean isShutdown() {
      return scheduler.isShutdown();
    }

    @Override
    public boolean isTerminated() {
      return scheduler.isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
      return scheduler.awaitTermination(timeout, unit);
    }
  }
}
