package io.chunkserve.engine;

import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.ModelRunner;
import io.chunkserve.sampling.Sampler;
import io.chunkserve.sampling.SamplingParams;

/**
 * Which rows the runner picks itself (on the device) instead of handing their logits to the host sampler, and how
 * such rows are marked in the batch. Holds the runner's capabilities, read by the engine thread whenever no step is
 * in flight ({@link #refresh}); used only on that thread.
 */
final class RunnerPicks {
    private boolean sampling;    // ModelRunner#samplesOnDevice
    private boolean penalties;   // ModelRunner#penalizesOnDevice
    private boolean logprobs;    // ModelRunner#logprobsOnDevice
    private boolean bias;        // ModelRunner#biasesOnDevice

    void refresh(ModelRunner runner) {
        sampling = runner.samplesOnDevice();
        penalties = runner.penalizesOnDevice();
        logprobs = runner.logprobsOnDevice();
        bias = runner.biasesOnDevice();
    }

    /**
     * Choices whose next tokens a pipelined step may leave on the device: picked by the runner, and not the first
     * pick of an n > 1 request (its siblings fork from that row's logits on the host).
     */
    boolean pipelinable(Choice c) {
        RequestState s = c.owner;
        return (s.choices.length == 1 || !s.fresh()) && (plainGreedy(s.request.params()) || runnerPicks(c));
    }

    /**
     * Lets the runner pick the last added row's token when it can: the argmax of a plain greedy row, or, with a
     * runner that {@link ModelRunner#samplesOnDevice samples}, the draw of a request sampled with temperature, top_k,
     * top_p and min_p, at the draw its sampler would use {@code ahead} draws from now; with a runner that
     * {@link ModelRunner#penalizesOnDevice penalizes}, also such rows with penalties (greedy or drawn), marked with
     * their penalty list ({@code ahead} = 1: the row runs on the token picked in the step on the device, which the
     * runner adds to the list); with one that {@link ModelRunner#logprobsOnDevice reports log-probabilities}, rows
     * that want them; with one that {@link ModelRunner#biasesOnDevice adds the logit_bias}, biased rows, marked with it.
     */
    void mark(ForwardBatch b, Choice c, int ahead) {
        SamplingParams p = c.owner.request.params();
        if (plainGreedy(p)) {
            b.markGreedy();
            return;
        }
        if (!runnerPicks(c)) return;
        if (p.isGreedy()) b.markGreedy();
        else b.markSampled(p.temperature(), p.topK(), p.topP(), p.minP(), c.sampler.peekDraw(ahead));
        Sampler sm = c.sampler;
        if (penalties && sm.penalized()) {
            b.markPenalties(sm.repetitionPenalty(), sm.presencePenalty(), sm.frequencyPenalty(), sm.penaltyIds(), sm.penaltyCounts(),
                    sm.penaltyEntries(), sm.penaltyKey(), sm.penaltyRecords(), sm.penaltyLastEntry());
        }
        if (p.hasLogitBias()) b.markBias(p.logitBias());
        if (p.logprobs()) b.markLogprobs(p.topLogprobs());
    }

    /**
     * Whether the runner may pick c's tokens when it is not plain greedy: the rest (penalties, log-probabilities, the
     * logit_bias) on the runner, and not the first pick of an n > 1 request (every choice's first token is drawn on the
     * host from choice 0's logits; after that each choice is a sequence of its own, with its own sampler).
     */
    private boolean runnerPicks(Choice c) {
        RequestState s = c.owner;
        SamplingParams p = s.request.params();
        if ((s.choices.length != 1 && s.fresh()) || (p.logprobs() && !logprobs) || (p.hasLogitBias() && !bias)) return false;
        if (p.isGreedy()) return (penalties || !c.sampler.penalized()) && (logprobs || !p.logprobs());   // (plain greedy: apart)
        return sampling && c.sampler.runnerSamplable(penalties, logprobs, bias);
    }

    /** Argmax sampling with nothing else: the runner may pick such tokens itself (on the device). */
    private static boolean plainGreedy(SamplingParams p) {
        return p.isGreedy() && !p.hasPenalties() && !p.logprobs() && !p.hasLogitBias();
    }
}
