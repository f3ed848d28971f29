package dev.asyncpool;

import com.github.valfirst.slf4jtest.LoggingEvent;
import com.github.valfirst.slf4jtest.TestLogger;
import com.github.valfirst.slf4jtest.TestLoggerFactory;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.slf4j.event.Level;

/**
 * What the pool logged during the current test. Surefire selects slf4j-test as the SLF4J provider:
 * it keeps every event in memory and prints none, so a test that provokes a failure asserts on
 * the log line instead of printing it. The pool logs through {@code
 * LoggerFactory.getLogger(Pool.class)} on whichever thread did the work (a caller, the executor,
 * the expiry task, a cleaner): this reads the events of every thread, in the order they arrived.
 *
 * <p>{@link #lines} shows each event as one line to assert on: its level, its message with the
 * arguments filled in, and the simple class name of the throwable logged with it, if any:
 *
 * <pre>WARN test-pool: closing the instance for key k failed | IOException</pre>
 *
 * <p>A test class registers {@link Capture} ({@link PoolTestSupport} does): each test starts with
 * nothing captured.
 */
final class PoolLog {

  private PoolLog() {}

  /** The logger the pool writes to. */
  static TestLogger logger() {
    return TestLoggerFactory.getTestLogger(Pool.class);
  }

  /**
   * Forgets what every logger captured, on every thread, and captures every level again. Run
   * before each test by {@link Capture}; events are kept until then, so a stress test that logs
   * thousands of failures holds them only while it runs.
   */
  static void clear() {
    TestLoggerFactory.clearAll();
  }

  /**
   * Captures only these levels of the pool's logger until the next {@link #clear()}: for a run
   * too long to keep every event in memory.
   */
  static void captureOnly(Level... levels) {
    logger().setEnabledLevelsForAllThreads(levels);
  }

  /** The pool's events since the last {@link #clear()}, from every thread, oldest first. */
  static List<LoggingEvent> events() {
    return logger().getAllLoggingEvents();
  }

  /** The pool's events at {@code level}, from every thread, oldest first. */
  static List<LoggingEvent> events(Level level) {
    return logger().getAllLoggingEvents().stream().filter(e -> e.getLevel() == level).collect(Collectors.toList());
  }

  /** {@link #events()}, each as a {@link #line}. */
  static List<String> lines() {
    return events().stream().map(PoolLog::line).collect(Collectors.toList());
  }

  /** {@link #events(Level)}, each as a {@link #line}. */
  static List<String> lines(Level level) {
    return events(level).stream().map(PoolLog::line).collect(Collectors.toList());
  }

  /** The throwables logged with the pool's events at {@code level}, oldest first. */
  static List<Throwable> causes(Level level) {
    return events(level).stream()
        .map(LoggingEvent::getThrowable)
        .flatMap(Optional::stream)
        .collect(Collectors.toList());
  }

  /** {@code LEVEL message | ThrowableSimpleName}, the last part only if a throwable was logged. */
  static String line(LoggingEvent event) {
    return event.getLevel()
        + " "
        + event.getFormattedMessage()
        + event.getThrowable().map(t -> " | " + simpleName(t)).orElse("");
  }

  private static String simpleName(Throwable t) {
    String simple = t.getClass().getSimpleName();
    return simple.isEmpty() ? t.getClass().getName() : simple;
  }

  /** Clears the capture before each test. */
  static final class Capture implements BeforeEachCallback {
    @Override
    public void beforeEach(ExtensionContext context) {
      clear();
    }
  }
}
