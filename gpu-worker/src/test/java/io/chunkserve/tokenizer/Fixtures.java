package io.chunkserve.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The repo's tiny Hugging Face fixture models (system property {@code chunkserve.fixtures}). */
final class Fixtures {

    static final List<String> MODELS = List.of("tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-llama2", "tiny-mistral");
    static final ObjectMapper JSON = new ObjectMapper();

    private static final Map<String, Tokenizer> TOKENIZERS = new ConcurrentHashMap<>();

    private Fixtures() {}

    static Path root() {
        String dir = System.getProperty("chunkserve.fixtures");
        Path p = dir != null ? Path.of(dir) : Path.of("../fixtures");
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("fixtures directory not found: " + p.toAbsolutePath());
        }
        return p;
    }

    static Path dir(String model) {
        return root().resolve(model);
    }

    static JsonNode golden(String model) {
        try {
            return JSON.readTree(dir(model).resolve("golden.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One shared tokenizer per fixture for the whole test run (never closed: tests that close make their own). */
    static Tokenizer tokenizer(String model) {
        return TOKENIZERS.computeIfAbsent(model, m -> Tokenizer.load(dir(m)));
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).intValue();
        }
        return out;
    }

    static List<JsonNode> list(JsonNode array) {
        List<JsonNode> out = new ArrayList<>();
        array.forEach(out::add);
        return out;
    }

    /** The golden chat prompt (the one with messages). */
    static JsonNode chatPrompt(String model) {
        for (JsonNode p : golden(model).get("prompts")) {
            if (p.has("messages")) {
                return p;
            }
        }
        throw new IllegalStateException("no chat prompt in " + model);
    }
}
