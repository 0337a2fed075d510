package io.chunkserve.sampling;

/**
 * The penalties of a sequence as a runner applies them itself (the CUDA runner's {@code cs_penalize}, on the device,
 * before its argmax or draw): a compact list of entries — the distinct tokens a penalty touches now and their output
 * counts ({@link Sampler#penaltyEntries}) — plus at most one generated token the list does not count yet (the token
 * the step before picked on the device, for a step built before that pick came back). Written plainly here as the
 * definition for tests and checks; it gives exactly the logits {@link Sampler} penalizes (same float operations, in the
 * same order for each token).
 */
public final class PenaltyList {
    private PenaltyList() { }

    /**
     * Penalizes {@code logits[off .. off + vocab)} in place.
     *
     * @param ids    the entries' token ids [0, n) (distinct)
     * @param counts their output counts (0: a prompt token not generated)
     * @param extra  a generated token not counted in the list yet, or -1: its count is one more if it is listed,
     *               else it is penalized as a new entry generated once
     */
    public static void apply(float[] logits, int off, int vocab, float repetition, float presence, float frequency,
                             int[] ids, int[] counts, int n, int extra) {
        boolean listed = false;
        for (int i = 0; i < n; i++) {
            int t = ids[i], c = counts[i];
            if (t == extra) {
                c++;
                listed = true;
            }
            if (t >= 0 && t < vocab) logits[off + t] = Penalties.penalize(logits[off + t], c, repetition, presence, frequency);
        }
        if (extra >= 0 && extra < vocab && !listed) {
            logits[off + extra] = Penalties.penalize(logits[off + extra], 1, repetition, presence, frequency);
        }
    }
}
