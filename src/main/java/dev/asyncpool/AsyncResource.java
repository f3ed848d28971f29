package dev.asyncpool;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A resource that is opened and closed asynchronously: the Java form of Python's async context
 * manager ({@code __aenter__} / {@code __aexit__}).
 *
 * <p>The pool calls {@link #openAsync()} once, right after the factory made the instance and
 * before any lease is handed out, and {@link #closeAsync()} exactly once, when the instance has
 * been idle for the pool's time-to-live, was invalidated, or the pool shut down. Neither method is
 * called while the other's stage is incomplete.
 *
 * <p>Both methods should return quickly and do their work in the returned stage: the pool calls
 * {@code closeAsync} from its executor (never from the thread that released the last lease), and
 * a method that blocks holds up that executor. A method that throws, returns {@code null}, or
 * returns a stage that fails is treated as a failure of that step, logged with the key, and
 * counted; it never corrupts the pool.
 *
 * <p>Thread-safety: the pool calls the two methods of one instance one after the other, never
 * concurrently, though possibly from different threads; an instance's other methods are used by
 * the leases' threads as the instance itself allows.
 */
public interface AsyncResource {

  /**
   * Opens this resource; the pool hands out no lease before the returned stage completes
   * successfully. If it fails, every caller waiting for this instance gets the failure, the
   * instance is closed, and the next request for the key creates a new one.
   *
   * @return a stage that completes when the resource is ready; by default an already completed one
   */
  default CompletionStage<Void> openAsync() {
    return CompletableFuture.completedFuture(null);
  }

  /**
   * Closes this resource. Called exactly once per instance, never while a lease on it is open
   * (except after a shutdown grace period ran out), and off the thread that released it.
   *
   * @return a stage that completes when the resource is closed
   */
  CompletionStage<Void> closeAsync();
}
