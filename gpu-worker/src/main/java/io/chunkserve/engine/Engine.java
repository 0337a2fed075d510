package io.chunkserve.engine;

import io.chunkserve.kv.KvStats;
import io.chunkserve.engine.TokenOutputs.Sampled;
import io.chunkserve.engine.sched.QueuedRequest;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.engine.sched.SchedulingPolicy;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.ModelRunner;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.Sampler;
import io.chunkserve.sampling.StopStringMatcher;
import io.chunkserve.tokenizer.IncrementalDetokenizer;
import io.chunkserve.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine loop. One thread owns the scheduler, the prefix cache and the model runner; other
 * threads talk to it only through {@link #submit}, {@link #abort} and {@link #stats} (an inbox),
 * and hear back through each request's {@link RequestListener}, at most once per step.
 *
 * <p>Each step: drain the inbox, admit waiting requests in the scheduler's order while KV memory
 * and the batch allow, run one forward over every running decode plus prefill chunks within the
 * token budget, sample, detokenize, check stops, emit, and release what finished. It parks when
 * there is nothing to do.
 *
 * <p>With a runner that {@link ModelRunner#overlapsHostWork overlaps host work}, the text of a step's tokens
 * (detokenizing, log-probability strings) and their delivery to the listeners wait until the next step's forward
 * is running on the device, for requests without stop strings: whether such a request goes on depends on its
 * token ids alone (EOS, stop ids, lengths), so the next batch, the KV bookkeeping and every output are the same as
 * without the overlap; only the delivery comes later, within the next step. Any other output of such a request
 * (an abort, an error, a length end without a sample) is delivered after its deferred ones.
 *
 * <p>With a runner that {@link ModelRunner#pipelines pipelines} (the CUDA runner), the engine builds and launches
 * step n+1 before step n's results are back, so the device never waits for the host between steps: a plain greedy
 * single-choice request in step n continues in step n+1 with the token the device picks for it
 * ({@link ForwardBatch#addFromPrevious}), when no length limit can end it first and its next position has KV room
 * without preempting. If step n's token ends it (EOS, a stop id or string), its row in step n+1 is dropped; a row
 * whose request was aborted or preempted meanwhile too. So does a single-choice request the runner draws
 * ({@link ModelRunner#samplesOnDevice}) or whose penalties it applies ({@link ModelRunner#penalizesOnDevice}; the
 * row carries its penalty list, and the runner adds the token picked on the device in step n, which the list does
 * not count yet). Steps that sample on the host (log-probabilities, n &gt; 1, or what the runner does not do) are
 * collected before the next is built, as without pipelining.
 */
public final class Engine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Engine.class.getName());

    private final ModelRunner runner;
    private final PrefixCache cache;
    private final Tokenizer tokenizer;
    private final EngineConfig cfg;
    private final ModelConfig model;
    private final SchedulingPolicy scheduler;
    private final Admission admission;
    private final TokenOutputs outputs;
    private final BatchBuilder batches;

    private final ConcurrentLinkedQueue<Runnable> inbox = new ConcurrentLinkedQueue<>();
    private final Thread thread;
    private volatile boolean stopping;

    // Engine-thread state.
    private final List<QueuedRequest> waiting = new ArrayList<>();   // the scheduler reorders it
    private final List<RequestState> running = new ArrayList<>();
    private final List<QueuedRequest> runningQueued = new ArrayList<>();
    private final Map<String, RequestState> byId = new HashMap<>();
    private final Step[] stepBuffers = {new Step(), new Step()};
    private Step inflight;                 // launched and not collected (pipelined runners): the next batch is built ahead
    private boolean pipelined;          // the runner's mode, read again whenever no step is in flight
    private final RunnerPicks picks = new RunnerPicks();   // which rows the runner picks (its capabilities, read as pipelined)
    private volatile long aheadLaunches;
    private volatile long staleRows;      // rows launched on a pick the runner did not make, dropped (tests)
    private final HostSampling hostSampling = new HostSampling();   // host-sampled rows of a step, on threads
    private final List<RequestState> endedWithoutSample = new ArrayList<>();
    private final List<RequestState> aborting = new ArrayList<>();   // abort asked, handled at the next step boundary
    private float[] logits = new float[0];
    private boolean overlap;
    private final List<Deferred> deferred = new ArrayList<>();
    private final Runnable flushDeferred = this::flushDeferred;
    private long arrivals;
    private volatile EngineStats snapshot = EngineStats.EMPTY;

    public Engine(ModelRunner runner, PrefixCache cache, Tokenizer tokenizer, EngineConfig cfg, SchedulerConfig scheduling) {
        this.runner = runner;
        this.cache = cache;
        this.tokenizer = tokenizer;
        this.cfg = cfg;
        this.model = runner.config();
        this.pipelined = runner.pipelines();
        this.overlap = runner.overlapsHostWork() || pipelined;
        this.scheduler = scheduling.create(q -> cache.matchLength(((RequestState) q.attachment()).request.promptIds(),
                ((RequestState) q.attachment()).request.cacheSalt()));
        this.admission = new Admission(cache, cfg, scheduler, waiting, running, runningQueued);
        this.outputs = new TokenOutputs(tokenizer, model);
        this.batches = new BatchBuilder(cache, cfg, model, picks, admission, running, endedWithoutSample);
        this.thread = Thread.ofPlatform().name("chunkserve-engine").daemon(true).unstarted(this::loop);
        this.thread.start();
    }

    /** The most recent stats, published once per step (cheap; for metrics gauges). */
    public EngineStats snapshot() { return snapshot; }

    /** Stats taken on the engine thread at its next turn. */
    public CompletableFuture<EngineStats> stats() {
        CompletableFuture<EngineStats> f = new CompletableFuture<>();
        post(() -> f.complete(buildStats()));
        return f;
    }

    /**
     * Queues a request. Validation that needs no engine state happens here, on the caller's
     * thread, so a bad request fails at once with {@link IllegalArgumentException}.
     */
    public void submit(GenerationRequest r, RequestListener listener) {
        int len = r.promptIds().length;
        if (len >= model.maxPositions()) {
            throw new IllegalArgumentException("the prompt has " + len + " tokens; this model's context is " + model.maxPositions()
                    + " tokens, which leaves no room to generate");
        }
        for (int id : r.promptIds()) {
            if (id < 0 || id >= model.vocabSize()) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary");
        }
        int biased = r.params().logitBias().maxId();
        if (biased >= model.vocabSize()) {
            throw new IllegalArgumentException("logit_bias names token " + biased + ", outside the vocabulary (" + model.vocabSize() + " tokens)");
        }
        if (!cache.canEverFit(len + 1)) {
            throw new IllegalArgumentException("the prompt has " + len + " tokens, more than the KV cache can hold ("
                    + (long) cache.pool().numChunks() * cache.chunkSize() + " tokens)");
        }
        if (stopping) throw new IllegalStateException("the engine is shutting down");
        post(() -> accept(r, listener));
    }

    /** Aborts a request at the next step boundary (its KV is released); unknown ids are ignored. */
    public void abort(String requestId) {
        post(() -> {
            RequestState s = byId.get(requestId);
            if (s != null && !s.abortRequested) {
                s.abortRequested = true;
                aborting.add(s);
            }
        });
    }

    private void post(Runnable r) {
        inbox.add(r);
        LockSupport.unpark(thread);
    }

    private void accept(GenerationRequest r, RequestListener listener) {
        int n = r.params().n();
        Sampler[] samplers = Sampler.forRequest(r.params(), r.promptIds());
        Choice[] choices = new Choice[n];
        for (int i = 0; i < n; i++) {
            choices[i] = new Choice(i, r.promptIds(), samplers[i], new IncrementalDetokenizer(tokenizer, true),
                    StopStringMatcher.of(r.params()));
        }
        long seq = arrivals++;
        RequestState s = new RequestState(r, listener, choices, seq);
        for (Choice c : choices) c.owner = s;
        s.queued = new QueuedRequest(seq, r.tenant(), seq, r.promptIds().length, r.params().maxTokens() * n);
        s.queued.attach(s);
        if (byId.putIfAbsent(r.id(), s) != null) {
            listener.onOutput(new RequestOutput(r.id(), List.of(), true, new RequestOutput.Usage(r.promptIds().length, 0, 0),
                    "duplicate request id " + r.id()));
            return;
        }
        scheduler.onArrival(s.queued);
        waiting.add(s.queued);
    }

    private void loop() {
        while (!stopping) {
            Runnable m;
            while ((m = inbox.poll()) != null) {
                try {
                    m.run();
                } catch (RuntimeException e) {
                    // A bad message must not kill the thread every request depends on.
                    LOG.log(Level.SEVERE, "engine inbox message failed", e);
                }
            }
            if (waiting.isEmpty() && running.isEmpty()) {
                if (inflight != null) {
                    try {
                        drainInflight();
                    } catch (RuntimeException | Error e) {
                        LOG.log(Level.SEVERE, "collecting the last launched step failed", e);
                        abandonInflight();
                    }
                }
                flushDeferred();
                snapshot = buildStats();
                LockSupport.park(this);
                continue;
            }
            try {
                step();
            } catch (RuntimeException | Error e) {
                LOG.log(Level.SEVERE, "engine step failed; failing the running requests", e);
                abandonInflight();
                try {
                    flushDeferred();
                } catch (RuntimeException | Error e2) {
                    deferred.clear();
                    LOG.log(Level.SEVERE, "delivering the last step's outputs failed", e2);
                }
                for (RequestState s : new ArrayList<>(running)) fail(s, "internal error: " + e);
            }
            snapshot = buildStats();
        }
        try {
            drainInflight();
        } catch (RuntimeException | Error e) {
            abandonInflight();
        }
        flushDeferred();
        for (RequestState s : new ArrayList<>(running)) fail(s, "the server is shutting down");
        for (QueuedRequest q : new ArrayList<>(waiting)) fail((RequestState) q.attachment(), "the server is shutting down");
    }

    void step() {
        if (!aborting.isEmpty()) flushDeferred();
        handleAborts();
        scheduler.schedule(waiting, q -> admission.tryAdmit((RequestState) q.attachment()));
        admission.openForks();
        if (inflight == null && deferred.isEmpty()) {
            pipelined = runner.pipelines();
            picks.refresh(runner);
            overlap = runner.overlapsHostWork() || pipelined;
        }
        Step ahead = inflight;   // on the device still: this batch is built one step ahead of its results
        Step cur = ahead == stepBuffers[0] ? stepBuffers[1] : stepBuffers[0];
        batches.build(cur, ahead);
        if (!endedWithoutSample.isEmpty()) flushDeferred();
        for (RequestState s : endedWithoutSample) {
            List<RequestOutput.ChoiceDelta> d = new ArrayList<>();
            for (Choice c : s.choices) {
                if (c.finish == FinishReason.LENGTH && c.kv == null) d.add(new RequestOutput.ChoiceDelta(c.index, new int[0], c.stops.flush(), List.of(), c.finish));
            }
            if (s.allFinished() || running.contains(s)) emit(s, d);
        }
        endedWithoutSample.clear();
        ForwardBatch batch = cur.batch;
        if (batch.size() == 0) {
            if (ahead != null) drainInflight();
            flushDeferred();
            return;
        }
        if (!pipelined) {
            sizeLogits(batch);
            if (overlap) {
                runner.forward(batch, cache.pool(), logits, flushDeferred);
                flushDeferred();   // in case the runner did not call it
            } else {
                runner.forward(batch, cache.pool(), logits);
            }
            complete(cur);
            return;
        }
        runner.launch(batch, cache.pool());
        if (ahead != null) {
            aheadLaunches++;
            inflight = null;
            flushDeferred();
            sizeLogits(ahead.batch);
            runner.collect(ahead.batch, logits);
            complete(ahead);
        }
        if (goesAhead(cur)) {
            inflight = cur;
        } else {
            flushDeferred();
            sizeLogits(batch);
            runner.collect(batch, logits);
            complete(cur);
        }
    }

    /** Collects the launched step that is still on the device, if any. */
    private void drainInflight() {
        Step st = inflight;
        if (st == null) return;
        inflight = null;
        flushDeferred();
        sizeLogits(st.batch);
        runner.collect(st.batch, logits);
        complete(st);
    }

    /** After a failure: the runner forgets its launched steps, the choices their launched tokens. */
    private void abandonInflight() {
        if (inflight != null) {
            for (Choice c : inflight.choices) c.inflight = 0;
            inflight = null;
        }
        for (Step st : stepBuffers) for (Choice c : st.choices) {
            c.inflight = 0;
            c.pickStep = null;
            c.pickRow = -1;
            c.staleStep = null;
        }
        if (pipelined) {
            try {
                runner.abandon();
            } catch (RuntimeException | Error e) {
                LOG.log(Level.SEVERE, "the runner failed to drop its launched steps", e);
            }
        }
    }

    private void sizeLogits(ForwardBatch b) {
        int need = b.size() * model.vocabSize();
        if (logits.length < need) logits = new float[need];
    }

    /**
     * Whether the next batch may be built before this launched one's results are back: every row that samples is
     * picked on the device ({@link RunnerPicks#pipelinable}), so each continues in the next batch with its token still there.
     */
    private boolean goesAhead(Step st) {
        boolean any = false;
        for (int i = 0; i < st.choices.size(); i++) {
            if (!st.batch.wantsLogits(i)) continue;
            if (!st.batch.isGreedy(i) || !picks.pipelinable(st.choices.get(i))) return false;
            any = true;
        }
        return any;
    }

    /** A step's results: commits its K/V, samples, decides ends, emits (or defers) the outputs. */
    private void complete(Step st) {
        ForwardBatch batch = st.batch;
        List<Choice> batchChoices = st.choices;
        boolean[] live = new boolean[batchChoices.size()];
        for (int i = 0; i < batchChoices.size(); i++) {
            Choice c = batchChoices.get(i);
            int n = st.counts[i];
            c.inflight -= n;
            if (c.pickStep == st) {
                c.pickStep = null;
                c.pickRow = -1;
            }
            boolean stale = c.staleStep == st;
            if (stale) c.staleStep = null;
            // a row whose choice ended (or lost its KV: abort, preemption) after the step was launched is dropped, and
            // so is one that ran on a pick the runner did not make (its token was then decided on the host)
            if (stale || c.kv == null || c.kv != st.kvs.get(i) || c.finished()) continue;
            live[i] = true;
            cache.commit(c.kv, c.tokens, c.kv.length(), n);
        }
        for (int i = 0; i < batchChoices.size(); i++) {
            Choice c = batchChoices.get(i);
            // The runner made no pick for this row (a non-finite logit: the host sampler's rules decide), but the step
            // launched after this one already holds the choice's next row, run on that missing pick: it is dropped when
            // collected, and no row is built on its pick; the choice continues from the host's token after it.
            if (live[i] && batch.wantsLogits(i) && batch.sampled(i) < 0 && c.pickStep != null) {
                c.staleStep = c.pickStep;
                c.pickStep = null;
                c.pickRow = -1;
                staleRows++;
            }
        }
        Object[] pre = hostSampling.draw(batch, batchChoices, live, logits, model.vocabSize());
        List<RequestState> touched = new ArrayList<>();
        Map<RequestState, List<Sampled>> deltas = new HashMap<>();
        for (int i = 0; i < batchChoices.size(); i++) {
            if (!live[i] || !batch.wantsLogits(i)) continue;
            Choice c = batchChoices.get(i);
            RequestState s = owner(c);
            if (!deltas.containsKey(s)) touched.add(s);
            List<Sampled> list = deltas.computeIfAbsent(s, k -> new ArrayList<>());
            boolean now = !deferrable(s);
            if (c.index == 0 && s.fresh() && s.choices.length > 1) {
                admission.forkSiblings(s);
                for (Choice sib : s.choices) {
                    if (sib.index != 0 && sib.kv != null && sib.generated() == 0) list.add(outputs.sample(batch, sib, i, now, null, logits));
                }
            }
            list.add(outputs.sample(batch, c, i, now, pre == null ? null : pre[i], logits));
        }
        for (RequestState s : touched) s.queued.addOutputTokens(deltas.get(s).size());
        scheduler.onStep(runningQueued);
        for (RequestState s : touched) {
            List<Sampled> list = deltas.get(s);
            if (!deferrable(s)) {
                List<RequestOutput.ChoiceDelta> d = new ArrayList<>(list.size());
                for (Sampled x : list) d.add(x.delta());
                emit(s, d);
                continue;
            }
            // everything but the text and the delivery now: the next step depends on it
            boolean done = releaseFinished(s);
            deferred.add(new Deferred(s, list, done, usage(s)));
        }
    }

    /**
     * Tests and benchmarks: the sampler threads besides the engine's (0: every row drawn in turn); call while no
     * request runs (default {@code -Dchunkserve.engine.samplerThreads}, else min(7, cores − 1)).
     */
    public void samplerThreads(int n) { hostSampling.threads(n); }

    public int samplerThreads() { return hostSampling.threads(); }

    /** Steps whose host-sampled rows were drawn on several threads. */
    long parallelSampledSteps() { return hostSampling.parallelSteps(); }

    /** Steps launched while the one before was still on the device (pipelined runners; read on any thread: approximate). */
    public long aheadLaunches() { return aheadLaunches; }

    /** Rows that ran one step ahead on a pick the runner then did not make (a non-finite logit), dropped. */
    public long staleRows() { return staleRows; }

    /** A step's output of one request whose text and delivery wait for the next forward (see the class comment). */
    private record Deferred(RequestState s, List<Sampled> sampled, boolean done, RequestOutput.Usage usage) { }

    /** Whether a request's tokens can be turned into text after the next step started: no stop strings. */
    private boolean deferrable(RequestState s) {
        return overlap && s.request.params().stop().isEmpty();
    }

    /** Makes the text of the deferred outputs and delivers them, in step order. Engine thread only. */
    private void flushDeferred() {
        if (deferred.isEmpty()) return;
        List<Deferred> now = new ArrayList<>(deferred);
        deferred.clear();
        for (Deferred d : now) {
            List<RequestOutput.ChoiceDelta> list = new ArrayList<>(d.sampled.size());
            for (Sampled x : d.sampled) list.add(outputs.text(x.c(), x.t(), x.finish()));
            deliver(d.s, new RequestOutput(d.s.request.id(), list, d.done, d.usage, null));
        }
    }

    private static RequestState owner(Choice c) { return c.owner; }

    private void emit(RequestState s, List<RequestOutput.ChoiceDelta> deltas) {
        boolean done = releaseFinished(s);
        deliver(s, new RequestOutput(s.request.id(), deltas, done, usage(s), null));
    }

    /** Releases the KV of s's finished choices; retires s when all are: returns whether it did. */
    private boolean releaseFinished(RequestState s) {
        for (Choice c : s.choices) {
            if (c.finished() && c.kv != null) {
                cache.release(c.kv);
                c.kv = null;
            }
        }
        boolean done = s.allFinished();
        if (done) retire(s);
        return done;
    }

    private RequestOutput.Usage usage(RequestState s) {
        return new RequestOutput.Usage(s.request.promptIds().length, s.completionTokens(), Math.max(0, s.cachedTokens));
    }

    private void retire(RequestState s) {
        for (Choice c : s.choices) {
            if (c.kv != null) {
                cache.release(c.kv);
                c.kv = null;
            }
        }
        boolean wasRunning = running.remove(s);
        runningQueued.remove(s.queued);
        waiting.remove(s.queued);
        byId.remove(s.request.id());
        if (s.allFinishedNormally()) scheduler.onFinish(s.queued);
        else scheduler.onAbort(s.queued);
        if (wasRunning && LOG.isLoggable(Level.FINE)) LOG.fine("retired " + s.request);
    }

    private void handleAborts() {
        if (aborting.isEmpty()) return;
        List<RequestState> now = new ArrayList<>(aborting);
        aborting.clear();
        for (RequestState s : now) {
            if (!byId.containsKey(s.request.id()) || byId.get(s.request.id()) != s) continue; // already ended
            List<RequestOutput.ChoiceDelta> deltas = new ArrayList<>();
            for (Choice c : s.choices) {
                if (!c.finished()) {
                    c.finish = FinishReason.ABORT;
                    deltas.add(new RequestOutput.ChoiceDelta(c.index, new int[0], "", List.of(), FinishReason.ABORT));
                }
            }
            retire(s);
            deliver(s, new RequestOutput(s.request.id(), deltas, true, usage(s), null));
        }
    }

    private void fail(RequestState s, String message) {
        flushDeferred();
        s.finishAll(FinishReason.ERROR);
        retire(s);
        deliver(s, new RequestOutput(s.request.id(), List.of(), true, usage(s), message));
    }

    private void deliver(RequestState s, RequestOutput out) {
        try {
            s.listener.onOutput(out);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "listener of " + s.request.id() + " threw; aborting it", e);
            if (!s.abortRequested && byId.get(s.request.id()) == s) {
                s.abortRequested = true;
                aborting.add(s);
            }
        }
    }

    private EngineStats buildStats() {
        Map<String, int[]> perTenant = new HashMap<>();
        for (QueuedRequest q : waiting) perTenant.computeIfAbsent(q.tenant(), k -> new int[2])[0]++;
        for (RequestState s : running) perTenant.computeIfAbsent(s.tenant(), k -> new int[2])[1]++;
        KvStats kv = cache.stats();
        return new EngineStats(waiting.size(), running.size(), perTenant, kv, scheduler.stats());
    }

    /** Stops the engine thread; waiting and running requests end with an error output. */
    @Override
    public void close() {
        stopping = true;
        LockSupport.unpark(thread);
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        hostSampling.close();
    }

    @Override
    public String toString() { return "Engine" + Arrays.asList(waiting.size(), running.size()); }
}
