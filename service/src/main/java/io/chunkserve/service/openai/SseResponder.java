package io.chunkserve.service.openai;

import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.RequestOutput.ChoiceDelta;
import io.chunkserve.sampling.FinishReason;
import io.netty.util.concurrent.FastThreadLocal;
import io.vertx.core.json.JsonObject;

/**
 * Streams a response as server-sent events, framed as OpenAI does: for chat, a first chunk per
 * choice with {@code delta: {role: "assistant", content: ""}}; then one chunk per text delta; a
 * finish chunk per choice (empty delta or text, and {@code finish_reason}); with
 * {@code stream_options.include_usage}, a chunk with no choices and the usage; then
 * {@code data: [DONE]}. A failure sends {@code data: {"error": {...}}} and then {@code [DONE]}, so a
 * stream always ends.
 *
 * <p><b>Backpressure.</b> The engine keeps generating at its own pace (pausing a request would hold
 * its KV chunks and stall the batch on one slow reader). When the connection's write queue is full
 * nothing is written: each choice's new text and logprobs are appended to its {@link ChoiceBuffer},
 * and a drain handler is armed once. When the client has drained the queue, everything pending goes
 * out as one coalesced delta per choice. Memory per stream is therefore bounded by the text of at
 * most {@code n × max_tokens} tokens (what the request may generate at all), plus at most one
 * write's worth above the queue's high-water mark — never by how slowly the client reads.
 */
final class SseResponder implements Responder {
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** Room for one typical text-delta event (the chunk JSON around a token or a few). */
    private static final int EVENT_BYTES = 384;
    /** A scratch buffer kept beyond one flush only up to this size. */
    private static final int SCRATCH_KEEP = 64 << 10;
    /**
     * One scratch buffer per thread (event loop) for the flushes of all its streams: the sink copies
     * the bytes before it returns, so a flush leaves nothing in it, and one buffer that stays in the
     * cache replaces a cold one per stream.
     */
    private static final FastThreadLocal<EventBytes> SCRATCH = new FastThreadLocal<>() {
        @Override
        protected EventBytes initialValue() { return new EventBytes(4 * EVENT_BYTES); }
    };

    private final SseSink sink;
    private final ResponseJson json;
    private final boolean chat;
    private final boolean includeUsage;
    private final ChoiceBuffer[] choices;
    private RequestOutput.Usage usage;
    private OpenAiError error;
    private boolean finished;   // the engine (or a failure) has ended the request
    private boolean ended;      // the response is ended
    private boolean drainArmed;
    private long deferredFlushes;

    SseResponder(SseSink sink, ResponseJson json, Endpoint endpoint, int n, boolean includeUsage) {
        this.sink = sink;
        this.json = json;
        this.chat = endpoint == Endpoint.CHAT;
        this.includeUsage = includeUsage;
        this.choices = new ChoiceBuffer[n];
        for (int i = 0; i < n; i++) choices[i] = new ChoiceBuffer();
    }

    @Override
    public void start() {
        sink.begin();
        EventBytes b = new EventBytes(EVENT_BYTES * choices.length);
        if (chat) {
            for (int i = 0; i < choices.length; i++) event(b, json.chunk(json.roleChoice(i)));
        }
        sink.write(b.toBuffer()); // also sends the headers, so the client sees 200 at once
    }

    @Override
    public void onOutput(RequestOutput out) {
        if (ended) return;
        for (ChoiceDelta d : out.choices()) choices[d.index()].add(d);
        if (out.error() != null) error = EngineErrors.toOpenAi(out.error());
        if (out.finished()) {
            finished = true;
            usage = out.usage();
        }
        flush();
    }

    @Override
    public void fail(OpenAiError e) {
        if (ended) return;
        error = e;
        finished = true;
        flush();
    }

    /** How many times output had to wait for the client to drain (and was coalesced). */
    long deferredFlushes() { return deferredFlushes; }

    boolean ended() { return ended; }

    private void flush() {
        if (ended) return;
        if (sink.closed()) {
            ended = true;
            return;
        }
        if (sink.writeQueueFull()) {
            deferredFlushes++;
            if (!drainArmed) {
                drainArmed = true;
                sink.onDrain(() -> {
                    drainArmed = false;
                    flush();
                });
            }
            return;
        }
        // The thread's scratch buffer: the common event is encoded without allocating.
        EventBytes b = SCRATCH.get();
        b.clear();
        for (int i = 0; i < choices.length; i++) {
            ChoiceBuffer c = choices[i];
            if (c.hasDelta()) {
                if (c.logprobs.isEmpty()) {
                    json.appendDeltaEvent(b, i, c.text); // the common case, encoded without building JSON objects
                } else {
                    event(b, json.chunk(json.deltaChoice(i, c.text.toString(), json.logprobs(c.logprobs, c.textOffset))));
                }
                c.clearDelta();
            }
        }
        for (int i = 0; i < choices.length; i++) {
            ChoiceBuffer c = choices[i];
            if (c.finish == null || c.finishWritten) continue;
            c.finishWritten = true;
            if (c.finish == FinishReason.ERROR) {
                if (error == null) error = OpenAiError.internal("generation failed");
            } else {
                event(b, json.chunk(json.finishChoice(i, c.finish)));
            }
        }
        if (finished) {
            if (error != null) event(b, error.toJson());
            else if (includeUsage && usage != null) event(b, json.usageChunk(usage));
            b.append(DONE);
            ended = true;
            sink.end(b.toBuffer());
        } else if (b.length() > 0) {
            sink.write(b.array(), b.length());
        }
        if (b.array().length > SCRATCH_KEEP) SCRATCH.set(new EventBytes(4 * EVENT_BYTES)); // a large coalesced flush: not kept
    }

    private static void event(EventBytes b, JsonObject data) {
        b.appendUtf8("data: ").appendUtf8(data.encode()).appendUtf8("\n\n");
    }
}
