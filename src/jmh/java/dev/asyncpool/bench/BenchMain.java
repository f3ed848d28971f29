package dev.asyncpool.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the whole suite, asyncpool and its peers in the same run, and prints the ratio table (also
 * written to {@code target/benchmarks.md}). {@code -Dbench.quick=true} shortens every phase for a
 * smoke run; {@code -Dbench.only=warm,bounded,churn,memory,expiry,jdbc} picks phases ({@code
 * warmPerKey}: only the paired per-key TTL rounds of the warm phase, and the interleaved ones;
 * {@code warmInterleaved}: only those); {@code
 * -Dbench.pairs=N} sets the rounds of the paired bounded/unbounded warm comparison; {@code
 * -Dbench.diagnostics=true} adds the diagnostic variants of the bounded workload; {@code
 * -Dbench.rows=1024x1,1x2} runs only those rows (keys x threads) of the paired rounds, so that
 * one row can get more rounds in the same time.
 */
public final class BenchMain {

  private static final boolean QUICK = Boolean.getBoolean("bench.quick");
  private static final String ONLY = System.getProperty("bench.only", "");
  private static final int[] THREADS = {1, 2};

  /** {@code -Dbench.diagnostics=true}: also the variants kept to explain a result, not to rank. */
  private static final boolean DIAGNOSTICS = Boolean.getBoolean("bench.diagnostics");

  private final StringBuilder report = new StringBuilder();

  public static void main(String[] args) throws Exception {
    new BenchMain().run();
  }

  private void run() throws Exception {
    line(
        "asyncpool benchmarks, %s, JDK %s (%s), %s %s, %d CPUs%s",
        LocalDate.now(),
        System.getProperty("java.version"),
        System.getProperty("java.vm.name"),
        System.getProperty("os.name"),
        System.getProperty("os.arch"),
        Runtime.getRuntime().availableProcessors(),
        QUICK ? " (QUICK: not for the record)" : "");
    if (phase("warm")) {
      warm();
      warmBound();
      warmPerKey();
      warmInterleaved();
    } else if (phase("warmPerKey")) {
      warmPerKey(); // the paired per-key rounds alone, without the rest of the warm phase
      warmInterleaved();
    } else if (phase("warmInterleaved")) {
      warmInterleaved();
    }
    if (phase("bounded")) {
      bounded();
    }
    if (phase("churn")) {
      churn();
    }
    if (phase("memory")) {
      memory();
    }
    if (phase("expiry")) {
      expiry();
    }
    if (phase("jdbc")) {
      jdbc();
    }
    Path out = Path.of("target", "benchmarks.md");
    Files.createDirectories(out.getParent());
    Files.writeString(out, report);
    System.out.println();
    System.out.println(report);
    System.out.println("(also in " + out + ")");
  }

  private static boolean phase(String name) {
    return ONLY.isBlank() || Set.of(ONLY.split(",")).contains(name);
  }

  // ------------------------------------------------------------------------------------------

  private static final String[] WARM_PEERS = {"floor", "grpc", "caffeine", "commonsPool2"};

  private void warm() throws Exception {
    // (keys, threads) -> method -> ops/us
    Map<String, Map<String, double[]>> scores = new TreeMap<>();
    for (int threads : THREADS) {
      // asyncpoolBounded runs in warmBound(), paired with asyncpool round by round;
      // asyncpoolLifecycle in CommitPairs, against the library of another commit.
      for (RunResult result : jmh(WarmLease.class, threads, "\\.asyncpool(Bounded|Lifecycle)$")) {
        String row = String.format(
            "%5s keys, %d thread%s", result.getParams().getParam("keys"), threads, threads == 1 ? "" : "s");
        scores.computeIfAbsent(row, r -> new LinkedHashMap<>()).put(method(result), score(result));
      }
    }
    line("");
    line("## Warm lease: get + close of an existing instance (ops/us, higher is better)");
    line("");
    line("| keys, threads | asyncpool | floor | grpc | caffeine | commons-pool2 | acquire().join() "
        + "| apply() | per-key TTLs | x floor (>= 0.5) | x grpc (>= 10) | x caffeine (>= 2) "
        + "| acquire x floor (>= 0.33) | apply x floor | per-key x one TTL (>= 0.95) |");
    line("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (Map.Entry<String, Map<String, double[]>> row : scores.entrySet()) {
      Map<String, double[]> s = row.getValue();
      double ours = s.get("asyncpool")[0];
      double acquire = s.get("asyncpoolAcquireJoin")[0];
      StringBuilder cells = new StringBuilder("| " + row.getKey() + " | " + fmt(s.get("asyncpool")));
      for (String peer : WARM_PEERS) {
        cells.append(" | ").append(fmt(s.get(peer)));
      }
      cells.append(" | ").append(fmt(s.get("asyncpoolAcquireJoin")));
      cells.append(" | ").append(fmt(s.get("asyncpoolApply")));
      cells.append(" | ").append(fmt(s.get("asyncpoolPerKey")));
      cells.append(" | ").append(ratio(ours, s.get("floor")[0], 0.5));
      cells.append(" | ").append(ratio(ours, s.get("grpc")[0], 10));
      cells.append(" | ").append(ratio(ours, s.get("caffeine")[0], 2));
      cells.append(" | ").append(ratio(acquire, s.get("floor")[0], 0.33));
      cells.append(" | ").append(ratio(s.get("asyncpoolApply")[0], s.get("floor")[0], 0));
      cells.append(" | ").append(ratio(s.get("asyncpoolPerKey")[0], ours, 0.95)).append(" |");
      line(cells.toString());
    }
  }

