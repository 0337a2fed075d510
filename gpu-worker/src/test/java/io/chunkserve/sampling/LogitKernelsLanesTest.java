package io.chunkserve.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.chunkserve.runtime.cpu.Lanes;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The sampler's softmax passes compute e^x and lane sums as {@link Lanes} does, bit for bit. */
class LogitKernelsLanesTest {
    @Test
    void expBlocksWritesTheReferenceExpAndSumsBlocksInTheTreeOrder() {
        SplittableRandom rnd = new SplittableRandom(11);
        int n = 3 * LogitKernels.BLOCK + 5 * LogitKernels.LANES + 3;
        float[] src = new float[n];
        for (int i = 0; i < n; i++) src[i] = (float) (rnd.nextGaussian() * 6);
        float max = LogitKernels.max(src, 0, n), invT = 1 / 0.7f;
        float[] e = new float[n];
        double[] blockSums = new double[n / LogitKernels.BLOCK + 1];
        double total = LogitKernels.expBlocks(src, 0, n, max, invT, 0f, e, blockSums);
        double want = 0;
        for (int b = 0, start = 0; start < n; b++, start += LogitKernels.BLOCK) {
            int end = Math.min(n, start + LogitKernels.BLOCK), i = start;
            FloatVector acc = FloatVector.zero(LogitKernels.F);
            for (; i + LogitKernels.LANES <= end; i += LogitKernels.LANES) {
                FloatVector x = Lanes.expVec(FloatVector.fromArray(LogitKernels.F, src, i).sub(max).mul(invT));
                float[] xs = x.toArray();
                for (int j = 0; j < xs.length; j++) {
                    assertEquals(Float.floatToRawIntBits(xs[j]), Float.floatToRawIntBits(e[i + j]), "e[" + (i + j) + "]");
                }
                acc = acc.add(x);
            }
            double blockSum = Lanes.sumLanes(acc);
            for (; i < end; i++) blockSum += (float) Math.exp((src[i] - max) * invT);
            assertEquals(blockSum, blockSums[b], "block " + b);
            want += blockSum;
        }
        assertEquals(want, total);
    }
}
