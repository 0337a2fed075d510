package io.chunkserve.sampling;

import java.util.ArrayList;
import java.util.List;

/**
 * The per-request sampling configuration of an OpenAI-compatible completion, validated on
 * construction. Semantics follow the OpenAI API where it defines them and vLLM where it is silent
 * ({@code top_k}, {@code min_p}, {@code repetition_penalty}, {@code stop_token_ids},
 * {@code ignore_eos}).
 *
 * <p>Every violation throws {@link IllegalArgumentException} whose message starts with the
 * parameter's OpenAI/vLLM wire name (snake_case), e.g. {@code "temperature must be in [0, 2], got
 * 3.0"}, so the HTTP layer can return it verbatim as a 400 error. NaN fails every range check.
 *
 * @param temperature       softmax temperature in [0, 2]. Values below {@link #GREEDY_EPSILON}
 *                          (vLLM's {@code _SAMPLING_EPS}) mean greedy decoding: argmax after
 *                          penalties, every filter ignored.
 * @param topK              keep only the k most likely tokens; any value {@code <= 0} (vLLM uses
 *                          -1 and 0) disables it. Kept as given, see {@link #topKEnabled()}.
 * @param topP              nucleus sampling, in (0, 1]; 1 disables it.
 * @param minP              drop tokens whose probability is below {@code minP} times the most
 *                          likely token's, in [0, 1]; 0 disables it.
 * @param seed              RNG seed, or {@code null} for a random one. With a seed, the tokens
 *                          of a sequence depend only on (seed, sample index, logits history).
 * @param presencePenalty   in [-2, 2]; subtracted once from the logit of every token that occurs
 *                          in the output so far.
 * @param frequencyPenalty  in [-2, 2]; subtracted from the logit of every token once per
 *                          occurrence in the output so far.
 * @param repetitionPenalty {@code > 0} (finite), 1 disables it. HF/vLLM semantics: the logit of
 *                          every token seen in the prompt or the output is divided by it if
 *                          positive and multiplied by it otherwise.
 * @param maxTokens         maximum number of generated tokens, {@code >= 1}.
 * @param stop              at most 4 non-empty stop strings (OpenAI); immutable, never null.
 * @param stopTokenIds      extra token ids that end generation (vLLM); immutable, never null.
 * @param ignoreEos         keep generating after the EOS token (vLLM, for benchmarking).
 * @param logprobs          return the log-probability of each sampled token.
 * @param topLogprobs       number of most likely alternatives to return per position, in
 *                          [0, 20] (OpenAI); a positive value requires {@code logprobs}.
 * @param n                 number of independent samples (choices) for the prompt, {@code >= 1}.
 * @param logitBias         OpenAI's {@code logit_bias}, added to the logits before the penalties;
 *                          never null ({@link LogitBias#NONE}).
 */
