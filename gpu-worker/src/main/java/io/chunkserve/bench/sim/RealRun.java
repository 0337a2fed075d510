package io.chunkserve.bench.sim;

import io.chunkserve.engine.EngineConfig;
import io.chunkserve.engine.EngineStats;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.Worker;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.engine.sched.SchedulerStats;
import io.chunkserve.engine.sched.TenantStats;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.sampling.SamplingParams;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.DelayQueue;
import java.util.concurrent.Delayed;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Replays a {@link Workload} through the real engine ({@link Worker}: the CPU model runner, the
 * real {@code PrefixCache} and the real scheduling policy) on the wall clock, and measures what
 * {@link SimEngine} measures, in wall-clock seconds.
 *
 * <p>Requests are submitted at their arrival times times {@link Options#timeScale} (0: every root
 * at t = 0, in arrival order); a follow-up (next chat turn, next tree level) is submitted its delay
 * after its parent finished, with the parent's <em>generated</em> tokens in place of the ones the
 * workload drew, so its prompt extends what the cache holds exactly as a client's would. Sampling
 * is greedy with {@code ignore_eos} and {@code max_tokens} = the drawn output length, so every
 * request generates exactly its planned number of tokens.
 *
 * <p>Observation needs no engine hook. Listeners run on the engine thread inside a step, and the
 * engine publishes {@link io.chunkserve.engine.Engine#snapshot()} after each step, so during a
 * step's callbacks the snapshot is the state the step began with (bar requests that arrived in
 * between): its first callback to see a new snapshot object opens a new step. A step is in the
 * fairness window when that snapshot shows every tenant with a waiting request; the window's
 * length adds up the time between consecutive observed steps. A request's prompt service
 * (w_e·(prompt − cached)) is counted at its first token, when its prefill has just finished (the
 * listener sees nothing earlier); its output service (w_q per token) as tokens arrive. Steps,
 * preemptions (admissions beyond one per request) and evictions come from the engine's own stats.
 */
public final class RealRun {
    private RealRun() { }

    /**
     * How to run the engine.
     *
     * @param modelDir    Hugging Face model directory
     * @param threads     CPU compute threads of the model runner
     * @param chunkSize   KV chunk size in tokens (prefix-cache granularity)
     * @param kvTokens    KV pool size in tokens (f32 KV; converted to bytes for the model's layout)
     * @param maxRunning  sequences decoded together per step
     * @param tokenBudget tokens per forward step (decodes + prefill chunks)
     * @param timeScale   root requests are submitted at their arrival time × this (0: all at once);
     *                      follow-ups keep their delays (think time)
     * @param timeoutSeconds a run that has not finished by then fails
     */
    public record Options(Path modelDir, int threads, int chunkSize, int kvTokens, int maxRunning, int tokenBudget,
                          double timeScale, double timeoutSeconds) {
        public Options withTimeScale(double s) {
            return new Options(modelDir, threads, chunkSize, kvTokens, maxRunning, tokenBudget, s, timeoutSeconds);
        }

        /** The worker: {@code WorkerConfig.withScheduler(policy, quantum)}, f32 KV of {@code kvTokens}. */
        WorkerConfig worker(SchedulerConfig sched) {
            ModelConfig mc = ModelConfig.load(modelDir);
            long bytesPerToken = new KvLayout(mc.numLayers(), mc.numKvHeads(), mc.headDim(), chunkSize, DType.F32).bytesPerToken();
            return new WorkerConfig(modelDir, threads, chunkSize, bytesPerToken * kvTokens, DType.F32,
                    new EngineConfig(maxRunning, tokenBudget), "dlpm", SchedulerConfig.DEFAULT_QUANTUM)
                    .withScheduler(sched.policy(), sched.quantum());
        }
    }

    /**
     * A real run's result: the simulator's fields ({@link RunResult#schedMicros()} is NaN: not
     * observable from outside the engine) and the engine's own counters.
     *
     * @param fcfsPasses cache-aware passes that fell back to FCFS order (more than lpm_max_waiting waiting)
     * @param evictions  cached KV chunks evicted to make room
     * @param hitRateKv  the cache's own hit rate over every open (re-admissions after preemption too)
     * @param maxWaiting most requests waiting at the start of an observed step
     * @param cpuSeconds CPU time of the whole process over the run (every thread: engine, compute
     *                   workers, submitter, GC, JIT); on a shared machine, tokens per CPU second
     *                   varies less than tokens per wall second
     */
    public record Result(RunResult run, long fcfsPasses, long evictions, double hitRateKv, int maxWaiting, double cpuSeconds) {
        /** Prompt + output tokens per second of process CPU time. */
        public double throughputPerCpuSecond() { return run.throughput() * run.makespan() / cpuSeconds; }
    }

