package dev.asyncpool;

import java.io.Serializable;
import java.util.concurrent.CompletionStage;

/** How the pool opens and closes an instance of {@code R}. Implementations are stateless. */
interface ResourceLifecycle<R> extends Serializable {

  CompletionStage<Void> open(R resource);

  CompletionStage<Void> close(R resource);

  @SuppressWarnings("unchecked")
  static <R extends AsyncResource> ResourceLifecycle<R> asyncResource() {
    return (ResourceLifecycle<R>) (ResourceLifecycle<?>) AsyncResourceLifecycle.INSTANCE;
  }

  /** Calls the {@link AsyncResource} methods; an enum so that it stays a singleton. */
  enum AsyncResourceLifecycle implements ResourceLifecycle<AsyncResource> {
    INSTANCE;

    @Override
    public CompletionStage<Void> open(AsyncResource resource) {
      return resource.openAsync();
    }

    @Override
    public CompletionStage<Void> close(AsyncResource resource) {
      return resource.closeAsync();
    }
  }
}
