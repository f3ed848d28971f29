package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.github.valfirst.slf4jtest.LoggingEvent;
import com.github.valfirst.slf4jtest.TestLoggerFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Keys may carry secrets: with a key formatter that hides them, no log line, exception message or
 * {@code toString} of the pool shows them. A formatter that throws breaks nothing.
 */
class KeyFormatterTest extends PoolTestSupport {

  /** A tenant's connection settings; a record's toString shows the password. */
  record TenantConfig(String tenant, String password) {}

  private static final String SECRET = "hunter2-s3cret";

  private final TenantConfig acme = new TenantConfig("acme", SECRET);
  private final List<String> seen = new ArrayList<>();
  private Pool<TenantConfig, TestResource> secretPool;

  @BeforeEach
  void clearLogs() {
    TestLoggerFactory.clearAll();
  }

  private void see(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      seen.add(String.valueOf(c.getMessage()));
      seen.add(c.toString());
    }
  }

  /** Every pool log line, rendered with its arguments and its throwable's chain. */
  private static List<String> logged() {
    List<String> lines = new ArrayList<>();
    for (LoggingEvent event : TestLoggerFactory.getTestLogger(Pool.class).getAllLoggingEvents()) {
      lines.add(event.getFormattedMessage());
      event.getThrowable().ifPresent(t -> {
        for (Throwable c = t; c != null; c = c.getCause()) {
          lines.add(c.toString());
        }
      });
    }
    return lines;
  }

  /** Provokes every path that names a key, and collects what callers see. */
  private void exercise() {
    CompletableFuture<Void> neverOpens = new CompletableFuture<>();
    TenantConfig slow = new TenantConfig("slow", SECRET);
    TenantConfig broken = new TenantConfig("broken", SECRET);
    TenantConfig recursive = new TenantConfig("recursive", SECRET);
    Pool<?, ?>[] self = new Pool<?, ?>[1];
    secretPool =
        settings()
            .ttl(Duration.ofSeconds(1))
            .openTimeout(Duration.ofSeconds(5))
            .closeTimeout(Duration.ofSeconds(5))
            .leakDetection()
            .keyFormatter(TenantConfig::tenant)
            .listener(
                new PoolListener<TenantConfig, TestResource>() {
                  @Override
                  public void onOpened(TenantConfig key, TestResource r, Duration took) {
                    throw new IllegalStateException("listener bug");
                  }
                })
            .build(
                key -> {
                  if (key.equals(broken)) {
                    throw new IllegalStateException("factory failed");
                  }
                  if (key.equals(recursive)) {
                    @SuppressWarnings("unchecked")
                    Pool<TenantConfig, TestResource> pool =
                        (Pool<TenantConfig, TestResource>) self[0];
                    pool.get(recursive).close();
                  }
                  TestResource r = factory.apply(key);
                  if (key.equals(slow)) {
                    r.onOpen = () -> neverOpens;
                  }
                  r.onClose = () -> CompletableFuture.failedFuture(new RuntimeException("close"));
                  return r;
                });
    self[0] = secretPool;
    Lease<TestResource> lease = secretPool.get(acme);
    seen.add(lease.toString());
    lease.close();
    seen.add(lease.toString());
    see(catchThrowable(lease::get));
    see(catchThrowable(() -> secretPool.get(broken)));
    see(catchThrowable(() -> secretPool.get(recursive)));
    CompletableFuture<Lease<TestResource>> waiting = secretPool.acquire(slow);
    see(catchThrowable(() -> secretPool.get(slow, Duration.ZERO)));
    scheduler.advance(Duration.ofSeconds(6)); // the open times out; acme expires, close fails
    see(catchThrowable(waiting::join));
    seen.add(secretPool.toString());
    seen.add(secretPool.stats().toString());
    secretPool.close();
    see(catchThrowable(() -> secretPool.get(acme)));
  }

  @Test
  void aFormatterThatHidesThePasswordKeepsItOutOfEveryMessageAndLogLine() {
    exercise();
    List<String> logged = logged();
    assertThat(logged).as("the paths above log").isNotEmpty();
    assertThat(seen).as("messages callers see").noneMatch(s -> s.contains(SECRET));
    assertThat(logged).as("log lines").noneMatch(s -> s.contains(SECRET));
    // ...and the key is still named, by what the formatter shows.
    assertThat(seen)
        .anyMatch(s -> s.contains("key acme"))
        .anyMatch(s -> s.contains("key recursive"))
        .anyMatch(s -> s.contains("key slow"));
    assertThat(logged)
        .anyMatch(s -> s.contains("key acme"))
        .anyMatch(s -> s.contains("key slow"));
  }

  @Test
  void withoutAFormatterTheKeysToStringIsShown() {
    pool = null;
    Pool<TenantConfig, TestResource> plain = settings().build(factory);
    try (Lease<TestResource> lease = plain.get(acme)) {
      assertThat(lease.toString()).contains(SECRET); // what the formatter is for
    }
    plain.close();
  }

  /** A key whose toString (or formatter) throws: leases, expiry and closes go on. */
  @Test
  void aThrowingFormatterBreaksNoLeaseAndLeaksNoShare() {
    Pool<TenantConfig, TestResource> formatted =
        settings()
            .ttl(Duration.ofSeconds(1))
            .leakDetection()
            .keyFormatter(
                (TenantConfig key) -> {
                  throw new IllegalStateException("formatter bug " + key.password());
                })
            .build(factory);
    Lease<TestResource> lease = formatted.get(acme);
    assertThat(lease.toString())
        .contains("<key of type " + TenantConfig.class.getName())
        .contains("IllegalStateException")
        .doesNotContain(SECRET);
    TestResource resource = lease.get();
    lease.close();
    scheduler.advance(Duration.ofSeconds(2));
    assertThat(resource.closes).as("the share came back: expired and closed").hasValue(1);
    formatted.close();
  }
}
