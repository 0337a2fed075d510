package io.chunkserve.sampling;

import com.fasterxml.jackson.annotation.JsonValue;

/**
 * Why a sequence stopped generating, as reported in the OpenAI {@code finish_reason} field.
 *
 * <p>{@link #STOP} and {@link #LENGTH} are the OpenAI values; {@link #ABORT} (client went away or
 * the request was cancelled) and {@link #ERROR} (the engine failed on this sequence) follow vLLM,
 * which reports them in the same field. The JSON form is the lower-case name.
 */
public enum FinishReason {
    /** EOS, a stop token id, or a stop string was produced. */
    STOP,
    /** {@code max_tokens} (or the model's context) was reached. */
    LENGTH,
    /** The request was cancelled before it finished. */
    ABORT,
    /** Generation failed for this sequence (e.g. logits without a finite value). */
    ERROR;

    /** The wire name: {@code "stop"}, {@code "length"}, {@code "abort"} or {@code "error"}. */
    @JsonValue
    public String openAiName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
