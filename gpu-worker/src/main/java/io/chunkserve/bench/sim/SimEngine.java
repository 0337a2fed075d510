package io.chunkserve.bench.sim;

import io.chunkserve.engine.sched.AdmitOutcome;
import io.chunkserve.engine.sched.QueuedRequest;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.engine.sched.SchedulingPolicy;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.kv.KvSequence;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.DType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * An engine loop without a model: iteration-level continuous batching over the real
 * {@link PrefixCache} (a {@link ChunkPool} of 1 layer, 1 KV head, head dim 8: only its chunk
 * accounting matters) and a real {@link SchedulingPolicy}, with step times from a
 * {@link CostModel}. Deterministic: no wall clock, no threads.
 *
 * <p>Each step, as vLLM v1 schedules: running requests in decode take one token each (a KV slot
 * that cannot be had preempts the most recently admitted request, whose sealed chunks stay cached);
 * running requests still in prefill take the next chunk of the token budget; then the policy admits
 * waiting requests into what is left (chunked prefill). Admission reserves the whole uncached
 * prompt, and asks for headroom for decode growth (see {@link #NEW_TOKEN_RATIO}).
 */
public final class SimEngine {
    /**
     * Fraction of the running requests' remaining output counted against free KV at admission (a
     * fixed version of SGLang's new_token_ratio, which starts at 0.7 and decays to ~0.1): with 0 the
     * engine over-admits and preempts constantly, with 1 it leaves memory idle for outputs that mostly
     * arrive after earlier requests have finished.
     */
    static final double NEW_TOKEN_RATIO = 0.5;
    /** Every this many prefix-match calls, the key mirror's answer is checked against {@code PrefixCache.matchLength}. */
    private static final int VERIFY_EVERY = 61;

    /** Engine limits. */
    public record Limits(int maxRunning, int tokenBudget, int kvTokens, int chunkSize) { }

    /** One request in flight. */
    private static final class Live {
        final RequestSpec spec;
        final int tenant;
        final double arrival;
        QueuedRequest q;
        long[] keys;        // chunk keys of the prompt, for the matcher
        KvSequence seq;
        int[] target;       // tokens to prefill: prompt, plus the output so far after a preemption
        int prefilled;      // positions of target with KV
        int generated;      // output tokens sampled
        int highWater;      // prompt positions ever computed (recomputation is not new service)
        int chunkNow;       // prefill tokens this step
        boolean decodeNow;
        boolean admittedOnce;

        Live(RequestSpec spec, int tenant, double arrival) {
            this.spec = spec;
            this.tenant = tenant;
            this.arrival = arrival;
        }

        int remainingOutput() { return spec.output().length - generated; }
    }

    private final Limits limits;
    private final CostModel cost;
    private final Workload workload;
    private final int weightIn, weightOut;
    private final PrefixCache cache;
    private final KeyMirror mirror = new KeyMirror();
    private final SchedulingPolicy policy;
    private final Map<String, Integer> tenantIndex = new HashMap<>();
    private final PriorityQueue<Live> arrivals = new PriorityQueue<>((a, b) -> a.arrival != b.arrival
            ? Double.compare(a.arrival, b.arrival) : Integer.compare(a.spec.id(), b.spec.id()));
    private final List<QueuedRequest> waiting = new ArrayList<>();
    private final List<Live> running = new ArrayList<>();
    private final List<QueuedRequest> runningQ = new ArrayList<>();
    private final int[] waitingByTenant;
    private final int[] stamp;          // (numChunks) last step that counted a chunk as read
    private double now;
    private long nextSeq, steps, preemptions, matchCalls;
    private int finished;
    private int budgetLeft;
    private boolean stepWindow;         // every tenant had waiting requests when this step began
    private long futureOutput;          // Σ remaining output of running requests

    // metrics
    private final double[] windowService, windowServiceFull;
    private double windowSeconds;
    private long promptAtAdmission, cachedAtAdmission;
    private double firstArrival = Double.NaN, lastFinish;
    private final List<Double> wellBehavedLatency = new ArrayList<>();
    private long schedNanos, passes;

    public SimEngine(Workload workload, SchedulerConfig schedConfig, Limits limits, CostModel cost) {
        this.workload = workload;
        this.limits = limits;
        this.cost = cost;
        this.weightIn = schedConfig.inputWeight();
        this.weightOut = schedConfig.outputWeight();
        KvLayout layout = new KvLayout(1, 1, 8, limits.chunkSize(), DType.F16);
        this.cache = new PrefixCache(new ChunkPool(layout, limits.kvTokens() / limits.chunkSize()), true);
        this.stamp = new int[limits.kvTokens() / limits.chunkSize()];
        Arrays.fill(stamp, -1);
        this.policy = schedConfig.create(this::matchedPrefix);
        for (String t : workload.tenants()) tenantIndex.put(t, tenantIndex.size());
        int n = tenantIndex.size();
        waitingByTenant = new int[n];
        windowService = new double[n];
        windowServiceFull = new double[n];
    }

    /** Runs the workload to the end and reports. */
    public RunResult run() {
        for (RequestSpec s : workload.roots()) {
            checkFits(s);
            arrivals.add(new Live(s, tenantIndex.get(s.tenant()), s.at()));
        }
        while (!arrivals.isEmpty() || !waiting.isEmpty() || !running.isEmpty()) {
            deliverArrivals();
            if (waiting.isEmpty() && running.isEmpty()) {
                now = arrivals.peek().arrival;
                continue;
            }
            step();
        }
        cache.checkInvariants();
        return result();
    }

    private void checkFits(RequestSpec s) {
        long need = s.prompt().length + (long) Math.ceil(s.output().length * NEW_TOKEN_RATIO) + limits.chunkSize();
        if (!cache.canEverFit((int) Math.min(Integer.MAX_VALUE, need))) {
            throw new IllegalArgumentException(s + " cannot fit a KV cache of " + limits.kvTokens() + " tokens");
        }
        s.followUps().forEach(this::checkFits);
    }

    private void deliverArrivals() {
        while (!arrivals.isEmpty() && arrivals.peek().arrival <= now) {
            Live r = arrivals.poll();
            if (Double.isNaN(firstArrival)) firstArrival = r.arrival;
            r.q = new QueuedRequest(r.spec.id(), r.spec.tenant(), nextSeq++, r.spec.prompt().length, r.spec.output().length);
            r.q.attach(r);
            policy.onArrival(r.q);
            waiting.add(r.q);
            waitingByTenant[r.tenant]++;
        }
    }

    private void step() {
        steps++;
        boolean window = true;
        for (int w : waitingByTenant) window &= w > 0;
        stepWindow = window;
        budgetLeft = limits.tokenBudget();
        futureOutput = 0;
        int decodes = 0;
        // 1. decodes, preempting from the back when a KV slot is missing
        for (int i = 0; i < running.size(); i++) {
            Live r = running.get(i);
            r.chunkNow = 0;
            r.decodeNow = false;
            if (r.prefilled < r.target.length) continue;
            boolean preemptedSelf = false;
            while (!cache.reserve(r.seq, 1)) {
                Live victim = running.getLast();
                preempt(victim);
                if (victim == r) {
                    preemptedSelf = true;
                    break;
                }
            }
            if (preemptedSelf) break; // r was the last one
            r.decodeNow = true;
            decodes++;
        }
        budgetLeft -= decodes;
        // 2. running prefills continue
        for (Live r : running) {
            futureOutput += r.remainingOutput();
            if (r.decodeNow) continue;
            r.chunkNow = Math.min(r.target.length - r.prefilled, Math.max(0, budgetLeft));
            budgetLeft -= r.chunkNow;
        }
        // 3. admissions
        long t0 = System.nanoTime();
        policy.schedule(waiting, this::tryAdmit);
        schedNanos += System.nanoTime() - t0;
        passes++;
        // 4. time
        long prefillTokens = 0;
        for (Live r : running) prefillTokens += r.chunkNow;
        double dt = cost.stepSeconds(prefillTokens, decodes, kvTokensRead());
        now += dt;
        if (window) windowSeconds += dt;
        // 5. forward results
        for (Live r : running) {
            if (r.decodeNow) {
                cache.commit(r.seq, r.spec.output(), r.generated - 1, 1);
                emit(r, window);
            } else if (r.chunkNow > 0) {
                cache.commit(r.seq, r.target, r.prefilled, r.chunkNow);
                int promptEnd = Math.min(r.prefilled + r.chunkNow, r.spec.prompt().length);
                if (promptEnd > r.highWater) {
                    int fresh = promptEnd - r.highWater;
                    r.highWater = promptEnd;
                    if (window) {
                        windowService[r.tenant] += weightIn * fresh;
                        windowServiceFull[r.tenant] += weightIn * fresh;
                    }
                }
                r.prefilled += r.chunkNow;
                if (r.prefilled == r.target.length) emit(r, window);
            }
        }
        policy.onStep(runningQ);
        // 6. finished requests
        for (int i = running.size() - 1; i >= 0; i--) {
            Live r = running.get(i);
            if (r.generated < r.spec.output().length) continue;
            cache.release(r.seq);
            r.seq = null;
            running.remove(i);
            runningQ.remove(i);
            policy.onFinish(r.q);
            finished++;
            lastFinish = now;
            if (!r.spec.tenant().equals(workload.misbehaving())) wellBehavedLatency.add(now - r.arrival);
            for (RequestSpec f : r.spec.followUps()) arrivals.add(new Live(f, tenantIndex.get(f.tenant()), now + f.at()));
        }
    }

    private void emit(Live r, boolean window) {
        r.generated++;
        r.q.addOutputTokens(1);
        if (window) {
            windowService[r.tenant] += weightOut;
            windowServiceFull[r.tenant] += weightOut;
        }
    }

    private AdmitOutcome tryAdmit(QueuedRequest q) {
        Live r = (Live) q.attachment();
        if (running.size() >= limits.maxRunning()) return AdmitOutcome.BATCH_FULL;
        if (budgetLeft <= 0) return AdmitOutcome.TOKEN_BUDGET;
        int c = limits.chunkSize();
        int[] target = r.generated == 0 ? r.spec.prompt()
                : Workloads.concat(r.spec.prompt(), Arrays.copyOf(r.spec.output(), r.generated));
        long headroom = (long) Math.ceil((futureOutput + r.remainingOutput()) * NEW_TOKEN_RATIO);
        // Optimistic check before pinning anything: pinning the matched prefix only lowers availability.
        long optimistic = (target.length - (long) matchedPrefix(q) + headroom + c - 1) / c;
        if (cache.availableChunks() < optimistic) return AdmitOutcome.NO_KV_MEMORY;
        KvSequence seq = cache.open(target, 0);
        int uncached = target.length - seq.length();
        if (cache.availableChunks() < cache.chunksToReserve(seq, uncached) + (headroom + c - 1) / c) {
            cache.release(seq);
            return AdmitOutcome.NO_KV_MEMORY;
        }
        if (!cache.reserve(seq, uncached)) throw new IllegalStateException("reserve failed after the check");
        r.seq = seq;
        r.target = target;
        r.prefilled = seq.length();
        q.setCachedTokens(Math.min(seq.cachedTokens(), q.promptTokens()));
        r.chunkNow = Math.min(uncached, budgetLeft);
        r.decodeNow = false;
        budgetLeft -= r.chunkNow;
        futureOutput += r.remainingOutput();
        running.add(r);
        runningQ.add(q);
        waitingByTenant[r.tenant]--;
        if (!r.admittedOnce) {
            r.admittedOnce = true;
            int cached = Math.min(seq.cachedTokens(), r.spec.prompt().length);
            promptAtAdmission += r.spec.prompt().length;
            cachedAtAdmission += cached;
            r.highWater = Math.max(r.highWater, cached);
            if (stepWindow) windowServiceFull[r.tenant] += weightIn * cached;
        }
        return AdmitOutcome.ADMITTED;
    }

    private void preempt(Live r) {
        int i = running.indexOf(r);
        running.remove(i);
        runningQ.remove(i);
        cache.release(r.seq);
        r.seq = null;
        r.target = null;
        r.prefilled = 0;
        r.chunkNow = 0;
        r.decodeNow = false;
        preemptions++;
        policy.onPreempt(r.q);
        waiting.add(r.q);
        waitingByTenant[r.tenant]++;
    }

    /** The prefix matcher handed to the policy: the key mirror, verified against the cache on a sample. */
    private int matchedPrefix(QueuedRequest q) {
        Live r = (Live) q.attachment();
        if (r.keys == null) r.keys = KeyMirror.keysOf(r.spec.prompt(), limits.chunkSize());
        mirror.drain(cache); // usually nothing queued; admissions earlier in the pass may have evicted
        int matched = mirror.matchedChunks(r.keys) * limits.chunkSize();
        if (++matchCalls % VERIFY_EVERY == 0) {
            int exact = cache.matchLength(r.spec.prompt(), 0);
            if (exact != matched) throw new IllegalStateException("key mirror says " + matched + ", cache " + exact + " for " + q);
        }
        return matched;
    }

    /** Unique KV tokens the step's attention reads: every chunk once, however many sequences share it. */
    private long kvTokensRead() {
        int mark = (int) steps, c = limits.chunkSize();
        long chunks = 0;
        for (Live r : running) {
            int positions = r.decodeNow ? r.seq.length() + 1 : r.prefilled + r.chunkNow;
            if (!r.decodeNow && r.chunkNow == 0) continue;
            int[] table = r.seq.chunkTable();
            for (int i = 0, n = (positions + c - 1) / c; i < n; i++) {
                if (stamp[table[i]] != mark) {
                    stamp[table[i]] = mark;
                    chunks++;
                }
            }
        }
        return chunks * c;
    }

    private RunResult result() {
        double makespan = lastFinish - firstArrival;
        double throughput = workload.tokens() / makespan;
        double mean = Arrays.stream(windowService).average().orElse(0);
        double gap = Arrays.stream(windowService).max().orElse(0) - Arrays.stream(windowService).min().orElse(0);
        double[] lat = wellBehavedLatency.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return new RunResult(workload.name(), policy.name(), throughput,
                windowSeconds > 0 ? RunResult.jain(windowService) : Double.NaN,
                windowSeconds > 0 ? RunResult.jain(windowServiceFull) : Double.NaN,
                windowSeconds > 0 ? gap : Double.NaN, mean, windowSeconds, percentile(lat, 0.50), percentile(lat, 0.99),
                promptAtAdmission == 0 ? 0 : (double) cachedAtAdmission / promptAtAdmission, makespan, steps, preemptions,
                passes == 0 ? 0 : schedNanos / 1000.0 / passes, finished);
    }

    private static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) return Double.NaN;
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
    }
}
