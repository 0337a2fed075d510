package io.chunkserve.runtime.cuda;

import io.chunkserve.runtime.ForwardBatch;

/** A step {@link CudaModelRunner} queued on the device whose results were not read yet. */
final class LaunchedStep {
    ForwardBatch b;
    int parity, ev, prevEv, nLog, nGreedy, nNeed;
    int[] logSeq, penSlot, lpSeq, biasSlot;
    long hostNs, idsHandle, lpHandle;
    boolean ahead, profiled, empty, afterSameDecode;   // afterSameDecode: the step before was a decode-only one of this size
}
