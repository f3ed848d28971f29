package dev.asyncpool;

import java.time.Duration;
import java.util.Objects;

/**
 * A request for a key was refused at once, without calling the factory, because the key's last
 * creation failed and its retry backoff ({@link PoolBuilder#retryBackoff}) has not passed yet. The
 * {@linkplain #getCause() cause} is that last failure, as the requests of that creation saw it;
 * the message names the pool and the key (as the pool's key formatter shows it), how many
 * creations failed in a row, and when the next one may start ("retrying in 1.6 s").
 *
 * <p>A request made {@link #retryIn()} later or after that may start a new creation; a request
 * for a key with an open instance never sees this exception. {@link Pool#get} and {@link
 * Pool#apply}/{@link Pool#accept} throw it; {@link Pool#acquire} and {@link Pool#withResource}
 * return a future failed with it.
 *
 * <p>It is an {@link IllegalStateException}, as are the pool's other refusals that are no fault of
 * the caller's arguments ({@link PoolExhaustedException}, a closed pool): the pool refuses the key
 * for now, and the same request succeeds later once the key works again. Code that handles the
 * pool's refusals in one place catches this one too; code that wants to tell the caller when to
 * come back (an HTTP 503 with {@code Retry-After}) catches this type and reads {@link #retryIn()}.
 */
public class RetryBackoffException extends IllegalStateException {

  private static final long serialVersionUID = 1L;

  /** How long after the refusal the key may be tried again; positive. */
  private final Duration retryIn;

  /**
   * Creates the exception.
   *
   * @param message names the pool and the key, and says when the next try is
   * @param cause the key's last failure, or null if it is unknown
   * @param retryIn how long from now until a request may try the key again; positive
   * @throws NullPointerException if {@code retryIn} is null
   */
  public RetryBackoffException(String message, Throwable cause, Duration retryIn) {
    super(message, cause);
    this.retryIn = Objects.requireNonNull(retryIn, "retryIn");
  }

  /**
   * Returns how long after this refusal a request may try the key again, measured by the pool's
   * ticker when the request was refused. A request made earlier is refused too; the first request
   * after it starts a new creation, and the others of that moment wait for that creation.
   *
   * @return a positive duration
   */
  public Duration retryIn() {
    return retryIn;
  }
}
