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
    private boolean[] greedy = new boolean[8];
    private int[] sampled = new int[8];
    private int[] previousRow = new int[8];
    private float[] invTemp = new float[8], topP = new float[8], minP = new float[8];   // rows the runner samples
    private int[] topK = new int[8];
    private double[] draw = new double[8];  // -1, or the row of the step before whose picked token this one runs
    private boolean[] penalized = new boolean[8];   // rows whose penalties the runner applies (markPenalties)
    private float[] repetition = new float[8], presence = new float[8], frequency = new float[8];
    private int[][] penaltyIds = new int[8][], penaltyCounts = new int[8][];
    private int[] penaltyEntries = new int[8];
    private Object[] penaltyKey = new Object[8];   // the list's identity (null: none, the runner takes the whole list)
    private long[] penaltyRecords = new long[8];
    private int[] penaltyLastEntry = new int[8];
    private int penalizedRows;
    private io.chunkserve.sampling.LogitBias[] bias = new io.chunkserve.sampling.LogitBias[8];   // rows the runner biases (markBias), else null
    private int biasedRows, biasEntries;
    private int[] logprobsK = new int[8];   // -1, or the top_logprobs count of a row whose log-probabilities the runner reports
    private io.chunkserve.sampling.SampledToken[] picked = new io.chunkserve.sampling.SampledToken[8];
    private int fromPrevious;

    /** Empties the batch. */
    public ForwardBatch clear() {
        size = 0;
        offsets[0] = 0;
        fromPrevious = 0;
        penalizedRows = 0;
        biasedRows = 0;
        biasEntries = 0;
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
            greedy = Arrays.copyOf(greedy, cap);
            sampled = Arrays.copyOf(sampled, cap);
            previousRow = Arrays.copyOf(previousRow, cap);
            invTemp = Arrays.copyOf(invTemp, cap);
            topP = Arrays.copyOf(topP, cap);
            minP = Arrays.copyOf(minP, cap);
            topK = Arrays.copyOf(topK, cap);
            draw = Arrays.copyOf(draw, cap);
            penalized = Arrays.copyOf(penalized, cap);
            repetition = Arrays.copyOf(repetition, cap);
            presence = Arrays.copyOf(presence, cap);
            frequency = Arrays.copyOf(frequency, cap);
            penaltyIds = Arrays.copyOf(penaltyIds, cap);
            penaltyCounts = Arrays.copyOf(penaltyCounts, cap);
            penaltyEntries = Arrays.copyOf(penaltyEntries, cap);
            penaltyKey = Arrays.copyOf(penaltyKey, cap);
            penaltyRecords = Arrays.copyOf(penaltyRecords, cap);
            penaltyLastEntry = Arrays.copyOf(penaltyLastEntry, cap);
            logprobsK = Arrays.copyOf(logprobsK, cap);
            bias = Arrays.copyOf(bias, cap);
            picked = Arrays.copyOf(picked, cap);
        }
        int t = offsets[size];
        if (t + n > tokens.length) tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, t + n));
        System.arraycopy(newTokens, from, tokens, t, n);
        startPositions[size] = startPos;
        chunkTables[size] = chunkTable;
        wantLogits[size] = logits;
        greedy[size] = false;
        sampled[size] = -1;
        previousRow[size] = -1;
        invTemp[size] = 0f;
        penalized[size] = false;
        penaltyIds[size] = null;
        penaltyCounts[size] = null;
        penaltyKey[size] = null;
        logprobsK[size] = -1;
        bias[size] = null;
        picked[size] = null;
        offsets[++size] = t + n;
        return this;
    }

    /**
     * Appends a sequence of one token that is not known yet: the token a {@linkplain ModelRunner#pipelines pipelining}
     * runner picks on the device for row {@code row} of the step launched just before this batch (a plain greedy row).
     * {@link #token} gives {@link #FROM_PREVIOUS} for it. It always wants logits; mark it greedy or not as usual.
     */
    public ForwardBatch addFromPrevious(int row, int startPos, int[] chunkTable) {
        if (row < 0) throw new IllegalArgumentException("row " + row);
        add(UNKNOWN, 0, 1, startPos, chunkTable, true);
        previousRow[size - 1] = row;
        fromPrevious++;
        return this;
    }

    /** The token of a sequence added by {@link #addFromPrevious} until the runner resolves it. */
    public static final int FROM_PREVIOUS = -1;
    private static final int[] UNKNOWN = {FROM_PREVIOUS};

    /** The previous step's row whose picked token sequence s runs, or -1 when its tokens are given. */
    public int previousRow(int s) { return previousRow[s]; }

    /** Whether any sequence takes its token from the previous step ({@link #addFromPrevious}). */
    public boolean hasPreviousTokens() { return fromPrevious > 0; }

    /**
     * Marks the last added sequence as plain greedy (argmax, no penalties, no log-probabilities): a runner may
     * then pick its next token itself ({@link #setSampled}) and leave its logits row unwritten.
     */
    public ForwardBatch markGreedy() {
        if (size == 0 || !wantLogits[size - 1]) throw new IllegalStateException("mark a sequence that wants logits");
        greedy[size - 1] = true;
        return this;
    }

    /**
     * Marks the last added sequence for a stochastic draw by the runner ({@link ModelRunner#samplesOnDevice}):
     * temperature, top_k (0: off), top_p, min_p and the uniform draw u in [0, 1) to use, by the distribution of
     * {@link io.chunkserve.sampling.SamplingReference}; the runner then sets its token ({@link #setSampled}) as for
     * a greedy one. {@link #isGreedy} is true for it too (the runner picks it).
     */
    public ForwardBatch markSampled(double temperature, int k, double p, double min, double u) {
        markGreedy();
        int s = size - 1;
        invTemp[s] = (float) (1.0 / temperature);
        topK[s] = k;
        topP[s] = (float) p;
        minP[s] = (float) min;
        draw[s] = u;
        return this;
    }

    /**
     * Marks the last added sequence, which the runner picks ({@link #markGreedy} or {@link #markSampled}), for
     * penalties applied by the runner before its argmax or draw ({@link ModelRunner#penalizesOnDevice}), by
     * {@link io.chunkserve.sampling.PenaltyList}'s definition: the entries {@code ids[0 .. n)} with their output
     * counts, and, for a sequence {@linkplain #addFromPrevious added from the previous step}, the token picked there,
     * which the list does not count yet. The arrays are held, not copied: the runner reads them when the step is
     * launched ({@link ModelRunner#launch} or {@link ModelRunner#forward}), and they must not change before that.
     */
    public ForwardBatch markPenalties(float repetitionPenalty, float presencePenalty, float frequencyPenalty, int[] ids, int[] counts, int n) {
        int s = size - 1;
        if (size == 0 || !greedy[s]) throw new IllegalStateException("mark penalties on a sequence the runner picks");
        if (n < 0 || n > ids.length || n > counts.length) throw new IllegalArgumentException("penalty entries " + n);
        if (!penalized[s]) penalizedRows++;
        penalized[s] = true;
        repetition[s] = repetitionPenalty;
        presence[s] = presencePenalty;
        frequency[s] = frequencyPenalty;
        penaltyIds[s] = ids;
        penaltyCounts[s] = counts;
        penaltyEntries[s] = n;
        penaltyKey[s] = null;
        return this;
    }

    /**
     * {@link #markPenalties(float, float, float, int[], int[], int)} with the list's identity, for a runner that keeps
     * a copy of each list across steps and updates it by what changed ({@code io.chunkserve.sampling.Sampler#penaltyKey}):
     * {@code records} tokens counted so far, the last of them in entry {@code lastEntry}. A list under one key only
     * grows (entries appended, counts incremented), one record at a time.
     */
    public ForwardBatch markPenalties(float repetitionPenalty, float presencePenalty, float frequencyPenalty, int[] ids, int[] counts, int n,
                                      Object key, long records, int lastEntry) {
        if (records < 0 || lastEntry >= n) throw new IllegalArgumentException("penalty records " + records + ", last entry " + lastEntry);
        markPenalties(repetitionPenalty, presencePenalty, frequencyPenalty, ids, counts, n);
        int s = size - 1;
        penaltyKey[s] = key;
        penaltyRecords[s] = records;
        penaltyLastEntry[s] = lastEntry;
        return this;
    }

    /**
     * Marks the last added sequence, which the runner picks, for log-probabilities reported by the runner
     * ({@link ModelRunner#logprobsOnDevice}): the picked token's and the {@code topLogprobs} (0-20) largest, of the raw
     * logits (before penalties), as {@link io.chunkserve.sampling.SamplingReference#logprobs} defines them; the runner
     * sets them with {@link #setSampled(int, io.chunkserve.sampling.SampledToken)}.
     */
    public ForwardBatch markLogprobs(int topLogprobs) {
        int s = size - 1;
        if (size == 0 || !greedy[s]) throw new IllegalStateException("mark log-probabilities on a sequence the runner picks");
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) throw new IllegalArgumentException("top_logprobs " + topLogprobs);
        logprobsK[s] = topLogprobs;
        return this;
    }

    /**
     * Marks the last added sequence, which the runner picks, with its request's logit_bias, added by the runner to the
     * logits before the penalties ({@link ModelRunner#biasesOnDevice}), as {@link io.chunkserve.sampling.Sampler} does;
     * log-probabilities stay those of the raw logits.
     */
    public ForwardBatch markBias(io.chunkserve.sampling.LogitBias logitBias) {
        int s = size - 1;
        if (size == 0 || !greedy[s]) throw new IllegalStateException("mark a logit_bias on a sequence the runner picks");
        if (logitBias.isEmpty()) throw new IllegalArgumentException("an empty logit_bias");
        if (bias[s] != null) throw new IllegalStateException("sequence " + s + " has its logit_bias already");
        bias[s] = logitBias;
        biasedRows++;
        biasEntries += logitBias.size();
        return this;
    }

    /** Sequence s's logit_bias applied by the runner ({@link #markBias}), or null. */
    public io.chunkserve.sampling.LogitBias bias(int s) { return bias[s]; }

    /** Sequences marked with {@link #markBias}. */
    public int biasedRows() { return biasedRows; }

    /** The entries of their logit_biases, all together. */
    public int biasEntries() { return biasEntries; }

    /** The most top log-probabilities a runner reports a row. */
    public static final int MAX_TOP_LOGPROBS = io.chunkserve.sampling.SamplingParams.MAX_TOP_LOGPROBS;

    /** Whether the runner reports sequence s's log-probabilities ({@link #markLogprobs}). */
    public boolean wantsRunnerLogprobs(int s) { return logprobsK[s] >= 0; }

    /** The top_logprobs count of a {@link #markLogprobs} sequence. */
    public int topLogprobs(int s) { return logprobsK[s]; }

    /** Set by a runner: the token it picked for sequence s with its log-probabilities (a {@link #markLogprobs} row). */
    public void setSampled(int s, io.chunkserve.sampling.SampledToken t) {
        setSampled(s, t.tokenId());
        picked[s] = t;
    }

    /** The token with log-probabilities a runner set for sequence s this step, or null. */
    public io.chunkserve.sampling.SampledToken sampledToken(int s) { return picked[s]; }

    /** Whether the runner applies penalties to sequence s ({@link #markPenalties}). */
    public boolean isPenalized(int s) { return penalized[s]; }

    /** Sequences marked with {@link #markPenalties}. */
    public int penalizedRows() { return penalizedRows; }

    public float repetitionPenalty(int s) { return repetition[s]; }

    public float presencePenalty(int s) { return presence[s]; }

    public float frequencyPenalty(int s) { return frequency[s]; }

    /** The number of penalty entries of sequence s. */
    public int penaltyEntries(int s) { return penaltyEntries[s]; }

    /** Sequence s's penalty entry ids [0, {@link #penaltyEntries}) (the caller's array: read only). */
    public int[] penaltyIds(int s) { return penaltyIds[s]; }

    /** Their output counts (the caller's array: read only). */
    public int[] penaltyCounts(int s) { return penaltyCounts[s]; }

    /** The identity of sequence s's penalty list, or null when it was marked without one. */
    public Object penaltyKey(int s) { return penaltyKey[s]; }

    /** The tokens sequence s's penalty list counted so far (with a {@link #penaltyKey}). */
    public long penaltyRecords(int s) { return penaltyRecords[s]; }

    /** The entry the last of them counted, or -1 (with a {@link #penaltyKey}). */
    public int penaltyLastEntry(int s) { return penaltyLastEntry[s]; }

    /** Whether the runner picks sequence s's next token itself: the argmax, or a draw ({@link #isRunnerSampled}). */
    public boolean isGreedy(int s) { return greedy[s]; }

    /** Whether sequence s is drawn by the runner ({@link #markSampled}) rather than its argmax. */
    public boolean isRunnerSampled(int s) { return greedy[s] && invTemp[s] > 0f; }

    /** 1 / temperature of a {@link #markSampled} sequence. */
    public float inverseTemperature(int s) { return invTemp[s]; }

    public int topK(int s) { return topK[s]; }

    public float topP(int s) { return topP[s]; }

    public float minP(int s) { return minP[s]; }

    /** The uniform draw of a {@link #markSampled} sequence. */
    public double draw(int s) { return draw[s]; }

    /** Set by a runner: the next token it picked for sequence s (its logits row is then not written). */
    public void setSampled(int s, int token) {
        if (!greedy[s]) throw new IllegalStateException("sequence " + s + " is not marked for the runner to pick");
        sampled[s] = token;
    }

    /** The token a runner picked for sequence s this step, or -1 (then its logits row holds the logits). */
    public int sampled(int s) { return sampled[s]; }

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
