package io.chunkserve.engine;

import io.chunkserve.kv.KvSequence;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.Sampler;
import io.chunkserve.sampling.StopStringMatcher;
import io.chunkserve.tokenizer.IncrementalDetokenizer;

import java.util.Arrays;

/**
 * One sample of a request: its tokens (prompt + generated), its KV sequence while admitted, its
 * sampler, detokenizer and stop-string state. Engine thread only.
 *
 * <p>Prefill, decode and recompute after preemption are one thing here: the forward runs
 * {@code tokens[kv.length() ..]}, and when that reaches the end the logits sample the next token.
 */
final class Choice {
    final int index;
    final Sampler sampler;
    final IncrementalDetokenizer detok;
    final StopStringMatcher stops;
    int[] tokens;          // prompt followed by generated tokens; valid up to size
    int size;
    final int promptLength;
    KvSequence kv;         // null while waiting (not admitted, preempted, or awaiting a fork)
    FinishReason finish;   // null while running
    RequestState owner;    // set once, right after the request's state is created
    int inflight;          // tokens of this choice in launched steps not collected yet (pipelined runners)
    Object pickStep;       // the launched step in which the runner picks this choice's next token on the device
    int pickRow = -1;      // (its row there)
    Object staleStep;      // a launched step whose row for this choice ran on a pick the runner did not make: dropped

    Choice(int index, int[] prompt, Sampler sampler, IncrementalDetokenizer detok, StopStringMatcher stops) {
        this.index = index;
        this.tokens = Arrays.copyOf(prompt, prompt.length + 16);
        this.size = prompt.length;
        this.promptLength = prompt.length;
        this.sampler = sampler;
        this.detok = detok;
        this.stops = stops;
    }

    int generated() { return size - promptLength; }

    /** Tokens still to run through the model before the next sample (launched ones not counted). */
    int pending() { return size - kv.length() - inflight; }

    void append(int token) {
        if (size == tokens.length) tokens = Arrays.copyOf(tokens, size * 2);
        tokens[size++] = token;
    }

    /** The prompt plus what was generated, as a fresh array (to re-open after preemption). */
    int[] allTokens() { return Arrays.copyOf(tokens, size); }

    boolean finished() { return finish != null; }
}
