package io.chunkserve.runtime;

import java.util.Arrays;

/**
 * The input of one forward step: several sequences, each contributing its new tokens (a
 * prefill chunk, or one token when decoding) at consecutive positions, attending over its
 * chunked KV. Reused across steps by the engine thread (no per-step allocation once sized).
 * Tokens are flattened: sequence s owns tokens[offset(s) .. offset(s)+count(s)).
 */
public final class ForwardBatch {
    private int size;
    private int[] tokens = new int[64];
    private int[] offsets = new int[9];      // (size+1) prefix sums of token counts
    private int[] startPositions = new int[8];
    private int[][] chunkTables = new int[8][];
    private boolean[] wantLogits = new boolean[8];

    /** Empties the batch. */
    public ForwardBatch clear() {
        size = 0;
        offsets[0] = 0;
        return this;
    }

    /**
     * Appends a sequence.
     *
     * @param newTokens   tokens[from .. from+n) to run
     * @param startPos    position of the first of them (= tokens already in the KV)
     * @param chunkTable  chunk ids covering positions 0 .. startPos+n-1 (room already reserved)
     * @param logits      whether the last token's logits are wanted
     */
    public ForwardBatch add(int[] newTokens, int from, int n, int startPos, int[] chunkTable, boolean logits) {
        if (n < 1) throw new IllegalArgumentException("a sequence in a batch needs at least one token");
        if (size == startPositions.length) {
            int cap = size * 2;
            offsets = Arrays.copyOf(offsets, cap + 1);
            startPositions = Arrays.copyOf(startPositions, cap);
            chunkTables = Arrays.copyOf(chunkTables, cap);
            wantLogits = Arrays.copyOf(wantLogits, cap);
        }
        int t = offsets[size];
        if (t + n > tokens.length) tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, t + n));
        System.arraycopy(newTokens, from, tokens, t, n);
        startPositions[size] = startPos;
        chunkTables[size] = chunkTable;
        wantLogits[size] = logits;
        offsets[++size] = t + n;
        return this;
    }

    public int size() { return size; }

    public int totalTokens() { return offsets[size]; }

    public int offset(int s) { return offsets[s]; }

    public int count(int s) { return offsets[s + 1] - offsets[s]; }

    public int token(int i) { return tokens[i]; }

    public int startPosition(int s) { return startPositions[s]; }

    public int[] chunkTable(int s) { return chunkTables[s]; }

    public boolean wantsLogits(int s) { return wantLogits[s]; }

    /** Whether every sequence runs exactly one token (a pure decode step). */
    public boolean isDecodeOnly() { return offsets[size] == size; }
}