    /** CPU time of this process in nanoseconds, or -1 where the platform does not tell. */
    static long processCpuNanos() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
    }

    /** Ids within [1, vocab) and every request, follow-ups included, within {@code context} tokens (prompt + output). */
    public static void checkFits(Workload w, int vocab, int context) {
        for (RequestSpec r : w.roots()) checkFits(r, vocab, context);
    }

    private static void checkFits(RequestSpec r, int vocab, int context) {
        if (r.prompt().length + r.output().length > context) {
            throw new IllegalArgumentException(r + " needs " + (r.prompt().length + r.output().length) + " tokens; the model's context is " + context);
        }
        for (int id : r.prompt()) {
            if (id < 0 || id >= vocab) throw new IllegalArgumentException(r + " has token id " + id + " outside the vocabulary of " + vocab);
        }
        r.followUps().forEach(f -> checkFits(f, vocab, context));
    }

    /**
     * Runs {@code w} once under {@code config}: policy and quantum through
     * {@code WorkerConfig.withScheduler}, the rest (w_e, w_q, lpm_max_waiting, aging limit,
     * weights) through {@code Worker.start}'s tuning hook; w_e and w_q also weigh the service metrics.
     */
    public static Result run(Workload w, SchedulerConfig config, Options o) {
        try (Worker worker = Worker.start(o.worker(config), c -> new SchedulerConfig(c.policy(), config.inputWeight(),
                config.outputWeight(), c.quantum(), config.lpmMaxWaiting(), config.agingLimit(), config.tenantWeights()))) {
            ModelConfig mc = worker.model().config();
            checkFits(w, mc.vocabSize(), mc.maxPositions());
            return new Replay(w, config, o, worker).run();
        }
    }

    /** One request of the replay. */
    private static final class Req implements Delayed {
        final RequestSpec spec;
        final int tenant;
        final int[] prompt;
        final long due;            // nanoTime to submit at
        final long order;          // ties in due: roots in arrival order, then follow-ups as created
        long submitted, firstToken, finished;
        final int[] output;
        int generated;
        boolean promptCounted;

        Req(RequestSpec spec, int tenant, int[] prompt, long due, long order) {
            this.spec = spec;
            this.tenant = tenant;
            this.prompt = prompt;
            this.due = due;
            this.order = order;
            this.output = new int[spec.output().length];
        }

        @Override
        public long getDelay(TimeUnit unit) { return unit.convert(due - System.nanoTime(), TimeUnit.NANOSECONDS); }

        @Override
        public int compareTo(Delayed d) {
            Req r = (Req) d;
            return due != r.due ? Long.compare(due, r.due) : Long.compare(order, r.order);
        }
    }

    /** State of one run. Fields marked (engine) are touched by the listeners on the engine thread only. */
    private static final class Replay {
        final Workload w;
        final Options o;
        final Worker worker;
        final int weightIn, weightOut;
        final Map<String, Integer> tenantIndex = new HashMap<>();
        final DelayQueue<Req> pending = new DelayQueue<>();
        final AtomicLong created = new AtomicLong();
        final AtomicInteger done = new AtomicInteger();
        final List<String> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        final String[] tenantNames;
        // (engine)
        EngineStats lastSnapshot;
        long lastStep;
        boolean stepWindow;
        final double[] windowService, windowServiceFull;
        long windowNanos;
        int maxWaiting;
        long promptTokens, cachedTokens;
        long firstSubmit = Long.MAX_VALUE, lastFinish;
        final List<Double> wellBehavedLatency = new ArrayList<>();

        Replay(Workload w, SchedulerConfig config, Options o, Worker worker) {
            this.w = w;
            this.o = o;
            this.worker = worker;
            this.weightIn = config.inputWeight();
            this.weightOut = config.outputWeight();
            for (String t : w.tenants()) tenantIndex.put(t, tenantIndex.size());
            tenantNames = w.tenants().toArray(String[]::new);
            windowService = new double[tenantNames.length];
            windowServiceFull = new double[tenantNames.length];
        }

        Result run() {
            long cpu0 = processCpuNanos();
            long t0 = System.nanoTime();
            for (RequestSpec s : w.roots()) {
                pending.add(new Req(s, tenantIndex.get(s.tenant()), s.prompt(), t0 + seconds(s.at() * o.timeScale()),
                        created.getAndIncrement()));
            }
            long deadline = t0 + seconds(o.timeoutSeconds());
            int total = w.requests();
            while (done.get() < total) {
                if (!errors.isEmpty()) throw new IllegalStateException(w.name() + ": " + errors.getFirst());
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(w.name() + ": " + done.get() + " of " + total + " requests finished in "
                            + o.timeoutSeconds() + " s");
                }
                Req r;
                try {
                    r = pending.poll(20, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted", e);
                }
                if (r != null) submit(r);
            }
            if (!errors.isEmpty()) throw new IllegalStateException(w.name() + ": " + errors.getFirst());
            long cpu = processCpuNanos() - cpu0;
            EngineStats end;
            try {
                end = worker.engine().stats().get(10, TimeUnit.SECONDS);
            } catch (InterruptedException | ExecutionException | TimeoutException e) {
                throw new IllegalStateException("engine stats: " + e, e);
            }
            return result(end, cpu0 < 0 ? Double.NaN : cpu / 1e9);
        }

        private static long seconds(double s) { return (long) (s * 1e9); }

        private void submit(Req r) {
            SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(r.output.length).ignoreEos(true).build();
            synchronized (this) {
                r.submitted = System.nanoTime();
                firstSubmit = Math.min(firstSubmit, r.submitted);
            }
            worker.engine().submit(new GenerationRequest(w.name() + "-" + r.spec.id(), r.spec.tenant(), r.prompt, p, 0),
                    out -> onOutput(r, out));
        }

        /** (engine) */
        private void onOutput(Req r, RequestOutput out) {
            long now = System.nanoTime();
            EngineStats snap = worker.engine().snapshot();
            if (snap != lastSnapshot) { // the first callback of a step
                lastSnapshot = snap;
                stepWindow = allWaiting(snap);
                if (stepWindow && lastStep != 0) windowNanos += now - lastStep;
                lastStep = now;
                maxWaiting = Math.max(maxWaiting, snap.waiting());
            }
            if (out.error() != null) {
                errors.add(r.spec + " failed: " + out.error());
                return;
            }
            int tokens = 0;
            for (RequestOutput.ChoiceDelta d : out.choices()) {
                for (int id : d.tokenIds()) {
                    if (r.generated < r.output.length) r.output[r.generated] = id;
                    r.generated++;
                    tokens++;
                }
            }
            if (tokens > 0 && !r.promptCounted) {
                r.promptCounted = true;
                r.firstToken = now;
                int cached = Math.min(out.usage().cachedTokens(), r.prompt.length);
                promptTokens += r.prompt.length;
                cachedTokens += cached;
                if (stepWindow) {
                    windowService[r.tenant] += weightIn * (r.prompt.length - cached);
                    windowServiceFull[r.tenant] += weightIn * r.prompt.length;
                }
            }
            if (stepWindow) {
                windowService[r.tenant] += weightOut * tokens;
                windowServiceFull[r.tenant] += weightOut * tokens;
            }
            if (!out.finished()) return;
            r.finished = now;
            if (r.generated != r.output.length || out.usage().completionTokens() != r.output.length) {
                errors.add(r.spec + " generated " + r.generated + " tokens (usage " + out.usage().completionTokens() + "), planned "
                        + r.output.length);
                return;
            }
            synchronized (this) {
                lastFinish = Math.max(lastFinish, now);
            }
            if (!r.spec.tenant().equals(w.misbehaving())) wellBehavedLatency.add((now - r.submitted) / 1e9);
            for (RequestSpec f : r.spec.followUps()) {
                pending.add(new Req(f, tenantIndex.get(f.tenant()), followUpPrompt(r, f), now + seconds(f.at()), created.getAndIncrement()));
            }
            done.incrementAndGet();
        }

        private boolean allWaiting(EngineStats snap) {
            for (String t : tenantNames) {
                int[] wr = snap.perTenant().get(t);
                if (wr == null || wr[0] == 0) return false;
            }
            return true;
        }

        /**
         * The follow-up's prompt with the parent's generated tokens where the workload has the drawn
         * ones (when it extends the parent's prompt and output, as chat turns and tree children do).
         */
        private static int[] followUpPrompt(Req parent, RequestSpec f) {
            int[] pp = parent.spec.prompt(), po = parent.spec.output(), fp = f.prompt();
            int n = pp.length + po.length;
            boolean extends_ = fp.length >= n && Arrays.equals(fp, 0, pp.length, pp, 0, pp.length)
                    && Arrays.equals(fp, pp.length, n, po, 0, po.length);
            if (!extends_) return fp;
            int[] out = fp.clone();
            System.arraycopy(parent.prompt, 0, out, 0, pp.length);
            System.arraycopy(parent.output, 0, out, pp.length, po.length);
            return out;
        }

        private Result result(EngineStats end, double cpuSeconds) {
            double makespan = (lastFinish - firstSubmit) / 1e9;
            double windowSeconds = windowNanos / 1e9;
            boolean window = windowNanos > 0;
            double mean = Arrays.stream(windowService).average().orElse(0);
            double gap = Arrays.stream(windowService).max().orElse(0) - Arrays.stream(windowService).min().orElse(0);
            double[] lat = wellBehavedLatency.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            SchedulerStats s = end.scheduler();
            long admitted = 0;
            for (TenantStats t : s.tenants().values()) admitted += t.admitted();
            RunResult r = new RunResult(w.name(), s.policy(), w.tokens() / makespan,
                    window ? RunResult.jain(windowService) : Double.NaN,
                    window ? RunResult.jain(windowServiceFull) : Double.NaN,
                    window ? gap : Double.NaN, mean, windowSeconds, percentile(lat, 0.50), percentile(lat, 0.99),
                    promptTokens == 0 ? 0 : (double) cachedTokens / promptTokens, makespan, s.passes(),
                    Math.max(0, admitted - w.requests()), Double.NaN, done.get());
            return new Result(r, s.fcfsPasses(), end.kv().evictions(), end.kv().hitRate(), maxWaiting, cpuSeconds);
        }

        private static double percentile(double[] sorted, double p) {
            if (sorted.length == 0) return Double.NaN;
            return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
        }
    }
}
