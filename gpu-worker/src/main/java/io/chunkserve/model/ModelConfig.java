package io.chunkserve.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * The architecture hyper-parameters of a Llama-family decoder (Llama 2/3/3.1/3.2, Mistral,
 * Qwen2/2.5, Qwen3, SmolLM2, TinyLlama), read from a Hugging Face {@code config.json}.
 * Whether q/k/v carry biases and whether q/k are RMS-normalised is decided by the tensors
 * present in the checkpoint (see {@link ModelWeights}), not by flags alone.
 */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        float rmsNormEps,
        int maxPositions,
        boolean tieWordEmbeddings,
        RopeScaling rope) {

    /** model_type values this runtime implements. */
    public static final Set<String> SUPPORTED = Set.of("llama", "mistral", "qwen2", "qwen3");

    public ModelConfig {
        if (numHeads % numKvHeads != 0) {
            throw new ModelLoadException("num_attention_heads (" + numHeads + ") is not a multiple of num_key_value_heads (" + numKvHeads + ")");
        }
        if (headDim % 2 != 0) throw new ModelLoadException("head_dim must be even for rotary embeddings, got " + headDim);
    }

    /** Query heads per KV head (GQA group size). */
    public int groupSize() { return numHeads / numKvHeads; }

    public int qDim() { return numHeads * headDim; }

    public int kvDim() { return numKvHeads * headDim; }

    public static ModelConfig load(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        if (!Files.isRegularFile(file)) throw new ModelLoadException("no config.json in " + modelDir);
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelLoadException("config.json in " + modelDir + " is not valid JSON: " + firstLine(e.getMessage()));
        }
        return parse(root);
    }

    public static ModelConfig parse(JsonNode root) {
        // Multimodal / nested configs keep the language model under text_config.
        if (root.has("text_config") && !root.has("hidden_size")) root = root.get("text_config");
        String type = root.path("model_type").asText("");
        if (!SUPPORTED.contains(type)) {
            String arch = root.path("architectures").path(0).asText(type);
            throw new ModelLoadException("unsupported architecture '" + (arch.isEmpty() ? "unknown" : arch)
                    + "' (model_type '" + type + "'); supported model types: llama, mistral, qwen2, qwen3");
        }
        int hidden = required(root, "hidden_size");
        int heads = required(root, "num_attention_heads");
        int kvHeads = root.path("num_key_value_heads").isNumber() ? root.get("num_key_value_heads").asInt() : heads;
        int headDim = root.path("head_dim").isNumber() ? root.get("head_dim").asInt() : hidden / heads;
        int maxPos = root.path("max_position_embeddings").asInt(4096);
        // Mistral's sliding window: serve only contexts that fit inside it, where full attention is exact.
        if (root.path("sliding_window").isNumber() && root.path("use_sliding_window").asBoolean(true)
                && !type.startsWith("qwen")) {
            maxPos = Math.min(maxPos, root.get("sliding_window").asInt());
        }
        boolean tied = root.path("tie_word_embeddings").asBoolean(false);
        return new ModelConfig(type, required(root, "vocab_size"), hidden, required(root, "intermediate_size"),
                required(root, "num_hidden_layers"), heads, kvHeads, headDim,
                (float) root.path("rms_norm_eps").asDouble(1e-6), maxPos, tied, rope(root));
    }

    static RopeScaling rope(JsonNode root) {
        JsonNode params = root.path("rope_parameters");
        JsonNode scaling = params.isObject() ? params : root.path("rope_scaling");
        double theta = params.path("rope_theta").isNumber() ? params.get("rope_theta").asDouble()
                : root.path("rope_theta").asDouble(10000.0);
        String type = "default";
        if (scaling.isObject()) {
            type = scaling.path("rope_type").asText(scaling.path("type").asText("default"));
        }
        return new RopeScaling(type, theta, scaling.path("factor").asDouble(1.0),
                scaling.path("low_freq_factor").asDouble(1.0), scaling.path("high_freq_factor").asDouble(4.0),
                scaling.path("original_max_position_embeddings").asInt(8192));
    }

    private static int required(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || !n.isNumber() || n.asInt() <= 0) throw new ModelLoadException("config.json: missing or invalid '" + key + "'");
        return n.asInt();
    }

    static String firstLine(String s) {
        if (s == null) return "";
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }
}
