package io.chunkserve.engine;

/**
 * Engine limits.
 *
 * @param maxRunningSequences sequences (choices) decoded together per step
 * @param maxBatchTokens      tokens one forward step may process (decodes count one each; prefill
 *                            chunks fill the rest), bounding step latency for everyone else
 */
public record EngineConfig(int maxRunningSequences, int maxBatchTokens) {
    public EngineConfig {
        if (maxRunningSequences < 1) throw new IllegalArgumentException("max running sequences must be >= 1");
        if (maxBatchTokens < maxRunningSequences) throw new IllegalArgumentException("max batch tokens must be >= max running sequences");
    }

    public static EngineConfig defaults() { return new EngineConfig(64, 1024); }
}
