package io.chunkserve.runtime.cuda;

import jcuda.driver.CUevent;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Benchmarks' per-op timing of the CUDA decode step: when enabled, an event is recorded before each op
 * of a step ({@link #mark}) and, once the step's results are back, the time between consecutive marks
 * is added to the op's category. Off (the default) a mark is one branch. One per runner, used by its
 * engine thread only.
 */
final class OpProfile {
    static final String[] CATEGORIES = {"embed+rope", "rmsnorm", "gemm qkv", "qkv epilogue", "attention", "gemm o", "gemm gate_up",
            "silu", "gemm down", "lm head+argmax", "attn merge"};
    // "attention" = the two-phase partials (and a generic kernel's prefill attention); "attn merge" = the two-phase merge launch
    static final int C_EMBED = 0, C_NORM = 1, C_QKV = 2, C_POST = 3, C_ATTN = 4, C_O = 5, C_GU = 6, C_SILU = 7, C_DOWN = 8, C_HEAD = 9,
            C_MERGE = 10;

    private boolean on;
    private CUevent[] marks = new CUevent[0];
    private int[] markCat = new int[0];
    private int nMarks, steps;
    private final double[] ms = new double[CATEGORIES.length];

    /** Turns the marks on or off and clears what was summed. */
    void enable(boolean enable) {
        on = enable;
        Arrays.fill(ms, 0);
        steps = 0;
    }

    boolean isOn() { return on; }

    /** Drops the marks of the step in progress (a step starts, or its timing is not wanted). */
    void reset() { nMarks = 0; }

    /** Records an event that starts an op of category {@code cat} (and ends the previous one). */
    void mark(int cat) {
        if (!on) return;
        if (nMarks == marks.length) {
            int n = Math.max(64, 2 * marks.length);
            CUevent[] a = Arrays.copyOf(marks, n);
            for (int i = marks.length; i < n; i++) a[i] = CudaDevice.event();
            marks = a;
            markCat = Arrays.copyOf(markCat, n);
        }
        markCat[nMarks] = cat;
        CudaDevice.record(marks[nMarks++]);
    }

    /** After the step's events completed: adds its op times when {@code count} (decode-only steps), then resets. */
    void finishStep(boolean count) {
        int n = nMarks;
        nMarks = 0;
        if (!count || !on || n <= 1) return;
        for (int i = 0; i + 1 < n; i++) ms[markCat[i]] += CudaDevice.elapsedMs(marks[i], marks[i + 1]);
        steps++;
    }

    /** Mean GPU ms per profiled step of each category ({@link #CATEGORIES} order), and the step count. */
    Map<String, Double> means() {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int i = 0; i < CATEGORIES.length; i++) m.put(CATEGORIES[i], steps == 0 ? 0 : ms[i] / steps);
        m.put("steps", (double) steps);
        return m;
    }
}
