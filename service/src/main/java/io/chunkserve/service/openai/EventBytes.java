package io.chunkserve.service.openai;

import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The bytes of the SSE events one flush of a stream writes: a growable byte array that a stream
 * reuses from flush to flush, so that encoding an event allocates nothing.
 */
final class EventBytes {
    private byte[] a;
    private int len;

    EventBytes(int capacity) {
        a = new byte[Math.max(16, capacity)];
    }

    void clear() { len = 0; }

    int length() { return len; }

    /** The backing array; its first {@link #length()} bytes are the content. */
    byte[] array() { return a; }

    EventBytes append(byte[] b) {
        ensure(b.length);
        System.arraycopy(b, 0, a, len, b.length);
        len += b.length;
        return this;
    }

    EventBytes appendByte(int b) {
        ensure(1);
        a[len++] = (byte) b;
        return this;
    }

    /** Appends {@code s} as UTF-8 (a lone surrogate becomes {@code ?}, as {@link String#getBytes} and Vert.x's buffers write it). */
    EventBytes appendUtf8(CharSequence s) {
        int n = s.length();
        ensure(n);
        int p = len;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x80) {
                len = p;
                return append(s.subSequence(i, n).toString().getBytes(StandardCharsets.UTF_8));
            }
            a[p++] = (byte) c;
        }
        len = p;
        return this;
    }

    /** A copy of the content. */
    Buffer toBuffer() {
        return Buffer.buffer(Arrays.copyOf(a, len));
    }

    private void ensure(int more) {
        if (len + more > a.length) a = Arrays.copyOf(a, Math.max(len + more, 2 * a.length));
    }
}
