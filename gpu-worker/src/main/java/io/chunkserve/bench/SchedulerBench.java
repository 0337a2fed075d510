package io.chunkserve.bench;

import io.chunkserve.bench.sim.BenchArgs;
import io.chunkserve.bench.sim.CostModel;
import io.chunkserve.bench.sim.RunResult;
import io.chunkserve.bench.sim.SimEngine;
import io.chunkserve.bench.sim.Workload;
import io.chunkserve.bench.sim.Workloads;
import io.chunkserve.engine.sched.SchedulerConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code chunkserve bench scheduler}: replays multi-tenant workloads (the DLPM paper's, scaled)
 * through the real local scheduling policies and the real {@code PrefixCache}, timing each engine
 * step with a deterministic cost model ({@link CostModel}), and prints per workload × policy:
 * throughput, Jain's index over tenant service while every tenant is backlogged, the largest
 * service gap, well-behaved tenants' latency and the prefix hit rate. The last line is
 * {@code RESULT {json}}. Deterministic for a given seed; runs in seconds.
 *
 * <p>With {@code --real} the same workloads, shrunk to a small model, run through the real engine
 * on the CPU instead, in wall-clock time ({@link SchedulerBenchReal}; options {@code --model},
 * {@code --threads}, {@code --arrivals}, {@code --load}, {@code --warmup}, {@code --repeat}, {@code --timeout} and
 * real-engine defaults for the others).
 */
public final class SchedulerBench {
    private SchedulerBench() { }

    /**
     * Above SGLang's 128 waiting requests LPM and DLPM fall back to FCFS; the workloads' bursts
     * queue several hundred requests, and an engine thread in Java can afford matching that many
     * (the bench's own matcher is a hash probe per chunk). Printed in the header.
     */
    private static final int BENCH_LPM_MAX_WAITING = 1024;

    private static final String UNSET = "\u0000"; // not given on the command line

    /** Options: name → {simulated default, real-engine default}; null where the option does not apply. */
    private static final Map<String, String[]> OPTIONS = new LinkedHashMap<>();

    static {
        opt("real", "false", "true");
        opt("seed", "42", "42");
        opt("scale", "1.0", "0.2");
        opt("kv-tokens", "131072", "2048");
        opt("max-running", "128", "32");
        opt("token-budget", "8192", "512");
        opt("chunk", "64", "16");
        opt("quantum", Long.toString(SchedulerConfig.DEFAULT_QUANTUM), "1024");
        opt("lpm-max-waiting", Integer.toString(BENCH_LPM_MAX_WAITING), Integer.toString(BENCH_LPM_MAX_WAITING));
        opt("aging-limit", Integer.toString(SchedulerConfig.DEFAULT_AGING_LIMIT), Integer.toString(SchedulerConfig.DEFAULT_AGING_LIMIT));
        opt("workloads", "all", "all");
        opt("policies", String.join(",", SchedulerConfig.POLICIES), String.join(",", SchedulerConfig.POLICIES));
        opt("model", null, "");
        opt("threads", null, Integer.toString(Runtime.getRuntime().availableProcessors()));
        opt("arrivals", null, "burst");
        opt("load", null, "1.5");
        opt("warmup", null, "6");
        opt("repeat", null, "1");
        opt("timeout", null, "120");
    }

    private static void opt(String name, String sim, String real) { OPTIONS.put(name, new String[] {sim, real}); }

    /**
     * The options of {@code argv} over the defaults of its mode ({@code --real} or not); an option of
     * the other mode only throws {@link IllegalArgumentException}.
     */
    static Map<String, String> parseOptions(String[] argv) {
        Map<String, String> unset = new LinkedHashMap<>();
        for (String k : OPTIONS.keySet()) unset.put(k, UNSET);
        Map<String, String> given = BenchArgs.parse(argv, unset, java.util.Set.of("real"));
        boolean real = Boolean.parseBoolean(given.get("real").equals(UNSET) ? "false" : given.get("real"));
        Map<String, String> a = new LinkedHashMap<>();
        for (var e : OPTIONS.entrySet()) {
            String dflt = e.getValue()[real ? 1 : 0], v = given.get(e.getKey());
            if (dflt == null) {
                if (!v.equals(UNSET)) {
                    throw new IllegalArgumentException("--" + e.getKey() + (real ? " applies to the simulated engine only" : " needs --real"));
                }
                continue;
            }
            a.put(e.getKey(), v.equals(UNSET) ? dflt : v);
        }
        a.put("real", Boolean.toString(real));
        return a;
    }

    public static void main(String[] argv) {
        Map<String, String> a;
        try {
            a = parseOptions(argv);
            if (a.get("real").equals("true")) {
                SchedulerBenchReal.main(a);
                return;
            }
        } catch (IllegalArgumentException e) {
            System.err.println("bench scheduler: " + e.getMessage());
            System.exit(2);
            return;
        }
        long seed = Long.parseLong(a.get("seed"));
        double scale = Double.parseDouble(a.get("scale"));
        SimEngine.Limits limits = new SimEngine.Limits(Integer.parseInt(a.get("max-running")),
                Integer.parseInt(a.get("token-budget")), Integer.parseInt(a.get("kv-tokens")), Integer.parseInt(a.get("chunk")));
        SchedulerConfig base = SchedulerConfig.defaults().withQuantum(Long.parseLong(a.get("quantum")))
                .withLpmMaxWaiting(Integer.parseInt(a.get("lpm-max-waiting")))
                .withAgingLimit(Integer.parseInt(a.get("aging-limit")));
        List<String> policies = Arrays.asList(a.get("policies").split(","));
        policies.forEach(SchedulerConfig::of); // fail early on a bad name
        CostModel cost = CostModel.LLAMA3_8B_H100;

        List<Workload> workloads = new ArrayList<>(Workloads.all(seed, scale));
        if (!a.get("workloads").equals("all")) {
            List<String> wanted = Arrays.asList(a.get("workloads").split(","));
            workloads.removeIf(w -> !wanted.contains(w.name()));
        }

        long wall0 = System.nanoTime();
        System.out.printf("scheduler bench — simulated engine, real policies (io.chunkserve.engine.sched) and real PrefixCache%n");
        System.out.printf("machine: %s %s, %d cores, Java %s%n", System.getProperty("os.name"), System.getProperty("os.arch"),
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
        System.out.printf("cost model (Llama-3.1-8B bf16 on H100, simulated): %s%n", cost);
        System.out.printf("engine: max_running=%d token_budget=%d kv_tokens=%d chunk=%d; scheduler: w_e=%d w_q=%d Q_u=%d "
                        + "lpm_max_waiting=%d (engine default %d) aging_limit=%d; seed=%d scale=%.2f%n",
                limits.maxRunning(), limits.tokenBudget(), limits.kvTokens(), limits.chunkSize(), base.inputWeight(),
                base.outputWeight(), base.quantum(), base.lpmMaxWaiting(), SchedulerConfig.DEFAULT_LPM_MAX_WAITING,
                base.agingLimit(), seed, scale);
        System.out.printf("service = w_e*computed prompt + w_q*output; Jain and gap over steps where all tenants wait; "
                + "latency = end-to-end of the well-behaved tenants t1..t3%n%n");
        String header = String.format("%-9s %-5s %10s %7s %7s %9s %8s %8s %6s %8s %7s %6s %6s %7s",
                "workload", "policy", "tok/s", "jain", "jainP", "gap/mean", "p50_s", "p99_s", "hit", "span_s", "win_s",
                "steps", "preem", "us/pass");

        Map<String, Object> json = new LinkedHashMap<>();
        Map<String, Map<String, RunResult>> all = new LinkedHashMap<>();
        for (Workload w : workloads) {
            System.out.printf("%s: %s (%d requests, %.1fM tokens)%n", w.name(), w.description(), w.requests(), w.tokens() / 1e6);
            System.out.println(header);
            Map<String, Object> row = new LinkedHashMap<>();
            Map<String, RunResult> byPolicy = new LinkedHashMap<>();
            for (String p : policies) {
                RunResult r = run(w, base.withPolicy(p), limits, cost);
                byPolicy.put(r.policy(), r);
                row.put(r.policy(), r.summary());
                print(r.policy(), r);
            }
            if (policies.contains("dlpm") && base.lpmMaxWaiting() != SchedulerConfig.DEFAULT_LPM_MAX_WAITING) {
                print("dlpm*", run(w, base.withLpmMaxWaiting(SchedulerConfig.DEFAULT_LPM_MAX_WAITING), limits, cost));
            }
            all.put(w.name(), byPolicy);
            json.put(w.name(), row);
            System.out.println();
        }
        System.out.printf("dlpm* = DLPM with the engine default lpm_max_waiting=%d (SGLang's): while more requests wait, "
                + "it orders by arrival and loses locality%n%n", SchedulerConfig.DEFAULT_LPM_MAX_WAITING);
        summarize(all);
        System.out.printf("wall time %.1f s%n", (System.nanoTime() - wall0) / 1e9);
        System.out.println("RESULT " + BenchArgs.json(json));
    }

    private static RunResult run(Workload w, SchedulerConfig config, SimEngine.Limits limits, CostModel cost) {
        RunResult r = new SimEngine(w, config, limits, cost).run();
        if (r.finished() != w.requests()) {
            throw new IllegalStateException(w.name() + "/" + r.policy() + ": " + r.finished() + " of " + w.requests() + " requests finished");
        }
        return r;
    }

    private static void print(String label, RunResult r) {
        System.out.printf("%-9s %-5s %10.0f %7.4f %7.4f %9.3f %8.2f %8.2f %6.3f %8.1f %7.1f %6d %6d %7.0f%n",
                r.workload(), label, r.throughput(), r.jain(), r.jainFullPrompt(), r.maxGap() / r.meanService(),
                r.p50(), r.p99(), r.hitRate(), r.makespan(), r.windowSeconds(), r.steps(), r.preemptions(), r.schedMicros());
    }

    /** DLPM against VTC (throughput ratio, Jain difference) and LPM (throughput ratio), per workload. */
    private static void summarize(Map<String, Map<String, RunResult>> all) {
        System.out.printf("%-9s %14s %14s %14s%n", "workload", "dlpm/vtc tput", "jain dlpm-vtc", "dlpm/lpm tput");
        for (var e : all.entrySet()) {
            RunResult d = e.getValue().get("dlpm"), v = e.getValue().get("vtc"), l = e.getValue().get("lpm");
            if (d == null) continue;
            System.out.printf("%-9s %14s %14s %14s%n", e.getKey(),
                    v == null ? "-" : String.format("%.2fx", d.throughput() / v.throughput()),
                    v == null ? "-" : String.format("%+.4f", d.jain() - v.jain()),
                    l == null ? "-" : String.format("%.2fx", d.throughput() / l.throughput()));
        }
        System.out.println();
    }
}
