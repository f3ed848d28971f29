package dev.asyncpool.bench;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The least any ref-counted keyed pool can do on a warm key: one map read, one atomic add to
 * retain and one to release. No expiry, no close, no protection against a retain racing a close:
 * a floor to measure against, not a pool to use.
 */
final class Floor<K> {

  static final class Entry {
    private static final VarHandle REF_CNT;

    static {
      try {
        REF_CNT = MethodHandles.lookup().findVarHandle(Entry.class, "refCnt", int.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    final Client value;
    volatile int refCnt;

    Entry(Client value) {
      this.value = value;
    }
  }

  private final ConcurrentHashMap<K, Entry> map = new ConcurrentHashMap<>();
  private final Function<? super K, Client> factory;

  Floor(Function<? super K, Client> factory) {
    this.factory = factory;
  }

  Entry retain(K key) {
    Entry entry = map.get(key);
    if (entry == null) {
      entry = map.computeIfAbsent(key, k -> new Entry(factory.apply(k)));
    }
    Entry.REF_CNT.getAndAdd(entry, 2);
    return entry;
  }

  void release(Entry entry) {
    Entry.REF_CNT.getAndAdd(entry, -2);
  }

  int size() {
    return map.size();
  }
}