  /** Rounds of the paired warm comparison, bounded against unbounded. */
  private static final int PAIRS = Integer.getInteger("bench.pairs", QUICK ? 1 : 4);

  /** {@code -Dbench.rows}: the rows (keys x threads) of the paired rounds to run; empty: all. */
  private static final List<String> ROWS =
      List.of(System.getProperty("bench.rows", "").split(",")).stream()
          .map(String::trim)
          .filter(r -> !r.isEmpty())
          .toList();

  /** True if the paired row of {@code keys} keys and {@code threads} threads is to run. */
  private static boolean rowRuns(String keys, int threads) {
    return ROWS.isEmpty() || ROWS.contains(keys + "x" + threads);
  }

  /** Each paired trial: one fork, 3 warm-up and 4 measured iterations of 1 s. */
  private static final Shape PAIR_SHAPE = new Shape(1, QUICK ? 1 : 3, QUICK ? 2 : 4);

  /**
   * The warm lease with {@code maxInstances} set (above the key count: nothing is evicted) against
   * the same lease without, paired: each round runs both, one right after the other and in
   * alternating order, so that the load other processes put on the machine, which drifts over
   * minutes, weighs on both alike. The ratio is taken per round; its interval is over the rounds.
   */
  private void warmBound() throws Exception {
    String[] methods = {"asyncpool", "asyncpoolBounded"};
    // row -> round -> {unbounded, bounded}
    Map<String, List<double[]>> rounds = new TreeMap<>();
    for (int round = 0; round < PAIRS; round++) {
      for (String keys : List.of("1", "1024")) {
        for (int threads : THREADS) {
          if (!rowRuns(keys, threads)) {
            continue;
          }
          String row = String.format(
              Locale.ROOT, "%5s keys, %d thread%s", keys, threads, threads == 1 ? "" : "s");
          double[] pair = new double[2];
          for (int i = 0; i < 2; i++) {
            int m = round % 2 == 0 ? i : 1 - i;
            String include = WarmLease.class.getName() + "\\." + methods[m] + "$";
            for (RunResult r : jmh(include, "", threads, PAIR_SHAPE, List.of(), "keys", keys)) {
              pair[m] = score(r)[0];
            }
          }
          rounds.computeIfAbsent(row, r -> new ArrayList<>()).add(pair);
        }
      }
    }
    line("");
    line("## Warm lease with a bound set: maxInstances(2 x keys) against none, "
        + "%d paired round%s (ops/us)", PAIRS, PAIRS == 1 ? "" : "s");
    line("");
    line("| keys, threads | unbounded, mean | bounded, mean | bounded / unbounded, each round "
        + "| mean ratio ± 95 % (t, over rounds) | within 5 % (>= 0.95) |");
    line("|---|---|---|---|---|---|");
    for (Map.Entry<String, List<double[]>> row : rounds.entrySet()) {
      List<double[]> pairs = row.getValue();
      double[] ratios = new double[pairs.size()];
      double unbounded = 0;
      double bounded = 0;
      StringBuilder each = new StringBuilder();
      for (int i = 0; i < ratios.length; i++) {
        unbounded += pairs.get(i)[0] / ratios.length;
        bounded += pairs.get(i)[1] / ratios.length;
        ratios[i] = pairs.get(i)[1] / pairs.get(i)[0];
        each.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", ratios[i]));
      }
      double[] mean = meanAndHalfWidth(ratios);
      String verdict =
          mean[0] - mean[1] >= 0.95 ? "met"
              : mean[0] >= 0.95 ? "met on the mean; the interval reaches below"
              : "**missed**";
      line("| %s | %.1f | %.1f | %s | %.3f ± %.3f | %s |", row.getKey(), unbounded, bounded, each,
          mean[0], mean[1], verdict);
    }
  }

