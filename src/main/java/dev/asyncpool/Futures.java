package dev.asyncpool;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;

/** What the pool needs to know of the stages user code returns: stateless helpers. */
final class Futures {

  private Futures() {}

  /** True if {@code stage} is a future that has completed (a stage of another kind: false). */
  static boolean isDone(CompletionStage<?> stage) {
    return stage instanceof CompletableFuture<?> future && future.isDone();
  }

  /** The failure of a completed, failed future. */
  static Throwable failureOf(CompletionStage<?> stage) {
    try {
      stage.toCompletableFuture().join();
      return null;
    } catch (CompletionException | CancellationException e) {
      return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }
  }

  static Throwable unwrap(Throwable failure) {
    while ((failure instanceof CompletionException || failure instanceof ExecutionException)
        && failure.getCause() != null) {
      failure = failure.getCause();
    }
    return failure;
  }
}
