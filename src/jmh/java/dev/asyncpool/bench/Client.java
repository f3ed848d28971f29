package dev.asyncpool.bench;

import dev.asyncpool.AsyncResource;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The pooled thing in every benchmark and for every peer: opening and closing cost nothing, so
 * what is measured is the pool's own work.
 */
final class Client implements AsyncResource {

  private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

  final Object key;

  Client(Object key) {
    this.key = key;
  }

  @Override
  public CompletionStage<Void> openAsync() {
    return DONE;
  }

  @Override
  public CompletionStage<Void> closeAsync() {
    return DONE;
  }
}
