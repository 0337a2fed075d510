package io.chunkserve.sampling;

import java.util.Arrays;
import java.util.Map;

/**
 * OpenAI's {@code logit_bias}: values added to the logits of chosen token ids before anything else
 * touches them (vLLM v1's order: the bias, then the penalties, then temperature and the filters).
 * A bias of -100 bans a token in practice, +100 makes it the only choice. Log-probabilities stay those
 * of the model's raw logits, as for the penalties ({@link Sampler}).
 *
 * <p>Immutable: ids ascending and distinct, each with its finite bias in [-100, 100]. Messages of
 * refusals start with {@code logit_bias}, so the HTTP layer can return them as they are.
 */
public final class LogitBias {
    /** OpenAI's bound on each value. */
    public static final double MAX_ABS = 100;
    /** The most entries one request may carry (the API documents no limit; this keeps a request's sampling cheap). */
    public static final int MAX_ENTRIES = 1024;
    /** No bias. */
    public static final LogitBias NONE = new LogitBias(new int[0], new float[0]);

    private final int[] ids;
    private final float[] values;

    private LogitBias(int[] ids, float[] values) {
        this.ids = ids;
        this.values = values;
    }

    /**
     * The bias of a map from token id to value; entries of 0 are dropped (they change nothing).
     *
     * @throws IllegalArgumentException on a negative id, a value outside [-100, 100] (NaN included) or more than
     *                                  {@link #MAX_ENTRIES} entries
     */
    public static LogitBias of(Map<Integer, Double> bias) {
        if (bias == null || bias.isEmpty()) return NONE;
        if (bias.size() > MAX_ENTRIES) {
            throw new IllegalArgumentException("logit_bias may hold at most " + MAX_ENTRIES + " entries, got " + bias.size());
        }
        int[] ids = new int[bias.size()];
        int n = 0;
        for (Map.Entry<Integer, Double> e : bias.entrySet()) {
            Integer id = e.getKey();
            Double v = e.getValue();
            if (id == null || id < 0) throw new IllegalArgumentException("logit_bias keys must be token ids >= 0, got " + id);
            if (v == null || !(Math.abs(v) <= MAX_ABS)) {
                throw new IllegalArgumentException("logit_bias values must be in [-100, 100], got " + v + " for token " + id);
            }
            if (v != 0) ids[n++] = id;
        }
        ids = Arrays.copyOf(ids, n);
        Arrays.sort(ids);
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float) (double) bias.get(ids[i]);
        return n == 0 ? NONE : new LogitBias(ids, values);
    }

    public boolean isEmpty() { return ids.length == 0; }

    public int size() { return ids.length; }

    public int id(int i) { return ids[i]; }

    public float value(int i) { return values[i]; }

    /**
     * Adds each value to its token's logit in {@code w[off .. off + n)} (ids ≥ n are left out), {@code +inf} clamped to
     * {@code Float.MAX_VALUE} as the penalties do: what the sampler does first (the CUDA runner's {@code cs_bias} bit
     * for bit).
     */
    public void applyTo(float[] w, int off, int n) {
        for (int i = 0; i < ids.length; i++) {
            int t = ids[i];
            if (t >= n) break;
            w[off + t] = Penalties.finite(w[off + t] + values[i]);
        }
    }

    /** The largest biased id, or -1 when empty. */
    public int maxId() { return ids.length == 0 ? -1 : ids[ids.length - 1]; }

    @Override
    public boolean equals(Object o) {
        return o instanceof LogitBias b && Arrays.equals(ids, b.ids) && Arrays.equals(values, b.values);
    }

    @Override
    public int hashCode() { return 31 * Arrays.hashCode(ids) + Arrays.hashCode(values); }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("{");
        for (int i = 0; i < ids.length; i++) s.append(i == 0 ? "" : ", ").append(ids[i]).append('=').append(values[i]);
        return s.append('}').toString();
    }
}
