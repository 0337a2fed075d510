package io.chunkserve.engine;

import com.fasterxml.jackson.databind.JsonNode;
import io.chunkserve.Fixtures;
import io.chunkserve.kv.KvStats;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.SamplingParams;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The engine loop end to end on the tiny fixtures: batching, prefix reuse, n > 1, abort, preemption. */
class EngineTest {
    Worker worker;

    @AfterEach
    void close() {
        if (worker != null) worker.close();
    }

    Worker start(String model, long kvBytes, int chunk, EngineConfig ec) {
        worker = Worker.start(WorkerConfig.defaults(Fixtures.model(model)).withKvBytes(kvBytes).withChunkSize(chunk).withEngine(ec));
        return worker;
    }

    static SamplingParams greedy(int max) {
        return SamplingParams.builder().temperature(0).maxTokens(max).ignoreEos(true).build();
    }

    Collector run(String id, int[] prompt, SamplingParams p) {
        Collector c = new Collector();
        worker.engine().submit(new GenerationRequest(id, "t", prompt, p, 0), c);
        return c;
    }

    KvStats kv() throws Exception { return worker.engine().stats().get(10, TimeUnit.SECONDS).kv(); }

    void assertNothingHeld() throws Exception {
        KvStats s = kv();
        assertEquals(0, s.referencedChunks(), "no chunk referenced after every request ended: " + s);
        assertEquals(0, s.liveSequences(), "no live sequence: " + s);
        assertEquals(s.totalChunks(), s.freeChunks() + s.cachedChunks(), "every chunk free or cached: " + s);
    }

    @Test
    void concurrentRequestsMatchTransformersGreedy() throws Exception {
        start("tiny-llama3", 8L << 20, 16, new EngineConfig(8, 64));
        JsonNode golden = Fixtures.golden("tiny-llama3");
        List<Collector> cs = new ArrayList<>();
        List<int[]> want = new ArrayList<>();
        int i = 0;
        for (JsonNode p : golden.get("prompts")) {
            cs.add(run("r" + i++, Fixtures.ints(p.get("ids")), greedy(24)));
            want.add(Fixtures.ints(p.get("greedy")));
        }
        for (int k = 0; k < cs.size(); k++) {
            Collector c = cs.get(k).await();
            assertArrayEquals(want.get(k), c.ids(0), "request " + k + " batched with others");
            assertEquals(FinishReason.LENGTH, c.finish.get(0));
            assertNull(c.last.error());
        }
        assertNothingHeld();
    }

    @Test
    void repeatedPromptReusesItsPrefixAndGivesTheSameTokens() throws Exception {
        start("tiny-qwen2", 8L << 20, 16, EngineConfig.defaults());
        JsonNode p = Fixtures.golden("tiny-qwen2").get("prompts").get(3); // the long chat prompt
        int[] ids = Fixtures.ints(p.get("ids"));
        Collector first = run("a", ids, greedy(24)).await();
        Collector second = run("b", ids, greedy(24)).await();
        assertEquals(0, first.last.usage().cachedTokens());
        assertEquals((ids.length - 1) / 16 * 16, second.last.usage().cachedTokens(), "all full chunks but the last token reused");
        assertArrayEquals(Fixtures.ints(p.get("greedy")), first.ids(0));
        assertArrayEquals(first.ids(0), second.ids(0), "prefix reuse changes nothing");
        KvStats s = kv();
        assertTrue(s.hitTokens() > 0 && s.queriedTokens() >= 2L * ids.length - 2, s.toString());
        assertNothingHeld();
    }

    @Test
    void nSamplesShareThePromptAndSeedsAreReproducible() throws Exception {
        start("tiny-llama3", 8L << 20, 16, EngineConfig.defaults());
        int[] prompt = Fixtures.ints(Fixtures.golden("tiny-llama3").get("prompts").get(3).get("ids"));
        SamplingParams sp = SamplingParams.builder().temperature(1.0).seed(7L).n(3).maxTokens(12).ignoreEos(true).build();
        Collector a = run("a", prompt, sp).await();
        Collector b = run("b", prompt, sp).await();
        assertEquals(3, a.ids.size());
        for (int c = 0; c < 3; c++) {
            assertEquals(12, a.ids(c).length);
            assertArrayEquals(a.ids(c), b.ids(c), "same seed, same choice " + c);
        }
        assertTrue(!Arrays.equals(a.ids(0), a.ids(1)) || !Arrays.equals(a.ids(1), a.ids(2)), "choices differ");
        Collector g = run("g", prompt, SamplingParams.builder().temperature(0).n(2).maxTokens(10).ignoreEos(true).build()).await();
        assertArrayEquals(g.ids(0), g.ids(1), "greedy choices agree");
        assertArrayEquals(Arrays.copyOf(Fixtures.ints(Fixtures.golden("tiny-llama3").get("prompts").get(3).get("greedy")), 10), g.ids(0));
        assertNothingHeld();
    }

