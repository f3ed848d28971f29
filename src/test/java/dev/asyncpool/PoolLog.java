package dev.asyncpool;

import com.github.valfirst.slf4jtest.LoggingEvent;
import com.github.valfirst.slf4jtest.TestLogger;
import com.github.valfirst.slf4jtest.TestLoggerFactory;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.AfterEachCallback;
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
 * nothing captured, and a test that leaves an ERROR of the pool unread fails, since the build no
 * longer prints one for a person to notice.
 */
final class PoolLog {

  /** How many of the pool's ERROR events the current test has read, see {@link Capture}. */
  private static volatile int errorsRead;

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
    errorsRead = 0;
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
    List<LoggingEvent> all = logger().getAllLoggingEvents();
    markRead(all);
    return all;
  }

  /** The pool's events at {@code level}, from every thread, oldest first. */
  static List<LoggingEvent> events(Level level) {
    List<LoggingEvent> all = logger().getAllLoggingEvents();
    if (level == Level.ERROR) {
      markRead(all);
    }
    return at(level, all);
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

  private static List<LoggingEvent> at(Level level, List<LoggingEvent> events) {
    return events.stream().filter(e -> e.getLevel() == level).collect(Collectors.toList());
  }

  private static void markRead(List<LoggingEvent> snapshot) {
    errorsRead = at(Level.ERROR, snapshot).size();
  }

  /**
   * Clears the capture before each test; after it, fails the test if the pool logged an ERROR the
   * test never read through {@link #events()}, {@link #lines()} or their ERROR forms. An ERROR is
   * the pool's own broken invariant or a broken ticker: a test that provokes one asserts on it,
   * any other is a bug that a quiet build would otherwise hide.
   */
  static final class Capture implements BeforeEachCallback, AfterEachCallback {
    @Override
    public void beforeEach(ExtensionContext context) {
      clear();
    }

    @Override
    public void afterEach(ExtensionContext context) {
      List<LoggingEvent> errors = at(Level.ERROR, logger().getAllLoggingEvents());
      if (errors.size() > errorsRead) {
        throw new AssertionError(
            "the pool logged "
                + (errors.size() - errorsRead)
                + " ERROR event(s) that the test did not read: "
                + errors.subList(errorsRead, errors.size()).stream()
                    .map(PoolLog::line)
                    .collect(Collectors.toList()));
      }
    }
  }
}
