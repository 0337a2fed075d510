package io.chunkserve.service.synthetic;

import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.SamplingParams;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticBridgeTest {
    private final Vertx vertx = Vertx.vertx();
    private final SyntheticBridge bridge = new SyntheticBridge(vertx, 200); // 5 ms per token

    @AfterEach
    void close() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    private static GenerationRequest request(String id, int maxTokens, int n) {
        return new GenerationRequest(id, "alice", new int[]{1, 2, 3}, SamplingParams.builder().maxTokens(maxTokens).n(n)
                .logprobs(true).topLogprobs(2).build(), 0);
    }

    /** Submits on a fresh event-loop context; completes with every output once the last arrives. */
    private CompletableFuture<List<RequestOutput>> run(GenerationRequest r, List<Long> arrivals, Context[] seen) {
        CompletableFuture<List<RequestOutput>> done = new CompletableFuture<>();
        List<RequestOutput> outs = new CopyOnWriteArrayList<>();
        Context ctx = vertx.getOrCreateContext();
        ctx.runOnContext(v -> bridge.submit(r, out -> {
            if (Vertx.currentContext() != ctx) done.completeExceptionally(new AssertionError("output on another context"));
            if (seen != null) seen[0] = Vertx.currentContext();
            arrivals.add(System.nanoTime());
            outs.add(out);
            if (out.finished()) done.complete(outs);
        }));
        return done;
    }

    @Test
    void emitsMaxTokensAtTheConfiguredRateOnTheSubmittingContext() throws Exception {
        List<Long> at = new CopyOnWriteArrayList<>();
        long t0 = System.nanoTime();
        List<RequestOutput> outs = run(request("r1", 20, 2), at, null).get(10, TimeUnit.SECONDS);
        // One token per output unless the event loop fell behind (then an output carries all that were pending).
        StringBuilder text = new StringBuilder(), expected = new StringBuilder();
        int tokens = 0;
        for (int k = 0; k < outs.size(); k++) {
            RequestOutput o = outs.get(k);
            assertEquals(2, o.choices().size());
            int t = o.choices().get(0).tokenIds().length;
            assertTrue(t >= 1, "an output without tokens");
            assertEquals(o.choices().get(0).text(), o.choices().get(1).text());
            assertEquals(t, o.choices().get(1).logprobs().size());
            assertEquals(2, o.choices().get(0).logprobs().getFirst().top().size());
            boolean last = k == outs.size() - 1;
            assertEquals(last ? FinishReason.LENGTH : null, o.choices().get(0).finish());
            assertEquals(last, o.finished());
            text.append(o.choices().get(1).text());
            tokens += t;
        }
        for (int k = 0; k < 20; k++) expected.append(SyntheticBridge.WORDS[k % SyntheticBridge.WORDS.length]);
        assertEquals(20, tokens);
        assertEquals(expected.toString(), text.toString());
        RequestOutput last = outs.getLast();
        assertEquals(new RequestOutput.Usage(3, 40, 0), last.usage());
        assertNull(last.error());
        // 20 tokens at 200/s: about 100 ms; the absolute schedule keeps the total on time.
        double ms = (at.getLast() - t0) / 1e6;
        assertTrue(ms >= 99 && ms < 1000, "took " + ms + " ms");
        assertEquals(0, bridge.inFlight());
        assertEquals(0, bridge.snapshot().running());
    }

    @Test
    void stampsCarryTheEmittingStepsTime() throws Exception {
        SyntheticBridge stamped = new SyntheticBridge(vertx, 100, true); // 10 ms per token
        CompletableFuture<List<RequestOutput>> done = new CompletableFuture<>();
        List<RequestOutput> outs = new CopyOnWriteArrayList<>();
        List<Long> at = new CopyOnWriteArrayList<>();
        long t0 = System.nanoTime();
        vertx.getOrCreateContext().runOnContext(v -> stamped.submit(request("s", 5, 1), out -> {
            at.add(System.nanoTime());
            outs.add(out);
            if (out.finished()) done.complete(outs);
        }));
        done.get(10, TimeUnit.SECONDS);
        long prev = t0;
        for (int i = 0; i < outs.size(); i++) {
            String text = outs.get(i).choices().getFirst().text();
            assertTrue(text.matches("( @\\d+~\\d+)+"), text);
            long stamp = Long.parseLong(text.substring(2).split("~")[0]);
            // Emitted after submission and the previous token, delivered after it was emitted.
            assertTrue(stamp >= prev && stamp <= at.get(i), stamp + " not in [" + prev + ", " + at.get(i) + "]");
            prev = stamp;
        }
        assertTrue(prev - t0 >= 50_000_000L, "5 tokens at 100/s took " + (prev - t0) + " ns");
    }

    @Test
    void abortEndsTheStreamWithAbort() throws Exception {
        List<Long> at = new CopyOnWriteArrayList<>();
        CompletableFuture<List<RequestOutput>> f = run(request("long", 100_000, 1), at, null);
        while (at.size() < 2) Thread.sleep(2);
        assertEquals(1, bridge.snapshot().running());
        assertEquals(1, bridge.snapshot().perTenant().get("alice")[1]);
        bridge.abort("long");
        bridge.abort("unknown-id"); // ignored
        List<RequestOutput> outs = f.get(5, TimeUnit.SECONDS);
        RequestOutput last = outs.getLast();
        assertTrue(last.finished());
        assertEquals(FinishReason.ABORT, last.choices().getFirst().finish());
        int delivered = 0;
        for (RequestOutput o : outs.subList(0, outs.size() - 1)) delivered += o.choices().getFirst().tokenIds().length;
        assertEquals(delivered, last.usage().completionTokens());
        assertEquals(0, bridge.inFlight());
        assertEquals(0, bridge.snapshot().running());
    }

    @Test
    void keepsTheBridgeContract() throws Exception {
        assertNull(bridge.worker());
        assertEquals("synthetic", bridge.modelName());
        assertEquals(3, bridge.tokenize("a b  c").await().length);
        assertEquals(1, bridge.tokenize("").await().length);
        List<Long> at = new CopyOnWriteArrayList<>();
        CompletableFuture<List<RequestOutput>> f = run(request("dup", 3, 1), at, null);
        while (bridge.inFlight() == 0) Thread.sleep(1);
        Context ctx = vertx.getOrCreateContext();
        CompletableFuture<Throwable> dup = new CompletableFuture<>();
        ctx.runOnContext(v -> {
            try {
                bridge.submit(request("dup", 3, 1), out -> { });
                dup.complete(null);
            } catch (RuntimeException e) {
                dup.complete(e);
            }
        });
        assertTrue(dup.get(5, TimeUnit.SECONDS) instanceof IllegalArgumentException);
        f.get(5, TimeUnit.SECONDS);
        bridge.startDraining();
        assertThrows(IllegalStateException.class, () -> bridge.submit(request("late", 3, 1), out -> { }));
    }

    @Test
    void submittingFromOffAnEventLoopStillDeliversOnOneContext() throws Exception {
        CompletableFuture<List<RequestOutput>> done = new CompletableFuture<>();
        List<RequestOutput> outs = new CopyOnWriteArrayList<>();
        Context[] first = new Context[1];
        bridge.submit(request("plain-thread", 3, 1), out -> {
            if (first[0] == null) first[0] = Vertx.currentContext();
            else assertSame(first[0], Vertx.currentContext());
            outs.add(out);
            if (out.finished()) done.complete(outs);
        });
        assertEquals(3, done.get(5, TimeUnit.SECONDS).stream().mapToInt(o -> o.choices().getFirst().tokenIds().length).sum());
        assertTrue(first[0] != null && first[0].isEventLoopContext());
    }
}
