package io.chunkserve.engine;

import io.chunkserve.Fixtures;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.kv.KvStats;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.DType;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.ModelRunner;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine with a runner that runs steps one ahead (the CUDA runner's pipelined mode): the next batch is built and
 * launched before the previous step's picks are back, its plain greedy rows taking their tokens from that step. Every
 * request must get the same tokens, text, finish reasons and token counts as with the plain runner — including
 * requests that end on a stop token (their launched next row is dropped), stop strings, sampled and n = 2 requests
 * mixed in, preemption for lack of KV and an abort — the pipelining must actually happen, and no KV is left held.
 */
class EnginePipelineTest {
    /** The temperature of the sampled n = 2 request (request 5), which no other request uses. */
    static final double FORK_TEMPERATURE = 0.85;

    /**
     * The CPU runner behind the pipelined interface, checking its contract: at most two launched steps, collected in
     * order; a {@link ForwardBatch#addFromPrevious} row names a greedy row of the step launched just before, whose
     * pick (made at launch, as a device would) becomes its token.
     */
    static final class LaggingRunner implements ModelRunner {
        record Launched(ForwardBatch batch, int[] picks, float[] logits, io.chunkserve.sampling.SampledToken[] withLogprobs) { }

        final CpuModelRunner inner;
        final boolean pipelining, sampling, penalizing, logprobs;
        final ArrayDeque<Launched> launched = new ArrayDeque<>();
        int[] lastPicks;
        int fromPrevious, launches, launchedWhileAnother, draws, penalized, penalizedAhead, logprobRows, biased, biasedAhead;
        /** adds the logit_bias of rows marked with one (before their penalties, as the CUDA runner's cs_bias does) */
        boolean biasing;
        /**
         * > 0: every declineEvery-th plain greedy row (by a launch/row hash) gets no pick, as the device's argmax gives
         * none for a non-finite logit: its logits go to the host, and a row launched after it on that pick runs on a
         * wrong token (row 0 of the embedding, as the CUDA runner's embedding kernel reads then)
         */
        int declineEvery, declined, ranOnNoPick;
        int drawsOfForks;   // draws of rows at FORK_TEMPERATURE: the n = 2 request's choices

        LaggingRunner(CpuModelRunner inner) { this(inner, true, false); }

        /** sampling: draws rows marked for it by SamplingReference at their u (as the CUDA runner does on the device) */
        LaggingRunner(CpuModelRunner inner, boolean pipelining, boolean sampling) {
            this(inner, pipelining, sampling, false);
        }

        /**
         * penalizing: applies the penalty lists of rows marked with them (PenaltyList, with the previous step's pick
         * for a row added from it, as the CUDA runner's cs_penalize does) before the argmax or draw
         */
        LaggingRunner(CpuModelRunner inner, boolean pipelining, boolean sampling, boolean penalizing) {
            this(inner, pipelining, sampling, penalizing, false);
        }

        /** logprobs: reports the log-probabilities of rows marked for them (SamplingReference.logprobs of the raw logits) */
        LaggingRunner(CpuModelRunner inner, boolean pipelining, boolean sampling, boolean penalizing, boolean logprobs) {
            this.inner = inner;
            this.pipelining = pipelining;
            this.sampling = sampling;
            this.penalizing = penalizing;
            this.logprobs = logprobs;
        }

        @Override public ModelConfig config() { return inner.config(); }

        @Override public boolean pipelines() { return pipelining; }

        @Override public boolean samplesOnDevice() { return sampling; }

        @Override public boolean penalizesOnDevice() { return penalizing; }

        @Override public boolean logprobsOnDevice() { return logprobs; }

        @Override public boolean biasesOnDevice() { return biasing; }

        @Override
        public void forward(ForwardBatch b, ChunkPool pool, float[] logits) {
            if (pipelining) throw new AssertionError("a pipelined engine launches");
            launch(b, pool);
            collect(b, logits);
        }

        @Override
        public void launch(ForwardBatch b, ChunkPool pool) {
            if (launched.size() >= 2) throw new AssertionError("a third step launched before the first was collected");
            if (!launched.isEmpty()) launchedWhileAnother++;
            launches++;
            ForwardBatch r = new ForwardBatch();
            for (int s = 0; s < b.size(); s++) {
                int[] toks = new int[b.count(s)];
                for (int j = 0; j < toks.length; j++) toks[j] = b.token(b.offset(s) + j);
                int prev = b.previousRow(s);
                if (prev >= 0) {
                    if (launched.isEmpty() && lastPicks == null) throw new AssertionError("a previous-step token with no step before");
                    if (prev >= lastPicks.length) throw new AssertionError("row " + prev + " of the step before does not exist");
                    if (lastPicks[prev] < 0 && declineEvery == 0) throw new AssertionError("row " + prev + " of the step before picked nothing");
                    if (lastPicks[prev] < 0) ranOnNoPick++;
                    toks[0] = Math.max(lastPicks[prev], 0);
                    fromPrevious++;
                } else {
                    for (int t : toks) if (t < 0) throw new AssertionError("unresolved token in sequence " + s);
                }
                r.add(toks, 0, toks.length, b.startPosition(s), b.chunkTable(s), b.wantsLogits(s));
                if (b.isRunnerSampled(s)) {
                    if (!sampling) throw new AssertionError("a row marked for a draw, but this runner does not sample");
                    r.markSampled(1.0 / b.inverseTemperature(s), b.topK(s), b.topP(s), b.minP(s), b.draw(s));
                } else if (b.isGreedy(s)) {
                    r.markGreedy();
                }
            }
            int v = config().vocabSize();
            float[] lg = new float[b.size() * v];
            inner.forward(r, pool, lg);
            float[] raw = lg.clone();   // log-probabilities are of the raw logits
            for (int s = 0; s < b.size(); s++) {
                if (b.bias(s) == null) continue;
                if (!biasing) throw new AssertionError("a row marked with a logit_bias, but this runner does not add it");
                if (!b.isGreedy(s)) throw new AssertionError("a logit_bias on a row the runner does not pick");
                b.bias(s).applyTo(lg, s * v, v);
                biased++;
                if (b.previousRow(s) >= 0) biasedAhead++;
            }
            for (int s = 0; s < b.size(); s++) {
                if (!b.isPenalized(s)) continue;
                if (!penalizing) throw new AssertionError("a row marked with penalties, but this runner does not apply them");
                if (!b.isGreedy(s)) throw new AssertionError("penalties on a row the runner does not pick");
                int prev = b.previousRow(s);
                io.chunkserve.sampling.PenaltyList.apply(lg, s * v, v, b.repetitionPenalty(s), b.presencePenalty(s), b.frequencyPenalty(s),
                        b.penaltyIds(s), b.penaltyCounts(s), b.penaltyEntries(s), prev >= 0 ? lastPicks[prev] : -1);
                penalized++;
                if (prev >= 0) penalizedAhead++;
            }
            int[] picks = new int[b.size()];
            Arrays.fill(picks, -1);
            for (int s = 0; s < b.size(); s++) {
                if (!b.wantsLogits(s) || !b.isGreedy(s)) continue;
                if (b.isRunnerSampled(s)) {
                    picks[s] = io.chunkserve.sampling.SamplingReference.pick(lg, s * v, v, b.inverseTemperature(s), b.topK(s), b.topP(s),
                            b.minP(s), b.draw(s));
                    draws++;
                    if (Math.abs(1.0 / b.inverseTemperature(s) - FORK_TEMPERATURE) < 1e-6) drawsOfForks++;
                    continue;
                }
                int best = 0;
                for (int i = 1; i < v; i++) if (lg[s * v + i] > lg[s * v + best]) best = i;
                picks[s] = best;
                if (declineEvery > 0 && !b.isPenalized(s) && b.bias(s) == null && !b.wantsRunnerLogprobs(s) && (launches * 31 + s * 7) % declineEvery == 0) {
                    picks[s] = -1;   // the host decides from the raw logits: the same argmax
                    declined++;
                }
            }
            io.chunkserve.sampling.SampledToken[] lp = new io.chunkserve.sampling.SampledToken[b.size()];
            for (int s = 0; s < b.size(); s++) {
                if (!b.wantsLogits(s) || !b.wantsRunnerLogprobs(s)) continue;
                if (!logprobs) throw new AssertionError("a row marked for log-probabilities, but this runner does not report them");
                lp[s] = io.chunkserve.sampling.SamplingReference.logprobs(raw, s * v, v, picks[s], b.topLogprobs(s));
                logprobRows++;
            }
            lastPicks = picks;
            launched.add(new Launched(b, picks, lg, lp));
        }

        @Override
        public void collect(ForwardBatch b, float[] logits) {
            Launched x = launched.poll();
            if (x == null || x.batch != b) throw new AssertionError("collected out of order");
            int v = config().vocabSize();
            for (int s = 0; s < b.size(); s++) {
                if (!b.wantsLogits(s)) continue;
                if (x.withLogprobs[s] != null) b.setSampled(s, x.withLogprobs[s]);
                else if (x.picks[s] >= 0) b.setSampled(s, x.picks[s]);
                else System.arraycopy(x.logits, s * v, logits, s * v, v);
            }
        }

        @Override
        public void abandon() { launched.clear(); }
    }

    record Outcome(List<int[]> ids, List<String> text, List<FinishReason> finish, List<String> usage, List<Integer> firstChoice,
                   List<List<RequestOutput.TokenLogprob>> logprobs) { }

    @Test
    void pipelinedStepsGiveTheSameOutputs() throws Exception {
        Path dir = Fixtures.model("tiny-llama3");
        // a token the plain run generates early in request 7: as a stop token id it ends that request mid-run
        Run plain0 = run(dir, false, -1);
        int stopId = plain0.outcome.ids.get(plain0.outcome.firstChoice.get(7))[4];
        Run plain = run(dir, false, stopId), piped = run(dir, true, stopId);
        assertEquals(FinishReason.STOP, plain.outcome.finish.get(plain.outcome.firstChoice.get(7)), "the stop token ends request 7");
        assertTrue(piped.runner.launchedWhileAnother > 20, "steps launched ahead: " + piped.runner.launchedWhileAnother);
        assertTrue(piped.runner.fromPrevious > 50, "rows run on the previous step's picks: " + piped.runner.fromPrevious);
        assertSameOutputs(plain, piped);
    }

    /**
     * Rows drawn by the runner (temperature, top_k, top_p, min_p at the sampler's next draw): pipelined and not, the
     * same tokens — each row's draw is the one its sampler would use for that token, however far ahead the step was
     * built, including rows dropped after a stop token, preemption and an abort.
     */
    @Test
    void runnerDrawsGiveTheSameOutputsPipelinedOrNot() throws Exception {
        Path dir = Fixtures.model("tiny-llama3");
        Run plain0 = run(dir, false, -1, true);
        int stopId = plain0.outcome.ids.get(plain0.outcome.firstChoice.get(7))[4];
        Run plain = run(dir, false, stopId, true), piped = run(dir, true, stopId, true);
        assertTrue(plain.runner.draws > 50 && piped.runner.draws > 50, "rows drawn by the runner: " + plain.runner.draws + ", " + piped.runner.draws);
        assertEquals(0, plain.runner.launchedWhileAnother);
        assertTrue(piped.runner.launchedWhileAnother > 20, "steps launched ahead: " + piped.runner.launchedWhileAnother);
        assertSameOutputs(plain, piped);
        // sampled requests with different seeds differ: the draws are real
        assertTrue(!Arrays.equals(plain.outcome.ids.get(plain.outcome.firstChoice.get(9)), plain.outcome.ids.get(plain.outcome.firstChoice.get(10))));
        // so do the two choices of the sampled n = 2 request, whose tokens after the first the runner drew
        int n2 = piped.outcome.firstChoice.get(5);
        assertTrue(!Arrays.equals(piped.outcome.ids.get(n2), piped.outcome.ids.get(n2 + 1)), "the two choices of request 5");
        assertTrue(piped.runner.drawsOfForks > 10, "rows of forked choices drawn by the runner: " + piped.runner.drawsOfForks);
    }

    /**
     * Rows whose penalties the runner applies from their compact lists (greedy ones and drawn ones, repetition,
     * presence and frequency), with steps built ahead of the pick they need: greedy ones get exactly the host
     * sampler's tokens (the plain CPU engine), drawn ones the same tokens pipelined or not.
     */
    @Test
    void runnerPenaltiesGiveTheHostTokensPipelined() throws Exception {
        Path dir = Fixtures.model("tiny-llama3");
        Run plain0 = run(dir, false, -1, false, true);
        int stopId = plain0.outcome.ids.get(plain0.outcome.firstChoice.get(7))[4];
        Run host = run(dir, false, stopId, false, true), piped = run(dir, true, stopId, false, true);
        assertTrue(piped.runner.penalized > 50 && piped.runner.penalizedAhead > 20,
                "penalized rows: " + piped.runner.penalized + ", of them ahead of their last token: " + piped.runner.penalizedAhead);
        assertTrue(piped.runner.launchedWhileAnother > 20, "steps launched ahead: " + piped.runner.launchedWhileAnother);
        assertTrue(piped.runner.logprobRows > 40, "rows with log-probabilities from the runner: " + piped.runner.logprobRows);
        assertSameOutputs(host, piped);
        assertEquals(24, host.outcome.logprobs.get(host.outcome.firstChoice.get(12)).size());
        assertEquals(5, host.outcome.logprobs.get(host.outcome.firstChoice.get(12)).get(3).top().size());
        // the penalties act: request 0 (repetition 1.3) differs from its unpenalized run
        Run unpen = run(dir, false, stopId, false, false);
        assertTrue(!Arrays.equals(unpen.outcome.ids.get(unpen.outcome.firstChoice.get(0)), host.outcome.ids.get(host.outcome.firstChoice.get(0))));

        Run drawn = run(dir, false, stopId, true, true), drawnPiped = run(dir, true, stopId, true, true);
        assertTrue(drawnPiped.runner.draws > 50 && drawnPiped.runner.penalizedAhead > 20, "draws " + drawnPiped.runner.draws);
        assertSameOutputs(drawn, drawnPiped);
    }

    /**
     * Rows whose logit_bias the runner adds (greedy ones — one with a +100 bias, one with penalties on the same ids and
     * log-probabilities — and drawn ones), with steps built ahead of their last pick: greedy ones get exactly the host
     * sampler's tokens and raw log-probabilities (the plain CPU engine, which biases on the host), drawn ones the same
     * tokens pipelined or not; and the bias acts (request 12's tokens differ from its unbiased run).
     */
    @Test
    void runnerLogitBiasGivesTheHostTokensPipelined() throws Exception {
        Path dir = Fixtures.model("tiny-llama3");
        Run plain0 = run(dir, false, -1, false, true);
        int stopId = plain0.outcome.ids.get(plain0.outcome.firstChoice.get(7))[4];
        Run host = run(dir, false, stopId, false, true, 0, true), piped = run(dir, true, stopId, false, true, 0, true);
        assertTrue(piped.runner.biased > 30 && piped.runner.biasedAhead > 10,
                "biased rows: " + piped.runner.biased + ", of them built ahead of their last token: " + piped.runner.biasedAhead);
        assertTrue(piped.runner.launchedWhileAnother > 20, "steps launched ahead: " + piped.runner.launchedWhileAnother);
        assertSameOutputs(host, piped);
        Run unbiased = run(dir, false, stopId, false, true);
        int r12 = host.outcome.firstChoice.get(12);
        assertTrue(!Arrays.equals(unbiased.outcome.ids.get(r12), host.outcome.ids.get(r12)), "the bias changes request 12's tokens");

        Run drawn = run(dir, false, stopId, true, true, 0, true), drawnPiped = run(dir, true, stopId, true, true, 0, true);
        assertTrue(drawn.runner.biased > 30 && drawnPiped.runner.biasedAhead > 10, "biased rows " + drawnPiped.runner.biased);
        assertSameOutputs(drawn, drawnPiped);
    }

    /**
     * Rows the runner gives no pick (a non-finite logit on the device: the host sampler decides) while the next step,
     * already launched, holds a row run on that missing pick: the engine drops that row and continues the choice from
     * the host's token, so every output equals the plain run's.
     */
    @Test
    void rowsLaunchedOnAMissingPickAreDropped() throws Exception {
        Path dir = Fixtures.model("tiny-llama3");
        Run plain = run(dir, false, -1), piped = run(dir, true, -1, false, false, 5);
        assertTrue(piped.runner.declined > 10, "rows without a pick: " + piped.runner.declined);
        assertTrue(piped.runner.ranOnNoPick > 5, "rows launched on a missing pick: " + piped.runner.ranOnNoPick);
        assertTrue(piped.runner.launchedWhileAnother > 20, "steps launched ahead: " + piped.runner.launchedWhileAnother);
        assertSameOutputs(plain, piped);
    }

    /** Same tokens, text, finish reasons and token counts for every choice; no KV left held by either run. */
    static void assertSameOutputs(Run plain, Run piped) {
        assertEquals(plain.outcome.ids.size(), piped.outcome.ids.size());
        for (int i = 0; i < plain.outcome.ids.size(); i++) {
            assertArrayEquals(plain.outcome.ids.get(i), piped.outcome.ids.get(i), "choice " + i);
            assertEquals(plain.outcome.text.get(i), piped.outcome.text.get(i), "text of choice " + i);
            assertEquals(plain.outcome.finish.get(i), piped.outcome.finish.get(i), "finish of choice " + i);
            assertSameLogprobs(plain.outcome.logprobs.get(i), piped.outcome.logprobs.get(i), "log-probabilities of choice " + i);
        }
        assertEquals(plain.outcome.usage, piped.outcome.usage);
        for (Run r : List.of(plain, piped)) {
            assertEquals(0, r.kv.liveSequences(), "live sequences left");
            assertEquals(0, r.kv.referencedChunks(), "chunks still held");
        }
    }

    /**
     * Same ids and top ids; values within 1e-4 (the CPU forward is not bit-reproducible across batch compositions,
     * so logits, hence log-probabilities, may differ in the last bits between two runs).
     */
    static void assertSameLogprobs(List<RequestOutput.TokenLogprob> a, List<RequestOutput.TokenLogprob> b, String what) {
        assertEquals(a.size(), b.size(), what + ": positions");
        for (int j = 0; j < a.size(); j++) {
            RequestOutput.TokenLogprob x = a.get(j), y = b.get(j);
            assertEquals(x.id(), y.id(), what + " at " + j);
            assertEquals(x.logprob(), y.logprob(), 1e-4f, what + " at " + j);
            assertEquals(x.top().size(), y.top().size(), what + " at " + j + ": top");
            for (int q = 0; q < x.top().size(); q++) {
                assertEquals(x.top().get(q).id(), y.top().get(q).id(), what + " at " + j + ": top id " + q);
                assertEquals(x.top().get(q).logprob(), y.top().get(q).logprob(), 1e-4f, what + " at " + j + ": top " + q);
            }
        }
    }

    record Run(Outcome outcome, LaggingRunner runner, KvStats kv) { }

    static Run run(Path dir, boolean pipelined, int stopId) throws Exception {
        return run(dir, pipelined, stopId, false);
    }

    /** sampled: requests 0, 7, 9, 10, 11 sampled (seeded; top_k / top_p / min_p) and drawn by the runner */
    static Run run(Path dir, boolean pipelined, int stopId, boolean sampled) throws Exception {
        return run(dir, pipelined, stopId, sampled, false);
    }

    /**
     * penalties: requests 0 (repetition 1.3), 7 (presence 0.8, frequency 0.4), 9 (all three), 11 (frequency -0.3:
     * repeats) and 12 (greedy, all three, presence -0.4, 24 tokens, top 5 log-probabilities) penalized, 10 with top 3
     * log-probabilities; the runner applies the penalties and reports the log-probabilities when it pipelines or samples
     */
    static Run run(Path dir, boolean pipelined, int stopId, boolean sampled, boolean penalties) throws Exception {
        return run(dir, pipelined, stopId, sampled, penalties, 0);
    }

    /** declineEvery: see {@link LaggingRunner#declineEvery} */
    static Run run(Path dir, boolean pipelined, int stopId, boolean sampled, boolean penalties, int declineEvery) throws Exception {
        return run(dir, pipelined, stopId, sampled, penalties, declineEvery, false);
    }

    /**
     * biases (with penalties): requests 12 (greedy: +4 and -100 on two prompt tokens, which its repetition penalty also
     * lists) and 9 (+3 on a prompt token) get a logit_bias besides request 8's; the runner adds them when it has one
     */
    static Run run(Path dir, boolean pipelined, int stopId, boolean sampled, boolean penalties, int declineEvery, boolean biases) throws Exception {
        try (Model m = Model.load(dir); Tokenizer tok = Tokenizer.load(dir); CpuKernels k = new CpuKernels(2)) {
            ModelConfig c = m.config();
            // 16 chunks of 16 tokens: not enough for every sequence at once (preemption happens)
            ChunkPool pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), 16, DType.F32), 16);
            CpuModelRunner cpu = new CpuModelRunner(c, m.weights(), k);
            LaggingRunner lag = sampled || (penalties && pipelined) ? new LaggingRunner(cpu, pipelined, sampled, penalties, penalties)
                    : pipelined ? new LaggingRunner(cpu) : null;
            if (lag != null) {
                lag.declineEvery = declineEvery;
                lag.biasing = biases;
            }
            ModelRunner r = lag != null ? lag : cpu;
            Engine e = new Engine(r, new PrefixCache(pool), tok, new EngineConfig(8, 40), SchedulerConfig.of("fcfs"));
            try {
                Random rnd = new Random(11);
                int[] system = rnd.ints(20, 3, 400).toArray();
                List<Collector> cs = new ArrayList<>();
                for (int i = 0; i < (penalties ? 13 : 12); i++) {
                    int[] p = Arrays.copyOf(system, system.length + 2 + 3 * i);
                    for (int j = system.length; j < p.length; j++) p[j] = 3 + rnd.nextInt(400);
                    SamplingParams.Builder sp = SamplingParams.builder().maxTokens(10 + 2 * i).temperature(0).ignoreEos(true);
                    switch (i) {
                        case 1 -> sp.maxTokens(1);
                        case 2 -> sp.maxTokens(2);
                        case 3 -> sp.temperature(0.8).seed(7L);          // sampled on the host: no step ahead while it runs
                        case 4 -> sp.stop("e", "a");                      // stop strings: decided from the text
                        case 5 -> sp.n(2);
                        case 6 -> sp.logprobs(true).topLogprobs(2);
                        case 7 -> { if (stopId >= 0) sp.stopTokenIds(List.of(stopId)); }
                        case 8 -> sp.ignoreEos(false);                    // EOS may end it
                        default -> { }
                    }
                    if (sampled && (i == 0 || i == 5 || i == 7 || i >= 9)) {
                        sp.temperature(i == 5 ? FORK_TEMPERATURE : 0.9).seed(50L + i);   // (5: n = 2, drawn by the runner after the first token)
                        if (i == 9) sp.topK(12);
                        if (i == 10) sp.topP(0.8).minP(0.02);
                        if (i == 11) sp.topK(40).topP(0.9);
                    }
                    if (penalties) {
                        switch (i) {
                            case 0 -> sp.repetitionPenalty(1.3);
                            case 7 -> sp.presencePenalty(0.8).frequencyPenalty(0.4);
                            case 9 -> sp.repetitionPenalty(1.2).presencePenalty(0.3).frequencyPenalty(0.2);
                            case 11 -> sp.frequencyPenalty(-0.3);                       // repeats encouraged: counts grow
                            case 12 -> sp.repetitionPenalty(1.05).presencePenalty(-0.4).frequencyPenalty(0.15).maxTokens(24)
                                    .logprobs(true).topLogprobs(5);
                            case 10 -> sp.logprobs(true).topLogprobs(3);
                            case 8 -> sp.logitBias(java.util.Map.of(system[2], 100.0));          // greedy with a bias: picked on the host
                            default -> { }
                        }
                    }
                    if (biases && i == 12) sp.logitBias(java.util.Map.of(system[3], 4.0, system[4], -100.0));
                    if (biases && i == 9) sp.logitBias(java.util.Map.of(system[5], 3.0));
                    Collector col = new Collector();
                    e.submit(new GenerationRequest("r" + i, "t", p, sp.build(), 0), col);
                    cs.add(col);
                }
                // an abort in the middle of decoding: ends with ABORT, its tokens a prefix of the full run's
                int[] p = Arrays.copyOf(system, system.length + 5);
                Collector full = new Collector(), cut = new Collector();
                e.submit(new GenerationRequest("full", "t", p, SamplingParams.builder().temperature(0).maxTokens(30).ignoreEos(true).build(), 0), full);
                e.submit(new GenerationRequest("cut", "t", p, SamplingParams.builder().temperature(0).maxTokens(30).ignoreEos(true).build(), 0),
                        new RequestListener() {
                            @Override
                            public void onOutput(RequestOutput o) {
                                cut.onOutput(o);
                                if (cut.ids.size() == 1 && cut.ids.get(0).size() == 3) e.abort("cut");
                            }
                        });
                List<int[]> ids = new ArrayList<>();
                List<String> text = new ArrayList<>();
                List<FinishReason> finish = new ArrayList<>();
                List<String> usage = new ArrayList<>();
                List<Integer> first = new ArrayList<>();
                List<List<RequestOutput.TokenLogprob>> lps = new ArrayList<>();
                for (Collector col : cs) {
                    Collector cc = col.await();
                    synchronized (col) {
                        first.add(ids.size());
                        for (int ch = 0; ch < cc.ids.size(); ch++) {
                            ids.add(cc.ids(ch));
                            text.add(cc.text.get(ch).toString());
                            finish.add(cc.finish.get(ch));
                            lps.add(cc.logprobs.get(ch));
                        }
                        usage.add(cc.last.usage().promptTokens() + "+" + cc.last.usage().completionTokens());
                    }
                }
                full.await();
                cut.await();
                assertEquals(FinishReason.ABORT, cut.finish.get(0));
                int[] a = cut.ids(0), f = full.ids(0);
                assertTrue(a.length >= 3 && a.length < f.length, "aborted after " + a.length);
                assertArrayEquals(Arrays.copyOf(f, a.length), a);
                KvStats kv = e.stats().get(30, TimeUnit.SECONDS).kv();
                return new Run(new Outcome(ids, text, finish, usage, first, lps), lag, kv);
            } finally {
                e.close();
                pool.close();
            }
        }
    }
}
