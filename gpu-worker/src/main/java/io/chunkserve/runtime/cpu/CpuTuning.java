package io.chunkserve.runtime.cpu;

/**
 * Switches of the one-token decode path that a benchmark flips inside one process, so that
 * variants can alternate step by step on a noisy machine ({@code bench decode-ab}). They change
 * timing only, never results. Defaults are the production behaviour.
 */
public final class CpuTuning {
    private CpuTuning() { }

    /** Touch-ahead of the next one-token matmul by waiting threads ({@link TouchPlan}); false: off. */
    static volatile boolean touch = true;
    /** Fraction of a one-token dispatch's rows in small tail ranges, in permille (-1: {@code chunkserve.cpu.gemvTail}). */
    static volatile int tailPermille = -1;

    /** Batch-1 decode with each layer split by heads over the threads ({@link HeadSplitDecode}); false: the row-split dispatches. */
    static volatile boolean headSplit = Boolean.parseBoolean(System.getProperty("chunkserve.cpu.headSplit", "false"));

    /** Intermediate rows the split by heads moves from the last participant's MLP share to the first's (A/B of its balance). */
    static volatile int headSplitShift = Integer.getInteger("chunkserve.cpu.headSplitShift", 0);

    /** Query heads whose q rows the split by heads' participant 0 computes for participant 1 (A/B of its balance). */
    static volatile int headSplitQShift = Integer.getInteger("chunkserve.cpu.headSplitQShift", 0);

    /** Query heads the split by heads moves from participant 1 to participant 0 (A/B of its balance). */
    static volatile int headSplitHeads = Integer.getInteger("chunkserve.cpu.headSplitHeads", 0);

    /** The split by heads' waits give up the core now and then after 50 µs (false: pure spinning). */
    static volatile boolean headSplitYield = true;

    /** Per-phase timers of {@link CpuModelRunner#forward} (benchmarks only): nanoseconds summed per phase while on. */
    public static volatile boolean phases;
    public static final String[] PHASE_NAMES = {"norm", "qkv", "rope_kv", "attn", "o", "norm2", "gateup", "down", "head", "tp0A", "tp0B", "tp1A", "tp1B", "tpkvw", "1norm", "1qkv", "1rope", "1attn", "1o", "1norm2", "1gu", "1down", "1head"};
    /**
     * Written by the forward's calling thread only (the split by heads: its participant 0 the first nine, participants 0
     * and 1 their barrier waits, the others their waits for a shared KV head; the dispatch's end orders them before the
     * caller's reads); the benchmark reads and clears it between steps on the same thread.
     */
    public static final long[] PHASE_NS = new long[PHASE_NAMES.length];

    private static final String KNOWN = "touch, tail, attn1, attnpart, attnra, tp, tpra, tpshift, tpq, tph, tpyield";

    /** A switch's current value as {@link #set} takes it. */
    public static String get(String key) {
        return switch (key) {
            case "touch" -> String.valueOf(touch);
            case "tail" -> String.valueOf(tailPermille);
            case "attn1" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneToken());
            case "attnpart" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneTokenMinPart());
            case "attnra" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneTokenReadAhead());
            case "tp" -> String.valueOf(headSplit);
            case "tpshift" -> String.valueOf(headSplitShift);
            case "tpq" -> String.valueOf(headSplitQShift);
            case "tph" -> String.valueOf(headSplitHeads);
            case "tpyield" -> String.valueOf(headSplitYield);
            case "tpra" -> String.valueOf(io.chunkserve.attention.SequenceAttention.headsReadAhead());
            default -> throw new IllegalArgumentException("unknown switch '" + key + "' (known: " + KNOWN + ")");
        };
    }

    /**
     * Sets a switch by name ("touch" = true|false, "tail" = permille, "attn1" = true|false: batch-1 decode attention
     * through the attention package's one-token path or its older split/per-head paths, "attnpart" = fewest positions
     * per thread before that path splits a call by positions, "attnra" = its read-ahead of the K/V, "tp" = true|false: batch-1 decode
     * with each layer split by heads, "tpra" = that path's read-ahead of each KV head's K/V); for benchmarks.
     */
    public static void set(String key, String value) {
        switch (key) {
            case "touch" -> touch = Boolean.parseBoolean(value);
            case "tail" -> tailPermille = Math.min(900, Integer.parseInt(value));
            case "attn1" -> io.chunkserve.attention.SequenceAttention.setOneToken(Boolean.parseBoolean(value));
            case "attnpart" -> io.chunkserve.attention.SequenceAttention.setOneTokenMinPart(Integer.parseInt(value));
            case "attnra" -> io.chunkserve.attention.SequenceAttention.setOneTokenReadAhead(Boolean.parseBoolean(value));
            case "tp" -> headSplit = Boolean.parseBoolean(value);
            case "tpshift" -> headSplitShift = Integer.parseInt(value);
            case "tpq" -> headSplitQShift = Integer.parseInt(value);
            case "tph" -> headSplitHeads = Integer.parseInt(value);
            case "tpyield" -> headSplitYield = Boolean.parseBoolean(value);
            case "tpra" -> io.chunkserve.attention.SequenceAttention.setHeadsReadAhead(Boolean.parseBoolean(value));
            default -> throw new IllegalArgumentException("unknown switch '" + key + "' (known: " + KNOWN + ")");
        }
    }
}
