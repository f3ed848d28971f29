package dev.asyncpool;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * What code prints to {@code System.out}, captured for a test to assert on instead of going to
 * the build's log (an example that shows a person its results prints them).
 */
final class SystemOut {

  /** Code that may print, and throw. */
  interface Action {
    void run() throws Exception;
  }

  private SystemOut() {}

  /** Runs {@code action} with {@code System.out} captured, and returns what it printed. */
  static String capture(Action action) throws Exception {
    PrintStream original = System.out;
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    try (PrintStream capture = new PrintStream(printed, true, StandardCharsets.UTF_8)) {
      System.setOut(capture);
      action.run();
    } finally {
      System.setOut(original);
    }
    return printed.toString(StandardCharsets.UTF_8);
  }
}
