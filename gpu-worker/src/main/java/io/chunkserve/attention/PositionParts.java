package io.chunkserve.attention;

/**
 * One token's attention split by positions into parts (one task each): every part's row maxima (log2 domain), row
 * sums and unnormalised outputs, merged by the log-sum-exp rule. Shared by {@link SplitDecode} and
 * {@link OneTokenDecode}; reused across calls by the job that owns it.
 */
final class PositionParts {
    float[] m = new float[0], l = new float[0]; // (parts, rows)
    float[] o = new float[0];                   // (parts, rows, headDim)

    /** Room for {@code parts} parts of {@code rows} query rows of {@code hd} dims. */
    void size(int parts, int rows, int hd) {
        if (m.length < parts * rows) {
            m = new float[parts * rows];
            l = new float[parts * rows];
        }
        if (o.length < parts * rows * hd) o = new float[parts * rows * hd];
    }

    /** First position of part p of {@code len} positions in {@code parts} parts (p = parts gives len); multiples of 16, so that parts start on whole cache lines of K. */
    static int bound(int p, int parts, int len) {
        if (p >= parts) return len;
        return (int) ((long) len * p / parts) & ~15;
    }

    /** out[outOff + row·hd ..] = the merged, normalised output of each row over the parts (an empty part, l = 0, adds nothing). */
    void merge(int parts, int rows, int hd, float[] out, int outOff) { merge(parts, rows, 0, hd, out, outOff); }

    /** As {@link #merge(int, int, int, float[], int)} for rows {@code from} .. rows-1 only (the others are not split). */
    void merge(int parts, int rows, int from, int hd, float[] out, int outOff) {
        for (int row = from; row < rows; row++) {
            float mx = Float.NEGATIVE_INFINITY;
            for (int p = 0; p < parts; p++) mx = Math.max(mx, m[p * rows + row]);
            float sum = 0;
            int at = outOff + row * hd;
            java.util.Arrays.fill(out, at, at + hd, 0f);
            for (int p = 0; p < parts; p++) {
                int i = p * rows + row;
                if (l[i] == 0f) continue; // empty part
                float w = VectorMath.exp2(m[i] - mx);
                sum += w * l[i];
                for (int d = 0; d < hd; d++) out[at + d] += w * o[i * hd + d];
            }
            float inv = 1f / sum;
            for (int d = 0; d < hd; d++) out[at + d] *= inv;
        }
    }
}
