package dev.asyncpool.bench;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarFile;

/**
 * The warm lease of the library built at two commits, A/B in the same session: {@link WarmLease}
 * against the jar of a base commit and the jar of a candidate, in alternating order round by
 * round (A B, B A, A B, ...), at 1 and 2 threads and 1 and 1024 keys. Each run is its own JMH
 * process (one fork, short iterations, {@code -prof gc}) whose class path is this one's with the
 * library swapped for the commit's jar, and measures the {@code floor} peer beside asyncpool, so
 * that each run has its own normalizer: the ratio asyncpool / floor is taken per run, the
 * candidate's ratio over the base's per round, and the mean and its 95 % interval over the
 * rounds. Load that drifts over minutes weighs on both alike; what is left shows as the spread.
 *
 * <p>Each run also records the machine's load: the 1-minute load average, and the CPU that other
 * processes used meanwhile ({@code /proc/stat}'s busy time less this process's children's), in
 * cores, and the time stolen by the hypervisor.
 *
 * <p>Arguments: the base jar and the candidate jar. {@code -Dbench.rounds=N} (default 6), {@code
 * -Dbench.extra=m1,m2}: further {@code WarmLease} methods run on the candidate only (settings the
 * base lacks, such as {@code asyncpoolLifecycle}), {@code -Dbench.out=dir} (default {@code
 * target/commit-pairs}), {@code -Dbench.reportOnly=true}: the report again from the results
 * already there, {@code -Dbench.quick=true}: a smoke run of the machinery, not for the
 * record. {@code .ci/bench-commits} builds the jars and runs this.
 */
public final class CommitPairs {

  private static final int ROUNDS = Integer.getInteger("bench.rounds", 6);
  private static final String EXTRA = System.getProperty("bench.extra", "");
  private static final Path OUT = Path.of(System.getProperty("bench.out", "target/commit-pairs"));
  private static final boolean QUICK = Boolean.getBoolean("bench.quick");

  /** {@code -Dbench.reportOnly=true}: the report of the runs already in {@code bench.out}. */
  private static final boolean REPORT_ONLY = Boolean.getBoolean("bench.reportOnly");
  private static final int[] THREADS = {1, 2};
  private static final String[] KEYS = {"1", "1024"};

