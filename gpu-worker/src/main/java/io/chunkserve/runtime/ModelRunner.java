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

    /**
     * Whether this runner draws {@link ForwardBatch#markSampled} rows itself (temperature, top_k, top_p, min_p at a
     * given uniform draw, by {@link io.chunkserve.sampling.SamplingReference}'s definition) instead of returning
     * their logits.
     */
    default boolean samplesOnDevice() { return false; }

    /**
     * Whether this runner applies the penalties of rows it picks when they are marked with
     * {@link ForwardBatch#markPenalties} (by {@link io.chunkserve.sampling.PenaltyList}'s definition), so that
     * penalized greedy rows (and, when it {@link #samplesOnDevice samples}, penalized stochastic rows) need not
     * return their logits.
     */
    default boolean penalizesOnDevice() { return false; }

    /**
     * Whether this runner reports the log-probabilities of rows it picks when they are marked with
     * {@link ForwardBatch#markLogprobs} ({@link ForwardBatch#setSampled(int, io.chunkserve.sampling.SampledToken)}),
     * so that such rows need not return their logits.
     */
    default boolean logprobsOnDevice() { return false; }

    /**
     * Whether this runner adds the logit_bias of rows it picks when they are marked with {@link ForwardBatch#markBias}
     * (before their penalties, as {@link io.chunkserve.sampling.Sampler} does; log-probabilities of the raw logits), so
     * that biased rows need not return their logits.
     */
    default boolean biasesOnDevice() { return false; }

    /** Whether {@link #forward(ForwardBatch, ChunkPool, float[], Runnable)} overlaps the host work with the step. */
    default boolean overlapsHostWork() { return false; }

    /**
     * Whether this runner can run one step ahead ({@link #launch}, {@link #collect}): a device runner that queues
     * step n+1 behind step n, whose plain greedy picks stay on the device as step n+1's tokens
     * ({@link ForwardBatch#addFromPrevious}), so that the device does not wait for the host between steps.
     */
    default boolean pipelines() { return false; }

    /**
     * Queues a step and returns without waiting for it. At most two steps are launched and not collected; a batch's
     * {@link ForwardBatch#addFromPrevious} rows refer to the step launched just before it, which must have picked
     * those rows on the device (rows it picks: greedy or drawn, penalized or with log-probabilities when it does
     * those, at most one step ago). {@code b} must stay unchanged until
     * {@link #collect}ed. Only for a runner that {@link #pipelines}.
     */
    default void launch(ForwardBatch b, ChunkPool pool) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not pipeline steps");
    }

    /**
     * Waits for the oldest launched step (whose batch is {@code b}) and completes it as {@link #forward} would: the
     * picked tokens ({@link ForwardBatch#setSampled}) and the other logits rows into {@code logits}.
     */
    default void collect(ForwardBatch b, float[] logits) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not pipeline steps");
    }

    /** After a failure: forgets every launched step not collected yet (waiting for the device where needed). */
    default void abandon() { }

    @Override
    default void close() { }
}
