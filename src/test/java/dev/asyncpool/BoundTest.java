package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.asyncpool.Bound.Ticket;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link Bound} alone: room and creation slots handed out in arrival order, and given back. */
class BoundTest {

  private static Ticket<String, Object> ticket(String key, long weight) {
    return new Ticket<>(PoolEntry.creating(key, 0), weight, true, 0);
  }

  @Test
  void grantsWhileTheWeightFitsThenQueuesInArrivalOrder() {
    Bound<String, Object> bound = new Bound<>(3, Integer.MAX_VALUE);
    Ticket<String, Object> a = ticket("a", 2);
    Ticket<String, Object> b = ticket("b", 2);
    Ticket<String, Object> c = ticket("c", 1);
    assertThat(bound.admit(a)).isTrue();
    assertThat(bound.admit(b)).as("2 + 2 > 3").isFalse();
    assertThat(bound.admit(c)).as("fits, but b came first").isFalse();
    assertThat(bound.waiting()).isEqualTo(2);
    assertThat(bound.weightInUse()).isEqualTo(2);
    assertThat(bound.toEvict()).as("2 + 2 + 1 - 3").isEqualTo(2);
    bound.evicting(2);
    assertThat(bound.toEvict()).as("already under way").isZero();
    assertThat(bound.release(2, true)).containsExactly(b, c);
    assertThat(bound.weightInUse()).isEqualTo(3);
    assertThat(bound.waiting()).isZero();
  }

  @Test
  void creationSlotsQueueSeparatelyFromRoom() {
    Bound<String, Object> bound = new Bound<>(Long.MAX_VALUE, 1);
    Ticket<String, Object> a = ticket("a", 1);
    Ticket<String, Object> b = ticket("b", 1);
    assertThat(bound.admit(a)).isTrue();
    assertThat(bound.admit(b)).isFalse();
    assertThat(bound.creationEnded(a)).containsExactly(b);
    assertThat(bound.creationEnded(a)).as("idempotent").isEmpty();
    assertThat(bound.creationEnded(b)).isEmpty();
  }

  @Test
  void aWithdrawnTicketGivesBackTheRoomItHeldAndLetsTheNextIn() {
    Bound<String, Object> bound = new Bound<>(2, 1);
    Ticket<String, Object> a = ticket("a", 1);
    Ticket<String, Object> b = ticket("b", 1);
    Ticket<String, Object> c = ticket("c", 1);
    bound.admit(a); // creating
    bound.admit(b); // room held, waits for the slot
    bound.admit(c); // waits for room
    assertThat(bound.weightInUse()).isEqualTo(2);
    List<Ticket<String, Object>> ready = new ArrayList<>();
    assertThat(bound.withdraw(b, ready)).isTrue();
    assertThat(ready).as("c has b's room now, and waits for the slot").isEmpty();
    assertThat(bound.weightInUse()).isEqualTo(2);
    assertThat(bound.withdraw(b, ready)).as("once").isFalse();
    assertThat(bound.withdraw(a, ready)).as("already creating").isFalse();
    assertThat(bound.creationEnded(a)).containsExactly(c);
  }

  @Test
  void impatientTicketsAreWithdrawnOnlyWhenEvictionsCannotMakeRoom() {
    Bound<String, Object> bound = new Bound<>(1, Integer.MAX_VALUE);
    bound.admit(ticket("a", 1));
    Ticket<String, Object> b = new Ticket<>(PoolEntry.creating("b", 0), 1, false, 0);
    bound.admit(b);
    bound.evicting(1);
    List<Ticket<String, Object>> ready = new ArrayList<>();
    assertThat(bound.withdrawImpatient(ready)).as("a's eviction makes room").isEmpty();
    bound.release(1, true);
    assertThat(bound.waiting()).isZero();

    Bound<String, Object> full = new Bound<>(1, Integer.MAX_VALUE);
    full.admit(ticket("a", 1));
    Ticket<String, Object> impatient = new Ticket<>(PoolEntry.creating("b", 0), 1, false, 0);
    Ticket<String, Object> patient = ticket("c", 1);
    full.admit(impatient);
    assertThat(full.toEvict()).as("an eviction run counts the impatient ticket").isEqualTo(1);
    full.admit(patient);
    assertThat(full.withdrawImpatient(ready)).containsExactly(impatient);
    assertThat(full.waiting()).isEqualTo(1);
  }

  /**
   * Review 2, bug 1: room already on its way goes to the first tickets in arrival order, and an
   * impatient ticket that queued after the eviction run counted is left to its own run.
   */
  @Test
  void anImpatientTicketWhoseRoomIsOnItsWayOrThatCameLaterIsNotWithdrawn() {
    Bound<String, Object> bound = new Bound<>(2, Integer.MAX_VALUE);
    bound.admit(ticket("a", 1));
    bound.admit(ticket("b", 1)); // full
    Ticket<String, Object> c = new Ticket<>(PoolEntry.creating("c", 0), 1, false, 0);
    bound.admit(c);
    assertThat(bound.toEvict()).isEqualTo(1);
    bound.evicting(1); // a, for c
    Ticket<String, Object> d = new Ticket<>(PoolEntry.creating("d", 0), 1, false, 0);
    bound.admit(d); // after the run counted: its own run evicts b for it
    List<Ticket<String, Object>> ready = new ArrayList<>();
    assertThat(bound.withdrawImpatient(ready))
        .as("c's room is on its way; d is not counted")
        .isEmpty();
    assertThat(bound.toEvict()).as("d's own run").isEqualTo(1);
    assertThat(bound.withdrawImpatient(ready))
        .as("d counted, and nothing evicted for it: it fails")
        .containsExactly(d);
  }

  @Test
  void shutdownWithdrawsEveryWaiter() {
    Bound<String, Object> bound = new Bound<>(1, 1);
    Ticket<String, Object> a = ticket("a", 1);
    Ticket<String, Object> b = ticket("b", 1);
    bound.admit(a);
    bound.admit(b);
    assertThat(bound.withdrawAll()).containsExactly(b);
    assertThat(bound.waiting()).isZero();
    assertThat(bound.weightInUse()).as("a still exists").isEqualTo(1);
  }
}
