package dev.asyncpool;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/** A factory that records every instance it made, so tests can check each was closed once. */
final class TestFactory implements Function<Object, TestResource> {
  final List<TestResource> created = new CopyOnWriteArrayList<>();

  @Override
  public TestResource apply(Object key) {
    TestResource resource = new TestResource(key);
    created.add(resource);
    return resource;
  }

  long createdFor(Object key) {
    return created.stream().filter(r -> r.key.equals(key)).count();
  }
}
