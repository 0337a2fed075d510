package io.chunkserve.sampling;

import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Turns one row of logits into the next token of one sequence.
 *
 * <h2>Lifecycle</h2>
 * One sampler per sequence: construct it with the prompt, call {@link #sample} once per decoding
 * step, then {@link #accept} with the token the engine actually appended (normally the sampled
 * one). A request with {@code n > 1} gets {@code n} samplers ({@link #forRequest}); sample
 * {@code i}'s RNG seed is {@link #deriveSeed deriveSeed(seed, i)}. Not thread-safe.
 *
 * <h2>Pipeline (vLLM v1 order)</h2>
 * <ol>
 *   <li><b>logit_bias</b> ({@link LogitBias}): each listed token's value added to its logit.</li>
 *   <li><b>Repetition penalty</b> (HF semantics) on every token of the prompt or the output:
 *       {@code l > 0 ? l / r : l * r}, each distinct token once.</li>
 *   <li><b>Presence/frequency penalties</b> (OpenAI formula) on output tokens only:
 *       {@code l − frequency·count − presence·[count > 0]}.</li>
 *   <li>If greedy ({@code temperature < 1e-5}): the argmax of the penalized logits, ties to the
 *       lowest id; all filters are skipped (the argmax survives every filter anyway).</li>
 *   <li><b>Temperature</b>: {@code p_i ∝ e_i = exp((l_i − max) / T)}. It is folded into the
 *       exponent instead of materialising {@code l / T}; {@code e_max = 1}.</li>
 *   <li><b>min_p</b>: drop {@code e_i < minP} (⇔ {@code p_i < minP · p_max}).</li>
 *   <li><b>top_k</b>: keep the k largest penalized logits (ties: lower id first).</li>
 *   <li><b>top_p</b>: over the renormalised survivors, keep the smallest prefix (descending
 *       logit, ties by id) whose mass is ≥ {@code topP} of the survivors' mass. Equals vLLM's
 *       "sort ascending, drop while cumulative ≤ 1 − p".</li>
 *   <li><b>Draw</b>: one uniform {@code u ∈ [0, 1)} from the sequence's own RNG, inverse CDF over
 *       the survivors (in a fixed, data-determined order; the order does not change the
 *       distribution).</li>
 * </ol>
 * min_p and top_k both keep a prefix of the same ordering, so they commute; top_p is applied
 * to their intersection, renormalised, as in vLLM.
 *
 * <h2>Log-probabilities</h2>
 * vLLM v1's default {@code raw_logprobs}: log-softmax of the raw logits, computed only when
 * {@link SamplingParams#logprobs()} is set (one extra vectorised pass; plus a 20-element heap for
 * {@code top_logprobs}).
 *
 * <h2>Reproducibility</h2>
 * Each sampler owns a SplitMix64 generator (specified here, so it cannot change with the JDK)
 * seeded from the request seed and sample index. Exactly one 64-bit draw is consumed per
 * non-greedy {@code sample} call and none for greedy, so a seeded sequence's tokens depend only
 * on its seed, its sample index and its own logits, never on batch composition or on other
 * sequences. Bitwise reproducibility additionally needs bitwise-identical logits and the same
 * JVM/CPU (vector {@code exp} and reduction order may differ by an ulp elsewhere, which can flip
 * a draw only when {@code u} falls within ~1e-7 of a bucket edge).
 *
 * <h2>Performance (vocabularies up to ~152k)</h2>
 * The logits are never modified and, without penalties, never copied. The full-vocabulary work
 * is a few vectorised passes ({@link LogitKernels}): max, argmax, {@code exp} with per-1024-block
 * sums (the draw picks a block by its sum and walks ≤ 1024 entries), and, for logprobs, a
 * sum-exp. Nothing is fully sorted:
 * <ul>
 *   <li>top_k: a bounded max-heap of k packed (logit, id) {@code long} keys; whole vectors of
 *       logits are rejected by one compare against the heap's worst logit, so the cost is
 *       ~O(V / lanes + h · log k) where h, the number of heap replacements, is small on
 *       average (~k·ln(V/k) for random order). Only the k survivors are exponentiated.</li>
 *   <li>top_p: a provable pre-filter (tokens with {@code e_i < τ = (1 − p)·S / V} can never be
 *       needed: together they weigh less than {@code (1 − p)·S}), a mass histogram over
 *       2^(1/16)-wide buckets of {@code e} that locates the bucket holding the nucleus boundary,
 *       and a mass-aware quickselect over that one bucket only. Nothing is sorted; see
 *       {@code TokenFilters.topPFullVocabulary}. After top_k the same quickselect runs on the k keys.</li>
 * </ul>
 * Penalties are applied sparsely (distinct prompt and output tokens only) to a reused copy.
 * Scratch arrays live in a {@link SamplerWorkspace} shared by the samplers of a thread. The only
 * per-call allocation is the {@link SampledToken} (and its top-logprob arrays when requested).
 *
 * <h2>Code layout</h2>
 * This class owns the lifecycle, the RNG and the order of the steps; {@link Penalties} holds the
 * output counts and applies the penalties, {@link TokenFilters} the temperature, min_p, top_k,
 * top_p and the draw, {@link TopSelection} the partial selections they share with
 * {@link Logprobs}.
 *
 * <h2>Non-finite logits</h2>
 * {@code −inf} is a valid mask (probability 0). If the logits contain NaN or {@code +inf}, a
 * sanitized copy is used: NaN → {@code −inf}, {@code +inf} → {@link Float#MAX_VALUE} (so the
 * {@code +inf} tokens share all the mass). If no logit is finite or {@code +inf},
 * {@link IllegalArgumentException} is thrown (the caller should finish the sequence with
 * {@link FinishReason#ERROR}).
 */
public final class Sampler {
    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private final SamplingParams params;
    private final SamplerWorkspace fixedWorkspace;
    private final long seed;
    private long rngState;

    private final boolean greedy;
    private final TokenFilters filters; // null when greedy
    private final Penalties penalties;
    private final LogitBias bias;
    private int outputLength;

    /** Sample 0 of a request, using the calling thread's workspace. */
    public Sampler(SamplingParams params, int[] promptTokenIds) {
        this(params, promptTokenIds, 0, null);
    }

    /** Sample {@code sampleIndex} of a request, using the calling thread's workspace. */
    public Sampler(SamplingParams params, int[] promptTokenIds, int sampleIndex) {
        this(params, promptTokenIds, sampleIndex, null);
    }

    /**
     * @param params         validated request parameters
     * @param promptTokenIds the prompt (read once, not retained); ids must be non-negative
     * @param sampleIndex    which of the request's {@code n} samples this is, in [0, n)
     * @param workspace      scratch to use, or {@code null} for {@link SamplerWorkspace#forCurrentThread()}
     *                       of whichever thread calls {@code sample}
     */
    public Sampler(SamplingParams params, int[] promptTokenIds, int sampleIndex,
                   SamplerWorkspace workspace) {
        this(params, promptTokenIds, sampleIndex, workspace,
                params.seed() != null ? params.seed() : ThreadLocalRandom.current().nextLong());
    }

    private Sampler(SamplingParams params, int[] promptTokenIds, int sampleIndex,
                    SamplerWorkspace workspace, long requestSeed) {
        this.params = Objects.requireNonNull(params, "params");
        Objects.requireNonNull(promptTokenIds, "promptTokenIds");
        if (sampleIndex < 0 || sampleIndex >= params.n()) {
            throw new IllegalArgumentException(
                    "sampleIndex must be in [0, " + params.n() + "), got " + sampleIndex);
        }
        this.fixedWorkspace = workspace;
        this.seed = deriveSeed(requestSeed, sampleIndex);
        this.rngState = seed;
        this.greedy = params.isGreedy();
        this.filters = greedy ? null : new TokenFilters(params);
        this.penalties = new Penalties(params, promptTokenIds);
        this.bias = params.logitBias();
    }

    /**
     * The {@code n} samplers of a request; with no seed, one random request seed is drawn and
     * the samples' seeds derived from it, exactly as for an explicit seed.
     */
    public static Sampler[] forRequest(SamplingParams params, int[] promptTokenIds,
                                       SamplerWorkspace workspace) {
        long requestSeed = params.seed() != null ? params.seed() : ThreadLocalRandom.current().nextLong();
        Sampler[] out = new Sampler[params.n()];
        for (int i = 0; i < out.length; i++) {
            out[i] = new Sampler(params, promptTokenIds, i, workspace, requestSeed);
        }
        return out;
    }

    /** {@link #forRequest(SamplingParams, int[], SamplerWorkspace)} with per-thread workspaces. */
    public static Sampler[] forRequest(SamplingParams params, int[] promptTokenIds) {
        return forRequest(params, promptTokenIds, null);
    }

    /**
     * The RNG seed of sample {@code sampleIndex} of a request seeded with {@code requestSeed}:
     * the SplitMix64 finaliser of {@code mix(requestSeed) + (sampleIndex + 1) · γ}. Distinct
     * indices give unrelated streams; the function is fixed, so seeded results are stable
     * across releases.
     */
    public static long deriveSeed(long requestSeed, int sampleIndex) {
        return mix64(mix64(requestSeed) + (sampleIndex + 1L) * GOLDEN_GAMMA);
    }

    /** This sequence's RNG seed (after derivation). */
    public long seed() {
        return seed;
    }

    public SamplingParams params() {
        return params;
    }

    /** Number of tokens passed to {@link #accept}. */
    public int outputLength() {
        return outputLength;
    }

    /**
     * Whether a runner may draw this sequence's tokens itself, from the logits it computed (the CUDA runner, on the
     * device): stochastic, without logit_bias, penalties or log-probabilities — temperature, top_k, top_p and min_p only, by the
     * same distribution as {@link #sample} ({@link SamplingReference}).
     */
    public boolean runnerSamplable() {
        return runnerSamplable(false);
    }

    /**
     * {@link #runnerSamplable()} for a runner that also applies the penalties itself when {@code runnerPenalizes}
     * ({@link PenaltyList}, from {@link #penaltyEntries}): then a stochastic sequence with penalties qualifies too.
     */
    public boolean runnerSamplable(boolean runnerPenalizes) {
        return runnerSamplable(runnerPenalizes, false);
    }

    /** {@link #runnerSamplable(boolean)} for a runner that also reports log-probabilities when {@code runnerLogprobs}. */
    public boolean runnerSamplable(boolean runnerPenalizes, boolean runnerLogprobs) {
        return runnerSamplable(runnerPenalizes, runnerLogprobs, false);
    }

    /** {@link #runnerSamplable(boolean, boolean)} for a runner that also adds the logit_bias when {@code runnerBiases}. */
    public boolean runnerSamplable(boolean runnerPenalizes, boolean runnerLogprobs, boolean runnerBiases) {
        // (a configured penalty, not only one that changes a logit now: a step built ahead of the last pick sees a
        // state one token behind, in which a presence penalty may not apply yet)
        return !greedy && (runnerBiases || bias.isEmpty()) && (runnerPenalizes || !penalties.active()) && (runnerLogprobs || !params.logprobs());
    }

    /** Whether a penalty is configured (repetition ≠ 1, presence or frequency ≠ 0), whether or not it changes a logit yet. */
    public boolean penalized() {
        return penalties.active();
    }

    public float repetitionPenalty() { return penalties.repetition(); }

    public float presencePenalty() { return penalties.presence(); }

    public float frequencyPenalty() { return penalties.frequency(); }

    /**
     * The number of penalty entries: the distinct tokens a penalty touches now (the distinct prompt tokens when the
     * repetition penalty is on, then the generated ones), whose ids and output counts are
     * {@code penaltyIds()[0 .. n)} and {@code penaltyCounts()[0 .. n)} ({@link PenaltyList} applies them).
     */
    public int penaltyEntries() { return penalties.entries(); }

    /**
     * The entries' token ids: a live array (entries are only appended by {@link #accept}; a grown list is a new
     * array, so a reference held over an accept still reads its first n ids right). Read, never write.
     */
    public int[] penaltyIds() { return penalties.entryIds(); }

    /** The entries' output counts: a live array ({@link #accept} increments them in place). Read, never write. */
    public int[] penaltyCounts() { return penalties.entryCounts(); }

    /**
     * The identity of this sequence's penalty list, for a runner that keeps a copy of it across steps (the CUDA
     * runner's device-resident lists): the same object for as long as the list grows only by {@link #accept}.
     */
    public Object penaltyKey() { return penalties; }

    /**
     * How many tokens the penalty list counted so far. One more than a copy saw means exactly one entry changed:
     * {@link #penaltyLastEntry}, whose count grew by one (appended when it is at or past the copy's entries).
     */
    public long penaltyRecords() { return penalties.records(); }

    /** The entry the last accepted token counted in the penalty list, or -1 before any. */
    public int penaltyLastEntry() { return penalties.lastEntry(); }

    /**
     * The uniform draw in [0, 1) that {@link #sample} would use after {@code ahead} more draws: a runner that
     * samples for this sequence uses it, and the engine then {@link #skipDraw skips} it, so that the stream of
     * draws is the same whoever samples (SplitMix64 is a counter: the k-th draw depends on k alone).
     */
    public double peekDraw(int ahead) {
        return (mix64(rngState + (ahead + 1L) * GOLDEN_GAMMA) >>> 11) * 0x1.0p-53;
    }

    /** Consumes the draw a runner used ({@link #peekDraw peekDraw(0)}). */
    public void skipDraw() {
        rngState += GOLDEN_GAMMA;
    }

    /**
     * Records the token the engine appended, so that later steps penalise it. Amortised O(1);
     * tokens are only tracked when a penalty is active.
     */
    public void accept(int token) {
        if (token < 0) throw new IllegalArgumentException("token must be non-negative, got " + token);
        outputLength++;
        penalties.record(token);
    }

    /** How often {@code token} was accepted (0 if penalties are off, as nothing is tracked). */
    int outputCount(int token) {
        return penalties.count(token);
    }

    /**
     * Samples the next token from {@code logits[offset .. offset + vocabSize)}, which are only
     * read. See the class documentation for the pipeline. Does not call {@link #accept}.
     *
     * @throws IllegalArgumentException if the range is invalid or no logit is finite
     */
    public SampledToken sample(float[] logits, int offset, int vocabSize) {
        Objects.requireNonNull(logits, "logits");
        if (vocabSize <= 0) throw new IllegalArgumentException("vocabSize must be positive, got " + vocabSize);
        Objects.checkFromIndexSize(offset, vocabSize, logits.length);
        SamplerWorkspace ws = fixedWorkspace != null ? fixedWorkspace : SamplerWorkspace.forCurrentThread();
        final int n = vocabSize;

        // Penalized logits (a sparse update of a reused copy, or the raw logits themselves) and
        // their maximum. A NaN or +inf anywhere shows up in the maximum (Math.max semantics; a
        // penalized +inf is already clamped), and only then is a sanitized copy made.
        boolean penalize = penalties.changeSomething() || !bias.isEmpty();
        float[] raw = logits;
        int rawOff = offset;
        float[] w = penalize ? ws.work(n) : raw;
        int wOff = penalize ? 0 : rawOff;
        float max = penalizedMax(raw, rawOff, n, w, penalize);
        if (!(max > Float.NEGATIVE_INFINITY && max < Float.POSITIVE_INFINITY)) {
            raw = sanitize(logits, offset, n, ws.clean(n));
            rawOff = 0;
            if (!penalize) w = raw;
            wOff = 0;
            max = penalizedMax(raw, 0, n, w, penalize);
            if (max == Float.NEGATIVE_INFINITY) {
                throw new IllegalArgumentException("logits contain no finite value");
            }
        }

        int token = greedy
                ? LogitKernels.firstIndexOf(w, wOff, n, max)
                : filters.draw(w, wOff, n, max, nextDouble(), ws); // exactly one draw per stochastic step

        if (!params.logprobs()) return SampledToken.of(token);
        float rawMax = penalize ? LogitKernels.max(raw, rawOff, n) : max;
        return Logprobs.of(token, raw, rawOff, n, rawMax, params.topLogprobs(), ws);
    }

    /** Copies {@code raw} into {@code w}, then biases and penalizes it, if {@code penalize}; returns max(w). */
    private float penalizedMax(float[] raw, int rawOff, int n, float[] w, boolean penalize) {
        if (!penalize) return LogitKernels.max(raw, rawOff, n);
        System.arraycopy(raw, rawOff, w, 0, n);
        biasAndPenalize(w, n);
        return LogitKernels.max(w, 0, n);
    }

    /** The logit_bias, then the penalties (vLLM v1's order), in place; {@code +inf} clamped as the penalties do. */
    private void biasAndPenalize(float[] w, int n) {
        bias.applyTo(w, 0, n);
        if (penalties.changeSomething()) penalties.applyTo(w, n);
    }

    /**
     * The logits after the logit_bias and the penalties, as {@link #sample} sees them (a new array; for tests and
     * debugging, not the hot path).
     */
    float[] penalizedLogits(float[] logits, int offset, int vocabSize) {
        float[] w = Arrays.copyOfRange(logits, offset, offset + vocabSize);
        biasAndPenalize(w, vocabSize);
        return w;
    }

    /** NaN → −inf, +inf → {@link Float#MAX_VALUE}, into {@code dst}. */
    private static float[] sanitize(float[] src, int off, int n, float[] dst) {
        for (int i = 0; i < n; i++) {
            float v = src[off + i];
            dst[i] = v != v ? Float.NEGATIVE_INFINITY : Penalties.finite(v);
        }
        return dst;
    }

    // ---------------------------------------------------------------- RNG and helpers

    /** SplitMix64 (Steele, Lea, Flood 2014): next 64 bits of this sequence's stream. */
    private long nextLong() {
        return mix64(rngState += GOLDEN_GAMMA);
    }

    /** Uniform double in [0, 1) from the top 53 bits. */
    private double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
