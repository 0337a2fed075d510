package io.chunkserve.engine;

import io.chunkserve.runtime.ForwardBatch;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A step's rows sampled on the host, drawn on sampler threads beside the engine thread when there are at least
 * {@value #MIN_ROWS} of them. Each row's sampler (its seeded RNG, penalties, filters) belongs to its choice and is
 * used by one thread only, so the tokens do not depend on the threads. Engine thread only, except {@link #close}.
 */
final class HostSampling implements AutoCloseable {
    static final int MIN_ROWS = 8;

    private volatile int threads = Integer.getInteger("chunkserve.engine.samplerThreads",
            Math.min(7, Runtime.getRuntime().availableProcessors() - 1));
    private volatile ExecutorService pool;   // made on first use
    private volatile long parallelSteps;

    void threads(int n) {
        if (n < 0) throw new IllegalArgumentException("sampler threads " + n);
        threads = n;
    }

    int threads() { return threads; }

    long parallelSteps() { return parallelSteps; }

    /**
     * The host-sampled rows' tokens ({@link io.chunkserve.sampling.SampledToken}) or what sampling threw, by batch
     * row; null when there are fewer than {@value #MIN_ROWS} such rows or no sampler threads (each is then drawn in
     * turn by the caller).
     */
    Object[] draw(ForwardBatch batch, List<Choice> choices, boolean[] live, float[] logits, int vocab) {
        int t = threads;
        if (t <= 0) return null;
        int n = 0;
        for (int i = 0; i < choices.size(); i++) if (hostRow(batch, live, i)) n++;
        if (n < MIN_ROWS) return null;
        parallelSteps++;
        int[] rows = new int[n];
        for (int i = 0, k = 0; i < choices.size(); i++) if (hostRow(batch, live, i)) rows[k++] = i;
        Object[] out = new Object[choices.size()];
        int parts = Math.min(t + 1, n);
        if (pool == null) pool = Executors.newFixedThreadPool(t, Thread.ofPlatform().name("chunkserve-sampler-", 0).daemon(true).factory());
        List<Future<?>> futures = new ArrayList<>(parts - 1);
        for (int p = 1; p < parts; p++) {
            int part = p;
            futures.add(pool.submit(() -> sampleRows(choices, rows, part, parts, logits, vocab, out)));
        }
        sampleRows(choices, rows, 0, parts, logits, vocab, out);
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while sampling", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("sampling failed", e.getCause());
            }
        }
        return out;
    }

    private static boolean hostRow(ForwardBatch batch, boolean[] live, int i) {
        return live[i] && batch.wantsLogits(i) && batch.sampled(i) < 0;
    }

    /** Samples rows[part], rows[part + parts], ... into out (a token, or the exception sampling threw). */
    private static void sampleRows(List<Choice> choices, int[] rows, int part, int parts, float[] logits, int vocab, Object[] out) {
        for (int k = part; k < rows.length; k += parts) {
            int i = rows[k];
            try {
                out[i] = choices.get(i).sampler.sample(logits, i * vocab, vocab);
            } catch (RuntimeException e) {
                out[i] = e;
            }
        }
    }

    @Override
    public void close() {
        ExecutorService p = pool;
        if (p != null) p.shutdownNow();
    }
}
