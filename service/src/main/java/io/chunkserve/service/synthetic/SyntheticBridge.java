package io.chunkserve.service.synthetic;

import io.chunkserve.engine.EngineStats;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.EngineBridge;
import io.chunkserve.tokenizer.ChatMessage;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The synthetic engine ({@code serve --synthetic RATE}): no model and no engine thread; each
 * request's choices emit one token every {@code 1/RATE} seconds from a timer on the request's own
 * Vert.x context, until {@code max_tokens}. It keeps the {@link EngineBridge} contract (outputs on
 * the submitting context, abort, usage filled, duplicate ids refused) so the front ends run
 * unchanged and a load generator measures their cost alone: any gap beyond {@code 1/RATE} is added
 * by the front end, the event loop or the client.
 *
 * <p>Tokens follow an absolute schedule (the k-th token is due {@code k/RATE} after submission),
 * so a late timer does not delay the ones after it. The first token comes one interval after
 * submission, like a one-step prefill. Text is a cycle of short words, one token each; stop
 * strings, stop ids and EOS are not simulated. {@link #worker()} is null.
 */
public final class SyntheticBridge extends EngineBridge {
    /** A long context so no benchmark prompt is refused. */
    public static final int CONTEXT_LENGTH = 1 << 20;
    static final String[] WORDS = {" lorem", " ipsum", " dolor", " sit", " amet", " consectetur", " adipiscing", " elit",
            " sed", " do", " eiusmod", " tempor", " incididunt", " ut", " labore", " et"};

    private final double rate;
    private final long periodNanos;
    private final Map<String, Stream> streams = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> perTenant = new ConcurrentHashMap<>();

    /** @param tokensPerSecond tokens per second per choice, &gt; 0 */
    public SyntheticBridge(Vertx vertx, double tokensPerSecond) {
        super(vertx);
        if (!(tokensPerSecond > 0)) throw new IllegalArgumentException("synthetic rate must be > 0, got " + tokensPerSecond);
        this.rate = tokensPerSecond;
        this.periodNanos = Math.max(1, Math.round(1e9 / tokensPerSecond));
    }

    /** Tokens per second per choice. */
    public double rate() { return rate; }

    @Override
    public String modelName() { return "synthetic"; }

    @Override
    public int contextLength() { return CONTEXT_LENGTH; }

    /** One token per whitespace-separated word (at least one), ids from the word's hash. */
    @Override
    public Future<int[]> tokenize(String text) { return Future.succeededFuture(words(text)); }

    @Override
    public Future<int[]> tokenizeChat(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        StringBuilder sb = new StringBuilder();
        for (ChatMessage m : messages) sb.append(m.role()).append(": ").append(m.content()).append('\n');
        return Future.succeededFuture(words(sb.toString()));
    }

    @Override
    protected void dispatch(GenerationRequest request, Context ctx, Handler<RequestOutput> onOutput) {
        if (request.promptIds().length >= CONTEXT_LENGTH) {
            throw new IllegalArgumentException("the prompt has " + request.promptIds().length + " tokens; the synthetic context is "
                    + CONTEXT_LENGTH + " tokens");
        }
        Stream s = new Stream(request, ctx, onOutput);
        streams.put(request.id(), s);
        perTenant.computeIfAbsent(request.tenant(), k -> new AtomicInteger()).incrementAndGet();
        if (Vertx.currentContext() == ctx) s.schedule();
        else ctx.runOnContext(v -> s.schedule());
    }

    /** Ends the request at once with finish reason {@code abort}; unknown ids are ignored. */
    @Override
    public void abort(String requestId) {
        Stream s = streams.get(requestId);
        if (s != null) s.ctx.runOnContext(v -> s.abort());
    }

    /** Running = streams emitting; nothing waits; no KV cache, no scheduler. */
    @Override
    public EngineStats snapshot() {
        Map<String, int[]> t = new HashMap<>();
        perTenant.forEach((k, v) -> {
            int n = v.get();
            if (n > 0) t.put(k, new int[]{0, n});
        });
        return new EngineStats(0, streams.size(), t, null, null);
    }

    private static int[] words(String text) {
        String[] parts = text.trim().split("\\s+");
        int[] ids = new int[Math.max(1, parts.length)];
        for (int i = 0; i < parts.length; i++) ids[i] = Math.floorMod(parts[i].hashCode(), 32000);
        return ids;
    }

    /** One request's emission state; touched only on its context. */
    private final class Stream {
        final GenerationRequest request;
        final Context ctx;
        final Handler<RequestOutput> onOutput;
        final SamplingParams params;
        final long start = System.nanoTime();
        int emitted;       // tokens per choice so far
        io.vertx.core.Timer timer;
        boolean done;

        Stream(GenerationRequest request, Context ctx, Handler<RequestOutput> onOutput) {
            this.request = request;
            this.ctx = ctx;
            this.onOutput = onOutput;
            this.params = request.params();
        }

        void schedule() {
            if (done) return;
            long due = start + (emitted + 1) * periodNanos;
            // Nanosecond delay: Netty schedules below the millisecond, which keeps the added latency honest.
            timer = vertx().timer(Math.max(1, due - System.nanoTime()), TimeUnit.NANOSECONDS);
            timer.onSuccess(v -> tick());
        }

        void tick() {
            if (done) return;
            int k = emitted++;
            boolean last = emitted >= params.maxTokens();
            FinishReason finish = last ? FinishReason.LENGTH : null;
            String word = WORDS[k % WORDS.length];
            int n = params.n();
            List<RequestOutput.ChoiceDelta> deltas = new ArrayList<>(n);
            for (int c = 0; c < n; c++) {
                List<RequestOutput.TokenLogprob> lp = params.logprobs() ? List.of(logprob(k, word)) : List.of();
                deltas.add(new RequestOutput.ChoiceDelta(c, new int[]{k % WORDS.length}, word, lp, finish));
            }
            if (last) end();
            onOutput.handle(new RequestOutput(request.id(), deltas, last, usage(), null));
            if (!last) schedule();
        }

        void abort() {
            if (done) return;
            if (timer != null) timer.cancel();
            end();
            List<RequestOutput.ChoiceDelta> deltas = new ArrayList<>();
            for (int c = 0; c < params.n(); c++) deltas.add(new RequestOutput.ChoiceDelta(c, new int[0], "", List.of(), FinishReason.ABORT));
            onOutput.handle(new RequestOutput(request.id(), deltas, true, usage(), null));
        }

        private void end() {
            done = true;
            streams.remove(request.id());
            AtomicInteger t = perTenant.get(request.tenant());
            if (t != null) t.decrementAndGet();
        }

        private RequestOutput.Usage usage() {
            return new RequestOutput.Usage(request.promptIds().length, emitted * params.n(), 0);
        }

        private RequestOutput.TokenLogprob logprob(int k, String word) {
            List<RequestOutput.TokenLogprob> top = new ArrayList<>();
            for (int i = 0; i < params.topLogprobs(); i++) {
                int id = (k + i) % WORDS.length;
                top.add(new RequestOutput.TokenLogprob(id, WORDS[id], (float) -i, List.of()));
            }
            return new RequestOutput.TokenLogprob(k % WORDS.length, word, 0f, top);
        }
    }
}
