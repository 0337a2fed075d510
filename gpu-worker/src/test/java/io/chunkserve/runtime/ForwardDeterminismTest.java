package io.chunkserve.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.chunkserve.ChildJvm;
import io.chunkserve.bench.RandomModel;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.model.RopeScaling;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A forward pass is bit-reproducible: the same decode step repeated gives bit-identical logits on
 * 2 and 3 threads, and the same bits as a JVM running only the interpreter ({@code -Xint}). The
 * Vector API's {@code reduceLanes(ADD)} and {@code lanewise(EXP)} round differently in the
 * interpreter/C1 and in C2, so before they were replaced ({@code runtime.cpu.Lanes}) the logits
 * changed (~1e-6) when C2 compiled a kernel between two steps.
 */
class ForwardDeterminismTest {
    /** A small model whose every one-token path is vectorised: rows and columns of whole vectors, head dim 32. */
    static final ModelConfig SHAPE = new ModelConfig("llama", 512, 128, 256, 2, 4, 2, 32, 1e-5f, 4096, true,
            new RopeScaling("llama3", 500000, 32, 1, 4, 8192));
    static final int CONTEXT = 40, STEPS = 2;
    static final int[] THREADS = {2, 3};
    /** Thread counts of the -Xint comparison (the interpreter runs the Vector API's Java fallbacks: slow). */
    static final int[] XINT_THREADS = {2};
    /** KV in fp32 (the attention's fp32 kernels) and in bf16 (the paired bf16 kernels real checkpoints use). */
    static final DType[] KV = {DType.F32, DType.BF16};

    /** Logits of the step at position CONTEXT after STEPS decode steps, repeated reps times, on this many threads. */
    static float[][] decode(int threads, DType kv, int reps) {
        ModelConfig c = SHAPE;
        try (Arena arena = Arena.ofShared(); CpuKernels k = new CpuKernels(threads)) {
            ModelWeights w = RandomModel.weights(c, DType.BF16, arena, 7);
            int chunk = 16, chunks = (CONTEXT + STEPS) / chunk + 1;
            try (CpuModelRunner r = new CpuModelRunner(c, w, k);
                 ChunkPool pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, kv), chunks)) {
                int[] table = new int[chunks];
                for (int i = 0; i < chunks; i++) table[i] = pool.allocate();
                int[] prompt = new int[CONTEXT];
                for (int i = 0; i < CONTEXT; i++) prompt[i] = (i * 31 + 7) % c.vocabSize();
                float[] logits = new float[c.vocabSize()];
                ForwardBatch fb = new ForwardBatch();
                float[][] out = new float[reps][];
                for (int rep = 0; rep < reps; rep++) {
                    // the whole sequence again: prefill, then decode steps (their K/V overwrite the same slots)
                    r.forward(fb.clear().add(prompt, 0, CONTEXT, 0, table, true), pool, logits);
                    for (int s = 0; s < STEPS; s++) {
                        int[] next = {5 + 11 * s};
                        r.forward(fb.clear().add(next, 0, 1, CONTEXT + s, table, true), pool, logits);
                    }
                    out[rep] = logits.clone();
                }
                return out;
            }
        }
    }

    static String bits(float[] a) {
        StringBuilder sb = new StringBuilder();
        for (float f : a) sb.append(Integer.toHexString(Float.floatToRawIntBits(f))).append(',');
        return sb.toString();
    }

    /** "" if the two bit lists agree, else where they first differ. */
    static String firstDifference(String want, String got) {
        String[] a = want.split(","), b = got.split(",");
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            if (!a[i].equals(b[i])) {
                return "logit " + i + ": " + Float.intBitsToFloat((int) Long.parseLong(a[i], 16)) + " vs "
                        + Float.intBitsToFloat((int) Long.parseLong(b[i], 16));
            }
        }
        return a.length == b.length ? "" : "lengths " + a.length + " vs " + b.length;
    }

    @Test
    void repeatedForwardsGiveBitIdenticalLogits() {
        for (DType kv : KV) {
            for (int threads : THREADS) {
                float[][] runs = decode(threads, kv, 60); // long enough for C2 to compile the kernels on the way
                assertTrue(Float.isFinite(runs[0][0]));
                for (int i = 1; i < runs.length; i++) {
                    assertArrayEquals(runs[0], runs[i], "repetition " + i + " on " + threads + " threads, KV " + kv + ", differs from the first");
                }
            }
        }
    }

    @Test
    void interpreterAndCompiledCodeGiveTheSameLogits() throws IOException, InterruptedException {
        Process p = new ProcessBuilder(ChildJvm.command(ForwardDeterminismTest.class, "-Xint")).redirectErrorStream(false).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String child = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the -Xint child did not finish");
        assertEquals(0, p.exitValue(), "the -Xint child failed: " + child);
        String[] lines = child.strip().split("\n");
        assertEquals(XINT_THREADS.length * KV.length, lines.length, child);
        int line = 0;
        for (DType kv : KV) {
            for (int threads : XINT_THREADS) {
                float[][] runs = decode(threads, kv, 40); // the last repetitions run compiled code
                assertEquals("", firstDifference(lines[line++].strip(), bits(runs[runs.length - 1])),
                        "logits on " + threads + " threads, KV " + kv + ": -Xint vs this JVM");
            }
        }
    }

    /** The child of {@link #interpreterAndCompiledCodeGiveTheSameLogits}: prints the logits' bits, one line per thread count. */
    public static void main(String[] args) {
        for (DType kv : KV) {
            for (int threads : XINT_THREADS) System.out.println(bits(decode(threads, kv, 1)[0]));
        }
        System.out.flush();
        System.exit(0);
    }
}
