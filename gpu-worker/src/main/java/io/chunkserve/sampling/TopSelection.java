package io.chunkserve.sampling;

import java.util.Arrays;

/**
 * Partial selection over packed (logit, id) {@link LogitKernels#key keys}, never a full sort:
 * the k best logits ({@link #selectTop}, for top_k and top_logprobs) and the top_p nucleus of a
 * candidate set ({@link #nucleus}). Key order is descending logit, ties by lower id.
 */
final class TopSelection {
    private TopSelection() { }

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
}
