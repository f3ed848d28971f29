package dev.asyncpool;

import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pool's side of a {@link PoolListener}: measures durations with the pool's ticker and calls
 * the user's listener so that nothing it does (throw, or a ticker that throws) reaches the pool.
 * {@link KeyedPool} holds one only when a listener was set, and calls it only on slow paths.
 */
final class SafeListener<K, R> {

  private static final Logger log = LoggerFactory.getLogger(Pool.class);

  /** What {@link #start()} returns when the ticker failed: durations from it are zero. */
  private static final long NO_TIME = Long.MIN_VALUE;

  private final PoolListener<? super K, ? super R> listener;
  private final Ticker ticker;
  private final String name;

  /** Shows a key in the log line of a failed event (the pool's key formatter). */
  private final java.util.function.Function<Object, String> describe;

  SafeListener(
      PoolListener<? super K, ? super R> listener,
      Ticker ticker,
      String name,
      java.util.function.Function<Object, String> describe) {
    this.listener = listener;
    this.ticker = ticker;
    this.name = name;
    this.describe = describe;
  }

  /** The ticker's time, to measure a duration from; a failing ticker gives zero durations. */
  long start() {
    try {
      long now = ticker.read();
      return now == NO_TIME ? now + 1 : now;
    } catch (RuntimeException e) {
      return NO_TIME;
    }
  }

  private Duration since(long start) {
    if (start == NO_TIME) {
      return Duration.ZERO;
    }
    long now = start();
    return now == NO_TIME ? Duration.ZERO : Duration.ofNanos(Math.max(0, now - start));
  }

  void created(K key, R resource, long start) {
    Duration elapsed = since(start);
    try {
      listener.onCreated(key, resource, elapsed);
    } catch (Throwable t) {
      failed("onCreated", key, t);
    }
  }

  void opened(K key, R resource, long start) {
    Duration elapsed = since(start);
    try {
      listener.onOpened(key, resource, elapsed);
    } catch (Throwable t) {
      failed("onOpened", key, t);
    }
  }

  void creationFailed(K key, R resource, Throwable cause) {
    PoolListener.Phase phase =
        resource == null ? PoolListener.Phase.CREATE : PoolListener.Phase.OPEN;
    try {
      listener.onCreationFailed(key, phase, resource, cause);
    } catch (Throwable t) {
      failed("onCreationFailed", key, t);
    }
  }

  void expired(K key, R resource) {
    try {
      listener.onExpired(key, resource);
    } catch (Throwable t) {
      failed("onExpired", key, t);
    }
  }

  void evicted(K key, R resource) {
    try {
      listener.onEvicted(key, resource);
    } catch (Throwable t) {
      failed("onEvicted", key, t);
    }
  }

  void invalidated(K key, R resource) {
    try {
      listener.onInvalidated(key, resource);
    } catch (Throwable t) {
      failed("onInvalidated", key, t);
    }
  }

  void refreshed(K key, R previous, R resource) {
    try {
      listener.onRefreshed(key, previous, resource);
    } catch (Throwable t) {
      failed("onRefreshed", key, t);
    }
  }

  void refreshFailed(K key, R resource, Throwable cause) {
    try {
      listener.onRefreshFailed(key, resource, cause);
    } catch (Throwable t) {
      failed("onRefreshFailed", key, t);
    }
  }

  void closed(K key, R resource, long start) {
    Duration elapsed = since(start);
    try {
      listener.onClosed(key, resource, elapsed);
    } catch (Throwable t) {
      failed("onClosed", key, t);
    }
  }

  void closeFailed(K key, R resource, Throwable cause, long start) {
    Duration elapsed = since(start);
    try {
      listener.onCloseFailed(key, resource, cause, elapsed);
    } catch (Throwable t) {
      failed("onCloseFailed", key, t);
    }
  }

  private void failed(String event, K key, Throwable t) {
    log.warn(
        "{}: the listener's {} threw for key {}; ignored", name, event, describe.apply(key), t);
  }
}
