package io.chunkserve.runtime.cpu;

/**
 * Switches of the one-token decode path that a benchmark flips inside one process, so that
 * variants can alternate step by step on a noisy machine ({@code bench decode-ab}). They change
 * timing only, never results, except {@code bf16pairs}, which changes the order of a bf16 dot product's sums (the
 * rounding, ~1e-6 relative). Defaults are the production behaviour.
 */
public final class CpuTuning {
    private CpuTuning() { }

    /** Touch-ahead of the next one-token matmul by waiting threads ({@link TouchPlan}); false: off. */
    static volatile boolean touch = true;
    /**
     * One-token matmuls: a task done with its own range takes the far half of what another task has not claimed
     * ({@link GemvJob}); false: each task computes exactly its own range.
     */
    static volatile boolean help = Boolean.parseBoolean(System.getProperty("chunkserve.cpu.help", "true"));
    /**
     * bf16 one-token matmuls read 2·L weights as L ints against x paired into even and odd columns
     * ({@link Bf16Kernels#pair}); false: as shorts widened to ints (the kernel before session 13). Flip it only between
     * dispatches (the dispatching thread pairs x, the tasks' kernels read the switch). The register-block kernels
     * (1 &lt; T ≤ 24) always read paired x.
     */
    static volatile boolean bf16Pairs = Boolean.parseBoolean(System.getProperty("chunkserve.cpu.bf16Pairs", "true"));
    /**
     * The fewest weight bytes of row-steps a stoppable one-token matmul task claims at once (at least one step; {@link
     * MatKernels#gemv4}, {@link #claimDiv}): fewer claims and kernel calls; a helper may then duplicate up to that much.
     */
    static volatile int claimBytes = Integer.getInteger("chunkserve.cpu.claimBytes", 64 << 10);
    /**
     * Stoppable one-token matmul tasks claim 1/claimDiv of what their call has left at a time (never less than {@link
     * #claimBytes}): a few long kernel calls per range, short ones only towards its end where helping needs them; 0:
     * fixed claims of claimBytes. Session 26 (BENCHMARKS.md): fixed 16 KiB claims — one row-step a kernel call at Llama's
     * 2,048 columns — cost Llama-3.2-1B's batch-1 step ~25 % on a fast bus (60 vs 47 ms), SmolLM2's ~2 %; ½, ¼ and ⅛
     * measured level.
     */
    static volatile int claimDiv = Integer.getInteger("chunkserve.cpu.claimDiv", 2);
    /**
     * Diagnostic only (wrong results): the one-token matmul kernels read their rows as the bandwidth meter does and write
     * zeros, the dispatch unchanged: a step's time with the kernels' arithmetic taken away.
     */
    static volatile boolean readOnly;
    /**
     * Largest token count T &gt; 1 a matmul runs through the scratch-free register-block kernels ({@link MatKernels#direct});
     * larger T goes to the packed {@link Gemm}. -1 (the default; {@code -Dchunkserve.cpu.directMaxT} sets a fixed one):
     * {@link #directMaxT(int)}'s rule.
     */
    static volatile int directMaxT = Integer.getInteger("chunkserve.cpu.directMaxT", -1);

    /**
     * The largest T for the register-block kernels on rows of {@code cols} weights. With 32 vector registers their 4 × 4
     * blocks win up to T = 24 ({@link MatKernels#DIRECT_MAX_T}); with 16 (AVX2) only 4 × 2 blocks fit, and the packed
     * GEMM overtakes them from T = 7 on rows of 576 weights and from T ≈ 13–16 on rows of 2048 (session 15, {@code bench
     * decode-ab --mode mm}, bf16, alternating in one process: BENCHMARKS.md).
     */
    static int directMaxT(int cols) {
        int v = directMaxT;
        if (v >= 0) return v;
        return Vec.WIDE_REGISTER_FILE ? MatKernels.DIRECT_MAX_T : cols >= 2048 ? 12 : 6;
    }
    /** Fewest unclaimed row-steps a helper takes (-1: {@code chunkserve.cpu.minStealSteps}, default 4). */
    static volatile int minSteal = -1;

