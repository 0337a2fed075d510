package io.chunkserve.service.loadgen;

import io.vertx.core.buffer.Buffer;

/**
 * Finds Server-Sent Events in a streamed response body without decoding it: the load generator
 * only needs to know, per network read, how many {@code data:} events arrived, whether one was the
 * final {@code [DONE]}, and whether one carried an OpenAI error object. Lines may be split across
 * reads; a partial line is kept until its end arrives. One instance per response.
 */
public final class SseScanner {
    /** What one read held. */
    public interface Listener {
        /** A {@code data:} event other than {@code [DONE]}; {@code error} when it is an error object. */
        void onData(boolean error);

        /** {@code data: [DONE]}. */
        void onDone();
    }

    private static final byte[] DATA = "data:".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] DONE = "[DONE]".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] ERROR = "{\"error\"".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private final Listener listener;
    // The start of a line that has not ended yet: only its first bytes matter.
    private final byte[] head = new byte[16];
    private int headLen;
    private boolean inLine;

    public SseScanner(Listener listener) {
        this.listener = listener;
    }

    /** Scans one chunk of the body. */
    public void feed(Buffer buf) {
        int n = buf.length();
        for (int i = 0; i < n; i++) {
            byte b = buf.getByte(i);
            if (b == '\n') {
                endLine();
            } else if (b != '\r') {
                if (headLen < head.length) head[headLen++] = b;
                inLine = true;
            }
        }
    }

    private void endLine() {
        if (inLine && startsWith(DATA, 0)) {
            int p = DATA.length;
            if (p < headLen && head[p] == ' ') p++;
            if (startsWith(DONE, p)) listener.onDone();
            else listener.onData(startsWith(ERROR, p));
        }
        headLen = 0;
        inLine = false;
    }

    private boolean startsWith(byte[] prefix, int at) {
        if (at + prefix.length > headLen) return false;
        for (int i = 0; i < prefix.length; i++) if (head[at + i] != prefix[i]) return false;
        return true;
    }
}
