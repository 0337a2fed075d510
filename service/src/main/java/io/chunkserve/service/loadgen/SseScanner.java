package io.chunkserve.service.loadgen;

import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;

/**
 * Finds Server-Sent Events in a streamed response body without decoding it: the load generator
 * only needs to know, per network read, how many {@code data:} events arrived, whether one was the
 * final {@code [DONE]}, whether one carried an OpenAI error object, and the emission stamp a
 * stamped synthetic server puts in the token text (the first {@code @<digits>} of the line).
 * Lines may be split across reads; a partial line is kept until its end arrives. One instance per
 * response (or {@link #reset()} between responses).
 */
public final class SseScanner {
    /** What one read held. */
    public interface Listener {
        /**
         * A {@code data:} event other than {@code [DONE]}; {@code error} when it is an error object;
         * {@code stamp} the first {@code @<digits>} number on its line, or -1; {@code late} the
         * number right after it in {@code @<digits>~<digits>}, or -1; {@code queued} the number
         * after that in {@code @<digits>~<digits>^<digits>}, or -1; {@code stamps} how many
         * {@code @} the line holds (a stamped synthetic server writes one per token).
         */
        void onData(boolean error, long stamp, long late, long queued, int stamps);

        /** {@code data: [DONE]}. */
        void onDone();
    }

    private static final byte[] DATA = "data:".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ERROR = "{\"error\"".getBytes(StandardCharsets.US_ASCII);

    private final Listener listener;
    // The start of a line that has not ended yet: only its first bytes matter.
    private final byte[] head = new byte[16];
    private int headLen;
    private boolean inLine;
    // The stamp: 0 = none seen yet on this line, 1 = reading digits after '@', 2 = after '~', 4 = after '^', 3 = done
    private int stampState;
    private long stamp = -1, late = -1, queued = -1;
    private int ats;

    public SseScanner(Listener listener) {
        this.listener = listener;
    }

    /** Forgets a partial line (a new response starts). */
    public void reset() {
        headLen = 0;
        inLine = false;
        stampState = 0;
        stamp = late = queued = -1;
        ats = 0;
    }

    /** Scans one chunk of the body. */
    public void feed(Buffer buf) {
        byte[] b = buf.getBytes();
        feed(b, 0, b.length);
    }

    /** Scans {@code len} bytes of {@code b} from {@code off}. */
    public void feed(byte[] b, int off, int len) {
        int end = off + len;
        for (int i = off; i < end; i++) {
            byte c = b[i];
            if (c == '\n') {
                endLine();
            } else if (c != '\r') {
                if (headLen < head.length) head[headLen++] = c;
                inLine = true;
                if (c == '@') ats++;
                if (stampState == 1) {
                    if (c >= '0' && c <= '9') stamp = (stamp < 0 ? 0 : stamp * 10) + (c - '0');
                    else stampState = c == '~' && stamp >= 0 ? 2 : 3;
                } else if (stampState == 2) {
                    if (c >= '0' && c <= '9') late = (late < 0 ? 0 : late * 10) + (c - '0');
                    else stampState = c == '^' && late >= 0 ? 4 : 3;
                } else if (stampState == 4) {
                    if (c >= '0' && c <= '9') queued = (queued < 0 ? 0 : queued * 10) + (c - '0');
                    else stampState = 3;
                } else if (stampState == 0 && c == '@') {
                    stampState = 1;
                }
            }
        }
    }

    private void endLine() {
        if (inLine && startsWith(DATA, 0)) {
            int p = DATA.length;
            if (p < headLen && head[p] == ' ') p++;
            if (startsWith(DONE, p)) listener.onDone();
            else listener.onData(startsWith(ERROR, p), stamp, late, queued, ats);
        }
        headLen = 0;
        inLine = false;
        stampState = 0;
        stamp = late = queued = -1;
        ats = 0;
    }

    private boolean startsWith(byte[] prefix, int at) {
        if (at + prefix.length > headLen) return false;
        for (int i = 0; i < prefix.length; i++) if (head[at + i] != prefix[i]) return false;
        return true;
    }
}
