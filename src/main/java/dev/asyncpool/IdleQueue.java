package dev.asyncpool;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * An intrusive multi-producer, single-consumer FIFO of entries that became idle (Dmitry Vyukov's
 * intrusive MPSC queue). Producers are the threads whose release made an entry idle; the consumer
 * is the pool's expiry task, which runs one at a time. Linking through {@link PoolEntry#nextIdle}
 * means queueing allocates nothing.
 *
 * <p>An entry is in the queue at most once: producers push only after winning {@link
 * PoolEntry#queued}, and the consumer clears that flag only after it has polled the entry.
 */
final class IdleQueue<K, R> {

  private static final VarHandle TAIL;

  static {
    try {
      TAIL = MethodHandles.lookup().findVarHandle(IdleQueue.class, "tail", PoolEntry.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final PoolEntry<K, R> stub = PoolEntry.stub();

  /** Where producers append; swapped atomically. */
  private volatile PoolEntry<K, R> tail = stub;

  /** Where the consumer takes from; consumer-private. */
  private PoolEntry<K, R> head = stub;

  /** Appends {@code entry}; any thread. */
  void push(PoolEntry<K, R> entry) {
    entry.nextIdle = null;
    @SuppressWarnings("unchecked")
    PoolEntry<K, R> previous = (PoolEntry<K, R>) TAIL.getAndSet(this, entry);
    // Between the swap and this link the queue looks empty from the head: poll() then answers
    // null and the consumer looks again later (see Expiry.reap).
    previous.nextIdle = entry;
  }

  /** Removes and returns the oldest entry, or null if none is (fully) linked yet; consumer only. */
  PoolEntry<K, R> poll() {
    PoolEntry<K, R> first = head;
    PoolEntry<K, R> next = first.nextIdle;
    if (first == stub) {
      if (next == null) {
        return null;
      }
      head = next;
      first = next;
      next = next.nextIdle;
    }
    if (next != null) {
      head = next;
      first.nextIdle = null; // do not keep a chain of dead entries reachable from a live one
      return first;
    }
    if (first != tail) {
      return null; // a producer swapped the tail but has not linked it yet
    }
    push(stub);
    next = first.nextIdle;
    if (next != null) {
      head = next;
      first.nextIdle = null;
      return first;
    }
    return null;
  }

  /** True if nothing was pushed that the consumer has not polled; consumer only. */
  boolean isEmpty() {
    return head == stub && tail == stub;
  }
}