public record SamplingParams(
        double temperature,
        int topK,
        double topP,
        double minP,
        Long seed,
        double presencePenalty,
        double frequencyPenalty,
        double repetitionPenalty,
        int maxTokens,
        List<String> stop,
        List<Integer> stopTokenIds,
        boolean ignoreEos,
        boolean logprobs,
        int topLogprobs,
        int n,
        LogitBias logitBias) {

    /** Temperatures below this are treated as greedy (same threshold as vLLM). */
    public static final double GREEDY_EPSILON = 1e-5;
    /** OpenAI's limit on the number of stop strings. */
    public static final int MAX_STOP_STRINGS = 4;
    /** OpenAI's limit on {@code top_logprobs}. */
    public static final int MAX_TOP_LOGPROBS = 20;
    /** Default {@code max_tokens} of the builder (OpenAI completions and vLLM default). */
    public static final int DEFAULT_MAX_TOKENS = 16;

    /** Validates every field and makes the lists immutable copies (null lists become empty). */
    public SamplingParams {
        if (!(temperature >= 0 && temperature <= 2)) {
            throw new IllegalArgumentException("temperature must be in [0, 2], got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        }
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
            throw new IllegalArgumentException(
                    "presence_penalty must be in [-2, 2], got " + presencePenalty);
        }
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
            throw new IllegalArgumentException(
                    "frequency_penalty must be in [-2, 2], got " + frequencyPenalty);
        }
        if (!(repetitionPenalty > 0 && repetitionPenalty < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException(
                    "repetition_penalty must be a finite number > 0, got " + repetitionPenalty);
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max_tokens must be at least 1, got " + maxTokens);
        }
        stop = copyStops(stop);
        stopTokenIds = copyStopTokenIds(stopTokenIds);
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) {
            throw new IllegalArgumentException(
                    "top_logprobs must be in [0, " + MAX_TOP_LOGPROBS + "], got " + topLogprobs);
        }
        if (topLogprobs > 0 && !logprobs) {
            throw new IllegalArgumentException("top_logprobs requires logprobs to be true");
        }
        if (n < 1) {
            throw new IllegalArgumentException("n must be at least 1, got " + n);
        }
        if (logitBias == null) logitBias = LogitBias.NONE;
    }

    private static List<String> copyStops(List<String> stop) {
        if (stop == null) return List.of();
        if (stop.size() > MAX_STOP_STRINGS) {
            throw new IllegalArgumentException(
                    "stop must contain at most " + MAX_STOP_STRINGS + " sequences, got " + stop.size());
        }
        List<String> out = new ArrayList<>(stop.size());
        for (String s : stop) {
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("stop sequences must be non-empty strings");
            }
            out.add(s);
        }
        return List.copyOf(out);
    }

    private static List<Integer> copyStopTokenIds(List<Integer> ids) {
        if (ids == null) return List.of();
        for (Integer id : ids) {
            if (id == null || id < 0) {
                throw new IllegalArgumentException(
                        "stop_token_ids must contain non-negative token ids, got " + id);
            }
        }
        return List.copyOf(ids);
    }

    /** Greedy settings: temperature 0, no penalties, no filters, the given {@code max_tokens}. */
    public static SamplingParams greedy(int maxTokens) {
        return builder().temperature(0).maxTokens(maxTokens).build();
    }

    /** A builder with the OpenAI defaults (temperature 1, top_p 1, n 1, max_tokens 16, ...). */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder initialised from this instance, for deriving variants. */
    public Builder toBuilder() {
        return new Builder()
                .temperature(temperature).topK(topK).topP(topP).minP(minP).seed(seed)
                .presencePenalty(presencePenalty).frequencyPenalty(frequencyPenalty)
                .repetitionPenalty(repetitionPenalty).maxTokens(maxTokens).stop(stop)
                .stopTokenIds(stopTokenIds).ignoreEos(ignoreEos).logprobs(logprobs)
                .topLogprobs(topLogprobs).n(n).logitBias(logitBias);
    }

    /** Whether decoding is greedy (temperature below {@link #GREEDY_EPSILON}). */
    public boolean isGreedy() {
        return temperature < GREEDY_EPSILON;
    }

    /** Whether top-k filtering is on ({@code topK > 0}). */
    public boolean topKEnabled() {
        return topK > 0;
    }

    /** Whether a {@code logit_bias} changes some logit. */
    public boolean hasLogitBias() {
        return !logitBias.isEmpty();
    }

    /** Whether any of repetition, presence or frequency penalty is active. */
    public boolean hasPenalties() {
        return repetitionPenalty != 1.0 || presencePenalty != 0.0 || frequencyPenalty != 0.0;
    }

    /**
     * The token-level stop decision after {@code token} was generated as the
     * {@code outputLength}-th output token (1-based count including it).
     *
     * <p>Order (vLLM): EOS (unless {@code ignoreEos}) and {@code stopTokenIds} give
     * {@link FinishReason#STOP}; otherwise reaching {@code maxTokens} gives
     * {@link FinishReason#LENGTH}; otherwise {@code null} (continue). Stop strings are checked
     * separately on the detokenized text by {@link StopStringMatcher}.
     *
     * @param eosTokenId the model's EOS id, or a negative value if it has none
     */
    public FinishReason finishReasonAfter(int token, int outputLength, int eosTokenId) {
        if (!ignoreEos && token == eosTokenId && eosTokenId >= 0) return FinishReason.STOP;
        for (int i = 0, s = stopTokenIds.size(); i < s; i++) {
            if (stopTokenIds.get(i) == token) return FinishReason.STOP;
        }
        return outputLength >= maxTokens ? FinishReason.LENGTH : null;
    }

    /** Mutable builder; {@link #build()} validates. Defaults are the OpenAI/vLLM defaults. */
    public static final class Builder {
        private double temperature = 1.0;
        private int topK = -1;
        private double topP = 1.0;
        private double minP = 0.0;
        private Long seed;
        private double presencePenalty;
        private double frequencyPenalty;
        private double repetitionPenalty = 1.0;
        private int maxTokens = DEFAULT_MAX_TOKENS;
        private List<String> stop = List.of();
        private List<Integer> stopTokenIds = List.of();
        private boolean ignoreEos;
        private boolean logprobs;
        private int topLogprobs;
        private int n = 1;
        private LogitBias logitBias = LogitBias.NONE;

        private Builder() { }

        public Builder temperature(double v) { temperature = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder topP(double v) { topP = v; return this; }
        public Builder minP(double v) { minP = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder presencePenalty(double v) { presencePenalty = v; return this; }
        public Builder frequencyPenalty(double v) { frequencyPenalty = v; return this; }
        public Builder repetitionPenalty(double v) { repetitionPenalty = v; return this; }
        public Builder maxTokens(int v) { maxTokens = v; return this; }
        public Builder stop(List<String> v) { stop = v; return this; }
        public Builder stop(String... v) { stop = v == null ? null : java.util.Arrays.asList(v); return this; }
        public Builder stopTokenIds(List<Integer> v) { stopTokenIds = v; return this; }
        public Builder ignoreEos(boolean v) { ignoreEos = v; return this; }
        public Builder logprobs(boolean v) { logprobs = v; return this; }
        /** Sets {@code top_logprobs}; does not imply {@code logprobs}. */
        public Builder topLogprobs(int v) { topLogprobs = v; return this; }
        public Builder n(int v) { n = v; return this; }
        public Builder logitBias(LogitBias v) { logitBias = v; return this; }
        /** @throws IllegalArgumentException as {@link LogitBias#of} */
        public Builder logitBias(java.util.Map<Integer, Double> v) { logitBias = LogitBias.of(v); return this; }

        /** @throws IllegalArgumentException naming the first invalid parameter */
        public SamplingParams build() {
            return new SamplingParams(temperature, topK, topP, minP, seed, presencePenalty,
                    frequencyPenalty, repetitionPenalty, maxTokens, stop, stopTokenIds, ignoreEos,
                    logprobs, topLogprobs, n, logitBias);
        }
    }
}
