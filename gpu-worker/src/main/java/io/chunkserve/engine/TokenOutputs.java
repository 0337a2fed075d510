package io.chunkserve.engine;

import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.SampledToken;
import io.chunkserve.sampling.StopStringMatcher;
import io.chunkserve.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * From a step's logits row to a choice's output: the token it takes (the runner's pick, a draw made on a sampler
 * thread, or the host sampler now), whether that token ends the choice (EOS, a stop id, a length), and the token's
 * delta: its text through the choice's incremental detokenizer and stop strings (which may end it too) and its
 * log-probabilities. The {@link Engine}'s, on its thread.
 */
final class TokenOutputs {
    private final Tokenizer tokenizer;
    private final ModelConfig model;
    private final int[] eosIds;

    TokenOutputs(Tokenizer tokenizer, ModelConfig model) {
        this.tokenizer = tokenizer;
        this.model = model;
        this.eosIds = tokenizer.eosTokenIds();
    }

    /** A sampled token: its delta when its text is made at once, else (null) what making it later needs. */
    record Sampled(Choice c, SampledToken t, FinishReason finish, RequestOutput.ChoiceDelta delta) { }

    /**
     * Picks row's next token for c (logits: the step's rows of vocabSize floats) and decides, from the token alone,
     * whether c ends; with {@code now} also its text, else {@link #text} does that later. drawn: the row's draw made
     * on a sampler thread (a token, or the exception the draw threw), or null.
     */
    Sampled sample(ForwardBatch batch, Choice c, int row, boolean now, Object drawn, float[] logits) {
        int picked = batch.sampled(row);
        if (drawn instanceof RuntimeException e) throw e;   // as if drawn here
        if (picked >= 0 && batch.isRunnerSampled(row)) c.sampler.skipDraw();   // the runner used the sampler's next draw
        SampledToken t = picked >= 0 ? (batch.sampledToken(row) != null ? batch.sampledToken(row) : SampledToken.of(picked))
                : drawn instanceof SampledToken d ? d : c.sampler.sample(logits, row * model.vocabSize(), model.vocabSize());
        int id = t.tokenId();
        c.sampler.accept(id);
        c.append(id);
        var params = c.owner.request.params();
        FinishReason finish = null;
        boolean eos = !params.ignoreEos() && contains(eosIds, id);
        if (eos || params.stopTokenIds().contains(id)) finish = FinishReason.STOP;
        else if (c.generated() >= params.maxTokens() || c.size >= model.maxPositions()) finish = FinishReason.LENGTH;
        c.finish = finish;
        return new Sampled(c, t, finish, now ? text(c, t, finish) : null);
    }

    /** The delta of a sampled token: its text through c's detokenizer and stop strings (which may end c). */
    RequestOutput.ChoiceDelta text(Choice c, SampledToken t, FinishReason finish) {
        int id = t.tokenId();
        var params = c.owner.request.params();
        String text = finish == FinishReason.STOP ? "" : c.detok.push(id);
        StopStringMatcher.Result r = c.stops.push(text);
        String out = r.text();
        if (r.stopped()) {
            finish = FinishReason.STOP;
            c.finish = finish;   // (never for a deferred delta: no stop strings; its finish was set when sampled)
        } else if (finish != null) {
            StopStringMatcher.Result tail = c.stops.push(c.detok.flush());
            out += tail.text();
            if (!tail.stopped()) out += c.stops.flush();
        }
        List<RequestOutput.TokenLogprob> lps = List.of();
        if (params.logprobs()) lps = List.of(logprob(t));
        return new RequestOutput.ChoiceDelta(c.index, new int[]{id}, out, lps, finish);
    }

    private RequestOutput.TokenLogprob logprob(SampledToken t) {
        List<RequestOutput.TokenLogprob> top = new ArrayList<>();
        int[] ids = t.topTokenIds();
        float[] lp = t.topLogprobs();
        for (int i = 0; ids != null && i < ids.length; i++) {
            top.add(new RequestOutput.TokenLogprob(ids[i], tokenizer.tokenString(ids[i]), lp[i], List.of(), tokenizer.tokenBytes(ids[i])));
        }
        return new RequestOutput.TokenLogprob(t.tokenId(), tokenizer.tokenString(t.tokenId()), t.logprob(), top,
                tokenizer.tokenBytes(t.tokenId()));
    }

    private static boolean contains(int[] a, int x) {
        for (int v : a) if (v == x) return true;
        return false;
    }
}
