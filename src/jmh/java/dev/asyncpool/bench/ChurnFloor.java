package dev.asyncpool.bench;

import java.util.concurrent.ConcurrentHashMap;

/**
 * The hand-rolled way to get "create on first lease, close at last release" right: a ref-count
 * moved under the map's bin lock with {@code compute}. The floor for the cold-churn workload,
 * where every lease creates and closes.
 */
final class ChurnFloor<K> {

  private static final class Entry {
    final Client value;
    int refs;

    Entry(Client value) {
      this.value = value;
    }
  }

  private final ConcurrentHashMap<K, Entry> map = new ConcurrentHashMap<>();

  Client retain(K key) {
    return map.compute(
            key,
            (k, entry) -> {
              if (entry == null) {
                entry = new Entry(new Client(k));
                entry.value.openAsync();
              }
              entry.refs++;
              return entry;
            })
        .value;
  }

  void release(K key) {
    map.computeIfPresent(
        key,
        (k, entry) -> {
          if (--entry.refs > 0) {
            return entry;
          }
          entry.value.closeAsync();
          return null;
        });
  }
}
