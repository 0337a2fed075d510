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
 *       {@link #topPFullVocabulary}. After top_k the same quickselect runs on the k keys.</li>
 * </ul>
 * Penalties are applied sparsely (distinct prompt and output tokens only) to a reused copy.
 * Scratch arrays live in a {@link SamplerWorkspace} shared by the samplers of a thread. The only
 * per-call allocation is the {@link SampledToken} (and its top-logprob arrays when requested).
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
    private final float invTemperature;
    private final int topK;
    private final float topP;
    private final float minP;
    private final float repetition;
    private final float presence;
    private final float frequency;
    private final boolean trackOutput;

    /** Sorted distinct prompt ids; only kept when the repetition penalty is active. */
    private final int[] promptDistinct;

    // Output token counts: open-addressing hash (slot -> distinct index + 1) over parallel arrays.
    private int[] slots = new int[16];
    private int[] outTokens = new int[8];
    private int[] outCounts = new int[8];
    private boolean[] outInPrompt = new boolean[8];
    private int distinct;
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
        this.invTemperature = greedy ? 1f : (float) (1.0 / params.temperature());
        this.topK = params.topK();
        this.topP = (float) params.topP();
        this.minP = (float) params.minP();
        this.repetition = (float) params.repetitionPenalty();
        this.presence = (float) params.presencePenalty();
        this.frequency = (float) params.frequencyPenalty();
        this.trackOutput = repetition != 1f || presence != 0f || frequency != 0f;
        this.promptDistinct = repetition != 1f ? distinctSorted(promptTokenIds) : new int[0];
        if (repetition == 1f) {
            for (int t : promptTokenIds) {
                if (t < 0) throw new IllegalArgumentException("prompt token ids must be non-negative, got " + t);
            }
        }
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
     * Records an output token so that later steps penalise it. Amortised O(1); tokens are only
     * tracked when a penalty is active.
     */
    public void accept(int token) {
        if (token < 0) throw new IllegalArgumentException("token must be non-negative, got " + token);
        outputLength++;
        if (!trackOutput) return;
        int mask = slots.length - 1;
        int s = mix32(token) & mask;
        while (true) {
            int slot = slots[s];
            if (slot == 0) break;
            if (outTokens[slot - 1] == token) {
                outCounts[slot - 1]++;
                return;
            }
            s = (s + 1) & mask;
        }
        if (distinct == outTokens.length) {
            outTokens = Arrays.copyOf(outTokens, distinct * 2);
            outCounts = Arrays.copyOf(outCounts, distinct * 2);
            outInPrompt = Arrays.copyOf(outInPrompt, distinct * 2);
        }
        outTokens[distinct] = token;
        outCounts[distinct] = 1;
        outInPrompt[distinct] = Arrays.binarySearch(promptDistinct, token) >= 0;
        distinct++;
        slots[s] = distinct;
        if (distinct * 2 > slots.length) rehash();
    }

    /** How often {@code token} was accepted (0 if penalties are off, as nothing is tracked). */
    int outputCount(int token) {
        if (!trackOutput) return 0;
        int mask = slots.length - 1;
        for (int s = mix32(token) & mask; slots[s] != 0; s = (s + 1) & mask) {
            if (outTokens[slots[s] - 1] == token) return outCounts[slots[s] - 1];
        }
        return 0;
    }

    private void rehash() {
        int[] next = new int[slots.length * 2];
        int mask = next.length - 1;
        for (int d = 0; d < distinct; d++) {
            int s = mix32(outTokens[d]) & mask;
            while (next[s] != 0) s = (s + 1) & mask;
            next[s] = d + 1;
        }
        slots = next;
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
        boolean penalize = penaltiesChangeSomething();
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
                : sampleStochastic(w, wOff, n, max, ws);

        if (!params.logprobs()) return SampledToken.of(token);
        float rawMax = penalize ? LogitKernels.max(raw, rawOff, n) : max;
        return withLogprobs(token, raw, rawOff, n, rawMax, ws);
    }

    /** Copies and penalizes {@code raw} into {@code w} if {@code penalize}; returns max(w). */
    private float penalizedMax(float[] raw, int rawOff, int n, float[] w, boolean penalize) {
        if (!penalize) return LogitKernels.max(raw, rawOff, n);
        System.arraycopy(raw, rawOff, w, 0, n);
        applyPenalties(w, n);
        return LogitKernels.max(w, 0, n);
    }

    // ---------------------------------------------------------------- penalties

    /**
     * The logits after penalties, as {@link #sample} sees them (a new array; for tests and
     * debugging, not the hot path).
     */
    float[] penalizedLogits(float[] logits, int offset, int vocabSize) {
        float[] w = Arrays.copyOfRange(logits, offset, offset + vocabSize);
        if (penaltiesChangeSomething()) applyPenalties(w, vocabSize);
        return w;
    }

    private boolean penaltiesChangeSomething() {
        return (repetition != 1f && (promptDistinct.length > 0 || distinct > 0))
                || ((presence != 0f || frequency != 0f) && distinct > 0);
    }

    /** Applies the penalties in place to the copy {@code w[0 .. n)}; ids ≥ n are ignored. */
    private void applyPenalties(float[] w, int n) {
        if (repetition != 1f) {
            for (int t : promptDistinct) {
                if (t >= n) break; // sorted
                w[t] = repel(w[t]);
            }
            for (int d = 0; d < distinct; d++) {
                int t = outTokens[d];
                if (t < n && !outInPrompt[d]) w[t] = repel(w[t]);
            }
        }
        if (presence != 0f || frequency != 0f) {
            for (int d = 0; d < distinct; d++) {
                int t = outTokens[d];
                if (t < n) w[t] = finite(w[t] - frequency * outCounts[d] - presence);
            }
        }
    }

    private float repel(float logit) {
        return finite(logit > 0f ? logit / repetition : logit * repetition);
    }

    /** Keeps {@code +inf} out of the penalized logits (−inf stays a mask). */
    private static float finite(float v) {
        return v == Float.POSITIVE_INFINITY ? Float.MAX_VALUE : v;
    }

    private static float[] sanitize(float[] src, int off, int n, float[] dst) {
        for (int i = 0; i < n; i++) {
            float v = src[off + i];
            dst[i] = v != v ? Float.NEGATIVE_INFINITY : finite(v);
        }
        return dst;
    }

    // ---------------------------------------------------------------- stochastic path

    private int sampleStochastic(float[] w, int wOff, int n, float max, SamplerWorkspace ws) {
        double u = nextDouble(); // exactly one draw per stochastic step
        float[] e = ws.probs(n);
        boolean useTopP = topP < 1f;

        if (topK > 0 && topK < n) {
            long[] keys = ws.keys(topK);
            int c = selectTop(w, wOff, n, topK, keys);
            double mass = 0;
            int kept = 0;
            for (int j = 0; j < c; j++) {
                int id = LogitKernels.id(keys[j]);
                float x = (float) Math.exp((w[wOff + id] - max) * invTemperature);
                if (x > 0f && x >= minP) { // min_p (commutes with top_k)
                    e[id] = x;
                    keys[kept++] = keys[j];
                    mass += x;
                }
            }
            if (useTopP) kept = nucleus(keys, kept, topP * mass, e);
            return drawFromKeys(keys, kept, e, u);
        }

        double[] blocks = ws.blockSums(n);
        double total = LogitKernels.expBlocks(w, wOff, n, max, invTemperature, minP, e, blocks);
        if (!useTopP) return drawFromBlocks(e, n, blocks, total, u);

        return topPFullVocabulary(w, wOff, n, e, total, u, ws);
    }

    /**
     * top_p without top_k, over the whole vocabulary, in four steps that never sort:
     * <ol>
     *   <li>Pre-filter: tokens with {@code e < τ = (1 − p)·S / V} are never in the nucleus, since
     *       all of them together weigh less than {@code (1 − p)·S}. τ is taken at half this
     *       bound, which leaves a margin of {@code (1 − p)·S / 2} for the rounding of S.</li>
     *   <li>One pass builds a mass histogram of the survivors over 2^(1/16)-wide buckets of
     *       {@code e} (float exponent + 4 mantissa bits), skipping vectors without survivors
     *       ({@link LogitKernels#massHistogram}). Walking it from the top finds the boundary
     *       bucket: every token above it is in the nucleus. Buckets above τ's own are exact;
     *       τ's own may also hold sub-τ lanes of hit vectors, but it is only reached when the
     *       survivors in it are needed, and then only they are collected. If rounding ever put
     *       the boundary below τ's bucket, the histogram is redone over all tokens.</li>
     *   <li>Only the boundary bucket's tokens get keys; a mass-aware quickselect
     *       ({@link #nucleus}) picks the prefix of them that completes the mass.</li>
     *   <li>The draw walks either the tokens above the boundary (vectorised membership test
     *       {@code e >= bucket top}, in id order) or the selected boundary tokens.</li>
     * </ol>
     * Steps 3 and 4 visit only the vectors in which step 2 found a survivor, so for a peaked
     * distribution they cost next to nothing.
     * Bucket membership is monotone in the penalized logit, so "above the boundary bucket" is a
     * prefix of the (logit desc, id asc) order and the result is exactly the nucleus.
     */
    private int topPFullVocabulary(float[] w, int wOff, int n, float[] e, double total, double u,
                                   SamplerWorkspace ws) {
        double target = topP * total;
        double[] hist = ws.histogram;
        // τ at half the bound leaves a margin of (1 − p)·S/2 for the rounding of S
        float tau = (float) (0.5 * (1.0 - topP) * total / n);
        if (!(tau > 0f)) tau = Float.MIN_VALUE;
        int[] hitVectors = ws.hitVectors(n);
        int hits = LogitKernels.massHistogram(e, n, tau, hist, hitVectors);
        int top = LogitKernels.BUCKETS - 1; // bucket of e = 1, the maximum
        int boundary = -1;
        double above = 0;
        for (int b = top; b >= 0; b--) {
            if (above + hist[b] >= target) {
                boundary = b;
                break;
            }
            above += hist[b];
        }
        if (boundary < 0 || Float.intBitsToFloat((boundary + 1) << LogitKernels.BUCKET_SHIFT) <= tau) {
            // only through rounding: redo over every token (a hit everywhere, exact buckets)
            Arrays.fill(hist, 0.0);
            tau = Float.MIN_VALUE;
            hits = LogitKernels.massHistogram(e, n, 0f, hist, hitVectors);
            above = 0;
            boundary = 0;
            for (int b = top; b > 0; b--) {
                if (above + hist[b] >= target) {
                    boundary = b;
                    break;
                }
                above += hist[b];
            }
        }
        Arrays.fill(hist, 0.0); // restore the all-zero invariant (16 kB)
        float lo = Math.max(tau, Float.intBitsToFloat(boundary << LogitKernels.BUCKET_SHIFT));
        float hi = Float.intBitsToFloat((boundary + 1) << LogitKernels.BUCKET_SHIFT);

        long[] keys = ws.keys(n);
        int c = LogitKernels.collectRange(e, n, lo, hi, w, wOff, hitVectors, hits, keys, 0);
        int m = nucleus(keys, c, target - above, e);
        double selected = 0;
        for (int j = 0; j < m; j++) selected += e[LogitKernels.id(keys[j])];

        double x = u * (above + selected);
        if (x < above) {
            int id = LogitKernels.walkAtLeast(e, n, hi, x, hitVectors, hits);
            if (id >= 0) return id;
        }
        return drawFromKeys(keys, m, e, Math.min(1.0, Math.max(0.0, (x - above) / selected)));
    }

    /** Inverse CDF over the vocabulary: choose the block by its sum, then walk inside it. */
    private static int drawFromBlocks(float[] e, int n, double[] blocks, double total, double u01) {
        double u = u01 * total;
        for (int b = 0, start = 0; start < n; b++, start += LogitKernels.BLOCK) {
            double bs = blocks[b];
            if (u < bs) {
                int end = Math.min(n, start + LogitKernels.BLOCK);
                double acc = 0;
                int last = -1;
                for (int i = start; i < end; i++) {
                    float x = e[i];
                    acc += x; // a zero (min_p) entry cannot make u < acc become true
                    if (u < acc) return i;
                    last = x > 0f ? i : last;
                }
                if (last >= 0) return last; // rounding: the block's walk fell short of its sum
            }
            u -= bs;
        }
        for (int i = n - 1; i >= 0; i--) if (e[i] > 0f) return i; // rounding at the very end
        throw new IllegalStateException("no token with positive probability");
    }

    /** Inverse CDF over the candidate keys (all with positive mass) in their array order. */
    private static int drawFromKeys(long[] keys, int c, float[] e, double u01) {
        double total = 0;
        for (int j = 0; j < c; j++) total += e[LogitKernels.id(keys[j])];
        double u = u01 * total;
        double acc = 0;
        for (int j = 0; j < c; j++) {
            int id = LogitKernels.id(keys[j]);
            acc += e[id];
            if (u < acc) return id;
        }
        return LogitKernels.id(keys[c - 1]);
    }

    /**
     * Bounded selection of the {@code k} best (largest logit, then lowest id) of
     * {@code w[off .. off+n)} into {@code heap[0 .. min(k, n))}, unordered, as a max-heap of
     * {@link LogitKernels#key keys} (root = worst kept). Scanning ids in increasing order, a
     * newcomer beats the root iff its logit is strictly larger (on equal logits it has the higher
     * id), so whole vectors are rejected by one compare against the root's logit.
     *
     * @return the number selected, {@code min(k, n)}
     */
    static int selectTop(float[] w, int off, int n, int k, long[] heap) {
        k = Math.min(k, n);
        for (int i = 0; i < k; i++) heap[i] = LogitKernels.key(w[off + i], i);
        for (int i = k / 2 - 1; i >= 0; i--) siftDown(heap, i, k);
        float worst = w[off + LogitKernels.id(heap[0])];
        int i = k;
        int lanes = LogitKernels.LANES;
        int bound = k + LogitKernels.F.loopBound(n - k);
        for (; i < bound; i += lanes) {
            var v = jdk.incubator.vector.FloatVector.fromArray(LogitKernels.F, w, off + i);
            if (!v.compare(jdk.incubator.vector.VectorOperators.GT, worst).anyTrue()) continue;
            for (int j = i, end = i + lanes; j < end; j++) {
                float x = w[off + j];
                if (x > worst) {
                    heap[0] = LogitKernels.key(x, j);
                    siftDown(heap, 0, k);
                    worst = w[off + LogitKernels.id(heap[0])];
                }
            }
        }
        for (; i < n; i++) {
            float x = w[off + i];
            if (x > worst) {
                heap[0] = LogitKernels.key(x, i);
                siftDown(heap, 0, k);
                worst = w[off + LogitKernels.id(heap[0])];
            }
        }
        return k;
    }

    private static void siftDown(long[] h, int i, int size) {
        long x = h[i];
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) break;
            if (child + 1 < size && h[child + 1] > h[child]) child++;
            if (h[child] <= x) break;
            h[i] = h[child];
            i = child;
        }
        h[i] = x;
    }

    private static final int SMALL = 16;

    /**
     * Rearranges {@code a[0 .. n)} so that {@code a[0 .. m)} is the nucleus — the shortest prefix
     * of the key order (descending logit, ties by id) whose mass {@code Σ e[id]} reaches
     * {@code target} — and returns {@code m}, without sorting the nucleus.
     *
     * <p>Quickselect guided by mass: partition around a median-of-three pivot; if the better side
     * alone reaches the remaining target, recurse into it; if adding the pivot does, the nucleus
     * ends at the pivot; otherwise keep the better side and the pivot and continue on the worse
     * side with the target reduced by their mass. Expected O(n). Small ranges are insertion
     * sorted and walked; after 64 rounds (adversarial pivots) the range is sorted instead.
     */
    static int nucleus(long[] a, int n, double target, float[] e) {
        int lo = 0, hi = n;
        double need = target > 0 ? target : Double.MIN_VALUE; // the nucleus is never empty
        int rounds = 0;
        while (hi - lo > SMALL) {
            if (++rounds > 64) {
                Arrays.sort(a, lo, hi);
                return walkSorted(a, lo, hi, need, e);
            }
            int mid = (lo + hi) >>> 1;
            // median of three to a[mid], then park it at hi - 1
            if (a[mid] < a[lo]) swap(a, mid, lo);
            if (a[hi - 1] < a[lo]) swap(a, hi - 1, lo);
            if (a[hi - 1] < a[mid]) swap(a, hi - 1, mid);
            swap(a, mid, hi - 1);
            long pivot = a[hi - 1];
            int s = lo;
            double better = 0;
            for (int j = lo; j < hi - 1; j++) {
                long x = a[j];
                if (x < pivot) {
                    a[j] = a[s];
                    a[s++] = x;
                    better += e[LogitKernels.id(x)];
                }
            }
            swap(a, s, hi - 1);
            double withPivot = better + e[LogitKernels.id(pivot)];
            if (better >= need) {
                hi = s;
            } else if (withPivot >= need) {
                return s + 1;
            } else {
                need -= withPivot;
                lo = s + 1;
            }
        }
        for (int i = lo + 1; i < hi; i++) { // insertion sort of the small remainder
            long x = a[i];
            int j = i - 1;
            while (j >= lo && a[j] > x) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = x;
        }
        return walkSorted(a, lo, hi, need, e);
    }

    private static int walkSorted(long[] a, int lo, int hi, double need, float[] e) {
        for (int j = lo; j < hi; j++) {
            need -= e[LogitKernels.id(a[j])];
            if (need <= 0) return j + 1;
        }
        return hi;
    }

    private static void swap(long[] a, int i, int j) {
        long t = a[i];
        a[i] = a[j];
        a[j] = t;
    }

    // ---------------------------------------------------------------- logprobs

    private SampledToken withLogprobs(int token, float[] raw, int rawOff, int n, float rawMax,
                                      SamplerWorkspace ws) {
        double logSumExp = rawMax + Math.log(LogitKernels.sumExp(raw, rawOff, n, rawMax));
        float logprob = (float) (raw[rawOff + token] - logSumExp);
        int k = params.topLogprobs();
        if (k == 0) return new SampledToken(token, logprob, SampledToken.NO_IDS, SampledToken.NO_LOGPROBS);
        long[] heap = ws.topHeap;
        k = selectTop(raw, rawOff, n, k, heap);
        Arrays.sort(heap, 0, k); // ascending key = descending logit, ties by id
        int[] ids = new int[k];
        float[] lps = new float[k];
        for (int j = 0; j < k; j++) {
            int id = LogitKernels.id(heap[j]);
            ids[j] = id;
            lps[j] = (float) (raw[rawOff + id] - logSumExp);
        }
        return new SampledToken(token, logprob, ids, lps);
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

    private static int mix32(int x) {
        x *= 0x9E3779B9;
        return x ^ (x >>> 16);
    }

    private static int[] distinctSorted(int[] ids) {
        int[] s = ids.clone();
        Arrays.sort(s);
        int m = 0;
        for (int i = 0; i < s.length; i++) {
            if (s[i] < 0) throw new IllegalArgumentException("prompt token ids must be non-negative, got " + s[i]);
            if (m == 0 || s[m - 1] != s[i]) s[m++] = s[i];
        }
        return Arrays.copyOf(s, m);
    }
}
