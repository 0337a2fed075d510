package io.chunkserve.engine;

import io.chunkserve.Fixtures;
import io.chunkserve.sampling.SamplingParams;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The worker as a verticle: outputs on the submitting context, nothing blocks an event loop. */
@ExtendWith(VertxExtension.class)
class WorkerVerticleTest {

    @Test
    void outputsArriveOnTheSubmittingContextAndNoEventLoopBlocks() throws Exception {
        List<LogRecord> blocked = new ArrayList<>();
        Logger checker = Logger.getLogger("io.vertx.core.impl.BlockedThreadChecker");
        Handler h = new Handler() {
            @Override public void publish(LogRecord r) { synchronized (blocked) { blocked.add(r); } }
            @Override public void flush() { }
            @Override public void close() { }
        };
        checker.addHandler(h);
        // A strict checker: any event-loop task over 100 ms is reported.
        Vertx vertx = Vertx.vertx(new VertxOptions().setMaxEventLoopExecuteTime(100).setMaxEventLoopExecuteTimeUnit(TimeUnit.MILLISECONDS)
                .setBlockedThreadCheckInterval(20));
        try {
            WorkerVerticle wv = new WorkerVerticle(WorkerConfig.defaults(Fixtures.model("tiny-llama3")).withKvBytes(8L << 20).withChunkSize(16));
            vertx.deployVerticle(wv).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
            VertxTestContext tc = new VertxTestContext();
            int requests = 8;
            AtomicInteger done = new AtomicInteger();
            for (int r = 0; r < requests; r++) {
                int id = r;
                vertx.runOnContext(v -> {
                    Context mine = vertx.getOrCreateContext();
                    int[] prompt = {480, 321, 312, 280 + id};
                    wv.submit(new GenerationRequest("r" + id, "t" + id % 3, prompt,
                            SamplingParams.builder().temperature(0).maxTokens(20).ignoreEos(true).build(), 0), out -> {
                        tc.verify(() -> assertSame(mine, Vertx.currentContext(), "delivered on the submitting context"));
                        if (out.finished()) {
                            tc.verify(() -> assertEquals(20, out.usage().completionTokens()));
                            if (done.incrementAndGet() == requests) tc.completeNow();
                        }
                    });
                });
            }
            assertTrue(tc.awaitCompletion(60, TimeUnit.SECONDS));
            if (tc.failed()) throw new AssertionError(tc.causeOfFailure());
            EngineStats stats = wv.stats().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertEquals(0, stats.kv().referencedChunks());
            assertEquals(0, stats.running() + stats.waiting());
            vertx.undeploy(vertx.deploymentIDs().iterator().next()).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            checker.removeHandler(h);
        }
        synchronized (blocked) {
            assertTrue(blocked.isEmpty(), "blocked-thread warnings: " + blocked.stream().map(LogRecord::getMessage).toList());
        }
    }
}
