package io.chunkserve.service.generation;

import java.util.Arrays;

/**
 * Text and token ids of one generation not yet written to its client. While a connection's write
 * queue is full, successive deltas coalesce here instead of queueing one frame each, so a slow
 * client costs at most one generation's output ({@code max_tokens}) per generation.
 */
public final class TokenBuffer {
    private final StringBuilder text = new StringBuilder();
    private int[] ids = new int[16];
    private int size;

    /** Appends one delta. */
    public void append(String deltaText, int[] tokenIds) {
        text.append(deltaText);
        if (size + tokenIds.length > ids.length) ids = Arrays.copyOf(ids, Math.max(ids.length * 2, size + tokenIds.length));
        System.arraycopy(tokenIds, 0, ids, size, tokenIds.length);
        size += tokenIds.length;
    }

    public boolean isEmpty() { return size == 0 && text.isEmpty(); }

    public String text() { return text.toString(); }

    public int[] tokenIds() { return Arrays.copyOf(ids, size); }

    public void clear() {
        text.setLength(0);
        size = 0;
    }
}
