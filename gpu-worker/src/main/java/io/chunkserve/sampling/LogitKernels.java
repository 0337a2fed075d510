package io.chunkserve.sampling;

import io.chunkserve.runtime.cpu.Lanes;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The full-vocabulary passes of the sampler, written with the Vector API
 * ({@code jdk.incubator.vector}) on the platform's preferred float species (16 lanes with
 * AVX-512). Everything else in the sampler touches only a small candidate set.
 *
 * <p>Floating-point notes: lane-wise operations are IEEE-exact per lane; lane sums and e^x go through
 * {@link Lanes} (a fixed pairwise order; Cody–Waite exp within 2 ulp of {@link Math#exp}), not the Vector API's
 * {@code reduceLanes(ADD)} / {@code lanewise(EXP)}, whose bits depend on the JIT tier running the code: so a
 * seeded draw is the same before and after C2 compiles a kernel. Results can still differ across CPUs whose
 * preferred species has another lane count. Reductions of <em>maximum</em> are exact.
 */
final class LogitKernels {
    private LogitKernels() { }

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int LANES = F.length();

    /**
     * Block size of {@link #expBlocks}: the sampler first picks a block by its precomputed mass
     * and then walks at most this many elements. A multiple of every float species length.
     */
    static final int BLOCK = 1024;

    /** max(a[off .. off+n)) with {@link Math#max} semantics: NaN if any element is NaN. */
    static float max(float[] a, int off, int n) {
        int i = 0;
        float m = Float.NEGATIVE_INFINITY;
        int bound = F.loopBound(n);
        if (bound > 0) {
            FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (; i < bound; i += LANES) {
                acc = acc.max(FloatVector.fromArray(F, a, off + i));
            }
            m = acc.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) m = Math.max(m, a[off + i]);
        return m;
    }

    /** The first index i in [0, n) with a[off+i] == value, or -1. */
    static int firstIndexOf(float[] a, int off, int n, float value) {
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += LANES) {
            VectorMask<Float> eq = FloatVector.fromArray(F, a, off + i).eq(value);
            if (eq.anyTrue()) return i + eq.firstTrue();
        }
        for (; i < n; i++) if (a[off + i] == value) return i;
        return -1;
    }

    /**
     * Σ exp(a[off+i] − shift) over [0, n) in double precision per vector of lanes; used for the
     * log-sum-exp of the raw logits. {@code shift} must be the maximum so no term exceeds 1.
     */
    static double sumExp(float[] a, int off, int n, float shift) {
        double total = 0;
        int i = 0;
        int bound = F.loopBound(n);
        if (bound > 0) {
            FloatVector acc = FloatVector.zero(F);
            int sinceFlush = 0;
            for (; i < bound; i += LANES) {
                FloatVector v = FloatVector.fromArray(F, a, off + i).sub(shift);
                FloatVector xc = v.max(Lanes.EXP_MIN).min(Lanes.EXP_MAX), t = xc.fma(Lanes.LOG2E, Lanes.ROUND_MAGIC), k = t.sub(Lanes.ROUND_MAGIC), r = xc.sub(k.mul(Lanes.LN2_HI)).sub(k.mul(Lanes.LN2_LO));
                IntVector ni = t.reinterpretAsInts().sub(Lanes.ROUND_MAGIC_BITS), h = ni.lanewise(VectorOperators.ASHR, 1);
                FloatVector ev = r.fma(Lanes.E7, Lanes.E6).mul(r).add(Lanes.E5).mul(r).add(Lanes.E4).mul(r).add(Lanes.E3).mul(r).add(Lanes.E2).mul(r).add(1f).mul(r).add(1f)
                        .mul(h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats()).mul(ni.sub(h).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())
                        .blend(Float.POSITIVE_INFINITY, v.compare(VectorOperators.GT, Lanes.EXP_MAX)).blend(0f, v.compare(VectorOperators.LT, Lanes.EXP_MIN));
                acc = acc.add(ev);
                // Each lane holds at most BLOCK/LANES terms <= 1 before being flushed into a
                // double, which bounds the float accumulation error to ~1e-5 relative at worst.
                if (++sinceFlush == BLOCK / LANES) {
                    acc = acc.add(acc.rearrange(Lanes.PSUM1));
                    if (Lanes.PL >= 8) acc = acc.add(acc.rearrange(Lanes.PSUM2));
                    if (Lanes.PL >= 16) acc = acc.add(acc.rearrange(Lanes.PSUM3));
                    total += acc.lane(0) + acc.lane(1);
                    acc = FloatVector.zero(F);
                    sinceFlush = 0;
                }
            }
            acc = acc.add(acc.rearrange(Lanes.PSUM1));
            if (Lanes.PL >= 8) acc = acc.add(acc.rearrange(Lanes.PSUM2));
            if (Lanes.PL >= 16) acc = acc.add(acc.rearrange(Lanes.PSUM3));
            total += acc.lane(0) + acc.lane(1);
        }
        for (; i < n; i++) total += Math.exp(a[off + i] - shift);
        return total;
    }

    /**
     * Writes {@code e[i] = exp((src[off+i] − max) · invT)} for i in [0, n), set to 0 where it is
     * below {@code minP} (min_p filtering: p_i ≥ minP · p_max ⇔ e_i ≥ minP since e_max = 1), and
     * stores the sum of each {@link #BLOCK}-sized block in {@code blockSums}.
     *
     * @return the total, the sequential double sum of the block sums
     */
    static double expBlocks(float[] src, int off, int n, float max, float invT, float minP,
                            float[] e, double[] blockSums) {
        double total = 0;
        boolean filter = minP > 0f;
        for (int b = 0, start = 0; start < n; b++, start += BLOCK) {
            int end = Math.min(n, start + BLOCK);
            int i = start;
            int bound = start + F.loopBound(end - start);
            double blockSum = 0;
            if (bound > start) {
                FloatVector acc = FloatVector.zero(F);
                for (; i < bound; i += LANES) {
                    FloatVector y = FloatVector.fromArray(F, src, off + i).sub(max).mul(invT);
                    FloatVector xc = y.max(Lanes.EXP_MIN).min(Lanes.EXP_MAX), t = xc.fma(Lanes.LOG2E, Lanes.ROUND_MAGIC), k = t.sub(Lanes.ROUND_MAGIC), r = xc.sub(k.mul(Lanes.LN2_HI)).sub(k.mul(Lanes.LN2_LO));
                    IntVector ni = t.reinterpretAsInts().sub(Lanes.ROUND_MAGIC_BITS), h = ni.lanewise(VectorOperators.ASHR, 1);
                    FloatVector x = r.fma(Lanes.E7, Lanes.E6).mul(r).add(Lanes.E5).mul(r).add(Lanes.E4).mul(r).add(Lanes.E3).mul(r).add(Lanes.E2).mul(r).add(1f).mul(r).add(1f)
                            .mul(h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats()).mul(ni.sub(h).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())
                            .blend(Float.POSITIVE_INFINITY, y.compare(VectorOperators.GT, Lanes.EXP_MAX)).blend(0f, y.compare(VectorOperators.LT, Lanes.EXP_MIN));
                    if (filter) x = x.blend(0f, x.lt(minP));
                    x.intoArray(e, i);
                    acc = acc.add(x);
                }
                acc = acc.add(acc.rearrange(Lanes.PSUM1));
                if (Lanes.PL >= 8) acc = acc.add(acc.rearrange(Lanes.PSUM2));
                if (Lanes.PL >= 16) acc = acc.add(acc.rearrange(Lanes.PSUM3));
                blockSum = acc.lane(0) + acc.lane(1);
            }
            for (; i < end; i++) {
                float x = (float) Math.exp((src[off + i] - max) * invT);
                if (filter && x < minP) x = 0f;
                e[i] = x;
                blockSum += x;
            }
            blockSums[b] = blockSum;
            total += blockSum;
        }
        return total;
    }

    /**
     * Bucket of a positive float in {@link #massHistogram}: its bit pattern without the lowest
     * 19 bits, i.e. exponent and top 4 mantissa bits; each bucket spans a factor of at most
     * 2^(1/16) ≈ 1.044, and bucket order is value order. Values in (0, 1] map to [0, 2032].
     */
    static final int BUCKET_SHIFT = 19;
    /** Number of histogram buckets needed for values in (0, 1]. */
    static final int BUCKETS = (Float.floatToRawIntBits(1.0f) >>> BUCKET_SHIFT) + 1;

    /**
     * Mass histogram: adds {@code e[i]} to {@code hist[bucket(e[i])]} for every i of every vector
     * that contains at least one {@code e[i] >= threshold}, and records the start index of each
     * such vector in {@code hitVectors} (the scalar tail counts as one more "vector" starting at
     * {@code F.loopBound(n)} and is always processed). Later passes that only care about tokens
     * {@code >= threshold} visit just these vectors: in peaked distributions a handful.
     *
     * <p>Inside a hit vector all lanes are added, branch-free: a per-lane test would mispredict
     * about half the time on flat distributions (measured ~10x slower). The extra lanes are
     * below the threshold, so they only add mass to buckets at or below the threshold's bucket;
     * every bucket strictly above it holds exactly the mass of its tokens.
     *
     * @return the number of entries written to {@code hitVectors}
     */
    static int massHistogram(float[] e, int n, float threshold, double[] hist, int[] hitVectors) {
        int hits = 0;
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += LANES) {
            if (!FloatVector.fromArray(F, e, i).compare(VectorOperators.GE, threshold).anyTrue()) continue;
            hitVectors[hits++] = i;
            for (int j = i, end = i + LANES; j < end; j++) {
                float x = e[j];
                hist[Float.floatToRawIntBits(x) >>> BUCKET_SHIFT] += x;
            }
        }
        if (i < n) {
            hitVectors[hits++] = i;
            for (; i < n; i++) {
                float x = e[i];
                hist[Float.floatToRawIntBits(x) >>> BUCKET_SHIFT] += x;
            }
        }
        return hits;
    }

    /**
     * Appends to {@code keys} (from {@code count}) the {@link #key} of every i with
     * {@code lo <= e[i] < hi} (one histogram bucket), looking only at the vectors listed by
     * {@link #massHistogram} (lo must be at least its threshold); vectors without a hit are
     * skipped with one compare, so the per-lane branch only runs where the bucket's tokens are.
     *
     * @return the new count
     */
    static int collectRange(float[] e, int n, float lo, float hi, float[] w, int wOff,
                            int[] hitVectors, int hits, long[] keys, int count) {
        for (int h = 0; h < hits; h++) {
            int i = hitVectors[h];
            int end = Math.min(n, i + LANES);
            if (end - i == LANES) {
                FloatVector v = FloatVector.fromArray(F, e, i);
                if (!v.compare(VectorOperators.GE, lo).and(v.compare(VectorOperators.LT, hi)).anyTrue()) continue;
            }
            for (int j = i; j < end; j++) {
                if (e[j] >= lo && e[j] < hi) keys[count++] = key(w[wOff + j], j);
            }
        }
        return count;
    }

    /**
     * Inverse CDF restricted to {@code e[i] >= lo}, in id order, over the vectors listed by
     * {@link #massHistogram} (lo must be at least its threshold): the first member whose running
     * sum exceeds {@code u}. Whole vectors are consumed by a masked lane sum; only the vector
     * where the sum crosses {@code u} is walked lane by lane. If rounding makes the sum fall
     * short of {@code u}, the last member is returned; -1 if there is none.
     */
    static int walkAtLeast(float[] e, int n, float lo, double u, int[] hitVectors, int hits) {
        double acc = 0;
        int last = -1;
        for (int h = 0; h < hits; h++) {
            int i = hitVectors[h];
            int end = Math.min(n, i + LANES);
            if (end - i == LANES) {
                FloatVector v = FloatVector.fromArray(F, e, i);
                VectorMask<Float> member = v.compare(VectorOperators.GE, lo);
                if (!member.anyTrue()) continue;
                FloatVector w = v.blend(0f, member.not());
                w = w.add(w.rearrange(Lanes.PSUM1));
                if (Lanes.PL >= 8) w = w.add(w.rearrange(Lanes.PSUM2));
                if (Lanes.PL >= 16) w = w.add(w.rearrange(Lanes.PSUM3));
                double s = w.lane(0) + w.lane(1);
                if (!(u < acc + s)) {
                    acc += s;
                    last = i + 63 - Long.numberOfLeadingZeros(member.toLong()); // highest member lane
                    continue;
                }
            }
            for (int j = i; j < end; j++) {
                if (e[j] >= lo) {
                    acc += e[j];
                    last = j;
                    if (u < acc) return j;
                }
            }
        }
        return last;
    }

    /**
     * A sort key for (logit, id): ascending key order is descending logit, ties by ascending id.
     * The high 32 bits are the bitwise-not of the order-preserving int image of the float
     * ({@code -0.0} is folded into {@code +0.0}); the low 32 bits are the id. Keys are distinct
     * for distinct ids, so selections need no tie handling. NaN must have been removed.
     */
    static long key(float logit, int id) {
        int bits = Float.floatToRawIntBits(logit + 0.0f);
        int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
        return ((long) ~sortable << 32) | id;
    }

    /** The id stored in a {@link #key}. */
    static int id(long key) {
        return (int) key;
    }
}
