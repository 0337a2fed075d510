package io.chunkserve.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;

/**
 * The weights of a Llama-family decoder. Matrices stay memory-mapped in their stored dtype;
 * the small 1-D tensors (norm gains, biases) are widened to fp32 arrays.
 *
 * @param embed   (vocab, hidden)
 * @param layers  per decoder layer
 * @param norm    (hidden) final RMSNorm gain
 * @param lmHead  (vocab, hidden); the embedding itself when tied
 */
public record ModelWeights(Weight embed, Layer[] layers, float[] norm, Weight lmHead) {

    /**
     * One decoder layer.
     *
     * @param attnNorm (hidden)
     * @param wq (heads·headDim, hidden)   @param wk (kvHeads·headDim, hidden)   @param wv (kvHeads·headDim, hidden)
     * @param bq (heads·headDim) or null   @param bk (kvHeads·headDim) or null   @param bv (kvHeads·headDim) or null
     * @param qNorm (headDim) or null (Qwen3)   @param kNorm (headDim) or null
     * @param wo (hidden, heads·headDim)
     * @param mlpNorm (hidden)
     * @param wGate (intermediate, hidden)   @param wUp (intermediate, hidden)   @param wDown (hidden, intermediate)
     */
    public record Layer(float[] attnNorm, Weight wq, Weight wk, Weight wv, float[] bq, float[] bk, float[] bv,
                        float[] qNorm, float[] kNorm, Weight wo, float[] mlpNorm, Weight wGate, Weight wUp, Weight wDown) { }

    /** Total bytes of the matrices a decode step reads (every layer's projections and the LM head). */
    public long matrixBytesPerStep() {
        long b = lmHead.byteSize();
        for (Layer l : layers) {
            b += l.wq.byteSize() + l.wk.byteSize() + l.wv.byteSize() + l.wo.byteSize()
                    + l.wGate.byteSize() + l.wUp.byteSize() + l.wDown.byteSize();
        }
        return b;
    }

    /**
     * The same model with every matrix a decode step reads (the projections and the LM head; the embedding too when it is
     * the LM head) copied into one anonymous buffer on transparent huge pages ({@link io.chunkserve.kv.HugePages}), in the
     * order a step reads them; the rest stays as it is. A mapped checkpoint sits on 4 KiB page-cache pages: streamed by
     * the CPU matmuls each 4 KiB costs a TLB miss, and matrices under 2 MiB (every layer of a small model) never get a huge
     * page of their own. The copy lives as long as {@code arena}.
     */
    public ModelWeights resident(Arena arena) {
        long total = 4096; // room to align the first matrix where the buffer is not on a huge page (under 2 MiB)
        for (Weight m : matrices()) total += align(m.byteSize());
        return copyInto(java.lang.foreign.SegmentAllocator.slicingAllocator(io.chunkserve.kv.HugePages.allocate(arena, total)));
    }

    /** As {@link #resident}, each matrix copied into memory of {@code alloc} (4 KiB-aligned). */
    public ModelWeights copyInto(java.lang.foreign.SegmentAllocator alloc) {
        java.util.function.UnaryOperator<Weight> copy = m -> {
            MemorySegment dst = alloc.allocate(m.byteSize(), 4096);
            dst.copyFrom(m.data().asSlice(0, m.byteSize()));
            return new Weight(m.name(), dst, m.dtype(), m.rows(), m.cols());
        };
        Layer[] ls = new Layer[layers.length];
        for (int i = 0; i < ls.length; i++) {
            Layer l = layers[i];
            ls[i] = new Layer(l.attnNorm, copy.apply(l.wq), copy.apply(l.wk), copy.apply(l.wv), l.bq, l.bk, l.bv, l.qNorm, l.kNorm,
                    copy.apply(l.wo), l.mlpNorm, copy.apply(l.wGate), copy.apply(l.wUp), copy.apply(l.wDown));
        }
        Weight head = copy.apply(lmHead);
        return new ModelWeights(embed == lmHead ? head : embed, ls, norm, head);
    }

    /** Every matrix {@link #resident} copies, in a step's reading order. */
    private java.util.List<Weight> matrices() {
        java.util.List<Weight> all = new java.util.ArrayList<>();
        for (Layer l : layers) all.addAll(java.util.List.of(l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown));
        all.add(lmHead);
        return all;
    }