    @Test
    void preemptionUnderMemoryPressureLosesNothing() throws Exception {
        // 12 chunks of 16 tokens: not enough for six ~70-token sequences at once.
        var probe = WorkerConfig.defaults(Fixtures.model("tiny-mistral"));
        var mc = io.chunkserve.model.ModelConfig.load(probe.modelDir());
        long perChunk = new io.chunkserve.kv.KvLayout(mc.numLayers(), mc.numKvHeads(), mc.headDim(), 16,
                io.chunkserve.model.DType.F32).bytesPerChunk();
        start("tiny-mistral", perChunk * 12, 16, new EngineConfig(6, 64));
        Random rnd = new Random(3);
        List<int[]> prompts = new ArrayList<>();
        List<Collector> cs = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            int[] p = new int[40 + rnd.nextInt(20)];
            for (int j = 0; j < p.length; j++) p[j] = 3 + rnd.nextInt(400);
            prompts.add(p);
            cs.add(run("p" + i, p, greedy(30)));
        }
        List<int[]> outs = new ArrayList<>();
        for (Collector c : cs) outs.add(c.await().ids(0));
        // Alone, each gives the same tokens.
        for (int i = 0; i < 6; i++) assertArrayEquals(outs.get(i), run("solo" + i, prompts.get(i), greedy(30)).await().ids(0));
        assertNothingHeld();
    }

    @Test
    void abortAtAnyMomentFreesEverything() throws Exception {
        start("tiny-llama3", 8L << 20, 16, new EngineConfig(3, 16));
        int[] prompt = new int[200];
        for (int i = 0; i < prompt.length; i++) prompt[i] = 5 + (i * 7) % 400;
        // x0..x2 run (3 sequences at most), x3..x5 wait; 16 tokens per step keeps the prefills going for a while.
        List<Collector> cs = new ArrayList<>();
        for (int i = 0; i < 6; i++) cs.add(run("x" + i, prompt, greedy(300)));
        worker.engine().abort("x5");          // still queued
        worker.engine().abort("x0");          // mid-prefill
        Collector decoding = cs.get(1);
        while (decoding.ids.isEmpty() || decoding.ids.get(0).size() < 3) Thread.onSpinWait();
        worker.engine().abort("x1");          // mid-decode
        for (int i = 2; i < 5; i++) worker.engine().abort("x" + i);
        for (Collector c : cs) {
            Collector done = c.await();
            assertEquals(FinishReason.ABORT, done.finish.get(0));
            assertTrue(done.ids(0).length < 300);
        }
        assertTrue(cs.get(1).ids(0).length >= 3);
        assertNothingHeld();
    }

    @Test
    void badRequestsFailAtOnceWithAClearMessage() {
        start("tiny-llama3", 1L << 20, 16, EngineConfig.defaults());
        var e = assertThrows(IllegalArgumentException.class, () -> run("long", new int[600], greedy(4)));
        assertTrue(e.getMessage().contains("context is 512 tokens"), e.getMessage());
        var v = assertThrows(IllegalArgumentException.class, () -> run("v", new int[]{1, 99999}, greedy(4)));
        assertTrue(v.getMessage().contains("outside the vocabulary"), v.getMessage());
    }

    @Test
    void stopStringsAndEosEndAChoice() {
        start("tiny-llama3", 8L << 20, 16, EngineConfig.defaults());
        JsonNode p = Fixtures.golden("tiny-llama3").get("prompts").get(0);
        Collector full = run("f", Fixtures.ints(p.get("ids")), greedy(24)).await();
        String text = full.text.get(0).toString();
        assertTrue(text.length() > 6, text);
        String stop = text.substring(3, 5);
        Collector cut = run("s", Fixtures.ints(p.get("ids")),
                SamplingParams.builder().temperature(0).maxTokens(24).ignoreEos(true).stop(stop).build()).await();
        assertEquals(FinishReason.STOP, cut.finish.get(0));
        assertEquals(text.substring(0, text.indexOf(stop)), cut.text.get(0).toString());
        int eos = worker.tokenizer().eosTokenIds()[0];
        int[] ids = full.ids(0);
        Collector stopId = run("sid", Fixtures.ints(p.get("ids")),
                SamplingParams.builder().temperature(0).maxTokens(24).stopTokenIds(List.of(ids[4])).build()).await();
        assertEquals(FinishReason.STOP, stopId.finish.get(0));
        assertNotNull(stopId.last.usage());
        assertTrue(stopId.ids(0).length <= 5 && eos >= 0);
    }
}
