package io.chunkserve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Locates the committed reference models (fixtures/, made by tools/fixtures/make_fixtures.py). */
public final class Fixtures {
    private Fixtures() { }

    public static final List<String> MODELS = List.of("tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-llama2", "tiny-mistral");

    public static Path root() {
        String p = System.getProperty("chunkserve.fixtures");
        Path dir = p != null ? Path.of(p) : Path.of("../fixtures");
        if (!Files.isDirectory(dir)) throw new IllegalStateException("fixtures directory not found: " + dir.toAbsolutePath());
        return dir;
    }

    public static Path model(String name) { return root().resolve(name); }

    public static JsonNode golden(String name) {
        try {
            return new ObjectMapper().readTree(model(name).resolve("golden.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static int[] ints(JsonNode arr) {
        int[] out = new int[arr.size()];
        for (int i = 0; i < out.length; i++) out[i] = arr.get(i).asInt();
        return out;
    }

    public static float[] floats(JsonNode arr) {
        float[] out = new float[arr.size()];
        for (int i = 0; i < out.length; i++) out[i] = (float) arr.get(i).asDouble();
        return out;
    }
}
