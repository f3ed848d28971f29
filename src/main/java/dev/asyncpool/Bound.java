package dev.asyncpool;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The bound on what a pool holds: the weight of the instances that exist ({@link
 * PoolBuilder#maxInstances} counts each as 1, {@link PoolBuilder#maxWeight} asks the weigher) and
 * the number of creations running at once ({@link PoolBuilder#maxConcurrentCreations}). Like
 * reactor-pool's {@code AllocationStrategy}, it is a small object of permits that the pool asks and
 * pays back; it never calls the pool, and it runs no user code.
 *
 * <h2>How it is driven</h2>
 *
 * <p>A cold key's placeholder entry gets a {@link Ticket} and is {@link #admit admitted}: granted
 * room at once if its weight fits and nobody waits before it (arrival order), then a creation slot
 * at once if one is free and nobody waits for one. Otherwise the ticket queues: first for room
 * ({@code room}), then for a slot ({@code slots}). Three events move the queues, and each returns
 * the tickets that may now start their creation, for the pool to start outside the lock:
 *
 * <ul>
 *   <li>{@link #release}: an instance's weight stops counting (its close ended or timed out, or
 *       its creation failed with nothing to close);
 *   <li>{@link #creationEnded}: a creation finished, well or not, freeing its slot;
 *   <li>{@link #withdraw}: a waiting ticket gave up (its acquire timeout ran out, its requesters
 *       all left, or the pool shut down), which frees the room it may already hold.
 * </ul>
 *
 * <p>Room is made by the expiry task, which owns the idle entries in least recently released
 * order: it asks {@link #toEvict} how much weight must go for every waiter to fit, evicts that
 * much of the least recently released idle instances, and tells {@link #evicting} so that the next
 * ask does not count the same room twice. An evicted instance frees its weight when its close
 * ends, through {@link #release} with {@code evicted} set.
 *
 * <h2>Concurrency</h2>
 *
 * <p>Everything here runs on slow paths only (a cold key, the end of a creation or a close, the
 * expiry task), under one {@link ReentrantLock} (not a monitor: a virtual thread blocking on it
 * does not pin its carrier). The lease path never comes here: a request for a key with an open
 * instance never waits for room. The two volatile views, {@link #waiting()} and {@link
 * #weightInUse()}, are written under the lock and read without it by {@code stats()} and by a
 * release that makes an entry idle (to wake the expiry task when waiters could use it).
 *
 * <p>Thread-safe. No method blocks but for the lock, held only for queue bookkeeping.
 */
final class Bound<K, R> {

  /** A cold key's place in the queues; one per creation, shared by all its requesters. */
  static final class Ticket<K, R> {
    static final int NEW = 0;
    static final int WAITING_ROOM = 1;
    static final int WAITING_SLOT = 2;
    static final int CREATING = 3;
    static final int DONE = 4;

    final PoolEntry<K, R> entry;
    final long weight;

    /** False when the acquire timeout is zero: no room and nothing to evict fails it at once. */
    final boolean mayWait;

    /** The pool's ticker when the ticket was made, to say in a failure how long it waited. */
    final long since;

    /** Guarded by the bound's lock. */
    int state = NEW;

    /** Its place in the order of arrival for room, from 1; 0 until it queues. Under the lock. */
    long arrival;

    /** True once the ticket's weight counts (room granted); guarded by the bound's lock. */
    boolean holdsRoom;

    /** The acquire timeout's task, cancelled when the ticket stops waiting; may be null. */
    volatile ScheduledFuture<?> timeout;

    Ticket(PoolEntry<K, R> entry, long weight, boolean mayWait, long since) {
      this.entry = entry;
      this.weight = weight;
      this.mayWait = mayWait;
      this.since = since;
    }

    @Override
    public String toString() {
      return "Ticket[weight=" + weight + ", state=" + state + "]";
    }
  }

  private final ReentrantLock lock = new ReentrantLock();
  private final long maxWeight;
  private final int maxCreations;

  // ---- Guarded by lock ----
  private long used;
  private long evicting;
  private int creating;
  private long roomWeight;

  /** Tickets queued for room so far: the next one's {@link Ticket#arrival} less one. */
  private long arrivals;

  /**
   * The last arrival the latest {@link #toEvict} counted: an eviction run made room for the
   * tickets up to it, and no further, so only those may be failed for want of room.
   */
  private long countedArrivals;
  private final ArrayDeque<Ticket<K, R>> room = new ArrayDeque<>();
  private final ArrayDeque<Ticket<K, R>> slots = new ArrayDeque<>();

  // ---- Views, written under the lock, read without it ----
  private volatile int waitingView;
  private volatile long usedView;

  Bound(long maxWeight, int maxCreations) {
    this.maxWeight = maxWeight;
    this.maxCreations = maxCreations;
  }

  long maxWeight() {
    return maxWeight;
  }

  int maxCreations() {
    return maxCreations;
  }

  /**
   * Asks room and a creation slot for a new ticket. True if the creation may start now; false if
   * the ticket waits (a later {@link #release}, {@link #creationEnded} or {@link #withdraw} hands
   * it back when it may start). The caller has checked that the weight alone fits the bound.
   */
  boolean admit(Ticket<K, R> ticket) {
    lock.lock();
    try {
      // Arrival order: a ticket never takes room that an earlier waiter is waiting for.
      if (room.isEmpty() && used + ticket.weight <= maxWeight) {
        grantRoom(ticket);
        if (slots.isEmpty() && creating < maxCreations) {
          creating++;
          ticket.state = Ticket.CREATING;
          return true;
        }
        slots.add(ticket);
        ticket.state = Ticket.WAITING_SLOT;
      } else {
        room.add(ticket);
        roomWeight += ticket.weight;
        ticket.arrival = ++arrivals;
        ticket.state = Ticket.WAITING_ROOM;
      }
      publish();
      return false;
    } finally {
      lock.unlock();
    }
  }

  /**
   * An instance's weight stops counting: its close ended (or timed out), or its creation failed
   * with nothing to close. {@code evicted} if the expiry task evicted it for waiters.
   *
   * @return the tickets that may start their creation now, in arrival order
   */
  List<Ticket<K, R>> release(long weight, boolean evicted) {
    lock.lock();
    try {
      used -= weight;
      if (evicted) {
        evicting -= weight;
      }
      return drain();
    } finally {
      lock.unlock();
    }
  }

  /**
   * A ticket's creation ended, well or not: its slot is free. Idempotent per ticket.
   *
   * @return the tickets that may start their creation now
   */
  List<Ticket<K, R>> creationEnded(Ticket<K, R> ticket) {
    lock.lock();
    try {
      if (ticket.state != Ticket.CREATING) {
        return List.of();
      }
      ticket.state = Ticket.DONE;
      creating--;
      return drain();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Takes a ticket out of the queues if it still waits: its creation will not start, and the
   * caller fails it. Room it already held is given back.
   *
   * @param ready receives the tickets that may start their creation now
   * @return true if the ticket was waiting and is now withdrawn; false if it had started already
   */
  boolean withdraw(Ticket<K, R> ticket, List<Ticket<K, R>> ready) {
    lock.lock();
    try {
      if (ticket.state == Ticket.WAITING_ROOM) {
        room.remove(ticket);
        roomWeight -= ticket.weight;
      } else if (ticket.state == Ticket.WAITING_SLOT) {
        slots.remove(ticket);
      } else {
        return false;
      }
      ticket.state = Ticket.DONE;
      if (ticket.holdsRoom) {
        ticket.holdsRoom = false;
        used -= ticket.weight;
      }
      // Its leaving may let the next in line fit (it was the head, or it held room).
      ready.addAll(drain());
      return true;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Withdraws a ticket whose requesters all gave up, if it still waits and none has joined since:
   * {@code interest} goes from 0 to -1 under the lock, so that a request joining later (which
   * increments it only from zero or more) sees it abandoned, and one that joined before keeps it.
   *
   * @param ready receives the tickets that may start their creation now
   * @return true if the ticket is withdrawn and abandoned; the caller fails it
   */
  boolean withdrawAbandoned(
      Ticket<K, R> ticket,
      java.util.concurrent.atomic.AtomicInteger interest,
      List<Ticket<K, R>> ready) {
    lock.lock();
    try {
      if ((ticket.state != Ticket.WAITING_ROOM && ticket.state != Ticket.WAITING_SLOT)
          || !interest.compareAndSet(0, -1)) {
        return false;
      }
      return withdraw(ticket, ready); // reentrant
    } finally {
      lock.unlock();
    }
  }

  /** True if the ticket still waits for room or a slot. */
  boolean isWaiting(Ticket<K, R> ticket) {
    lock.lock();
    try {
      return ticket.state == Ticket.WAITING_ROOM || ticket.state == Ticket.WAITING_SLOT;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Withdraws every waiting ticket (shutdown).
   *
   * @return the withdrawn tickets, for the caller to fail
   */
  List<Ticket<K, R>> withdrawAll() {
    lock.lock();
    try {
      List<Ticket<K, R>> all = new ArrayList<>(room);
      all.addAll(slots);
      for (Ticket<K, R> ticket : all) {
        ticket.state = Ticket.DONE;
        if (ticket.holdsRoom) {
          ticket.holdsRoom = false;
          used -= ticket.weight;
        }
      }
      room.clear();
      slots.clear();
      roomWeight = 0;
      publish();
      return all;
    } finally {
      lock.unlock();
    }
  }

  /**
   * How much weight the expiry task should evict now so that every ticket waiting for room fits,
   * net of evictions already under way; 0 if none is needed.
   */
  long toEvict() {
    lock.lock();
    try {
      countedArrivals = arrivals;
      return Math.max(0, used - evicting + roomWeight - maxWeight);
    } finally {
      lock.unlock();
    }
  }

  /** The expiry task claimed {@code weight} of idle instances for eviction; their closes follow. */
  void evicting(long weight) {
    lock.lock();
    try {
      evicting += weight;
    } finally {
      lock.unlock();
    }
  }

  /**
   * The tickets whose acquire timeout is zero and that will not get room from what an eviction
   * run just did: they fail at once. Called after an eviction run, which evicted what it could
   * for the tickets its {@link #toEvict} counted. In arrival order (the order room is granted
   * in), room already on its way (evictions under way) goes to the first tickets it fits; from
   * the first that does not fit on, an impatient ticket the run counted fails. A ticket that
   * queued after the run's count is left to its own run, which evicts for it. Withdrawn here;
   * the caller fails them.
   */
  List<Ticket<K, R>> withdrawImpatient(List<Ticket<K, R>> ready) {
    lock.lock();
    try {
      List<Ticket<K, R>> impatient = new ArrayList<>();
      if (used - evicting + roomWeight <= maxWeight) {
        return impatient; // what is being evicted makes room for every waiter
      }
      long projected = used - evicting; // what will be used once the evictions under way end
      boolean blocked = false;
      for (Iterator<Ticket<K, R>> it = room.iterator(); it.hasNext(); ) {
        Ticket<K, R> ticket = it.next();
        if (!blocked && projected + ticket.weight <= maxWeight) {
          projected += ticket.weight; // its room is on its way
          continue;
        }
        blocked = true; // room goes in arrival order: none passes this one
        if (!ticket.mayWait && ticket.arrival <= countedArrivals) {
          it.remove();
          roomWeight -= ticket.weight;
          ticket.state = Ticket.DONE;
          impatient.add(ticket);
        }
      }
      ready.addAll(drain());
      return impatient;
    } finally {
      lock.unlock();
    }
  }

  /** Keys waiting now, for room or for a creation slot. Any thread, no lock. */
  int waiting() {
    return waitingView;
  }

  /** The weight counted now. Any thread, no lock. */
  long weightInUse() {
    return usedView;
  }

  private void grantRoom(Ticket<K, R> ticket) {
    used += ticket.weight;
    ticket.holdsRoom = true;
  }

  /** Moves waiters on as far as room and slots allow; returns those that may create now. */
  private List<Ticket<K, R>> drain() {
    List<Ticket<K, R>> ready = List.of();
    Ticket<K, R> head;
    while ((head = room.peek()) != null && used + head.weight <= maxWeight) {
      room.poll();
      roomWeight -= head.weight;
      grantRoom(head);
      slots.add(head);
      head.state = Ticket.WAITING_SLOT;
    }
    while (!slots.isEmpty() && creating < maxCreations) {
      Ticket<K, R> next = slots.poll();
      creating++;
      next.state = Ticket.CREATING;
      if (ready.isEmpty()) {
        ready = new ArrayList<>();
      }
      ready.add(next);
    }
    publish();
    return ready;
  }

  private void publish() {
    waitingView = room.size() + slots.size();
    usedView = used;
  }

  /**
   * Counts an entry an eviction or the expiry task just claimed as room under way ({@link
   * #evicting}), and marks it so that its close's end gives the room back as such; returns its
   * weight. Under the claimer's lock, after its claiming CAS and before the close's hand-off.
   */
  long makesRoom(PoolEntry<K, R> entry) {
    PoolEntry.Counted<K, R> counted = (PoolEntry.Counted<K, R>) entry;
    counted.makesRoom = true;
    evicting(counted.weight);
    return counted.weight;
  }
}
