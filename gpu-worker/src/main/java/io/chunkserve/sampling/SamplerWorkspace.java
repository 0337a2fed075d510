package io.chunkserve.sampling;

/**
 * Scratch memory for {@link Sampler#sample}: vocabulary-sized arrays that are grown on demand
 * and then reused, so that steady-state sampling allocates nothing but its result.
 *
 * <p>Why a separate object: a sampler lives as long as its sequence, and a server holds
 * hundreds of sequences; giving each its own vocabulary-sized scratch (~2.4 MB at 152k tokens)
 * would cost hundreds of MB for no gain, since a thread samples one sequence at a time. So the
 * scratch belongs to the <em>sampling thread</em>: an engine passes one workspace per sampling
 * thread to all the samplers that thread drives, or relies on the default
 * {@link #forCurrentThread()} (a {@link ThreadLocal}; fine for platform threads, wasteful for
 * many short-lived virtual threads).
 *
 * <p>Not thread-safe: one workspace must never be used by two concurrent {@code sample} calls.
 * Nothing in it outlives a call, so any sampler may use any (idle) workspace.
 */
public final class SamplerWorkspace {
    private static final ThreadLocal<SamplerWorkspace> PER_THREAD =
            ThreadLocal.withInitial(SamplerWorkspace::new);

    /** Penalized copy of the logits (only when penalties change something). */
    private float[] work = new float[0];
    /** Sanitized copy of the raw logits (only when they contain NaN or ±inf extremes). */
    private float[] clean = new float[0];
    /** Unnormalised probabilities exp((w − max)/T), possibly zeroed by min_p. */
    private float[] probs = new float[0];
    private double[] blockSums = new double[0];
    /** Candidate keys (top-k heap or top-p candidates). */
    private long[] keys = new long[0];
    /** Start indices of the vectors holding top_p candidates. */
    private int[] hitVectors = new int[0];
    /** Mass histogram of the top_p boundary search; all zero between calls. */
    final double[] histogram = new double[LogitKernels.BUCKETS];
    /** Heap for the top_logprobs selection. */
    final long[] topHeap = new long[SamplingParams.MAX_TOP_LOGPROBS];

    public SamplerWorkspace() { }

    /** The calling thread's workspace (created on first use). */
    public static SamplerWorkspace forCurrentThread() {
        return PER_THREAD.get();
    }

    float[] work(int n) {
        if (work.length < n) work = new float[n];
        return work;
    }

    float[] clean(int n) {
        if (clean.length < n) clean = new float[n];
        return clean;
    }

    float[] probs(int n) {
        if (probs.length < n) probs = new float[n];
        return probs;
    }

    double[] blockSums(int n) {
        int blocks = (n + LogitKernels.BLOCK - 1) / LogitKernels.BLOCK;
        if (blockSums.length < blocks) blockSums = new double[blocks];
        return blockSums;
    }

    int[] hitVectors(int n) {
        int entries = n / LogitKernels.LANES + 1;
        if (hitVectors.length < entries) hitVectors = new int[entries];
        return hitVectors;
    }

    long[] keys(int n) {
        if (keys.length < n) keys = new long[n];
        return keys;
    }
}
