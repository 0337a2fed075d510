package io.chunkserve.bench;

import io.chunkserve.bench.sim.BenchArgs;
import io.chunkserve.bench.sim.RealRun;
import io.chunkserve.bench.sim.RequestSpec;
import io.chunkserve.bench.sim.RunResult;
import io.chunkserve.bench.sim.Workload;
import io.chunkserve.bench.sim.Workloads;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.model.ModelConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code chunkserve bench scheduler --real}: the scheduler bench's workloads, shrunk to a small
 * model's vocabulary and 512-token context ({@link Workloads.Sizes#tiny}), replayed through the
 * real engine on the CPU ({@link RealRun}): one {@code Worker} per workload × policy, the policy
 * chosen with {@code WorkerConfig.withScheduler}, wall-clock time. Same table and {@code RESULT}
 * line as the simulated bench, with {@code "mode":"real"}.
 *
 * <p>By default every root request is submitted at t = 0 ({@code --arrivals burst}; follow-ups
 * still wait for their parent): every tenant is backlogged from the start, as the fairness metrics
 * want, whatever the machine's speed. {@code --arrivals wall} submits roots at their arrival times
 * instead, calibrated per workload: a first run of the whole workload at once under FCFS measures
 * what this machine can do, and the measured runs spread the root arrivals over 1/{@code --load}
 * of that time, so the engine is overloaded by about the same factor on a fast machine as on a
 * slow one.
 *
 * <p>Before measuring, a warm-up replays a small workload through every policy until the JIT has
 * compiled the CPU kernels (the first seconds of a JVM run the Vector API code interpreted, an
 * order of magnitude slower, which would otherwise land on whichever policy runs first).
 */
public final class SchedulerBenchReal {
    private SchedulerBenchReal() { }

    /** The bundled model: {@code <chunkserve.home>/fixtures/tiny-llama3}, else {@code fixtures/tiny-llama3} under the working directory. */
    static Path defaultModel() {
        String home = System.getProperty("chunkserve.home");
        Path p = (home != null ? Path.of(home) : Path.of("")).resolve("fixtures").resolve("tiny-llama3");
        if (!Files.isDirectory(p)) {
            throw new IllegalArgumentException("bundled model not found at " + p.toAbsolutePath() + "; pass --model DIR");
        }
        return p;
    }