    private static long align(long bytes) { return (bytes + 4095) & -4096L; }

    public static ModelWeights load(Path dir, ModelConfig cfg, Arena arena) {
        return from(SafeTensors.openModel(dir, arena), cfg);
    }

    /** Binds named tensors (Hugging Face names) to the architecture, checking every shape. */
    public static ModelWeights from(Map<String, SafeTensors.Entry> t, ModelConfig c) {
        Names n = new Names(t);
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), inter = c.intermediateSize();
        Weight embed = n.matrix("model.embed_tokens.weight", c.vocabSize(), h);
        Layer[] layers = new Layer[c.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "model.layers." + i + ".";
            layers[i] = new Layer(
                    n.vector(p + "input_layernorm.weight", h),
                    n.matrix(p + "self_attn.q_proj.weight", q, h),
                    n.matrix(p + "self_attn.k_proj.weight", kv, h),
                    n.matrix(p + "self_attn.v_proj.weight", kv, h),
                    n.optionalVector(p + "self_attn.q_proj.bias", q),
                    n.optionalVector(p + "self_attn.k_proj.bias", kv),
                    n.optionalVector(p + "self_attn.v_proj.bias", kv),
                    n.optionalVector(p + "self_attn.q_norm.weight", c.headDim()),
                    n.optionalVector(p + "self_attn.k_norm.weight", c.headDim()),
                    n.matrix(p + "self_attn.o_proj.weight", h, q),
                    n.vector(p + "post_attention_layernorm.weight", h),
                    n.matrix(p + "mlp.gate_proj.weight", inter, h),
                    n.matrix(p + "mlp.up_proj.weight", inter, h),
                    n.matrix(p + "mlp.down_proj.weight", h, inter));
            if ((layers[i].qNorm() == null) != (layers[i].kNorm() == null)) {
                throw new ModelLoadException("layer " + i + " has only one of q_norm / k_norm");
            }
        }
        float[] norm = n.vector("model.norm.weight", h);
        Weight head = t.containsKey("lm_head.weight") && !c.tieWordEmbeddings()
                ? n.matrix("lm_head.weight", c.vocabSize(), h) : embed;
        if (!t.containsKey("lm_head.weight") && !c.tieWordEmbeddings()) {
            throw new ModelLoadException("missing tensor lm_head.weight (and tie_word_embeddings is false)");
        }
        return new ModelWeights(embed, layers, norm, head);
    }

    private record Names(Map<String, SafeTensors.Entry> t) {
        SafeTensors.Entry get(String name) {
            SafeTensors.Entry e = t.get(name);
            if (e == null) throw new ModelLoadException("missing tensor " + name);
            return e;
        }

        Weight matrix(String name, int rows, int cols) {
            SafeTensors.Entry e = get(name);
            DType dt = DType.fromSafetensors(e.dtype());
            if (dt == null) throw new ModelLoadException("tensor " + name + " has unsupported dtype " + e.dtype() + " (supported: F32, F16, BF16)");
            if (e.shape().length != 2 || e.shape()[0] != rows || e.shape()[1] != cols) {
                throw new ModelLoadException("tensor " + name + " has shape " + java.util.Arrays.toString(e.shape())
                        + ", expected [" + rows + ", " + cols + "]");
            }
            return new Weight(name, e.data(), dt, rows, cols);
        }

        float[] vector(String name, int len) {
            SafeTensors.Entry e = get(name);
            DType dt = DType.fromSafetensors(e.dtype());
            if (dt == null) throw new ModelLoadException("tensor " + name + " has unsupported dtype " + e.dtype() + " (supported: F32, F16, BF16)");
            if (e.shape().length != 1 || e.shape()[0] != len) {
                throw new ModelLoadException("tensor " + name + " has shape " + java.util.Arrays.toString(e.shape()) + ", expected [" + len + "]");
            }
            return new Weight(name, e.data(), dt, 1, len).toFloatArray();
        }

        float[] optionalVector(String name, int len) {
            return t.containsKey(name) ? vector(name, len) : null;
        }
    }
}
