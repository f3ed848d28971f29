package dev.asyncpool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link Pool#apply} with an action that throws a checked exception, and {@link Pool#accept}, its
 * form without a result: the exception comes back as itself, after the release.
 */
class CheckedActionTest extends PoolTestSupport {

  /** JDBC's shape: a method that declares {@code SQLException}. */
  private static int countRows(TestResource resource, boolean fail) throws SQLException {
    if (fail) {
      throw new SQLException("relation \"orders\" does not exist", "42P01");
    }
    return resource.key.toString().length();
  }

  @Test
  void aCheckedExceptionIsRethrownAsItselfAndTheLeaseIsReleased() {
    newPool(Duration.ZERO); // closes at the last release: a leaked share would keep it open
    List<TestResource> seen = new ArrayList<>();
    // No try/catch around the lambda, and the call site catches SQLException itself.
    SQLException thrown = null;
    try {
      pool.apply(
          "tenant",
          db -> {
            seen.add(db);
            return countRows(db, true);
          });
    } catch (SQLException e) {
      thrown = e;
    }
    assertThat((Throwable) thrown).isNotNull().hasMessageContaining("orders");
    assertThat(thrown.getSQLState()).isEqualTo("42P01");
    assertThat(seen.get(0).closes).as("released, so closed (TTL zero)").hasValue(1);
  }

  @Test
  void theResultComesBackOnTheWarmAndTheColdPath() throws SQLException {
    newPool(Duration.ofSeconds(10));
    int cold = pool.apply("tenant", db -> countRows(db, false));
    int warm = pool.apply("tenant", db -> countRows(db, false));
    assertThat(List.of(cold, warm)).containsExactly(6, 6);
    assertThat(factory.created).hasSize(1);
    assertThat(pool.stats().idle()).as("both released").isEqualTo(1);
  }

  @Test
  void acceptRunsWorkWithoutAResultAndReleases() throws IOException {
    newPool(Duration.ZERO);
    List<TestResource> seen = new ArrayList<>();
    pool.accept("k", seen::add); // cold
    pool.accept("k", seen::add); // cold again: TTL zero closed the first
    assertThat(seen).hasSize(2).allSatisfy(r -> assertThat(r.closes).hasValue(1));

    newPool(Duration.ofSeconds(10));
    TestResource warm = lease("w");
    IOException broken = new IOException("broken pipe");
    assertThatThrownBy(
            () ->
                pool.accept(
                    "w",
                    r -> {
                      throw broken;
                    }))
        .isSameAs(broken);
    pool.accept("w", r -> assertThat(r).isSameAs(warm));
    assertThat(pool.stats().idle()).as("every share given back").isEqualTo(1);
    assertThatThrownBy(() -> pool.accept("w", null)).hasMessage("action");
    assertThatThrownBy(() -> pool.accept(null, r -> {})).hasMessage("key");
  }

  @Test
  void aFactoryFailureReachesAcceptAsItReachesGet() {
    IllegalStateException down = new IllegalStateException("tenant database down");
    pool =
        settings()
            .build(
                key -> {
                  throw down;
                });
    assertThatThrownBy(() -> pool.accept("k", r -> {})).isSameAs(down);
  }
}
