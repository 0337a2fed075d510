package io.chunkserve.sampling;

import java.util.Arrays;

/**
 * The penalties of one sequence and the state they need: the repetition penalty (HF semantics,
 * on every distinct token of the prompt or the output: {@code l > 0 ? l / r : l * r}) and the
 * presence/frequency penalties (OpenAI formula, on output tokens only:
 * {@code l − frequency·count − presence·[count > 0]}). Output tokens are counted in an
 * open-addressing hash over parallel arrays, only while some penalty is active, and the
 * penalties are applied sparsely to a copy of the logits.
 */
final class Penalties {
    private final float repetition;
    private final float presence;
    private final float frequency;
    /** Whether any penalty is active (else nothing is tracked). */
    private final boolean active;

    /** Sorted distinct prompt ids; only kept when the repetition penalty is active. */
    private final int[] promptDistinct;

    // Output token counts: open-addressing hash (slot -> distinct index + 1) over parallel arrays.
    private int[] slots = new int[16];
    private int[] outTokens = new int[8];
    private int[] outCounts = new int[8];
    private boolean[] outInPrompt = new boolean[8];
    private int distinct;

    /** @throws IllegalArgumentException if a prompt id is negative */
    Penalties(SamplingParams params, int[] promptTokenIds) {
        this.repetition = (float) params.repetitionPenalty();
        this.presence = (float) params.presencePenalty();
        this.frequency = (float) params.frequencyPenalty();
        this.active = repetition != 1f || presence != 0f || frequency != 0f;
        this.promptDistinct = repetition != 1f ? distinctSorted(promptTokenIds) : new int[0];
        if (repetition == 1f) {
            for (int t : promptTokenIds) {
                if (t < 0) throw new IllegalArgumentException("prompt token ids must be non-negative, got " + t);
            }
        }
    }

    /** Counts an output token (a non-negative id). Amortised O(1); a no-op when no penalty is active. */
    void record(int token) {
        if (!active) return;
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
    int count(int token) {
        if (!active) return 0;
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

    /** Whether {@link #applyTo} would change any logit now. */
    boolean changeSomething() {
        return (repetition != 1f && (promptDistinct.length > 0 || distinct > 0))
                || ((presence != 0f || frequency != 0f) && distinct > 0);
    }

    /** Applies the penalties in place to the copy {@code w[0 .. n)}; ids ≥ n are ignored. */
    void applyTo(float[] w, int n) {
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
    static float finite(float v) {
        return v == Float.POSITIVE_INFINITY ? Float.MAX_VALUE : v;
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
