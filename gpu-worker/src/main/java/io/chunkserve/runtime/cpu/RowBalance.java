package io.chunkserve.runtime.cpu;

/**
 * The adaptive split of the one-token matmuls that have no tail ranges (under 8 MiB: all of SmolLM2-135M's layer
 * matmuls): still one long contiguous row range per thread, but the boundaries sit where the threads' recently
 * measured speeds say they finish together. The two vCPUs of a shared host often run at different speeds for
 * seconds; with equal ranges the step waits for the slower one at every dispatch.
 *
 * <p>Per kind of dispatch (mode, rows, cols: q/k/v, o, gate/up, down share theirs across layers) it keeps each
 * task's share of the rows, an EWMA of the shares that would have made the last dispatches finish together: from
 * each task's start (after the dispatch began: the worker's wake-up) and its ns per row. Shares are clamped to
 * [{@code 0.7/n}, {@code 1.3/n}] (35–65 % on 2 threads); boundaries are multiples of {@link GemvJob#ROW_ALIGN}, so
 * every output row is computed by the same code whichever task holds it (results do not depend on the split).
 *
 * <p>Threading: {@link #update} and {@link #kind} run on the dispatching thread only (CpuKernels runs one
 * parallel call at a time); {@link Kind#cut} (replaced, never mutated) is read by touch-ahead plans on any thread
 * (a stale one only touches other rows of the same weights).
 */
final class RowBalance {
    /** EWMA weight of one dispatch's measurement. */
    static final double ALPHA = Double.parseDouble(System.getProperty("chunkserve.cpu.balanceAlpha", "0.125"));
    private static final int MAX_KINDS = 32;

    static final class Kind {
        final long key;
        final int rows, tasks;
        final double[] share;
        private final double[] c, lat; // the dispatcher's scratch
        private final int[] next;
        /** Row boundaries of the tasks (tasks + 1 entries); replaced, never mutated, when they change. */
        volatile int[] cut;
        /** For benchmarks: dispatches measured, and the range of task 0's share (permille) so far. */
        long updates;
        int minPermille = 1000, maxPermille;

        Kind(long key, int rows, int tasks) {
            this.key = key;
            this.rows = rows;
            this.tasks = tasks;
            this.share = new double[tasks];
            this.c = new double[tasks];
            this.lat = new double[tasks];
            this.next = new int[tasks + 1];
            java.util.Arrays.fill(share, 1.0 / tasks);
            this.cut = cutsOf(share, rows, -1);
        }
    }

    private final Kind[] kinds = new Kind[MAX_KINDS];
    private int used;

    /** The kind of a dispatch with these rows split into tasks ranges; null when the table is full. */
    Kind kind(int mode, int rows, int cols, int tasks) {
        long key = ((long) mode & 0xF) | ((long) tasks & 0xFF) << 4 | ((long) rows & 0xFFFFFFL) << 12 | ((long) cols & 0xFFFFFFL) << 36;
        synchronized (this) { // plans are built on other threads than the dispatcher's only at start-up; cheap uncontended
            for (int i = 0; i < used; i++) if (kinds[i].key == key) return kinds[i];
            if (used == MAX_KINDS) return null;
            return kinds[used++] = new Kind(key, rows, tasks);
        }
    }

    /** For benchmarks: per kind, rows x cols, dispatches measured, task 0's share now and its range so far (permille). */
    synchronized String summary() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < used; i++) {
            Kind k = kinds[i];
            if (k.updates == 0) continue;
            long key = k.key;
            sb.append(sb.isEmpty() ? "" : "; ").append(k.rows).append('x').append(key >>> 36).append(" n=").append(k.updates)
                    .append(" now ").append(Math.round(1000.0 * k.cut[1] / k.rows)).append(" range ").append(k.minPermille).append('-').append(k.maxPermille);
        }
        return sb.toString();
    }

    /**
     * Folds one dispatch's timings into the kind's shares: start and end of each task (ns, same clock), the
     * dispatch's start t0, and the boundaries it ran with (start of task t at [16 t], end at [16 t + 1]).
     */
    static void update(Kind k, int[] cut, long[] start, long[] end, long t0) {
        int n = k.tasks;
        if (n < 2) return;
        double sumInv = 0, sumLat = 0;
        double[] c = k.c, lat = k.lat; // no allocation per dispatch unless the boundaries move
        for (int t = 0; t < n; t++) {
            int rows = cut[t + 1] - cut[t];
            long s = start[16 * t], e = end[16 * t + 1];
            if (rows <= 0 || e <= s || s < t0) return; // a task that did not run here: no measurement
            c[t] = (double) (e - s) / rows;
            lat[t] = s - t0;
            sumInv += 1 / c[t];
            sumLat += lat[t] / c[t];
        }
        double finish = (k.rows + sumLat) / sumInv; // all tasks finish together: lat_t + share_t · rows · c_t = finish
        double lo = 0.7 / n, hi = 1.3 / n, total = 0;
        for (int t = 0; t < n; t++) {
            double s = Math.min(hi, Math.max(lo, (finish - lat[t]) / (k.rows * c[t])));
            k.share[t] += ALPHA * (s - k.share[t]);
            total += k.share[t];
        }
        for (int t = 0; t < n; t++) k.share[t] /= total;
        int[] next = k.next;
        cutsInto(k.share, k.rows, -1, next);
        int pm = (int) Math.round(1000.0 * next[1] / k.rows);
        k.updates++;
        k.minPermille = Math.min(k.minPermille, pm);
        k.maxPermille = Math.max(k.maxPermille, pm);
        if (!java.util.Arrays.equals(k.cut, next)) {
            k.cut = next.clone();
        }
    }

    /**
     * Boundaries for these shares (fixedPermille ≥ 0: task 0 gets that fraction, the rest evenly), multiples of
     * ROW_ALIGN except the last (rows), non-decreasing.
     */
    static int[] cutsOf(double[] share, int rows, int fixedPermille) {
        int[] cut = new int[share.length + 1];
        cutsInto(share, rows, fixedPermille, cut);
        return cut;
    }

    private static void cutsInto(double[] share, int rows, int fixedPermille, int[] cut) {
        int n = share.length;
        cut[0] = 0;
        double acc = 0;
        for (int t = 1; t < n; t++) {
            acc += fixedPermille >= 0 ? (t == 1 ? fixedPermille / 1000.0 : (1 - fixedPermille / 1000.0) / (n - 1)) : share[t - 1];
            long b = Math.round(acc * rows / GemvJob.ROW_ALIGN) * GemvJob.ROW_ALIGN;
            cut[t] = (int) Math.max(cut[t - 1], Math.min(rows, b));
        }
        cut[n] = rows;
    }
}
