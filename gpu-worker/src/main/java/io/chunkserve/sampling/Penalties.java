package io.chunkserve.sampling;

import java.util.Arrays;

/**
 * The penalties of one sequence and the state they need: the repetition penalty (HF semantics,
 * on every distinct token of the prompt or the output: {@code l > 0 ? l / r : l * r}) and the
 * presence/frequency penalties (OpenAI formula, on output tokens only:
 * {@code l − frequency·count − presence·[count > 0]}), applied sparsely to a copy of the logits.
 *
 * <p>State: the <em>entries</em>, the distinct tokens a penalty touches with their output counts — first the
 * distinct prompt tokens, sorted (only when the repetition penalty is active; count 0 until generated), then the
 * generated tokens not in the prompt in the order first seen. An open-addressing hash maps a generated token to
 * its entry. Kept up to date in amortised O(1) per accepted token (entries are only appended; counts only grow),
 * only while some penalty is active. The same list is what a runner applies on the device ({@link PenaltyList}).
 */
final class Penalties {
    private final float repetition;
    private final float presence;
    private final float frequency;
    /** Whether any penalty is active (else nothing is tracked). */
    private final boolean active;

    private int[] ids;
    private int[] counts;
    private int entries;
    /** Entries [0, promptEntries) are the sorted distinct prompt tokens. */
    private final int promptEntries;
    // generated tokens: slot -> entry index + 1
    private int[] slots = new int[16];
    private int outDistinct;
    // how many tokens were recorded, and the entry the last one touched (a runner's device-resident copy of the list
    // follows it incrementally: one record changes that entry's count, appending it if it is new)
    private long records;
    private int lastEntry = -1;

    /** @throws IllegalArgumentException if a prompt id is negative */
    Penalties(SamplingParams params, int[] promptTokenIds) {
        this.repetition = (float) params.repetitionPenalty();
        this.presence = (float) params.presencePenalty();
        this.frequency = (float) params.frequencyPenalty();
        this.active = repetition != 1f || presence != 0f || frequency != 0f;
        int[] prompt = repetition != 1f ? distinctSorted(promptTokenIds) : new int[0];
        if (repetition == 1f) {
            for (int t : promptTokenIds) {
                if (t < 0) throw new IllegalArgumentException("prompt token ids must be non-negative, got " + t);
            }
        }
        promptEntries = prompt.length;
        entries = prompt.length;
        ids = Arrays.copyOf(prompt, prompt.length + 8);
        counts = new int[ids.length];
    }

    boolean active() { return active; }

    float repetition() { return repetition; }

    float presence() { return presence; }

    float frequency() { return frequency; }

    /** The number of entries (the distinct tokens a penalty touches now). */
    int entries() { return entries; }

    /** The entries' token ids [0, {@link #entries}) (live: appended to by {@link #record}; may be replaced when grown). */
    int[] entryIds() { return ids; }

    /** The entries' output counts [0, {@link #entries}) (live: grow with {@link #record}). */
    int[] entryCounts() { return counts; }

    /** How many tokens {@link #record} counted (0 while no penalty is active). */
    long records() { return records; }

    /** The entry whose count the last {@link #record} incremented (appended if it was new), or -1 before any. */
    int lastEntry() { return lastEntry; }

    /** Counts an output token (a non-negative id). Amortised O(1); a no-op when no penalty is active. */
    void record(int token) {
        if (!active) return;
        int mask = slots.length - 1;
        int s = mix32(token) & mask;
        while (true) {
            int slot = slots[s];
            if (slot == 0) break;
            if (ids[slot - 1] == token) {
                counts[slot - 1]++;
                records++;
                lastEntry = slot - 1;
                return;
            }
            s = (s + 1) & mask;
        }
        int e = promptEntries > 0 ? Arrays.binarySearch(ids, 0, promptEntries, token) : -1;
        if (e < 0) {
            if (entries == ids.length) {
                ids = Arrays.copyOf(ids, entries * 2);
                counts = Arrays.copyOf(counts, entries * 2);
            }
            e = entries++;
            ids[e] = token;
        }
        counts[e] = 1;
        records++;
        lastEntry = e;
        slots[s] = e + 1;
        outDistinct++;
        if (outDistinct * 2 > slots.length) rehash();
    }

    /** How often {@code token} was accepted (0 if penalties are off, as nothing is tracked). */
    int count(int token) {
        if (!active) return 0;
        int mask = slots.length - 1;
        for (int s = mix32(token) & mask; slots[s] != 0; s = (s + 1) & mask) {
            if (ids[slots[s] - 1] == token) return counts[slots[s] - 1];
        }
        return 0;
    }

    private void rehash() {
        int[] next = new int[slots.length * 2];
        int mask = next.length - 1;
        for (int slot : slots) {
            if (slot == 0) continue;
            int s = mix32(ids[slot - 1]) & mask;
            while (next[s] != 0) s = (s + 1) & mask;
            next[s] = slot;
        }
        slots = next;
    }

    /** Whether {@link #applyTo} would change any logit now. */
    boolean changeSomething() {
        return (repetition != 1f && entries > 0) || ((presence != 0f || frequency != 0f) && outDistinct > 0);
    }

    /** Applies the penalties in place to the copy {@code w[0 .. n)}; ids ≥ n are ignored. */
    void applyTo(float[] w, int n) {
        for (int e = 0; e < entries; e++) {
            int t = ids[e];
            if (t < n) w[t] = penalize(w[t], counts[e], repetition, presence, frequency);
        }
    }

    /**
     * One token's penalized logit: the repetition penalty (the token is in the prompt or the output), then, when it
     * was generated ({@code count > 0}), the presence and frequency penalties; {@code +inf} clamped after each.
     */
    static float penalize(float logit, int count, float repetition, float presence, float frequency) {
        float v = logit;
        if (repetition != 1f) v = finite(v > 0f ? v / repetition : v * repetition);
        if ((presence != 0f || frequency != 0f) && count > 0) v = finite(v - frequency * count - presence);
        return v;
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
