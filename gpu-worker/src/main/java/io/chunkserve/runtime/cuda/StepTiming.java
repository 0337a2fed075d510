package io.chunkserve.runtime.cuda;

import java.util.HashMap;
import java.util.Map;

/**
 * {@link CudaModelRunner}'s record of its decode-only steps by batch size (GPU time, host enqueue and preparation, the
 * engine's host work, the device period) and the estimates it schedules the engine's host work by: the lowest GPU ms
 * per layer of the current batch size and a moving average of the host work's time. The engine thread's only.
 */
final class StepTiming {
    // B → {steps, gpu ms, host enqueue ms, prep ms, host work ms, engine ms, period steps, period ms, downloads, download ms}
    private final Map<Integer, double[]> byBatch = new HashMap<>();
    // lowest GPU ms per layer seen in decode steps of the current batch size (a step whose host work ran early
    // may have left the device idle, which its ev0..ev1 time includes: the minimum does not feed on that)
    private double gpuMsPerLayer;
    private int gpuMsBatch;
    private double hostWorkMs = 0.3;   // the host work's recent time (moving average; a first guess before any)
    private int lastDecodeSize = -1;   // the last launched step's batch size when it was decode-only

    /** At a step's launch: whether the step before was a decode-only one of the same size (and remembers this one). */
    boolean afterSameDecode(boolean decodeOnly, int size) {
        boolean same = decodeOnly && lastDecodeSize == size;
        lastDecodeSize = decodeOnly ? size : -1;
        return same;
    }

    /** The caller's host work took ns this step. */
    void hostWorkRan(long ns) {
        hostWorkMs = hostWorkMs <= 0 ? ns / 1e6 : 0.7 * hostWorkMs + 0.3 * ns / 1e6;
    }

    /** After layersQueued layers of a decode-only step of `size` are queued: whether the device's backlog covers the host work. */
    boolean backlogCoversHostWork(int layersQueued, long firstLaunchNs, boolean decodeOnly, int size) {
        if (gpuMsPerLayer <= 0 || hostWorkMs <= 0 || !decodeOnly || size != gpuMsBatch) return false;
        double backlogMs = layersQueued * gpuMsPerLayer - (System.nanoTime() - firstLaunchNs) / 1e6;
        return backlogMs >= hostWorkMs + 0.02;
    }

    /**
     * After a decode-only step's events completed: gpuMs = first launch to last kernel, period = from the previous step's
     * end (NaN: none). For a step queued behind another (ahead) the period when that is shorter (its first launch waited
     * for the device); the period itself counts when the step before was a decode of the same size.
     */
    void note(int size, int layers, double gpuMs, double period, boolean ahead, boolean afterSameDecode,
              long prepNs, long hostWorkNs, long engineNs, long hostNs) {
        double[] t = byBatch.computeIfAbsent(size, k -> new double[10]);
        if (ahead && period < gpuMs) gpuMs = period;
        if (afterSameDecode && period > 0) {
            // device time from the end of the step before, a decode of the same size: the step's period on the
            // device, idle gaps between steps included
            t[6]++;
            t[7] += period;
        }
        double per = gpuMs / layers;
        if (size != gpuMsBatch || per < gpuMsPerLayer) gpuMsPerLayer = per;
        gpuMsBatch = size;
        t[0]++;
        t[1] += gpuMs;
        t[3] += prepNs / 1e6;
        t[4] += hostWorkNs / 1e6;
        t[5] += engineNs / 1e6;
        t[2] += hostNs / 1e6;
    }

    /** A decode-only step of `size` downloaded its host-sampled logits rows in ms. */
    void noteDownload(int size, double ms) {
        double[] t = byBatch.get(size);
        if (t != null) {
            t[8]++;
            t[9] += ms;
        }
    }

    /** See {@link CudaModelRunner#decodeTiming(int, boolean)}. */
    double[] decodeTiming(int B, boolean reset) {
        double[] t = byBatch.get(B);
        if (reset) byBatch.clear();
        return t == null ? null : new double[] {t[0], t[1] / t[0], t[2] / t[0], t[3] / t[0], t[4] / t[0], t[5] / t[0],
                t[6] == 0 ? Double.NaN : t[7] / t[6], t[8] == 0 ? Double.NaN : t[9] / t[8]};
    }
}
