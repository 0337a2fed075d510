package io.chunkserve.service.openai;

import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.RequestOutput.ChoiceDelta;
import io.chunkserve.engine.RequestOutput.TokenLogprob;
import io.chunkserve.sampling.FinishReason;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link SseResponder} against a fake sink: framing, coalescing under backpressure, errors. */
class SseResponderTest {
    /** A sink whose write queue is full while {@code full} is set. */
    static final class FakeSink implements SseSink {
        final StringBuilder written = new StringBuilder();
        int writes;
        boolean full;
        boolean ended;
        boolean closed;
        Runnable drain;

        @Override public void begin() { }
        @Override public boolean writeQueueFull() { return full; }
        @Override public void write(Buffer data) { writes++; written.append(data.toString()); }
        @Override public void end(Buffer data) { write(data); ended = true; }
        @Override public void onDrain(Runnable r) { drain = r; }
        @Override public boolean closed() { return closed || ended; }

        void drain() {
            full = false;
            Runnable r = drain;
            drain = null;
            if (r != null) r.run();
        }
    }

    static SseResponder responder(FakeSink sink, Endpoint e, int n, boolean usage) {
        return new SseResponder(sink, new ResponseJson(e, "id-1", 1, "m", usage), e, n, usage);
    }

    static RequestOutput out(boolean finished, ChoiceDelta... d) {
        return new RequestOutput("id-1", List.of(d), finished, new RequestOutput.Usage(3, 7, 0), null);
    }

    static ChoiceDelta delta(int i, String text, FinishReason f) {
        return new ChoiceDelta(i, new int[]{1}, text, List.of(new TokenLogprob(1, text, -0.5f, List.of())), f);
    }

    @Test
    void chatFraming() {
        FakeSink sink = new FakeSink();
        SseResponder r = responder(sink, Endpoint.CHAT, 1, true);
        r.start();
        r.onOutput(out(false, delta(0, "Hel", null)));
        r.onOutput(out(false, delta(0, "lo", null)));
        r.onOutput(out(true, delta(0, "!", FinishReason.STOP)));
        List<JsonObject> cs = ApiTestSupport.chunks(sink.written.toString());
        assertEquals(6, cs.size()); // role, 3 deltas, finish, usage
        assertEquals("assistant", cs.get(0).getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("role"));
        assertEquals("lo", cs.get(2).getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("content"));
        assertEquals("stop", cs.get(4).getJsonArray("choices").getJsonObject(0).getString("finish_reason"));
        assertEquals(10, cs.get(5).getJsonObject("usage").getInteger("total_tokens"));
        assertTrue(sink.ended);
    }

    @Test
    void fullWriteQueueCoalescesDeltasUntilDrained() {
        FakeSink sink = new FakeSink();
        SseResponder r = responder(sink, Endpoint.COMPLETION, 2, false);
        r.start();
        sink.full = true;
        int writesBefore = sink.writes;
        for (int k = 0; k < 100; k++) r.onOutput(out(false, delta(0, "a", null), delta(1, "b", null)));
        assertEquals(writesBefore, sink.writes, "nothing written while the queue is full");
        assertEquals(100, r.deferredFlushes());
        sink.drain();
        assertEquals(writesBefore + 1, sink.writes, "one coalesced write after the drain");
        List<JsonObject> cs = ApiTestSupport.chunksNoDone(sink.written.toString());
        assertEquals(2, cs.size(), "one delta per choice");
        JsonObject c0 = cs.get(0).getJsonArray("choices").getJsonObject(0);
        assertEquals("a".repeat(100), c0.getString("text"));
        assertEquals(100, c0.getJsonObject("logprobs").getJsonArray("tokens").size());
        // the finish also waits for a drain; offsets continue across coalesced deltas
        sink.full = true;
        r.onOutput(out(true, delta(0, "z", FinishReason.LENGTH), delta(1, "y", FinishReason.LENGTH)));
        assertFalse(sink.ended);
        sink.drain();
        assertTrue(sink.ended);
        List<JsonObject> all = ApiTestSupport.chunks(sink.written.toString());
        JsonObject z = all.get(2).getJsonArray("choices").getJsonObject(0);
        assertEquals("z", z.getString("text"));
        assertEquals(100, z.getJsonObject("logprobs").getJsonArray("text_offset").getInteger(0));
        assertEquals(6, all.size()); // 2 coalesced + 2 last deltas + 2 finishes
    }

    @Test
    void engineErrorSendsAnErrorEventThenDone() {
        FakeSink sink = new FakeSink();
        SseResponder r = responder(sink, Endpoint.CHAT, 1, true);
        r.start();
        r.onOutput(out(false, delta(0, "x", null)));
        r.onOutput(new RequestOutput("id-1", List.of(), true, new RequestOutput.Usage(3, 1, 0), "internal error: boom"));
        List<String> ev = ApiTestSupport.events(sink.written.toString());
        JsonObject err = new JsonObject(ev.get(ev.size() - 2)).getJsonObject("error");
        assertEquals("server_error", err.getString("type"));
        assertFalse(err.getString("message").contains("boom"), "internals stay in the log");
        assertTrue(sink.ended);
    }

    @Test
    void failWhileBlockedStillEndsAfterDrainAndClosedSinkIsLeftAlone() {
        FakeSink sink = new FakeSink();
        SseResponder r = responder(sink, Endpoint.COMPLETION, 1, false);
        r.start();
        sink.full = true;
        r.fail(OpenAiError.internal("x"));
        sink.drain();
        List<String> ev = ApiTestSupport.events(sink.written.toString());
        assertNull(new JsonObject(ev.get(0)).getValue("choices"));
        FakeSink gone = new FakeSink();
        SseResponder r2 = responder(gone, Endpoint.COMPLETION, 1, false);
        r2.start();
        gone.closed = true;
        int w = gone.writes;
        r2.onOutput(out(true, delta(0, "late", FinishReason.ABORT)));
        assertEquals(w, gone.writes);
    }
}
