package io.chunkserve.runtime.cuda;

import java.util.Arrays;

import jcuda.driver.CUmodule;

/**
 * Diagnostics only: which two-phase partials launch (and the merge after it) {@link CudaAttention} runs with its timeline
 * twins, and reading what they recorded (sessions 23–24; {@link AttnTimeline} decodes it). Armed, it captures the next
 * launch whose plan holds at least minBatch sequences after skip such launches; the runner asks {@link #takeCaptured}
 * right after to time the o projection of the same layer too.
 */
final class TimelineCapture {
    private boolean armed;
    private int minBatch, skip;
    private int partialsBlocks, mergeBlocks;   // blocks of the captured launches (0: none yet)
    private boolean captured;                  // a launch was just captured (until takeCaptured)

    void arm(int minBatch, int skip) {
        armed = true;
        this.minBatch = minBatch;
        this.skip = skip;
        partialsBlocks = 0;
        mergeBlocks = 0;
        captured = false;
    }

    /** Whether the partials launch now being queued (of a plan of batch sequences, in timeline mode) is the one to capture. */
    boolean captureNow(int batch) { return armed && batch >= minBatch && skip-- <= 0; }

    /** The captured partials launch ran on this many blocks. */
    void capturedPartials(int blocks) {
        armed = false;
        partialsBlocks = blocks;
        captured = true;
    }

    /** Its merge ran with the timeline twin on this many blocks. */
    void capturedMerge(int blocks) { mergeBlocks = blocks; }

    /** Whether the launch just queued was the captured one (then false until the next capture). */
    boolean takeCaptured() {
        boolean c = captured;
        captured = false;
        return c;
    }

    /**
     * The captured partials' records (cs_attn_tl) followed by its merge's (cs_merge_tl), six values a block (see
     * {@link CudaAttention#timeline}); empty when none was captured. Waits for the device; read once.
     */
    long[] read(CUmodule module) {
        if (partialsBlocks == 0) return new long[0];
        long[] partials = AttnTimeline.read(module, "cs_attn_tl", partialsBlocks), merge = AttnTimeline.read(module, "cs_merge_tl", mergeBlocks);
        partialsBlocks = 0;
        mergeBlocks = 0;
        long[] out = Arrays.copyOf(partials, partials.length + merge.length);
        System.arraycopy(merge, 0, out, partials.length, merge.length);
        return out;
    }
}