    /** Per-phase timers of {@link CpuModelRunner#forward} (benchmarks only): nanoseconds summed per phase while on. */
    public static volatile boolean phases;
    public static final String[] PHASE_NAMES = {"norm", "qkv", "rope_kv", "attn", "o", "norm2", "gateup", "down", "head"};
    /** Written by the forward's calling thread only; the benchmark reads and clears it between steps on the same thread. */
    public static final long[] PHASE_NS = new long[PHASE_NAMES.length];

    private static final String KNOWN = "touch, help, steal, bf16pairs, claimbytes, claimdiv, readonly, attn1, attnpart, attnra, attnhyb, attnpairs, attnnarrow, attnblock, directmaxt";

    /** A switch's current value as {@link #set} takes it. */
    public static String get(String key) {
        return switch (key) {
            case "touch" -> String.valueOf(touch);
            case "help" -> String.valueOf(help);
            case "steal" -> String.valueOf(minSteal);
            case "bf16pairs" -> String.valueOf(bf16Pairs);
            case "claimbytes" -> String.valueOf(claimBytes);
            case "claimdiv" -> String.valueOf(claimDiv);
            case "directmaxt" -> String.valueOf(directMaxT);
            case "readonly" -> String.valueOf(readOnly);
            case "attn1" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneToken());
            case "attnpart" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneTokenMinPart());
            case "attnra" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneTokenReadAhead());
            case "attnhyb" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneTokenHybrid());
            case "attnpairs" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneTokenPairs());
            case "attnnarrow" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneTokenNarrow());
            case "attnblock" -> String.valueOf(io.chunkserve.attention.SequenceAttention.oneTokenBlockBytes());
            default -> throw new IllegalArgumentException("unknown switch '" + key + "' (known: " + KNOWN + ")");
        };
    }

    /**
     * Sets a switch by name ("touch" = true|false, "help" = true|false: helping in the one-token matmuls, "steal" = the
     * fewest row-steps a helper takes (-1: the default), "bf16pairs" = true|false: the bf16 one-token kernel on paired x
     * or widening shorts, "attn1" = true|false: batch-1 decode attention
     * through the attention package's one-token path or its older split/per-head paths, "attnpart" = fewest positions
     * per thread before that path splits a call by positions, "attnra" = its read-ahead of the K/V, "attnhyb" = its hybrid split: whole KV heads per
     * thread first, only the rest by positions); for benchmarks.
     */
    public static void set(String key, String value) {
        switch (key) {
            case "touch" -> touch = Boolean.parseBoolean(value);
            case "help" -> help = Boolean.parseBoolean(value);
            case "steal" -> minSteal = Integer.parseInt(value);
            case "bf16pairs" -> bf16Pairs = Boolean.parseBoolean(value);
            case "claimbytes" -> claimBytes = Integer.parseInt(value);
            case "claimdiv" -> claimDiv = Math.max(0, Integer.parseInt(value));
            case "directmaxt" -> directMaxT = Integer.parseInt(value);
            case "readonly" -> readOnly = Boolean.parseBoolean(value);
            case "attn1" -> io.chunkserve.attention.SequenceAttention.setOneToken(Boolean.parseBoolean(value));
            case "attnpart" -> io.chunkserve.attention.SequenceAttention.setOneTokenMinPart(Integer.parseInt(value));
            case "attnra" -> io.chunkserve.attention.SequenceAttention.setOneTokenReadAhead(Boolean.parseBoolean(value));
            case "attnhyb" -> io.chunkserve.attention.SequenceAttention.setOneTokenHybrid(Boolean.parseBoolean(value));
            case "attnpairs" -> io.chunkserve.attention.SequenceAttention.setOneTokenPairs(Boolean.parseBoolean(value));
            case "attnnarrow" -> io.chunkserve.attention.SequenceAttention.setOneTokenNarrow(Boolean.parseBoolean(value));
            case "attnblock" -> io.chunkserve.attention.SequenceAttention.setOneTokenBlockBytes(Integer.parseInt(value));
            default -> throw new IllegalArgumentException("unknown switch '" + key + "' (known: " + KNOWN + ")");
        }
    }
}
