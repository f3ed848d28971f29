package dev.asyncpool;

import java.io.Serializable;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.Function;

/** How the pool opens and closes an instance of {@code R}. */
interface ResourceLifecycle<R> extends Serializable {

  CompletionStage<Void> open(R resource);

  /**
   * Starts closing {@code resource}; called on the pool's executor. {@code blockingExecutor} is
   * where a close that blocks should run.
   */
  CompletionStage<?> close(R resource, Executor blockingExecutor);

  /**
   * True if the factory makes a ready instance and {@link #open} does nothing: the adapters of
   * plain clients. Their open time is then the factory's.
   */
  default boolean opensInFactory() {
    return false;
  }

  @SuppressWarnings("unchecked")
  static <R extends AsyncResource> ResourceLifecycle<R> asyncResource() {
    return (ResourceLifecycle<R>) (ResourceLifecycle<?>) AsyncResourceLifecycle.INSTANCE;
  }

  @SuppressWarnings("unchecked")
  static <R extends AutoCloseable> ResourceLifecycle<R> autoCloseable() {
    return (ResourceLifecycle<R>) (ResourceLifecycle<?>) AutoCloseableLifecycle.INSTANCE;
  }

  static <R> ResourceLifecycle<R> closedBy(
      Function<? super R, ? extends CompletionStage<?>> closer) {
    return new CloserLifecycle<>(Objects.requireNonNull(closer, "closer"));
  }

  /** Calls the {@link AsyncResource} methods; an enum so that it stays a singleton. */
  enum AsyncResourceLifecycle implements ResourceLifecycle<AsyncResource> {
    INSTANCE;

    @Override
    public CompletionStage<Void> open(AsyncResource resource) {
      return resource.openAsync();
    }

    @Override
    public CompletionStage<?> close(AsyncResource resource, Executor blockingExecutor) {
      return resource.closeAsync();
    }
  }

  /** Runs {@link AutoCloseable#close()}, which may block, on the blocking executor. */
  enum AutoCloseableLifecycle implements ResourceLifecycle<AutoCloseable> {
    INSTANCE;

    @Override
    public boolean opensInFactory() {
      return true;
    }

    @Override
    public CompletionStage<Void> open(AutoCloseable resource) {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<?> close(AutoCloseable resource, Executor blockingExecutor) {
      return CompletableFuture.runAsync(
          () -> {
            try {
              resource.close();
            } catch (Exception e) {
              throw new CompletionException(e);
            }
          },
          blockingExecutor);
    }
  }

  /**
   * Closes with a function that returns a stage, like Lettuce's {@code shutdownAsync}.
   *
   * @param <R> the resource type
   * @param closer starts closing a resource and returns the stage of its end
   * @serial exclude
   */
  record CloserLifecycle<R>(Function<? super R, ? extends CompletionStage<?>> closer)
      implements ResourceLifecycle<R> {
    private static final long serialVersionUID = 1L;

    @Override
    public boolean opensInFactory() {
      return true;
    }

    @Override
    public CompletionStage<Void> open(R resource) {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<?> close(R resource, Executor blockingExecutor) {
      return closer.apply(resource);
    }
  }
}
