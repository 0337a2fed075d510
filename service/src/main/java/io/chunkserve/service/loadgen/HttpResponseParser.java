package io.chunkserve.service.loadgen;

import java.util.Locale;

/**
 * A minimal HTTP/1.1 response parser for the load generator's raw connections: status line,
 * headers ({@code Content-Length}, {@code Transfer-Encoding: chunked}, {@code Connection: close}),
 * then the body, de-chunked, handed on as it arrives without copying. Responses follow one another
 * on a keep-alive connection; call {@link #expectResponse()} before each. Anything malformed
 * throws {@link IllegalStateException}.
 */
final class HttpResponseParser {
    interface Listener {
        /** The status line and headers have arrived. */
        void onHead(int status);

        /** Body bytes (chunk framing removed). */
        void onBody(byte[] b, int off, int len);

        /** The response is complete; {@code keepAlive} unless the server said it closes. */
        void onEnd(boolean keepAlive);
    }

    private static final int MAX_HEAD = 64 << 10;

    private enum State { IDLE, HEAD, LENGTH_BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_DATA_END, TRAILER, UNTIL_CLOSE }

    private final Listener listener;
    private State state = State.IDLE;
    private final StringBuilder line = new StringBuilder();
    private int headBytes;
    private int status;
    private long remaining; // body or chunk bytes left
    private long size; // the chunk size being read
    private int sizeDigits;
    private boolean inExtension;
    private boolean chunked, close, sawStatus;

    HttpResponseParser(Listener listener) {
        this.listener = listener;
    }

    /** A request was sent: the next bytes start its response. */
    void expectResponse() {
        state = State.HEAD;
        line.setLength(0);
        headBytes = 0;
        status = 0;
        remaining = -1;
        size = 0;
        sizeDigits = 0;
        chunked = close = sawStatus = inExtension = false;
    }

    /** Whether a response is in progress (the connection may not be reused yet). */
    boolean busy() { return state != State.IDLE; }

    /** The connection closed: ends a body delimited by the close; else false if a response was cut short. */
    boolean closed() {
        if (state == State.UNTIL_CLOSE) {
            state = State.IDLE;
            listener.onEnd(false);
            return true;
        }
        return state == State.IDLE;
    }

    void feed(byte[] b, int off, int len) {
        int i = off, end = off + len;
        while (i < end) {
            switch (state) {
                case IDLE -> throw new IllegalStateException("bytes from the server with no request outstanding");
                case CHUNK_SIZE -> { // parsed from the bytes: no line string per chunk
                    byte c = b[i++];
                    if (c == '\n') {
                        if (sizeDigits == 0) throw new IllegalStateException("bad chunk size: no digits");
                        remaining = size;
                        size = 0;
                        sizeDigits = 0;
                        inExtension = false;
                        state = remaining == 0 ? State.TRAILER : State.CHUNK_DATA;
                    } else if (!inExtension && c != '\r') {
                        int d = Character.digit(c, 16);
                        if (c == ';' || ((c == ' ' || c == '\t') && sizeDigits > 0)) {
                            inExtension = true; // chunk extensions (and whitespace before them) are ignored
                        } else if (d >= 0 && sizeDigits < 15) {
                            size = size * 16 + d;
                            sizeDigits++;
                        } else if (c != ' ' && c != '\t') {
                            throw new IllegalStateException("bad chunk size byte " + (c & 0xff));
                        }
                    }
                }
                case CHUNK_DATA_END -> {
                    byte c = b[i++];
                    if (c == '\n') state = State.CHUNK_SIZE;
                    else if (c != '\r') throw new IllegalStateException("chunk not followed by CRLF");
                }
                case HEAD, TRAILER -> {
                    byte c = b[i++];
                    if (state == State.HEAD && ++headBytes > MAX_HEAD) throw new IllegalStateException("response head over " + MAX_HEAD + " bytes");
                    if (c == '\n') {
                        String l = line.toString();
                        line.setLength(0);
                        lineEnded(l);
                    } else if (c != '\r') {
                        if (line.length() > 8192) throw new IllegalStateException("line too long");
                        line.append((char) (c & 0xff));
                    }
                }
                case LENGTH_BODY, CHUNK_DATA -> {
                    int n = (int) Math.min(remaining, end - i);
                    listener.onBody(b, i, n);
                    i += n;
                    remaining -= n;
                    if (remaining == 0) {
                        if (state == State.LENGTH_BODY) finish();
                        else state = State.CHUNK_DATA_END;
                    }
                }
                case UNTIL_CLOSE -> {
                    listener.onBody(b, i, end - i);
                    i = end;
                }
            }
        }
    }

    private void lineEnded(String l) {
        switch (state) {
            case HEAD -> {
                if (!sawStatus) {
                    if (!l.startsWith("HTTP/1.") || l.length() < 12) throw new IllegalStateException("bad status line: " + l);
                    status = Integer.parseInt(l.substring(9, 12));
                    sawStatus = true;
                } else if (!l.isEmpty()) {
                    int colon = l.indexOf(':');
                    if (colon <= 0) throw new IllegalStateException("bad header line: " + l);
                    String name = l.substring(0, colon).trim().toLowerCase(Locale.ROOT);
                    String value = l.substring(colon + 1).trim();
                    switch (name) {
                        case "content-length" -> remaining = Long.parseLong(value);
                        case "transfer-encoding" -> chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
                        case "connection" -> close = value.equalsIgnoreCase("close");
                        default -> { }
                    }
                } else { // end of the head
                    listener.onHead(status);
                    if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
                        if (status >= 100 && status < 200) expectResponse(); // interim response: the real one follows
                        else finish();
                    } else if (chunked) {
                        state = State.CHUNK_SIZE;
                    } else if (remaining >= 0) {
                        if (remaining == 0) finish();
                        else state = State.LENGTH_BODY;
                    } else {
                        close = true;
                        state = State.UNTIL_CLOSE;
                    }
                }
            }
            case TRAILER -> {
                if (l.isEmpty()) finish();
            }
            default -> throw new IllegalStateException("unexpected line in state " + state);
        }
    }

    private void finish() {
        state = State.IDLE;
        listener.onEnd(!close);
    }
}
