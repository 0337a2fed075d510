package io.chunkserve.runtime.cuda;

import io.chunkserve.runtime.ForwardBatch;
import jcuda.Pointer;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;

/**
 * The penalty lists of the rows {@link CudaModelRunner} penalizes on the device ({@code cs_penalize}): kept resident in
 * a device arena across steps ({@link PenaltyArena}: only the entries a step changed go up, scattered by
 * {@code cs_pen_scatter}), or uploaded whole with each step's ints ({@code -Dchunkserve.cuda.residentPenalties=false});
 * and, per step parity, the raw logits cs_penalize replaced, so that a row left to the host sampler gets them back.
 * The engine thread's only.
 */
final class DevicePenalties implements AutoCloseable {
    private volatile boolean resident = !"false".equals(System.getProperty("chunkserve.cuda.residentPenalties"));
    private final PenaltyArena arena = new PenaltyArena(0);
    private DeviceBuffer arenaBuf;
    private long inlineEntries;   // entries uploaded whole with the step's ints (not resident)
    private final DeviceBuffer[] saved = new DeviceBuffer[2];   // per parity: the raw logits cs_penalize replaced

    /** Whether penalized rows' lists stay on the device across steps (set when no step is in flight). */
    void setResident(boolean on) { resident = on; }

    /** See {@link CudaModelRunner#penaltyUploads()}. */
    long[] uploads() {
        return new long[] {arena.uploadedEntries(), arena.fullUploads(), inlineEntries,
                arena.liveSlots(), arena.capacity(), arena.freeEntries(), arena.freeBlocks()};
    }

    /** The arena's entries a step changed, for {@link StepInts#fill}. */
    int[] deltas() { return arena.deltas(); }

    /** The device copy of the arena (valid after {@link #place} of a step with resident lists). */
    DeviceBuffer arenaBuffer() { return arenaBuf; }

    /** A step failed before its list changes reached the device: every list goes up whole next time. */
    void forgetDevice() { arena.clear(); }

    /**
     * Places each penalized greedy row's list in the arena (growing its device copy), or counts the entries going up
     * inline; sets sp's resident, penFirst, nDelta and nEntInline.
     */
    void place(ForwardBatch b, StepInts sp, CudaDevice device) {
        int S = sp.S, nPen = sp.nPen, nEnt = sp.nEnt;
        boolean res = nPen > 0 && resident;
        int[] penFirst = null;
        int nDelta = 0, nEntInline = res ? 0 : nEnt;
        if (res) {
            penFirst = new int[S];
            arena.beginStep();
            for (int s = 0; s < S; s++) {
                if (!b.wantsLogits(s) || !b.isGreedy(s) || !b.isPenalized(s)) continue;
                Object key = b.penaltyKey(s);
                // (a row marked without a key: a list of its own for this step, uploaded whole)
                penFirst[s] = key != null
                        ? arena.place(key, b.penaltyIds(s), b.penaltyCounts(s), b.penaltyEntries(s), b.penaltyRecords(s), b.penaltyLastEntry(s))
                        : arena.place(new Object(), b.penaltyIds(s), b.penaltyCounts(s), b.penaltyEntries(s), 0, -1);
            }
            arena.endStep();
            nDelta = arena.deltaCount();
            long need = 8L * Math.max(1, arena.capacity());
            if (arenaBuf == null || arenaBuf.bytes() < need) {   // grown at its end: positions stay, the old entries copied
                DeviceBuffer nb = DeviceBuffer.allocate(need);
                if (arenaBuf != null) {
                    cuMemcpyDtoDAsync(nb.ptr(), arenaBuf.ptr(), arenaBuf.bytes(), null);
                    device.synchronize();
                    arenaBuf.close();
                }
                arenaBuf = nb;
            }
        } else {
            inlineEntries += nEnt;
        }
        sp.resident = res;
        sp.penFirst = penFirst;
        sp.nDelta = nDelta;
        sp.nEntInline = nEntInline;
    }

    /** The buffer of parity p for cs_penalize's replaced raw logits, at least {@code bytes}. */
    DeviceBuffer saved(int parity, long bytes) {
        return saved[parity] = DeviceBuffer.atLeast(saved[parity], bytes);
    }

    /** The buffer of parity p as it is (null before any penalized step of that parity). */
    DeviceBuffer saved(int parity) { return saved[parity]; }

    /** Undoes cs_penalize on a downloaded row: its saved (id, raw bits) pairs, n + 1 from slot {@code slot}. */
    void restoreRaw(float[] logits, int seq, int slot, int n, int vocab, int parity) {
        restorePairs(logits, seq, saved[parity], slot, n + 1, vocab);
    }

    /** Writes n saved (id, value bits) pairs of {@code buf}, from slot {@code slot}, into row seq of logits (ids outside: skipped). */
    static void restorePairs(float[] logits, int seq, DeviceBuffer buf, int slot, int n, int vocab) {
        int[] pairs = new int[2 * n];
        cuMemcpyDtoH(Pointer.to(pairs), buf.at(8L * slot), 8L * n);
        for (int j = 0; j < n; j++) {
            int id = pairs[2 * j];
            if (id >= 0 && id < vocab) logits[seq * vocab + id] = Float.intBitsToFloat(pairs[2 * j + 1]);
        }
    }

    @Override
    public void close() {
        for (DeviceBuffer d : new DeviceBuffer[] {arenaBuf, saved[0], saved[1]}) {
            if (d != null) d.close();
        }
        arena.clear();
    }
}
