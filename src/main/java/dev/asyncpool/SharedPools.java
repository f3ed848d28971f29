package dev.asyncpool;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pools of this JVM built with {@link PoolBuilder#sharedPerJvm()}, by identity: where a
 * deserialized copy of such a pool finds the live pool it stands for. It is driven from two
 * places and never calls back: {@link PoolBuilder} registers each such pool it builds, and a
 * copy's {@code readResolve} resolves its identity to a pool.
 *
 * <h2>Design notes</h2>
 *
 * <h3>Identity</h3>
 *
 * A random {@link UUID} minted by the build and carried in {@link PoolConfig#sharedId()}, so that
 * it survives serialization; it means "a copy of that one build", nothing else. Strictly, the
 * table is per copy of asyncpool's classes: one per class loader that loads them, which is one
 * per JVM where the engine loads user code once (a Spark executor).
 *
 * <h3>Weak, so that nothing is kept alive</h3>
 *
 * The table maps an identity to a {@link WeakReference} of its live pool, and keeps no pool
 * alive. What keeps a shared pool alive is what keeps any pool alive: whoever holds it (a running
 * task), its leases, a creation in progress and, while it holds idle instances, its expiry task
 * on the scheduler. So a pool is collected only once it holds no instance, and the copy that then
 * finds its entry cleared and starts a new, empty pool loses nothing. A ttl that never ends would
 * leave idle instances with no expiry task to keep them, or ever close them: the builder refuses
 * it.
 *
 * <h3>Stale entries</h3>
 *
 * An entry is stale once its pool was collected or closed; the next copy of that identity
 * replaces it. The entries of collected pools are also removed by whichever call comes next (each
 * call first drains the reference queue), so the table holds the live pools, closed ones neither
 * collected nor replaced yet (weakly), and those collected since the last call: nothing in it
 * grows with the number of jobs the JVM has run.
 *
 * <h3>Races</h3>
 *
 * Copies of one identity may be deserialized by many threads at once (an executor starting the
 * tasks of a stage). A copy that finds no live pool builds a candidate outside any lock (the
 * constructor reads the user's ticker, and user code never runs under a bin lock), then installs
 * it with {@code putIfAbsent} if it saw no entry, or {@code replace} of the stale entry it saw.
 * Of the copies that saw the same entry (or none), exactly one install succeeds; the others loop,
 * find the winner live, and close their candidate (empty, never leased, nothing scheduled). Hence
 * one live pool per identity. A close racing a resolve may hand the closing pool to a copy, just
 * as it fails the requests of a task that held the pool before: closing a shared pool while tasks
 * use it fails them (see {@link PoolBuilder#sharedPerJvm()}).
 *
 * <p>Thread-safe: all state is static, in a {@link ConcurrentHashMap} and a {@link
 * ReferenceQueue}.
 */
final class SharedPools {

  /** Identity -> the live pool of that identity in this JVM, weakly; or a stale entry. */
  private static final ConcurrentHashMap<UUID, Entry> POOLS = new ConcurrentHashMap<>();

  /** Where the entries of collected pools are enqueued, to be removed from {@link #POOLS}. */
  private static final ReferenceQueue<KeyedPool<?, ?>> COLLECTED = new ReferenceQueue<>();

  private SharedPools() {}

  /**
   * Records {@code pool}, just built, as the live pool of its new identity {@code id}.
   *
   * @return {@code pool}
   */
  static <K, R> KeyedPool<K, R> register(KeyedPool<K, R> pool, UUID id) {
    removeCollected();
    POOLS.put(id, new Entry(pool, id)); // a new identity: no copy of it exists yet to race with
    return pool;
  }

  /**
   * The live pool of the identity in {@code config}: the one this JVM has, or else a new, empty
   * one built from {@code config}, which later copies will find.
   */
  static <K, R> KeyedPool<K, R> resolve(PoolConfig<K, R> config) {
    removeCollected();
    UUID id = config.sharedId();
    KeyedPool<K, R> candidate = null;
    for (; ; ) {
      Entry seen = POOLS.get(id);
      KeyedPool<K, R> live = seen == null ? null : seen.live();
      if (live != null) {
        if (candidate != null) {
          candidate.closeAsync(); // lost the race below: empty and unused, so this ends at once
        }
        return live;
      }
      if (candidate == null) {
        candidate = new KeyedPool<>(config);
      }
      Entry mine = new Entry(candidate, id);
      // Settles the race of copies that all found no live pool: one install per entry seen wins.
      if (seen == null ? POOLS.putIfAbsent(id, mine) == null : POOLS.replace(id, seen, mine)) {
        return candidate;
      }
    }
  }

  /** How many entries the table holds, after removing those of collected pools; for tests. */
  static int size() {
    removeCollected();
    return POOLS.size();
  }

  private static void removeCollected() {
    for (Reference<?> cleared; (cleared = COLLECTED.poll()) != null; ) {
      Entry entry = (Entry) cleared;
      POOLS.remove(entry.id, entry); // unless a copy has replaced it meanwhile
    }
  }

  /** A weak reference to a shared pool, which knows its identity once the pool is gone. */
  private static final class Entry extends WeakReference<KeyedPool<?, ?>> {
    final UUID id;

    Entry(KeyedPool<?, ?> pool, UUID id) {
      super(pool, COLLECTED);
      this.id = id;
    }

    /** The pool, unless it was collected or closed. */
    @SuppressWarnings("unchecked")
    <K, R> KeyedPool<K, R> live() {
      KeyedPool<?, ?> pool = get();
      // Unchecked: every pool of one identity comes from one build, with the same types.
      return pool == null || pool.isClosed() ? null : (KeyedPool<K, R>) pool;
    }
  }
}
