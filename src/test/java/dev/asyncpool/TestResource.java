package dev.asyncpool;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/** A resource that counts its opens and closes and can be told how to behave. */
final class TestResource implements AsyncResource {
  final Object key;
  final AtomicInteger opens = new AtomicInteger();
  final AtomicInteger closes = new AtomicInteger();
  volatile Thread closedOn;
  volatile Supplier<CompletionStage<Void>> onOpen = () -> CompletableFuture.completedFuture(null);
  volatile Supplier<CompletionStage<Void>> onClose = () -> CompletableFuture.completedFuture(null);

  TestResource(Object key) {
    this.key = key;
  }

  @Override
  public CompletionStage<Void> openAsync() {
    opens.incrementAndGet();
    return onOpen.get();
  }

  @Override
  public CompletionStage<Void> closeAsync() {
    closedOn = Thread.currentThread();
    closes.incrementAndGet();
    return onClose.get();
  }

  boolean isClosed() {
    return closes.get() > 0;
  }

  @Override
  public String toString() {
    return "TestResource[" + key + ", opens=" + opens + ", closes=" + closes + "]";
  }
}
