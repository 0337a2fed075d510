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
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.netty.channel.EventLoop;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The synthetic engine ({@code serve --synthetic RATE}): no model; an engine thread of its own that
 * steps every {@value #STEP_MICROS} µs (or every {@code 1/RATE} s if that is shorter) and, at each
 * step, emits one token for every choice whose next token is due: the k-th token of a request is
 * due {@code k/RATE} after submission (the first one interval after it, like a one-step prefill),
 * on an absolute schedule, so a late step does not delay later tokens. Streams therefore keep their
 * own phases, as they would over a real engine whose requests arrive at random times, and a step
 * emits for the streams due in it.
 *
 * <p>Delivery is batched as the model engine's should be: per step, the engine thread hands each
 * event loop at most one task carrying every stream of that loop with new tokens; a stream whose
 * earlier tokens have not been delivered yet (its event loop is behind) gets the new ones added to
 * the same pending delta, so nothing queues without bound and the delta carries several tokens,
 * as an engine output does when the front end falls behind. Each output runs on the context that
 * submitted the request. It keeps the {@link EngineBridge} contract (abort, usage, duplicate ids
 * refused) so the front ends run unchanged and a load generator measures their cost alone.
 *
 * <p>Text is a cycle of short words, one token each. With {@code stamps} on (what
 * {@code bench serve} uses), each token's text is instead {@code " @<nanos>~<micros>"}: the
 * {@link System#nanoTime()} of the step that emitted it (its nominal time, so a late engine thread
 * counts against the front end), which a load generator on the same host subtracts from its
 * receive time to get the latency the front end added to every token, and how late the engine
 * thread actually ran that step (the machine's scheduling delay, reported apart). Stop strings, stop ids and
 * EOS are not simulated. {@link #worker()} is null.
 */
public final class SyntheticBridge extends EngineBridge {
    /** A long context so no benchmark prompt is refused. */
    public static final int CONTEXT_LENGTH = 1 << 20;
    /** System property that turns {@code stamps} on for {@code serve --synthetic} ({@code bench serve} sets it). */
    public static final String STAMPS_PROPERTY = "chunkserve.synthetic.stamps";
    /**
     * System property: with stamps on, each token also carries {@code ^<micros>}, how long after the
     * step's nominal time its event loop ran the delivery (the server's queueing before the write);
     * off by default, as it adds a few bytes per event.
     */
    public static final String DELIVERY_STAMPS_PROPERTY = "chunkserve.synthetic.deliveryStamps";
    /** The engine's step, at most. */
    public static final long STEP_MICROS = 1000;
    static final String[] WORDS = {" lorem", " ipsum", " dolor", " sit", " amet", " consectetur", " adipiscing", " elit",
            " sed", " do", " eiusmod", " tempor", " incididunt", " ut", " labore", " et"};

    private final double rate;
    private final long periodNanos, stepNanos;
    private final boolean stamps;
    private final boolean deliveryStamps = Boolean.getBoolean(DELIVERY_STAMPS_PROPERTY);
    private final Map<String, Stream> streams = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> perTenant = new ConcurrentHashMap<>();
    // Engine thread: new streams come in through the inbox.
    private final ConcurrentLinkedQueue<Stream> inbox = new ConcurrentLinkedQueue<>();
    // A timing wheel: slot (step index mod slots) holds the streams whose next token falls due in that step.
    private final ArrayDeque<Stream>[] wheel;
    private int live; // streams in the wheel
    private final Map<EventLoop, Outbox> outboxes = new ConcurrentHashMap<>();
    private final Thread engine;
    private volatile boolean closed;

    /** @param tokensPerSecond tokens per second per choice, &gt; 0 */
    public SyntheticBridge(Vertx vertx, double tokensPerSecond) {
        this(vertx, tokensPerSecond, false);
    }

    /**
     * @param tokensPerSecond tokens per second per choice, &gt; 0
     * @param stamps          token text {@code " @<nanoTime of the emitting step>~<its lateness in µs>"} instead of words
     */
    public SyntheticBridge(Vertx vertx, double tokensPerSecond, boolean stamps) {
        super(vertx);
        if (!(tokensPerSecond > 0)) throw new IllegalArgumentException("synthetic rate must be > 0, got " + tokensPerSecond);
        this.rate = tokensPerSecond;
        this.periodNanos = Math.max(1, Math.round(1e9 / tokensPerSecond));
        this.stepNanos = Math.min(periodNanos, STEP_MICROS * 1000);
        this.stamps = stamps;
        @SuppressWarnings("unchecked")
        ArrayDeque<Stream>[] w = new ArrayDeque[(int) Math.ceilDiv(periodNanos, stepNanos) + 2];
        for (int i = 0; i < w.length; i++) w[i] = new ArrayDeque<>();
        this.wheel = w;
        this.engine = Thread.ofPlatform().daemon().name("synthetic-engine").unstarted(this::runEngine);
        engine.start();
        if (vertx instanceof VertxInternal vi) {
            vi.addCloseHook(completion -> {
                closed = true;
                LockSupport.unpark(engine);
                completion.succeed();
            });
        }
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
        ContextInternal ci = (ContextInternal) ctx;
        Outbox box = ci.isEventLoopContext() ? outboxes.computeIfAbsent(ci.nettyEventLoop(), Outbox::new) : null;
        Stream s = new Stream(request, ci, box, onOutput);
        streams.put(request.id(), s);
        perTenant.computeIfAbsent(request.tenant(), k -> new AtomicInteger()).incrementAndGet();
        inbox.add(s);
        LockSupport.unpark(engine);
    }

    /** Ends the request with finish reason {@code abort} (on its context, soon); unknown ids are ignored. */
    @Override
    public void abort(String requestId) {
        Stream s = streams.get(requestId);
        if (s != null) {
            s.cancelled = true; // the engine thread stops emitting for it
            s.ctx.runOnContext(v -> s.abort());
        }
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

    /** One id per whitespace-separated word (at least one), from the word's hash. */
    static int[] words(String text) {
        int n = 0;
        for (int i = 0; i < text.length(); i++) {
            if (!Character.isWhitespace(text.charAt(i)) && (i == 0 || Character.isWhitespace(text.charAt(i - 1)))) n++;
        }
        int[] ids = new int[Math.max(1, n)];
        int k = 0, h = 0;
        boolean in = false;
        for (int i = 0; i <= text.length(); i++) {
            boolean ws = i == text.length() || Character.isWhitespace(text.charAt(i));
            if (!ws) {
                h = in ? 31 * h + text.charAt(i) : text.charAt(i);
                in = true;
            } else if (in) {
                ids[k++] = Math.floorMod(h, 32000);
                in = false;
            }
        }
        if (n == 0) ids[0] = Math.floorMod("".hashCode(), 32000);
        return ids;
    }

    // --- the engine thread ---

    private void runEngine() {
        long step = 0; // index of the next step to run; its nominal time is step * stepNanos
        while (!closed) {
            if (live == 0 && inbox.isEmpty()) {
                LockSupport.park(this); // until a submission (or close) unparks us
                continue;
            }
            if (live == 0) step = Math.ceilDiv(System.nanoTime(), stepNanos); // idle until now: no steps to catch up
            for (Stream s; (s = inbox.poll()) != null; ) {
                s.nextDue = s.start + periodNanos;
                place(s, step);
            }
            long at = step * stepNanos;
            long wait = at - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(this, wait); // may return early (a submission): then look again
                continue;
            }
            emit(step, at);
            step++; // when behind, the next steps run at once, each with its own nominal time
        }
    }

    /** Puts a stream in the slot of the first step at or after its next due time (no earlier than {@code step}). */
    private void place(Stream s, long step) {
        long k = Math.max(step, Math.ceilDiv(s.nextDue, stepNanos));
        wheel[(int) Math.floorMod(k, wheel.length)].add(s);
        live++;
    }

    /** Step {@code step}, nominal time {@code at}: every token due by then. */
    private void emit(long step, long at) {
        long late = System.nanoTime() - at; // how late this thread runs the step (the machine's scheduling)
        ArrayDeque<Stream> slot = wheel[(int) Math.floorMod(step, wheel.length)];
        for (int n = slot.size(); n > 0; n--) {
            Stream s = slot.poll();
            live--;
            if (s.cancelled) continue;
            if (s.nextDue > at) { // placed a whole turn of the wheel ahead (a new stream while this thread ran behind)
                place(s, step + 1);
                continue;
            }
            s.produced++;
            s.offer(at, late);
            if (s.produced < s.params.maxTokens()) {
                s.nextDue += periodNanos;
                place(s, step + 1);
            }
        }
        for (Outbox box : outboxes.values()) box.post();
    }

    /** One event loop's streams with undelivered tokens; at most one delivery task queued at a time. */
    private static final class Outbox implements Runnable {
        final EventLoop loop;
        final ConcurrentLinkedQueue<Stream> ready = new ConcurrentLinkedQueue<>();
        final AtomicBoolean posted = new AtomicBoolean();

        Outbox(EventLoop loop) {
            this.loop = loop;
        }

        /** Engine thread: schedules a delivery if there is something to deliver and none is queued. */
        void post() {
            if (!ready.isEmpty() && posted.compareAndSet(false, true)) loop.execute(this);
        }

        /** On the event loop: delivers every ready stream. */
        @Override
        public void run() {
            posted.set(false);
            for (Stream s; (s = ready.poll()) != null; ) s.ctx.dispatch(s); // s.run(): deliver() on its context
        }
    }

    /** One request. Emission state is the engine thread's; delivery state its context's. */
    private final class Stream implements Runnable {
        final GenerationRequest request;
        final ContextInternal ctx;
        final Outbox box; // null: not an event-loop context, one task per delivery
        final Handler<RequestOutput> onOutput;
        final SamplingParams params;
        final long start = System.nanoTime();
        // engine thread
        long nextDue;
        int produced;
        // engine thread -> context
        final AtomicInteger pending = new AtomicInteger(); // tokens emitted, not yet delivered
        volatile long pendingStamp;                        // the step of the oldest of them
        volatile long pendingLate;                         // how late the engine thread ran that step
        volatile boolean cancelled;
        // context
        int delivered;
        boolean done;

        Stream(GenerationRequest request, ContextInternal ctx, Outbox box, Handler<RequestOutput> onOutput) {
            this.request = request;
            this.ctx = ctx;
            this.box = box;
            this.onOutput = onOutput;
            this.params = request.params();
        }

        /** Engine thread: one more token, emitted at step {@code stamp}, which ran {@code late} ns after its time. */
        void offer(long stamp, long late) {
            if (pending.getAndIncrement() == 0) {
                // Written before the stream is handed over; its context reads it only after taking it from there.
                pendingStamp = stamp;
                pendingLate = late;
                if (box != null) box.ready.add(this);
                else ctx.runOnContext(v -> deliver());
            }
        }

        /** {@link #deliver()}, for {@link ContextInternal#dispatch(Runnable)} without a lambda per delivery. */
        @Override
        public void run() { deliver(); }

        /** On the context: delivers the pending tokens as one output. */
        void deliver() {
            long stamp = pendingStamp, late = pendingLate; // before taking the count: rewritten once pending is back to 0
            int k = pending.getAndSet(0);
            if (done || k == 0) return;
            int from = delivered;
            delivered += k;
            boolean last = delivered >= params.maxTokens();
            FinishReason finish = last ? FinishReason.LENGTH : null;
            int n = params.n();
            int[] ids = new int[k];
            StringBuilder text = new StringBuilder();
            long queued = deliveryStamps ? (System.nanoTime() - stamp) / 1000 : -1;
            for (int j = 0; j < k; j++) {
                ids[j] = (from + j) % WORDS.length;
                if (stamps) {
                    text.append(" @").append(stamp).append('~').append(late / 1000);
                    if (queued >= 0) text.append('^').append(queued);
                } else {
                    text.append(WORDS[(from + j) % WORDS.length]);
                }
            }
            String t = text.toString();
            List<RequestOutput.ChoiceDelta> deltas = new ArrayList<>(n);
            for (int c = 0; c < n; c++) {
                List<RequestOutput.TokenLogprob> lp = List.of();
                if (params.logprobs()) {
                    lp = new ArrayList<>(k);
                    for (int j = 0; j < k; j++) lp.add(logprob(from + j));
                }
                deltas.add(new RequestOutput.ChoiceDelta(c, ids, t, lp, finish));
            }
            if (last) end();
            onOutput.handle(new RequestOutput(request.id(), deltas, last, usage(), null));
        }

        void abort() {
            if (done) return;
            end();
            List<RequestOutput.ChoiceDelta> deltas = new ArrayList<>();
            for (int c = 0; c < params.n(); c++) deltas.add(new RequestOutput.ChoiceDelta(c, new int[0], "", List.of(), FinishReason.ABORT));
            onOutput.handle(new RequestOutput(request.id(), deltas, true, usage(), null));
        }

        private void end() {
            done = true;
            cancelled = true;
            streams.remove(request.id());
            AtomicInteger t = perTenant.get(request.tenant());
            if (t != null) t.decrementAndGet();
        }

        private RequestOutput.Usage usage() {
            return new RequestOutput.Usage(request.promptIds().length, delivered * params.n(), 0);
        }

        private RequestOutput.TokenLogprob logprob(int k) {
            String word = WORDS[k % WORDS.length];
            List<RequestOutput.TokenLogprob> top = new ArrayList<>();
            for (int i = 0; i < params.topLogprobs(); i++) {
                int id = (k + i) % WORDS.length;
                top.add(new RequestOutput.TokenLogprob(id, WORDS[id], (float) -i, List.of()));
            }
            return new RequestOutput.TokenLogprob(k % WORDS.length, word, 0f, top);
        }
    }
}
