package io.chunkserve.service.ws;

import io.chunkserve.engine.EngineStats;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.Server;
import io.chunkserve.service.ServiceConfig;
import io.chunkserve.service.TenantResolver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Shared by the WebSocket, gRPC and browser tests: a server on the tiny demo model, KV checks, and a blocked-thread watch. */
public final class ServiceTestSupport {
    private ServiceTestSupport() { }

    /** The tiny random-weight llama with a chat template. */
    public static Path demoModel() {
        String p = System.getProperty("chunkserve.fixtures");
        Path dir = (p != null ? Path.of(p) : Path.of("../fixtures")).resolve("tiny-llama3");
        if (!Files.isDirectory(dir)) throw new IllegalStateException("fixture model not found: " + dir.toAbsolutePath());
        return dir;
    }

    /** Server config on loopback, HTTP and gRPC on free ports, a small KV pool and one compute thread (CI has 2 cores). */
    public static ServiceConfig config() {
        WorkerConfig wc = WorkerConfig.defaults(demoModel()).withKvBytes(16L << 20);
        wc = new WorkerConfig(wc.modelDir(), 1, wc.chunkSize(), wc.kvBytes(), wc.kvDtype(), wc.engine(), wc.scheduler(), wc.quantum());
        return ServiceConfig.defaults(wc, "127.0.0.1", 0, 0);
    }

    /** Waits until the engine holds no live sequence and no referenced chunk (cached, evictable chunks may remain). */
    public static void awaitKvFreed(Server server) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        EngineStats s;
        do {
            s = server.worker().engine().stats().get(5, TimeUnit.SECONDS);
            if (s.kv().referencedChunks() == 0 && s.kv().liveSequences() == 0 && s.running() == 0 && s.waiting() == 0) return;
            Thread.sleep(20);
        } while (System.nanoTime() < deadline);
        fail("KV not freed: " + s.kv() + ", running " + s.running() + ", waiting " + s.waiting());
    }

    /**
     * After {@link #awaitKvFreed}: waits until the engine's last outputs have been handled on {@code ctx}. The
     * engine answers a stats request in its inbox drain and delivers a finished request's deferred outputs when
     * it goes idle after that drain, so a second stats round trip comes after that delivery was handed to the
     * event loop; a task queued on {@code ctx} after it runs after the delivery.
     */
    public static void awaitOutputsDelivered(Server server, io.vertx.core.Context ctx) throws Exception {
        server.worker().engine().stats().get(5, TimeUnit.SECONDS);
        java.util.concurrent.CompletableFuture<Void> barrier = new java.util.concurrent.CompletableFuture<>();
        ctx.runOnContext(v -> barrier.complete(null));
        barrier.get(5, TimeUnit.SECONDS);
    }

    /** Waits until no request holds an admission ticket of {@code ctx} (every front end gives its ticket back when a request ends). */
    public static void awaitAdmissionReleased(io.chunkserve.service.ServiceContext ctx) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (ctx.admission().requestsInFlight() != 0 || ctx.admission().tokensInFlight() != 0) {
            if (System.nanoTime() > deadline) {
                fail("admission tickets not released: " + ctx.admission().requestsInFlight() + " requests, "
                        + ctx.admission().tokensInFlight() + " prompt tokens in flight");
            }
            Thread.sleep(20);
        }
    }

    /** Output tokens the scheduler has charged to {@code tenant} so far (tells an aborted request from a finished one). */
    public static long outputTokens(Server server, String tenant) throws Exception {
        var t = server.worker().engine().stats().get(5, TimeUnit.SECONDS).scheduler().tenants().get(tenant);
        assertNotNull(t, "tenant " + tenant + " unknown to the scheduler");
        return t.outputTokens();
    }

    /** Like {@link #outputTokens} but 0 while the scheduler has not seen the tenant yet. */
    public static long outputTokensOrZero(Server server, String tenant) throws Exception {
        var t = server.worker().engine().stats().get(5, TimeUnit.SECONDS).scheduler().tenants().get(tenant);
        return t == null ? 0 : t.outputTokens();
    }

    /** Greedy reference output straight from the engine. */
    public record Reference(List<Integer> tokenIds, String text) { }

    public static Reference engineGreedy(Server server, int[] promptIds, int maxTokens) throws InterruptedException {
        return engine(server, promptIds, SamplingParams.greedy(maxTokens));
    }

    /** The engine's output (choice 0) for {@code params}, submitted straight to it. */
    public static Reference engine(Server server, int[] promptIds, SamplingParams params) throws InterruptedException {
        BlockingQueue<RequestOutput> outs = new LinkedBlockingQueue<>();
        server.worker().engine().submit(new GenerationRequest("ref-" + System.nanoTime(), "ref", promptIds,
                params, 0), outs::add);
        List<Integer> ids = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        while (true) {
            RequestOutput o = outs.poll(30, TimeUnit.SECONDS);
            assertNotNull(o, "engine timed out");
            assertNull(o.error());
            for (RequestOutput.ChoiceDelta d : o.choices()) {
                for (int t : d.tokenIds()) ids.add(t);
                text.append(d.text());
            }
            if (o.finished()) return new Reference(ids, text.toString());
        }
    }

    /** A resolver with one API key ({@code Bearer <key>} → tenant {@code keyed}). */
    public static TenantResolver keyResolver(String key) {
        return new TenantResolver() {
            @Override
            public Tenant resolve(String authorization, String user) {
                return ("Bearer " + key).equals(authorization) ? new Tenant("keyed", 1, 7L) : null;
            }

            @Override
            public boolean authRequired() { return true; }
        };
    }

    /**
     * Collects Vert.x blocked-thread warnings (the checker logs "Thread ... has been blocked for")
     * while installed; {@link #assertNone()} fails the test class if any appeared.
     */
    public static final class BlockedThreadWatch extends Handler {
        private final List<String> warnings = new CopyOnWriteArrayList<>();
        private final Logger root = Logger.getLogger("");

        public static BlockedThreadWatch install() {
            BlockedThreadWatch w = new BlockedThreadWatch();
            w.root.addHandler(w);
            return w;
        }

        @Override
        public void publish(LogRecord r) {
            String m = r.getMessage();
            if (m != null && m.contains("has been blocked for")) warnings.add(m);
        }

        @Override
        public void flush() { }

        @Override
        public void close() { root.removeHandler(this); }

        public void assertNone() {
            close();
            assertTrue(warnings.isEmpty(), "blocked-thread warnings: " + warnings);
        }
    }
}
