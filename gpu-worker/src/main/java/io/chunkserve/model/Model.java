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

    private ModelWeights cpuWeights;

    /**
     * The weights the CPU backend reads: the matrices copied onto huge pages ({@link ModelWeights#resident}; made on the
     * first call, freed with the model), or the mapped ones with {@code -Dchunkserve.cpu.residentWeights=false} or when
     * the copy would take more than half of the machine's memory.
     */
    public synchronized ModelWeights cpuWeights() {
        if (cpuWeights == null) {
            long total = weights.matrixBytesPerStep();
            long mem = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                    .getTotalMemorySize();
            boolean copy = Boolean.parseBoolean(System.getProperty("chunkserve.cpu.residentWeights", "true")) && total <= mem / 2;
            cpuWeights = copy ? weights.resident(arena) : weights;
        }
        return cpuWeights;
    }

    /** A name for the API: the directory's name. */
    public String name() { return dir.toAbsolutePath().normalize().getFileName().toString(); }

    @Override
    public void close() { arena.close(); }
}
