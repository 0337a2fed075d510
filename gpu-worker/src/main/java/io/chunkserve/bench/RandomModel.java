package io.chunkserve.bench;

import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.model.RopeScaling;
import io.chunkserve.model.Weight;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/** Random-weight models of real shapes, for benchmarks (weights off-heap in the chosen dtype). */
public final class RandomModel {
    private RandomModel() { }

    /** Named shapes: hidden, intermediate, layers, heads, kvHeads, headDim, vocab, tied. */
    static final Map<String, int[]> SHAPES = Map.of(
            "smollm2-135m", new int[]{576, 1536, 30, 9, 3, 64, 49152, 1},
            "smollm2-360m", new int[]{960, 2560, 32, 15, 5, 64, 49152, 1},
            "llama-3.2-1b", new int[]{2048, 8192, 16, 32, 8, 64, 128256, 1},
            "qwen2.5-0.5b", new int[]{896, 4864, 24, 14, 2, 64, 151936, 1},
            "qwen1.5-0.5b", new int[]{1024, 2816, 24, 16, 16, 64, 151936, 1}, // multi-head (no GQA)
            "qwen3-0.6b", new int[]{1024, 3072, 28, 16, 8, 128, 151936, 1},    // 2 query heads a KV head (no q/k norms here)
            "llama-3-8b", new int[]{4096, 14336, 32, 32, 8, 128, 128256, 0});

    public static ModelConfig shape(String name) {
        int[] s = SHAPES.get(name.toLowerCase(Locale.ROOT));
        if (s == null) throw new IllegalArgumentException("unknown shape '" + name + "' (known: " + String.join(", ", SHAPES.keySet()) + ")");
        return new ModelConfig("llama", s[6], s[0], s[1], s[2], s[3], s[4], s[5], 1e-5f, 131072, s[7] == 1,
                new RopeScaling("llama3", 500000, 32, 1, 4, 8192));
    }

    /**
     * Allocates random weights in {@code arena}: small random values, never NaN or Inf. The matrices lie in one buffer on
     * transparent huge pages, in a step's reading order, as a served model's do ({@link ModelWeights#resident}).
     */
    public static ModelWeights weights(ModelConfig c, DType dtype, Arena arena, long seed) {
        long[] state = {seed * 0x9E3779B97F4A7C15L + 1};
        int h = c.hiddenSize();
        long per = (long) c.qDim() * h + 2L * c.kvDim() * h + (long) h * c.qDim() + 3L * c.intermediateSize() * h;
        long total = ((long) c.vocabSize() * h * (c.tieWordEmbeddings() ? 1 : 2) + per * c.numLayers()) * dtype.bytes()
                + 4096L * (8 * c.numLayers() + 3);
        SegmentAllocator alloc = SegmentAllocator.slicingAllocator(io.chunkserve.kv.HugePages.allocate(arena, total));
        Weight embed = random("embed", c.vocabSize(), h, dtype, alloc, state);
        ModelWeights.Layer[] layers = new ModelWeights.Layer[c.numLayers()];
        float[] ones = new float[h];
        Arrays.fill(ones, 1f);
        for (int i = 0; i < layers.length; i++) {
            layers[i] = new ModelWeights.Layer(ones,
                    random("wq", c.qDim(), h, dtype, alloc, state), random("wk", c.kvDim(), h, dtype, alloc, state),
                    random("wv", c.kvDim(), h, dtype, alloc, state), null, null, null, null, null,
                    random("wo", h, c.qDim(), dtype, alloc, state), ones,
                    random("gate", c.intermediateSize(), h, dtype, alloc, state),
                    random("up", c.intermediateSize(), h, dtype, alloc, state),
                    random("down", h, c.intermediateSize(), dtype, alloc, state));
        }
        Weight head = c.tieWordEmbeddings() ? embed : random("lm_head", c.vocabSize(), h, dtype, alloc, state);
        return new ModelWeights(embed, layers, ones, head);
    }

    static Weight random(String name, int rows, int cols, DType dt, SegmentAllocator alloc, long[] state) {
        long n = (long) rows * cols;
        MemorySegment seg = alloc.allocate(n * dt.bytes(), 4096);
        long x = state[0];
        for (long i = 0; i < n; i++) {
            x ^= x << 13; x ^= x >>> 7; x ^= x << 17;
            float f = ((x >>> 40) / (float) (1L << 24) - 0.5f) * 0.1f;
            switch (dt) {
                case F32 -> seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4, f);
                case F16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2, Float.floatToFloat16(f));
                case BF16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2, DType.floatToBf16(f));
            }
        }
        state[0] = x;
        return new Weight(name, seg, dt, rows, cols);
    }
}