  /**
   * The warm lease in a pool with a TTL per key ({@code asyncpoolPerKey}: 1, 2 and 5 minutes by
   * key) against the same lease with one TTL ({@code asyncpool}), paired as {@link #warmBound}
   * pairs: each round runs both, one JMH process right after the other, in alternating order, with
   * {@code -prof gc} (the allocation per lease must stay the lease's 24 bytes). Each pair is
   * printed with JMH's errors; the ratio's interval is over the rounds.
   */
  private void warmPerKey() throws Exception {
    String[] methods = {"asyncpool", "asyncpoolPerKey"};
    // row -> round -> {one TTL, per-key} x {score, error, B/op, median iteration}
    Map<String, List<double[][]>> rounds = new TreeMap<>();
    for (int round = 0; round < PAIRS; round++) {
      for (String keys : List.of("1", "1024")) {
        for (int threads : THREADS) {
          if (!rowRuns(keys, threads)) {
            continue;
          }
          String row = String.format(
              Locale.ROOT, "%5s keys, %d thread%s", keys, threads, threads == 1 ? "" : "s");
          double[][] pair = new double[2][];
          for (int i = 0; i < 2; i++) {
            int m = round % 2 == 0 ? i : 1 - i;
            String include = WarmLease.class.getName() + "\\." + methods[m] + "$";
            for (RunResult r :
                jmh(include, "", threads, PAIR_SHAPE, List.of(), true, "keys", keys)) {
              double[] score = score(r);
              pair[m] = new double[] {score[0], score[1], allocatedPerOp(r), medianIteration(r)};
            }
          }
          rounds.computeIfAbsent(row, r -> new ArrayList<>()).add(pair);
        }
      }
    }
    line("");
    line("## Warm lease with a TTL per key (1, 2, 5 min) against one TTL (30 s), "
        + "%d paired round%s (ops/us, JMH's 99.9 %% error; bytes/op from -prof gc)",
        PAIRS, PAIRS == 1 ? "" : "s");
    line("");
    line("| keys, threads | round (first run) | one TTL | per-key TTLs | per-key / one TTL "
        + "| medians: one TTL, per-key, ratio | B/op one TTL | B/op per-key |");
    line("|---|---|---|---|---|---|---|---|");
    for (Map.Entry<String, List<double[][]>> row : rounds.entrySet()) {
      List<double[][]> pairs = row.getValue();
      for (int i = 0; i < pairs.size(); i++) {
        double[] one = pairs.get(i)[0];
        double[] perKey = pairs.get(i)[1];
        double ratio = perKey[0] / one[0];
        // The ratio's error from the two relative errors, as independent.
        double error = ratio * Math.hypot(one[1] / one[0], perKey[1] / perKey[0]);
        line("| %s | %d (%s) | %.1f ± %.1f | %.1f ± %.1f | %.3f ± %.3f | %.1f, %.1f, %.3f "
            + "| %.1f | %.1f |",
            row.getKey(), i + 1, i % 2 == 0 ? "one TTL" : "per-key", one[0], one[1], perKey[0],
            perKey[1], ratio, error, one[3], perKey[3], perKey[3] / one[3], one[2], perKey[2]);
      }
    }
    line("");
    line("| keys, threads | per-key / one TTL, each round | mean ratio ± 95 % (t, over rounds) "
        + "| within 5 % (>= 0.95) | ratio of iteration medians, each round | its mean ± 95 % |");
    line("|---|---|---|---|---|---|");
    for (Map.Entry<String, List<double[][]>> row : rounds.entrySet()) {
      List<double[][]> pairs = row.getValue();
      double[] ratios = new double[pairs.size()];
      double[] medianRatios = new double[pairs.size()];
      StringBuilder each = new StringBuilder();
      StringBuilder eachMedian = new StringBuilder();
      for (int i = 0; i < ratios.length; i++) {
        ratios[i] = pairs.get(i)[1][0] / pairs.get(i)[0][0];
        medianRatios[i] = pairs.get(i)[1][3] / pairs.get(i)[0][3];
        each.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", ratios[i]));
        eachMedian.append(i == 0 ? "" : ", ")
            .append(String.format(Locale.ROOT, "%.3f", medianRatios[i]));
      }
      double[] mean = meanAndHalfWidth(ratios);
      double[] medianMean = meanAndHalfWidth(medianRatios);
      String verdict =
          mean[0] - mean[1] >= 0.95 ? "met"
              : mean[0] >= 0.95 ? "met on the mean; the interval reaches below"
              : mean[0] + mean[1] >= 0.95 ? "not resolved: the interval reaches 0.95"
              : "**missed**";
      line("| %s | %s | %.3f ± %.3f | %s | %s | %.3f ± %.3f |", row.getKey(), each, mean[0],
          mean[1], verdict, eachMedian, medianMean[0], medianMean[1]);
    }
  }

