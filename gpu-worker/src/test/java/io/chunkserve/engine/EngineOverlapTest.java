package io.chunkserve.engine;

import io.chunkserve.Fixtures;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
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

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine with a runner that overlaps host work (the CUDA runner's mode): the text and delivery of a step's
 * tokens move into the next step's forward, for requests without stop strings. Every request must get the same
 * tokens, text, finish reasons and usage as with the plain runner, its outputs in order and nothing after its
 * last; the deferral must actually happen; an abort still ends a request cleanly.
 */
class EngineOverlapTest {
    /** Runs the host work halfway, between the CPU forward and the picks, and counts deliveries made inside it. */
    static final class OverlappingRunner implements ModelRunner {
        final CpuModelRunner inner;
        static volatile boolean inHostWork;
        final AtomicInteger callbacks = new AtomicInteger();

        OverlappingRunner(CpuModelRunner inner) { this.inner = inner; }

        @Override public ModelConfig config() { return inner.config(); }

        @Override public boolean overlapsHostWork() { return true; }

        @Override
        public void forward(ForwardBatch b, ChunkPool pool, float[] logits) { inner.forward(b, pool, logits); }

        @Override
        public void forward(ForwardBatch b, ChunkPool pool, float[] logits, Runnable whileRunning) {
            inner.forward(b, pool, logits);
            inHostWork = true;
            try {
                whileRunning.run();
            } finally {
                inHostWork = false;
            }
            callbacks.incrementAndGet();
        }
    }

    /** A collector that also notes outputs delivered inside the runner's host work and any output after the last. */
    static final class Recording implements RequestListener {
        final Collector c = new Collector();
        int deferredOutputs, afterFinished;
        final List<String> log = new ArrayList<>();

        @Override
        public synchronized void onOutput(RequestOutput o) {
            if (c.done.isDone()) afterFinished++;
            if (OverlappingRunner.inHostWork) deferredOutputs++;
            StringBuilder sb = new StringBuilder();
            for (RequestOutput.ChoiceDelta d : o.choices()) {
                sb.append(d.index()).append(Arrays.toString(d.tokenIds())).append('"').append(d.text()).append('"').append(d.finish())
                        .append(d.logprobs().size()).append(';');
            }
            log.add(sb.toString());
            c.onOutput(o);
        }
    }

    record Outcome(List<int[]> ids, List<String> text, List<FinishReason> finish, List<String> usage, int deferred) { }

    @Test
    void overlapGivesTheSameOutputs() {
        var dir = Fixtures.model("tiny-llama3");
        Outcome plain = run(dir, false), overlapped = run(dir, true);
        assertTrue(overlapped.deferred > 10, "outputs delivered while a forward ran: " + overlapped.deferred);
        assertEquals(0, plain.deferred);
        assertEquals(plain.ids.size(), overlapped.ids.size());
        for (int i = 0; i < plain.ids.size(); i++) {
            assertArrayEquals(plain.ids.get(i), overlapped.ids.get(i), "choice " + i);
            assertEquals(plain.text.get(i), overlapped.text.get(i), "text of choice " + i);
            assertEquals(plain.finish.get(i), overlapped.finish.get(i), "finish of choice " + i);
        }
        assertEquals(plain.usage, overlapped.usage);
    }

    static Outcome run(java.nio.file.Path dir, boolean overlap) {
        try (Model m = Model.load(dir); Tokenizer tok = Tokenizer.load(dir); CpuKernels k = new CpuKernels(2)) {
            ModelConfig c = m.config();
            // 14 chunks of 16 tokens: not enough for every sequence at once (preemption happens)
            ChunkPool pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), 16, DType.F32), 14);
            CpuModelRunner cpu = new CpuModelRunner(c, m.weights(), k);
            ModelRunner r = overlap ? new OverlappingRunner(cpu) : cpu;
            Engine e = new Engine(r, new PrefixCache(pool), tok, new EngineConfig(6, 32), SchedulerConfig.of("fcfs"));
            try {
                Random rnd = new Random(5);
                int[] system = rnd.ints(20, 3, 400).toArray();
                List<Recording> cs = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    int[] p = Arrays.copyOf(system, system.length + 3 + 4 * i);
                    for (int j = system.length; j < p.length; j++) p[j] = 3 + rnd.nextInt(400);
                    SamplingParams.Builder sp = SamplingParams.builder().maxTokens(12 + i).temperature(0);
                    switch (i) {
                        case 0 -> sp.ignoreEos(true);
                        case 1 -> sp.repetitionPenalty(1.3).ignoreEos(true);
                        case 2 -> sp.logprobs(true).topLogprobs(2).ignoreEos(true);
                        case 3 -> sp.temperature(0.8).seed(7L).n(2).ignoreEos(true);
                        case 4 -> sp.stop("e", "a").ignoreEos(true);   // not deferred: stop strings
                        case 5 -> sp.maxTokens(1);
                        case 6 -> sp.n(2).ignoreEos(true);
                        default -> { }                                    // EOS may end it
                    }
                    Recording col = new Recording();
                    e.submit(new GenerationRequest("r" + i, "t", p, sp.build(), 0), col);
                    cs.add(col);
                }
                List<int[]> ids = new ArrayList<>();
                List<String> text = new ArrayList<>();
                List<FinishReason> finish = new ArrayList<>();
                List<String> usage = new ArrayList<>();
                int deferred = 0;
                for (Recording col : cs) {
                    Collector cc = col.c.await();
                    synchronized (col) {
                        for (int ch = 0; ch < cc.ids.size(); ch++) {
                            ids.add(cc.ids(ch));
                            text.add(cc.text.get(ch).toString());
                            finish.add(cc.finish.get(ch));
                        }
                        // (cached tokens depend on when the engine thread saw each submission, not on the overlap)
                        usage.add(cc.last.usage().promptTokens() + "+" + cc.last.usage().completionTokens());
                        deferred += col.deferredOutputs;
                        assertEquals(0, col.afterFinished, "outputs after the last one");
                    }
                }
                // an abort in the middle of decoding: ends with ABORT, its tokens a prefix of the full run's
                int[] p = Arrays.copyOf(system, system.length + 5);
                Recording full = new Recording(), cut = new Recording();
                e.submit(new GenerationRequest("full", "t", p, SamplingParams.builder().temperature(0).maxTokens(40).ignoreEos(true).build(), 0), full);
                e.submit(new GenerationRequest("cut", "t", p, SamplingParams.builder().temperature(0).maxTokens(40).ignoreEos(true).build(), 0),
                        new RequestListener() {
                            @Override
                            public void onOutput(RequestOutput o) {
                                cut.onOutput(o);
                                if (cut.c.ids.size() == 1 && cut.c.ids.get(0).size() == 3) e.abort("cut");
                            }
                        });
                full.c.await();
                cut.c.await();
                assertEquals(FinishReason.ABORT, cut.c.finish.get(0));
                int[] a = cut.c.ids(0), f = full.c.ids(0);
                assertTrue(a.length >= 3 && a.length < f.length, "aborted after " + a.length);
                assertArrayEquals(Arrays.copyOf(f, a.length), a);
                assertEquals(0, cut.afterFinished);
                return new Outcome(ids, text, finish, usage, deferred);
            } finally {
                e.close();
                pool.close();
            }
        }
    }
}
