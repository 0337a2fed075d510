package io.chunkserve.engine;

import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.sampling.FinishReason;

import java.util.Arrays;
import java.util.List;

/**
 * Builds each {@link Engine} step's batch from the running requests (the engine's list, engine thread only): every
 * running sequence's next token first, preempting the most recent request when a decode has no KV room, then prefill
 * chunks in admission order within the token budget. A choice that runs out of KV while alone ends with a length
 * finish and is listed in {@code endedWithoutSample} (the engine's list) for the engine to report.
 */
final class BatchBuilder {
    private final PrefixCache cache;
    private final EngineConfig cfg;
    private final ModelConfig model;
    private final RunnerPicks picks;
    private final Admission admission;
    private final List<RequestState> running;
    private final List<RequestState> endedWithoutSample;

    BatchBuilder(PrefixCache cache, EngineConfig cfg, ModelConfig model, RunnerPicks picks, Admission admission,
                 List<RequestState> running, List<RequestState> endedWithoutSample) {
        this.cache = cache;
        this.cfg = cfg;
        this.model = model;
        this.picks = picks;
        this.admission = admission;
        this.running = running;
        this.endedWithoutSample = endedWithoutSample;
    }

    /**
     * Fills {@code st} with this step's work. With {@code ahead} (a launched step whose results are not back), a
     * choice whose next token that step picks on the device continues with it ({@link ForwardBatch#addFromPrevious})
     * when it cannot end by length and its next position has room without preempting; other choices in flight
     * sit this step out, except for more of a prefill.
     */
    void build(Step st, Step ahead) {
        st.clear();
        int budget = cfg.maxBatchTokens();
        // Decodes first: every running sequence advances one token per step.
        for (int ri = 0; ri < running.size(); ri++) {
            RequestState s = running.get(ri);
            for (Choice c : s.choices) {
                if (c.kv == null || c.finished()) continue;
                if (c.inflight > 0) {
                    if (ahead != null && c.pickStep == ahead && continuesAfterPick(c) && cache.reserve(c.kv, c.inflight + 1)) {
                        int row = c.pickRow;
                        st.batch.addFromPrevious(row, c.size, c.kv.chunkTable());
                        picks.mark(st.batch, c, 1);   // (the draw after the one of the step on the device)
                        noteRow(st, c, 1, true);
                        budget--;
                    }
                    continue;
                }
                if (c.pending() != 1) continue;
                while (c.kv.reservedTokens() < 1 && !cache.reserve(c.kv, 1)) {
                    if (running.size() == 1) {
                        // Alone and still out of room: the KV cache cannot hold more of this sequence.
                        c.finish = FinishReason.LENGTH;
                        cache.release(c.kv);
                        c.kv = null;
                        endedWithoutSample.add(s);
                        break;
                    }
                    if (!admission.preemptOne(s)) break;
                }
                if (c.kv == null || c.kv.reservedTokens() < 1) continue; // s itself was preempted
                add(st, c, 1, true);
                budget--;
            }
        }
        // Then prefill chunks in admission order, within the token budget.
        for (RequestState s : running) {
            for (Choice c : s.choices) {
                if (budget <= 0) return;
                if (c.kv == null || c.finished() || c.pickStep != null) continue;
                int pending = c.pending();
                if (pending <= 1 && !(pending == 1 && c.inflight > 0)) continue;
                int n = Math.min(pending, budget);
                add(st, c, n, n == pending);
                budget -= n;
            }
        }
    }

    /** Whether c goes on after the token being picked for it now, whatever that token is (no length end). */
    private boolean continuesAfterPick(Choice c) {
        return c.generated() + 1 < c.owner.request.params().maxTokens() && c.size + 1 < model.maxPositions();
    }

    private void add(Step st, Choice c, int n, boolean wantLogits) {
        int start = c.kv.length() + c.inflight;
        st.batch.add(c.tokens, start, n, start, c.kv.chunkTable(), wantLogits);
        if (wantLogits) picks.mark(st.batch, c, 0);
        noteRow(st, c, n, wantLogits);
    }

    private void noteRow(Step st, Choice c, int n, boolean wantLogits) {
        int row = st.choices.size();
        if (row == st.counts.length) st.counts = Arrays.copyOf(st.counts, row * 2);
        st.counts[row] = n;
        st.choices.add(c);
        st.kvs.add(c.kv);
        c.inflight += n;
        if (wantLogits && st.batch.isGreedy(row)) {
            c.pickStep = st;
            c.pickRow = row;
        }
    }
}