  /**
   * The median of a run's measured iterations: one iteration that collapses (a neighbour's burst
   * on this shared machine) moves the mean and JMH's error, not the median.
   */
  private static double medianIteration(RunResult result) {
    List<Double> scores = new ArrayList<>();
    for (BenchmarkResult benchmark : result.getBenchmarkResults()) {
      for (IterationResult iteration : benchmark.getIterationResults()) {
        scores.add(iteration.getPrimaryResult().getScore());
      }
    }
    scores.sort(null);
    int n = scores.size();
    return n == 0 ? Double.NaN : n % 2 == 1 ? scores.get(n / 2)
        : (scores.get(n / 2 - 1) + scores.get(n / 2)) / 2;
  }

  /** {@code gc.alloc.rate.norm} of a run with {@code -prof gc}, in bytes per op; NaN without. */
  private static double allocatedPerOp(RunResult result) {
    for (String label : result.getSecondaryResults().keySet()) {
      if (label.endsWith("gc.alloc.rate.norm")) {
        return result.getSecondaryResults().get(label).getScore();
      }
    }
    return Double.NaN;
  }

  /** Mean and the half-width of its 95 % Student-t interval (NaN for one sample). */
  static double[] meanAndHalfWidth(double[] samples) {
    int n = samples.length;
    double mean = 0;
    for (double sample : samples) {
      mean += sample / n;
    }
    if (n < 2) {
      return new double[] {mean, Double.NaN};
    }
    double squares = 0;
    for (double sample : samples) {
      squares += (sample - mean) * (sample - mean);
    }
    // Two-sided 97.5 % quantiles of Student's t for 1..10 degrees of freedom, then the normal's.
    double[] t = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228};
    double quantile = n - 1 <= t.length ? t[n - 2] : 1.96;
    return new double[] {mean, quantile * Math.sqrt(squares / (n - 1) / n)};
  }

  /** The bounded workload's methods and their column names. */
  private static final Map<String, String> BOUNDED_PEERS = new LinkedHashMap<>();

  static {
    BOUNDED_PEERS.put("asyncpool", "asyncpool");
    BOUNDED_PEERS.put("commonsPool2", "commons-pool2");
    BOUNDED_PEERS.put("caffeine", "caffeine");
    BOUNDED_PEERS.put("caffeineInlineClose", "caffeine, inline close");
    if (DIAGNOSTICS) {
      BOUNDED_PEERS.put("asyncpoolDirect", "asyncpool, direct executor (diagnostic)");
    }
  }

  /** Forks of the bounded workload, and a longer warm-up: its JIT settles late on a busy host. */
  private static final Shape BOUNDED_SHAPE = new Shape(QUICK ? 1 : 2, QUICK ? 1 : 6, QUICK ? 2 : 5);

  private void bounded() throws Exception {
    Path census = Path.of("target", "bench-census.txt").toAbsolutePath();
    Files.deleteIfExists(census);
    Map<String, Map<String, double[]>> scores = new TreeMap<>();
    for (int threads : THREADS) {
      String row = threads + " thread" + (threads == 1 ? "" : "s");
      for (RunResult result : jmh(BoundedZipf.class.getName() + "\\.",
          DIAGNOSTICS ? "" : "\\.asyncpoolDirect$", threads, BOUNDED_SHAPE,
          List.of("-Dbench.census=" + census))) {
        scores.computeIfAbsent(row, r -> new LinkedHashMap<>()).put(method(result), score(result));
      }
    }
    // (method, threads) -> summed counts over the forks; peak is the max.
    Map<String, long[]> counts = new TreeMap<>();
    for (String text : Files.readAllLines(census)) {
      Map<String, String> f = new LinkedHashMap<>();
      for (String field : text.substring("CENSUS ".length()).split(" ")) {
        f.put(field.substring(0, field.indexOf('=')), field.substring(field.indexOf('=') + 1));
      }
      long[] c = counts.computeIfAbsent(f.get("method") + " " + f.get("threads"), k -> new long[6]);
      c[0] += Long.parseLong(f.get("ops"));
      c[1] += Long.parseLong(f.get("creations"));
      c[2] = Math.max(c[2], Long.parseLong(f.get("peak")));
      c[3] += Long.parseLong(f.get("closedInUse"));
      c[4] += Long.parseLong(f.get("evictions"));
      c[5]++;
    }
    line("");
    line("## Bounded Zipf: %,d keys (Zipf %.2f), a bound of %d, get + release (ops/us, higher is "
        + "better)", BoundedZipf.KEYS, BoundedZipf.EXPONENT, BoundedZipf.BOUND);
    line("");
    StringBuilder header = new StringBuilder("| threads");
    StringBuilder rule = new StringBuilder("|---");
    for (String label : BOUNDED_PEERS.values()) {
      header.append(" | ").append(label);
      rule.append("|---");
    }
    for (String label : BOUNDED_PEERS.values()) {
      if (!label.equals("asyncpool")) {
        header.append(" | asyncpool x ").append(label);
        rule.append("|---");
      }
    }
    line(header.append(" |").toString());
    line(rule.append("|").toString());
    for (Map.Entry<String, Map<String, double[]>> row : scores.entrySet()) {
      Map<String, double[]> s = row.getValue();
      double ours = s.get("asyncpool")[0];
      StringBuilder cells = new StringBuilder("| " + row.getKey());
      for (String peer : BOUNDED_PEERS.keySet()) {
        double[] score = s.get(peer);
        cells.append(" | ").append(score == null ? "-" : String.format(
            Locale.ROOT, "%.3f ± %.3f", score[0], score[1]));
      }
      for (String peer : BOUNDED_PEERS.keySet()) {
        if (!peer.equals("asyncpool")) {
          double[] score = s.get(peer);
          cells.append(" | ").append(score == null ? "-" : ratio(ours, score[0], 0));
        }
      }
      line(cells.append(" |").toString());
    }
    line("");
    line("| peer, threads | creations per op | peak instances existing (asyncpool <= %d) "
        + "| uses that found their instance closed | evictions (asyncpool, whole trials) | forks |",
        BoundedZipf.BOUND);
    line("|---|---|---|---|---|---|");
    for (Map.Entry<String, String> peer : BOUNDED_PEERS.entrySet()) {
      boolean ours = peer.getKey().startsWith("asyncpool");
      for (int threads : THREADS) {
        long[] c = counts.get(peer.getKey() + " " + threads);
        if (c == null) {
          line("| %s, %d | - | - | - | - | 0 |", peer.getValue(), threads);
          continue;
        }
        String peak = ours && c[2] > BoundedZipf.BOUND
            ? "**" + c[2] + " (over the bound)**" : String.format(Locale.ROOT, "%,d", c[2]);
        line("| %s, %d | %.3f | %s | %,d in %,d ops | %s | %d |", peer.getValue(), threads,
            (double) c[1] / c[0], peak, c[3], c[0],
            ours ? String.format(Locale.ROOT, "%,d", c[4]) : "-", c[5]);
      }
    }
  }

  private static final String[] CHURN_PEERS = {"floor", "grpc", "caffeine", "commonsPool2"};

  private void churn() throws Exception {
    Map<String, Map<String, double[]>> scores = new TreeMap<>();
    for (int threads : THREADS) {
      for (RunResult result : jmh(ColdChurn.class, threads)) {
        String row = threads + " thread" + (threads == 1 ? "" : "s");
        scores.computeIfAbsent(row, r -> new LinkedHashMap<>()).put(method(result), score(result));
      }
    }
    line("");
    line("## Cold churn: every lease creates and every release closes (ops/us, no target)");
    line("");
    line("| threads | asyncpool | floor (compute) | grpc | caffeine | commons-pool2 | x floor | x grpc "
        + "| x caffeine | x commons-pool2 |");
    line("|---|---|---|---|---|---|---|---|---|---|");
    for (Map.Entry<String, Map<String, double[]>> row : scores.entrySet()) {
      Map<String, double[]> s = row.getValue();
      double ours = s.get("asyncpool")[0];
      StringBuilder cells = new StringBuilder("| " + row.getKey() + " | " + fmt(s.get("asyncpool")));
      for (String peer : CHURN_PEERS) {
        cells.append(" | ").append(fmt(s.get(peer)));
      }
      for (String peer : CHURN_PEERS) {
        cells.append(" | ").append(ratio(ours, s.get(peer)[0], 0));
      }
      line(cells.append(" |").toString());
    }
  }

  private void memory() throws Exception {
    int n = QUICK ? 50_000 : 200_000;
    line("");
    line("## Memory per idle entry: %,d keys leased once and released, after GC (bytes, lower is better)", n);
    line("");
    line("| peer | bytes per idle entry | x floor (asyncpool <= 1.5) |");
    line("|---|---|---|");
    Map<String, Double> bytes = new LinkedHashMap<>();
    for (String peer : List.of("floor", "asyncpool", "caffeine", "commonsPool2")) {
      // commons-pool2 registers each key in a list (O(keys) per new key): a tenth of the keys.
      int keys = peer.equals("commonsPool2") ? n / 10 : n;
      Map<String, String> result =
          fork(MemoryRun.class, List.of("-Xms2g", "-Xmx2g", "-XX:+UseSerialGC"), peer, String.valueOf(keys));
      bytes.put(peer, Double.parseDouble(result.get("bytesPerEntry")));
    }
    for (Map.Entry<String, Double> entry : bytes.entrySet()) {
      double limit = entry.getKey().equals("asyncpool") ? 1.5 : 0;
      line("| %s%s | %.1f | %s |", entry.getKey(),
          entry.getKey().equals("commonsPool2") ? String.format(Locale.ROOT, " (%,d keys)", n / 10) : "", entry.getValue(),
          ratioLowerBetter(entry.getValue(), bytes.get("floor"), limit));
    }
  }

  /** The per-key TTL distributions of the expiry run, as {@link ExpiryRun}'s spec and in words. */
  private static final String[][] PER_KEY_TTLS = {
    {"set:1000,2000,5000", "{1, 2, 5} s"},
    {"uniform:1000-5000", "uniform in [1 s, 5 s]"},
  };

  private void expiry() throws Exception {
    int n = QUICK ? 100_000 : 1_000_000;
    List<String> heap = List.of("-Xms4g", "-Xmx4g");
    line("");
    line("## Expiry at scale: %,d keys leased once and released, TTL 1 s", n);
    line("");
    line("| peer | closed | early (must be 0) | lateness p50 | p99 (<= 100 ms) | max "
        + "| CPU, last release to last close | CPU per close (<= 500 ns) "
        + "| CPU beside the releasing thread, per close |");
    line("|---|---|---|---|---|---|---|---|---|");
    for (String peer : List.of("asyncpool", "grpc", "caffeine")) {
      expiryRow(peer, fork(ExpiryRun.class, heap, peer, String.valueOf(n), "1000"));
    }
    line("");
    line("## Expiry at scale with a TTL per key: %,d keys leased once and released, lateness "
        + "against each key's own TTL", n);
    line("");
    line("| peer, TTLs | closed | early (must be 0) | lateness p50 | p99 (<= 100 ms) | max "
        + "| CPU, last release to last close | CPU per close (<= 1 us) "
        + "| CPU beside the releasing thread, per close |");
    line("|---|---|---|---|---|---|---|---|---|");
    for (String[] ttls : PER_KEY_TTLS) {
      for (String peer : List.of("asyncpool", "caffeine")) {
        expiryRow(peer + ", " + ttls[1], fork(ExpiryRun.class, heap, peer, String.valueOf(n), ttls[0]));
      }
    }
  }

  /**
   * The warm lease with per-key TTLs against one TTL, interleaved in one JVM in slices of 100,000
   * leases ({@link WarmInterleaved}), in {@code -Dbench.jvms} JVMs (10) per key count: the same
   * comparison as {@link #warmPerKey}, with the machine's swings within a run taken out. Ratios
   * still differ from one JVM to the next by a few percent (where the JIT and the heap put
   * things), so the verdict is on their mean over the JVMs.
   */
  private void warmInterleaved() throws Exception {
    List<String> heap = List.of("-Xms2g", "-Xmx2g");
    String rounds = QUICK ? "50" : "600";
    int jvms = Integer.getInteger("bench.jvms", QUICK ? 2 : 10);
    line("");
    line("## Warm lease, per-key TTLs against one TTL, interleaved in one JVM (1 thread; "
        + "%s rounds of 2 slices of 100,000 leases per JVM, %d JVMs; ratio: per-key time over "
        + "one-TTL time, so that 1.05 is 5 %% slower)", rounds, jvms);
    line("");
    line("| keys | median ratio per JVM | mean over JVMs ± 95 % (t) | within 5 % (<= 1.05) "
        + "| one TTL, ns/lease (median of JVMs) | per-key, ns/lease (median of JVMs) |");
    line("|---|---|---|---|---|---|");
    for (String keys : List.of("1", "1024")) {
      double[] ratios = new double[jvms];
      double[] oneNs = new double[jvms];
      double[] perKeyNs = new double[jvms];
      StringBuilder each = new StringBuilder();
      for (int jvm = 0; jvm < jvms; jvm++) {
        Map<String, String> r = fork(WarmInterleaved.class, heap, keys, rounds, "100000");
        ratios[jvm] = Double.parseDouble(r.get("medianRatio"));
        oneNs[jvm] = Double.parseDouble(r.get("oneNsMedian"));
        perKeyNs[jvm] = Double.parseDouble(r.get("perKeyNsMedian"));
        each.append(jvm == 0 ? "" : ", ").append(r.get("medianRatio"));
      }
      timeRatioRow(keys, each, ratios, oneNs, perKeyNs);
    }
    line("");
    line("## Warm lease, per-key TTLs against one TTL, each pool alone in its JVM (1 thread; "
        + "%s slices of 100,000 leases per JVM; %d pairs of JVMs, alternating which runs first; "
        + "ratio: per-key median time over one-TTL median time)", rounds, jvms);
    line("");
    line("| keys | ratio per pair | mean over pairs ± 95 % (t) | within 5 % (<= 1.05) "
        + "| one TTL, ns/lease (median of JVMs) | per-key, ns/lease (median of JVMs) |");
    line("|---|---|---|---|---|---|");
    for (String keys : List.of("1", "1024")) {
      double[] ratios = new double[jvms];
      double[] oneNs = new double[jvms];
      double[] perKeyNs = new double[jvms];
      StringBuilder each = new StringBuilder();
      for (int pair = 0; pair < jvms; pair++) {
        for (int i = 0; i < 2; i++) {
          boolean perKey = (pair % 2 == 0) == (i == 1);
          Map<String, String> r =
              fork(WarmInterleaved.class, heap, keys, rounds, "100000", perKey ? "perKey" : "one");
          (perKey ? perKeyNs : oneNs)[pair] = Double.parseDouble(r.get("nsMedian"));
        }
        ratios[pair] = perKeyNs[pair] / oneNs[pair];
        each.append(pair == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", ratios[pair]));
      }
      timeRatioRow(keys, each, ratios, oneNs, perKeyNs);
    }
  }

  /**
   * A row of {@link #warmInterleaved}: the ratios (per-key time over one-TTL time), their mean
   * and 95 % interval with the verdict against 1.05, and the median ns per lease of each pool.
   */
  private void timeRatioRow(
      String keys, CharSequence each, double[] ratios, double[] oneNs, double[] perKeyNs) {
    double[] mean = meanAndHalfWidth(ratios);
    String verdict =
        mean[0] + mean[1] <= 1.05
            ? "**met**"
            : mean[0] - mean[1] > 1.05 ? "**missed**" : "not resolved: the interval reaches 1.05";
    double[] one = oneNs.clone();
    double[] perKey = perKeyNs.clone();
    java.util.Arrays.sort(one);
    java.util.Arrays.sort(perKey);
    line("| %s | %s | %.3f ± %.3f | %s | %.2f | %.2f |", keys, each, mean[0], mean[1], verdict,
        one[one.length / 2], perKey[perKey.length / 2]);
  }

  private void expiryRow(String label, Map<String, String> r) {
    line("| %s | %,d | %s | %s ms | %s ms | %s ms | %s ms | %s ns | %s ns |", label,
        Long.parseLong(r.get("closed")), r.get("early"), r.get("p50Ms"), r.get("p99Ms"),
        r.get("maxMs"), r.get("cpuMs"), r.get("cpuPerCloseNs"), r.get("offThreadCpuPerCloseNs"));
  }

  // ------------------------------------------------------------------------------------------

  /**
   * What {@code TenantDataSource} adds to HikariCP alone: per connection taken and closed, and per
   * call on an open connection and result set, at one thread (its cost is per call, not shared).
   */
  private void jdbc() throws Exception {
    Map<String, double[]> s = new LinkedHashMap<>();
    // HikariCP logs each pool's start: through slf4j-simple, at WARN, that is not printed.
    List<String> quiet =
        List.of(
            "-Dslf4j.provider=org.slf4j.simple.SimpleServiceProvider",
            "-Dslf4j.internal.verbosity=WARN",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    String include = TenantDataSourceCost.class.getName() + "\\.";
    for (RunResult result : jmh(include, "", 1, DEFAULT_SHAPE, quiet)) {
      s.put(method(result), score(result));
    }
    line("");
    line("## TenantDataSource over HikariCP and in-memory H2, 1 thread (ns/op, lower is better)");
    line("");
    line("| operation | HikariCP alone | through TenantDataSource | added |");
    line("|---|---|---|---|");
    String[][] rows = {
      {"getConnection() + close()", "GetConnection"},
      {"a call on the connection (getAutoCommit)", "ConnectionCall"},
      {"a call on a result set (getInt)", "ResultSetCall"},
    };
    for (String[] row : rows) {
      double[] hikari = s.get("hikari" + row[1]);
      double[] ours = s.get("tenant" + row[1]);
      line("| %s | %s | %s | %.0f |", row[0], fmt(hikari), fmt(ours), ours[0] - hikari[0]);
    }
  }

  /** Forks, and warm-up and measured iterations of 1 s each. */
  private record Shape(int forks, int warmups, int measurements) {}

  private static final Shape DEFAULT_SHAPE = new Shape(1, QUICK ? 1 : 3, QUICK ? 2 : 5);

  private static Collection<RunResult> jmh(Class<?> benchmark, int threads) throws Exception {
    return jmh(benchmark, threads, "");
  }

  /** Every benchmark of {@code benchmark} but those {@code exclude} matches. */
  private static Collection<RunResult> jmh(Class<?> benchmark, int threads, String exclude)
      throws Exception {
    return jmh(benchmark.getName() + "\\.", exclude, threads, DEFAULT_SHAPE, List.of());
  }

  /** {@code params}: name, value, name, value, ... */
  private static Collection<RunResult> jmh(
      String include, String exclude, int threads, Shape shape, List<String> jvmArgs,
      String... params) throws Exception {
    return jmh(include, exclude, threads, shape, jvmArgs, false, params);
  }

  /** {@code gc}: with JMH's GC profiler ({@code -prof gc}). */
  private static Collection<RunResult> jmh(
      String include, String exclude, int threads, Shape shape, List<String> jvmArgs,
      boolean gc, String... params) throws Exception {
    ChainedOptionsBuilder options =
        new OptionsBuilder()
            .include(include)
            .threads(threads)
            .forks(shape.forks())
            .jvmArgs("-Xms2g", "-Xmx2g")
            .warmupIterations(shape.warmups())
            .warmupTime(TimeValue.seconds(1))
            .measurementIterations(shape.measurements())
            .measurementTime(TimeValue.seconds(1));
    if (!exclude.isEmpty()) {
      options.exclude(exclude);
    }
    if (!jvmArgs.isEmpty()) {
      options.jvmArgsAppend(jvmArgs.toArray(new String[0]));
    }
    for (int i = 0; i < params.length; i += 2) {
      options.param(params[i], params[i + 1]);
    }
    if (gc) {
      options.addProfiler(GCProfiler.class);
    }
    return new Runner(options.build()).run();
  }

  private static String method(RunResult result) {
    String name = result.getParams().getBenchmark();
    return name.substring(name.lastIndexOf('.') + 1);
  }

  private static double[] score(RunResult result) {
    return new double[] {
      result.getPrimaryResult().getScore(), result.getPrimaryResult().getScoreError()
    };
  }

  /** Runs {@code main} in a JVM of its own and returns the fields of its RESULT line. */
  private static Map<String, String> fork(Class<?> main, List<String> jvmArgs, String... args)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(jvmArgs);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(main.getName());
    command.addAll(List.of(args));
    System.out.println("# " + main.getSimpleName() + " " + String.join(" ", args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    Map<String, String> fields = new LinkedHashMap<>();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      for (String text; (text = out.readLine()) != null; ) {
        System.out.println(text);
        if (text.startsWith("RESULT ")) {
          for (String field : text.substring(7).split(" ")) {
            int eq = field.indexOf('=');
            fields.put(field.substring(0, eq), field.substring(eq + 1));
          }
        }
      }
    }
    int exit = process.waitFor();
    if (exit != 0 || fields.isEmpty()) {
      throw new IllegalStateException(main.getSimpleName() + " " + List.of(args) + " failed: exit " + exit);
    }
    return fields;
  }

  private static String fmt(double[] score) {
    return score == null ? "-" : String.format(Locale.ROOT, "%.1f ± %.1f", score[0], score[1]);
  }

  /** {@code ours / theirs}, marked when it misses {@code target} (0: no target). */
  private static String ratio(double ours, double theirs, double target) {
    double ratio = ours / theirs;
    String text = String.format(Locale.ROOT, "%.2f", ratio);
    return target == 0 ? text : ratio >= target ? text : "**" + text + " (miss)**";
  }

  private static String ratioLowerBetter(double ours, double theirs, double limit) {
    double ratio = ours / theirs;
    String text = String.format(Locale.ROOT, "%.2f", ratio);
    return limit == 0 || ratio <= limit ? text : "**" + text + " (miss)**";
  }

  private void line(String format, Object... args) {
    String text = args.length == 0 ? format : String.format(Locale.ROOT, format, args);
    report.append(text).append('\n');
  }
}
