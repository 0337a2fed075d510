package io.chunkserve.model;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A loaded model directory: configuration plus memory-mapped weights. Closing it unmaps the
 * weights, so it must outlive every runner that reads them.
 */
public final class Model implements AutoCloseable {
    private final Path dir;
    private final ModelConfig config;
    private final ModelWeights weights;
    private final Arena arena;

    private Model(Path dir, ModelConfig config, ModelWeights weights, Arena arena) {
        this.dir = dir;
        this.config = config;
        this.weights = weights;
        this.arena = arena;
    }

    /** Loads {@code dir}; throws {@link ModelLoadException} with one clear line on any problem. */
    public static Model load(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelLoadException("model directory " + dir + " does not exist");
        ModelConfig cfg = ModelConfig.load(dir);
        Arena arena = Arena.ofShared();
        try {
            return new Model(dir, cfg, ModelWeights.load(dir, cfg, arena), arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path dir() { return dir; }

    public ModelConfig config() { return config; }

    public ModelWeights weights() { return weights; }

    /** A name for the API: the directory's name. */
    public String name() { return dir.toAbsolutePath().normalize().getFileName().toString(); }

    @Override
    public void close() { arena.close(); }
}
