package io.chunkserve.runtime;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.model.ModelConfig;

/** Runs the model's forward pass for a batch over the chunked KV cache (one implementation per backend). */
public interface ModelRunner extends AutoCloseable {
    ModelConfig config();

    /**
     * Runs one step: writes the new tokens' K/V into {@code pool} and, for each sequence s that
     * wants them, the next-token logits of its last token into {@code logits[s·vocab ..)}.
     *
     * A runner may pick the next token of a sequence marked {@link ForwardBatch#markGreedy greedy} itself
     * ({@link ForwardBatch#setSampled}, the lowest id of the maximum logit); its logits row is then not written.
     *
     * @param logits (batch.size(), vocab) fp32; rows of sequences that want no logits are untouched
     */
    void forward(ForwardBatch batch, ChunkPool pool, float[] logits);

    /**
     * {@link #forward(ForwardBatch, ChunkPool, float[])} that runs {@code whileRunning} (host work of the caller that
     * touches neither the batch nor the pool) exactly once, while the step computes where the runner can (a device
     * runner: once enough of the step is queued on the device, before it waits for the results). This default runs
     * it first.
     */
    default void forward(ForwardBatch batch, ChunkPool pool, float[] logits, Runnable whileRunning) {
        whileRunning.run();
        forward(batch, pool, logits);
    }

    /** Whether {@link #forward(ForwardBatch, ChunkPool, float[], Runnable)} overlaps the host work with the step. */
    default boolean overlapsHostWork() { return false; }

    @Override
    default void close() { }
}