    /** Runs with options already parsed and defaulted by {@link SchedulerBench#parseOptions}. */
    static void main(Map<String, String> a) {
        long wall0 = System.nanoTime();
        long seed = Long.parseLong(a.get("seed"));
        double scale = Double.parseDouble(a.get("scale"));
        Path model = a.get("model").isEmpty() ? defaultModel() : Path.of(a.get("model"));
        if (!Files.isDirectory(model)) throw new IllegalArgumentException("--model " + model + " is not a directory");
        String arrivals = a.get("arrivals");
        if (!arrivals.equals("wall") && !arrivals.equals("burst")) {
            throw new IllegalArgumentException("--arrivals must be wall or burst, got '" + arrivals + "'");
        }
        boolean burst = arrivals.equals("burst");
        double load = Double.parseDouble(a.get("load"));
        int repeat = Integer.parseInt(a.get("repeat"));
        if (repeat < 1) throw new IllegalArgumentException("--repeat must be >= 1, got " + repeat);
        if (!(load > 0)) throw new IllegalArgumentException("--load must be > 0, got " + load);
        RealRun.Options o = new RealRun.Options(model, Integer.parseInt(a.get("threads")), Integer.parseInt(a.get("chunk")),
                Integer.parseInt(a.get("kv-tokens")), Integer.parseInt(a.get("max-running")), Integer.parseInt(a.get("token-budget")),
                0, Double.parseDouble(a.get("timeout")));
        SchedulerConfig base = SchedulerConfig.defaults().withQuantum(Long.parseLong(a.get("quantum")))
                .withLpmMaxWaiting(Integer.parseInt(a.get("lpm-max-waiting")))
                .withAgingLimit(Integer.parseInt(a.get("aging-limit")));
        List<String> policies = Arrays.asList(a.get("policies").split(","));
        policies.forEach(SchedulerConfig::of); // fail early on a bad name
        ModelConfig mc = ModelConfig.load(model);
        Workloads.Sizes sizes = Workloads.Sizes.tiny(mc.vocabSize());
        List<Workload> workloads = new ArrayList<>(Workloads.all(seed, scale, sizes));
        if (!a.get("workloads").equals("all")) {
            List<String> wanted = Arrays.asList(a.get("workloads").split(","));
            workloads.removeIf(w -> !wanted.contains(w.name()));
        }
        for (Workload w : workloads) RealRun.checkFits(w, mc.vocabSize(), mc.maxPositions());

        System.out.printf("scheduler bench — mode real: the real engine (Worker, CPU model runner, PrefixCache, io.chunkserve.engine.sched "
                + "policies), wall-clock time%n");
        System.out.printf("machine: %s %s, %d cores, Java %s%n", System.getProperty("os.name"), System.getProperty("os.arch"),
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
        System.out.printf("model: %s (%s, %d layers, hidden %d, vocab %d, context %d); %d compute threads; greedy, ignore_eos, "
                        + "max_tokens = planned output%n", model, mc.modelType(), mc.numLayers(), mc.hiddenSize(), mc.vocabSize(),
                mc.maxPositions(), o.threads());
        System.out.printf("engine: max_running=%d token_budget=%d kv_tokens=%d (f32) chunk=%d; scheduler: w_e=%d w_q=%d Q_u=%d "
                        + "lpm_max_waiting=%d (engine default %d) aging_limit=%d; workloads: %s sizes, seed=%d scale=%.2f%n",
                o.maxRunning(), o.tokenBudget(), o.kvTokens(), o.chunkSize(), base.inputWeight(), base.outputWeight(), base.quantum(),
                base.lpmMaxWaiting(), SchedulerConfig.DEFAULT_LPM_MAX_WAITING, base.agingLimit(), sizes.label(), seed, scale);
        System.out.printf("arrivals: %s%n", burst ? "burst: every root request at t=0, in arrival order; follow-ups after their parent"
                : String.format("wall clock, each workload's roots spread over 1/%.2f of the time the whole workload took in a burst "
                + "under fcfs (offered load ~%.2fx the measured capacity); follow-ups after their parent", load, load));
        System.out.printf("service = w_e*computed prompt (counted at a request's first token) + w_q*output; Jain and gap over steps "
                + "that began with every tenant waiting; latency = end-to-end of the well-behaved tenants t1..t3; times in wall seconds%s%n",
                repeat > 1 ? String.format("; each row the run of median tok/s among %d", repeat) : "");

        double warm = warmUp(o, base, policies, sizes, seed, Double.parseDouble(a.get("warmup")));
        System.out.printf("warm-up: %.1f s%n%n", warm);

        String header = String.format("%-9s %-5s %9s %9s %7s %7s %9s %7s %7s %6s %7s %6s %6s %6s %6s %6s %6s %5s",
                "workload", "policy", "tok/s", "tok/cpu_s", "jain", "jainP", "gap/mean", "p50_s", "p99_s", "hit", "span_s", "win_s",
                "cpu_s", "steps", "preem", "evict", "fcfs%", "maxW");
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("mode", "real");
        Map<String, Map<String, RealRun.Result>> all = new LinkedHashMap<>();
        for (Workload w : workloads) {
            System.out.printf("%s: %s (%d requests, %.0fk tokens)%n", w.name(), w.description(), w.requests(), w.tokens() / 1e3);
            RealRun.Options ow = o;
            if (!burst) {
                double rootSpan = w.roots().stream().mapToDouble(RequestSpec::at).max().orElse(0);
                double capacity = run(w, base.withPolicy("fcfs"), o).run().makespan();
                ow = o.withTimeScale(rootSpan > 0 ? capacity / load / rootSpan : 0);
                System.out.printf("arrivals over %.2f s (burst under fcfs took %.2f s)%n", rootSpan * ow.timeScale(), capacity);
            }
            System.out.println(header);
            Map<String, Object> row = new LinkedHashMap<>();
            Map<String, RealRun.Result> byPolicy = new LinkedHashMap<>();
            for (String p : policies) {
                RealRun.Result r = median(w, base.withPolicy(p), ow, repeat);
                byPolicy.put(r.run().policy(), r);
                Map<String, Object> summary = r.run().summary();
                double perCpu = r.throughputPerCpuSecond();
                summary.put("throughput_per_cpu_s", Double.isFinite(perCpu) ? Math.round(perCpu * 10) / 10.0 : Double.NaN);
                summary.put("mode", "real");
                row.put(r.run().policy(), summary);
                print(r.run().policy(), r);
            }
            if (policies.contains("dlpm") && base.lpmMaxWaiting() != SchedulerConfig.DEFAULT_LPM_MAX_WAITING) {
                print("dlpm*", median(w, base.withLpmMaxWaiting(SchedulerConfig.DEFAULT_LPM_MAX_WAITING), ow, repeat));
            }
            all.put(w.name(), byPolicy);
            json.put(w.name(), row);
            System.out.println();
        }
        System.out.printf("dlpm* = DLPM with the engine default lpm_max_waiting=%d; fcfs%% = scheduling passes of a cache-aware policy "
                + "that fell back to FCFS order (more than lpm_max_waiting waiting); maxW = most requests waiting at a step's start; "
                + "evict = cached KV chunks evicted; preem = requests preempted for KV memory; cpu_s = process CPU time of the run, "
                + "tok/cpu_s = tokens per CPU second (steadier than tok/s on a shared machine)%n%n", SchedulerConfig.DEFAULT_LPM_MAX_WAITING);
        summarize(all);
        System.out.printf("wall time %.1f s%n", (System.nanoTime() - wall0) / 1e9);
        System.out.println("RESULT " + BenchArgs.json(json));
    }

    /**
     * Replays a small judge workload (prefill, shared prefixes and decode) through each policy in
     * turn, all at once, until {@code seconds} have passed, at least once each; returns the seconds spent.
     */
    static double warmUp(RealRun.Options o, SchedulerConfig base, List<String> policies, Workloads.Sizes sizes, long seed, double seconds) {
        long t0 = System.nanoTime();
        if (seconds <= 0) return 0;
        Workload w = Workloads.judge(Workloads.Pattern.S2, seed + 1, 0.04, sizes);
        RealRun.Options burst = new RealRun.Options(o.modelDir(), o.threads(), o.chunkSize(), o.kvTokens(), o.maxRunning(),
                o.tokenBudget(), 0, Math.max(o.timeoutSeconds(), 300));
        for (int i = 0; i < policies.size() || (System.nanoTime() - t0) / 1e9 < seconds; i++) {
            run(w, base.withPolicy(policies.get(i % policies.size())), burst);
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    /** DLPM against VTC and LPM per workload: throughput per wall and per CPU second, steps, hit rate and Jain differences. */
    private static void summarize(Map<String, Map<String, RealRun.Result>> all) {
        System.out.printf("%-9s %14s %14s %14s %13s %14s %14s%n", "workload", "dlpm/vtc tput", "dlpm/vtc t/cpu",
                "dlpm/vtc steps", "hit dlpm-vtc", "jain dlpm-vtc", "dlpm/lpm t/cpu");
        for (var e : all.entrySet()) {
            RealRun.Result d = e.getValue().get("dlpm"), v = e.getValue().get("vtc"), l = e.getValue().get("lpm");
            if (d == null) continue;
            System.out.printf("%-9s %14s %14s %14s %13s %14s %14s%n", e.getKey(),
                    v == null ? "-" : String.format("%.2fx", d.run().throughput() / v.run().throughput()),
                    v == null ? "-" : String.format("%.2fx", d.throughputPerCpuSecond() / v.throughputPerCpuSecond()),
                    v == null ? "-" : String.format("%.2fx", (double) d.run().steps() / v.run().steps()),
                    v == null ? "-" : String.format("%+.3f", d.run().hitRate() - v.run().hitRate()),
                    v == null ? "-" : String.format("%+.4f", d.run().jain() - v.run().jain()),
                    l == null ? "-" : String.format("%.2fx", d.throughputPerCpuSecond() / l.throughputPerCpuSecond()));
        }
        System.out.println();
    }

    /** The run of median wall-clock throughput among {@code n} (the machine's noise is in the wall clock). */
    static RealRun.Result median(Workload w, SchedulerConfig config, RealRun.Options o, int n) {
        List<RealRun.Result> runs = new ArrayList<>();
        for (int i = 0; i < n; i++) runs.add(run(w, config, o));
        runs.sort(java.util.Comparator.comparingDouble(r -> r.run().throughput()));
        return runs.get((n - 1) / 2);
    }

    static RealRun.Result run(Workload w, SchedulerConfig config, RealRun.Options o) {
        RealRun.Result r = RealRun.run(w, config, o);
        if (r.run().finished() != w.requests()) {
            throw new IllegalStateException(w.name() + "/" + r.run().policy() + ": " + r.run().finished() + " of " + w.requests()
                    + " requests finished");
        }
        return r;
    }

    private static void print(String label, RealRun.Result x) {
        RunResult r = x.run();
        System.out.printf("%-9s %-5s %9.0f %9.0f %7.4f %7.4f %9.3f %7.3f %7.3f %6.3f %7.2f %6.2f %6.2f %6d %6d %6d %6.1f %5d%n",
                r.workload(), label, r.throughput(), x.throughputPerCpuSecond(), r.jain(), r.jainFullPrompt(), r.maxGap() / r.meanService(),
                r.p50(), r.p99(), r.hitRate(), r.makespan(), r.windowSeconds(), x.cpuSeconds(), r.steps(), r.preemptions(), x.evictions(),
                r.steps() == 0 ? 0 : 100.0 * x.fcfsPasses() / r.steps(), x.maxWaiting());
    }
}
