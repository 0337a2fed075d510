package io.chunkserve.model;

import java.lang.foreign.Arena;
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