  /** One run's scores, (method, keys) to {ops/us, error, B/op}, and the load while it ran. */
  private record Run(Map<String, double[]> scores, double loadAverage, double foreign, double steal) {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      throw new IllegalArgumentException("usage: CommitPairs <base jar> <candidate jar>");
    }
    String[] jars = {args[0], args[1]};
    String[] labels = {"base", "candidate"};
    Files.createDirectories(OUT);
    // (variant, threads) -> one Run per round
    Map<String, List<Run>> runs = new TreeMap<>();
    for (int round = 0; round < ROUNDS; round++) {
      for (int i = 0; i < 2; i++) {
        int v = round % 2 == 0 ? i : 1 - i;
        for (int threads : THREADS) {
          String methods = v == 1 && !EXTRA.isBlank() ? "floor|asyncpool|" + EXTRA.replace(',', '|')
              : "floor|asyncpool";
          Run run = run(jars[v], labels[v] + "-r" + round + "-t" + threads, methods, threads);
          runs.computeIfAbsent(labels[v] + " " + threads, k -> new ArrayList<>()).add(run);
        }
      }
    }
    String report = report(jars, runs);
    System.out.println(report);
    Files.writeString(OUT.resolve("report.md"), report);
    System.out.println("(also in " + OUT.resolve("report.md") + ")");
  }

  private static Run run(String jar, String name, String methods, int threads) throws Exception {
    Path csv = OUT.resolve(name + ".csv").toAbsolutePath();
    Path loadFile = OUT.resolve(name + ".load");
    if (REPORT_ONLY) {
      String[] l = Files.exists(loadFile) ? Files.readString(loadFile).trim().split(" ")
          : new String[] {"NaN", "NaN", "NaN"};
      return new Run(parse(csv), Double.parseDouble(l[0]), Double.parseDouble(l[1]),
          Double.parseDouble(l[2]));
    }
    List<String> command = List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", classPath(jar),
        "org.openjdk.jmh.Main",
        WarmLease.class.getName() + "\\.(" + methods + ")$",
        "-p", "keys=" + String.join(",", KEYS),
        "-t", String.valueOf(threads),
        "-f", "1", "-wi", QUICK ? "1" : "3", "-w", QUICK ? "200ms" : "1s",
        "-i", QUICK ? "1" : "4", "-r", QUICK ? "200ms" : "1s",
        "-jvmArgs", "-Xms2g -Xmx2g",
        "-prof", "gc",
        "-foe", "true",
        "-rf", "csv", "-rff", csv.toString());
    System.out.printf(Locale.ROOT, "# %s %s: %s, %d thread(s)%n", LocalDateTime.now(), name, jar, threads);
    long[] before = cpu();
    Process process = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(OUT.resolve(name + ".log").toFile()).start();
    int exit = process.waitFor();
    long[] after = cpu();
    if (exit != 0) {
      throw new IllegalStateException(name + " failed: exit " + exit + ", see its log in " + OUT);
    }
    double wall = (double) (after[0] - before[0]) / Runtime.getRuntime().availableProcessors();
    double foreign = ((after[1] - before[1]) - (after[3] - before[3])) / wall;
    double steal = (after[2] - before[2]) / wall;
    double load = Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
    Map<String, double[]> scores = parse(csv);
    Files.writeString(loadFile, String.format(Locale.ROOT, "%f %f %f%n", load, foreign, steal));
    System.out.printf(Locale.ROOT, "#   load %.2f, other processes %.2f cores, steal %.2f; %s%n",
        load, foreign, steal, brief(scores));
    return new Run(scores, load, foreign, steal);
  }

  /** This class path with the library (where {@code dev/asyncpool/Pool.class} is) swapped for {@code jar}. */
  private static String classPath(String jar) throws IOException {
    List<String> entries = new ArrayList<>();
    boolean swapped = false;
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (holdsLibrary(entry)) {
        entries.add(Path.of(jar).toAbsolutePath().toString());
        swapped = true;
      } else {
        entries.add(entry);
      }
    }
    if (!swapped) {
      entries.add(Path.of(jar).toAbsolutePath().toString());
    }
    return String.join(File.pathSeparator, entries);
  }

  private static boolean holdsLibrary(String entry) throws IOException {
    Path path = Path.of(entry);
    if (Files.isDirectory(path)) {
      return Files.exists(path.resolve("dev/asyncpool/Pool.class"));
    }
    if (entry.endsWith(".jar") && Files.exists(path)) {
      try (JarFile file = new JarFile(entry)) {
        return file.getEntry("dev/asyncpool/Pool.class") != null;
      }
    }
    return false;
  }

  /** {total ticks of all CPUs, busy ticks, steal ticks, this process's and its children's ticks}. */
  private static long[] cpu() throws IOException {
    String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
    long total = 0;
    for (int i = 1; i < f.length && i <= 8; i++) {
      total += Long.parseLong(f[i]);
    }
    // user nice system idle iowait irq softirq steal
    long busy = Long.parseLong(f[1]) + Long.parseLong(f[2]) + Long.parseLong(f[3])
        + Long.parseLong(f[6]) + Long.parseLong(f[7]);
    String self = Files.readString(Path.of("/proc/self/stat"));
    String[] s = self.substring(self.lastIndexOf(')') + 2).split(" ");
    // fields 14 to 17 of proc(5): utime stime cutime cstime (s[0] is field 3)
    long ours = Long.parseLong(s[11]) + Long.parseLong(s[12]) + Long.parseLong(s[13])
        + Long.parseLong(s[14]);
    return new long[] {total, busy, Long.parseLong(f[8]), ours};
  }

  /** JMH's CSV: (method, keys) to {score, error, gc.alloc.rate.norm}. */
  private static Map<String, double[]> parse(Path csv) throws IOException {
    Map<String, double[]> scores = new LinkedHashMap<>();
    List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
    for (String line : lines.subList(1, lines.size())) {
      String[] c = line.replace("\"", "").split(",");
      String benchmark = c[0].substring(WarmLease.class.getName().length() + 1);
      String keys = c[c.length - 1];
      int colon = benchmark.indexOf(':');
      String method = colon < 0 ? benchmark : benchmark.substring(0, colon);
      String secondary = colon < 0 ? "" : benchmark.substring(colon + 1).replace("·", "");
      double[] score = scores.computeIfAbsent(method + " " + keys, k -> new double[3]);
      if (secondary.isEmpty()) {
        score[0] = Double.parseDouble(c[4]);
        score[1] = c[5].equals("NaN") ? Double.NaN : Double.parseDouble(c[5]);
      } else if (secondary.equals("gc.alloc.rate.norm")) {
        score[2] = Double.parseDouble(c[4]);
      }
    }
    return scores;
  }

  private static String brief(Map<String, double[]> scores) {
    StringBuilder text = new StringBuilder();
    for (Map.Entry<String, double[]> e : scores.entrySet()) {
      text.append(String.format(Locale.ROOT, "%s%s %.1f (%.0f B/op)", text.length() == 0 ? "" : ", ",
          e.getKey(), e.getValue()[0], e.getValue()[2]));
    }
    return text.toString();
  }

  /** asyncpool (or {@code method}) over the floor of the same run. */
  private static double ratio(Run run, String method, String keys) {
    return run.scores().get(method + " " + keys)[0] / run.scores().get("floor " + keys)[0];
  }

  private static String report(String[] jars, Map<String, List<Run>> runs) {
    StringBuilder out = new StringBuilder();
    line(out, "Base: %s. Candidate: %s. %d rounds, alternating order; JDK %s, %d CPUs.", jars[0],
        jars[1], ROUNDS, System.getProperty("java.version"), Runtime.getRuntime().availableProcessors());
    line(out, "");
    List<String> methods = new ArrayList<>(List.of("asyncpool"));
    for (String extra : EXTRA.split(",")) {
      if (!extra.isBlank()) {
        methods.add(extra);
      }
    }
    line(out, "| keys, threads | base: asyncpool / floor | candidate method | candidate: / floor "
        + "| candidate / base, each round | mean ± 95 % (t) | min to max | within 5 % "
        + "| without the floor: ops/us candidate / base, mean ± 95 % (t) |");
    line(out, "|---|---|---|---|---|---|---|---|---|");
    for (String keys : KEYS) {
      for (int threads : THREADS) {
        List<Run> base = runs.get("base " + threads);
        List<Run> candidate = runs.get("candidate " + threads);
        for (String method : methods) {
          double[] baseRatios = new double[ROUNDS];
          double[] candidateRatios = new double[ROUNDS];
          double[] change = new double[ROUNDS];
          double[] raw = new double[ROUNDS];
          StringBuilder each = new StringBuilder();
          for (int r = 0; r < ROUNDS; r++) {
            raw[r] = candidate.get(r).scores().get(method + " " + keys)[0]
                / base.get(r).scores().get("asyncpool " + keys)[0];
            baseRatios[r] = ratio(base.get(r), "asyncpool", keys);
            candidateRatios[r] = ratio(candidate.get(r), method, keys);
            change[r] = candidateRatios[r] / baseRatios[r];
            each.append(r == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", change[r]));
          }
          double[] mean = BenchMain.meanAndHalfWidth(change);
          double[] rawMean = BenchMain.meanAndHalfWidth(raw);
          line(out, "| %s keys, %d thread%s | %s | %s | %s | %s | %.3f ± %.3f | %.3f to %.3f | %s "
                  + "| %.3f ± %.3f |",
              keys, threads, threads == 1 ? "" : "s", meanRange(baseRatios), method,
              meanRange(candidateRatios), each, mean[0], mean[1], min(change), max(change),
              verdict(mean), rawMean[0], rawMean[1]);
        }
      }
    }
    if (methods.size() > 1) {
      line(out, "");
      line(out, "| keys, threads | candidate method / candidate asyncpool, same run, each round "
          + "| mean ± 95 % (t) | min to max | within 5 % |");
      line(out, "|---|---|---|---|---|");
      for (String keys : KEYS) {
        for (int threads : THREADS) {
          List<Run> candidate = runs.get("candidate " + threads);
          for (String method : methods.subList(1, methods.size())) {
            double[] change = new double[ROUNDS];
            StringBuilder each = new StringBuilder(method + ": ");
            for (int r = 0; r < ROUNDS; r++) {
              change[r] = ratio(candidate.get(r), method, keys) / ratio(candidate.get(r), "asyncpool", keys);
              each.append(r == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", change[r]));
            }
            double[] mean = BenchMain.meanAndHalfWidth(change);
            line(out, "| %s keys, %d thread%s | %s | %.3f ± %.3f | %.3f to %.3f | %s |", keys, threads,
                threads == 1 ? "" : "s", each, mean[0], mean[1], min(change), max(change), verdict(mean));
          }
        }
      }
    }
    line(out, "");
    line(out, "| keys, threads | method | base ops/us, mean of rounds | candidate ops/us "
        + "| base B/op | candidate B/op |");
    line(out, "|---|---|---|---|---|---|");
    for (String keys : KEYS) {
      for (int threads : THREADS) {
        List<String> all = new ArrayList<>(List.of("floor"));
        all.addAll(methods);
        for (String method : all) {
          double[] b = meanScore(runs.get("base " + threads), method, keys);
          double[] c = meanScore(runs.get("candidate " + threads), method, keys);
          line(out, "| %s keys, %d thread%s | %s | %s | %.1f | %s | %.1f |", keys, threads,
              threads == 1 ? "" : "s", method, b == null ? "-" : String.format(Locale.ROOT, "%.1f", b[0]),
              c[0], b == null ? "-" : String.format(Locale.ROOT, "%.1f", b[1]), c[1]);
        }
      }
    }
    line(out, "");
    List<Double> loads = new ArrayList<>();
    List<Double> foreign = new ArrayList<>();
    List<Double> steal = new ArrayList<>();
    for (List<Run> list : runs.values()) {
      for (Run run : list) {
        loads.add(run.loadAverage());
        foreign.add(run.foreign());
        steal.add(run.steal());
      }
    }
    line(out, "Load over the %d runs: 1-minute load average %s; CPU of other processes %s cores; "
        + "steal %s cores (min, median, max).", loads.size(), spread(loads), spread(foreign), spread(steal));
    return out.toString();
  }

  private static double[] meanScore(List<Run> list, String method, String keys) {
    double score = 0;
    double bytes = 0;
    for (Run run : list) {
      double[] s = run.scores().get(method + " " + keys);
      if (s == null) {
        return null;
      }
      score += s[0] / list.size();
      bytes += s[2] / list.size();
    }
    return new double[] {score, bytes};
  }

  private static String verdict(double[] mean) {
    if (mean[0] - mean[1] >= 0.95) {
      return "met";
    }
    if (mean[0] + mean[1] < 0.95) {
      return "**missed**";
    }
    return mean[0] >= 0.95 ? "met on the mean, not resolved" : "**not resolved, mean below**";
  }

  private static String meanRange(double[] values) {
    double mean = 0;
    for (double v : values) {
      mean += v / values.length;
    }
    return String.format(Locale.ROOT, "%.3f (%.3f to %.3f)", mean, min(values), max(values));
  }

  private static String spread(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    sorted.sort(null);
    return String.format(Locale.ROOT, "%.2f, %.2f, %.2f", sorted.get(0), sorted.get(sorted.size() / 2),
        sorted.get(sorted.size() - 1));
  }

  private static double min(double[] values) {
    double m = Double.POSITIVE_INFINITY;
    for (double v : values) {
      m = Math.min(m, v);
    }
    return m;
  }

  private static double max(double[] values) {
    double m = Double.NEGATIVE_INFINITY;
    for (double v : values) {
      m = Math.max(m, v);
    }
    return m;
  }

  private static void line(StringBuilder out, String format, Object... args) {
    out.append(args.length == 0 ? format : String.format(Locale.ROOT, format, args)).append('\n');
  }
}
