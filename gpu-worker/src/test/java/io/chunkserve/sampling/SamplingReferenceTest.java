package io.chunkserve.sampling;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runner-side draw's definition against the host {@link Sampler}: over stratified draws both give every token
 * the same frequency (each within 1/N of the other), for temperature, top_k, top_p and min_p and their mixes, with
 * tied logits; and a Sampler's {@link Sampler#peekDraw} is the draw its own {@link Sampler#sample} uses next.
 */
class SamplingReferenceTest {
    @Test
    void sameDistributionAsTheHostSampler() {
        Random rnd = new Random(7);
        int vocab = 300;
        for (int t = 0; t < 12; t++) {
            float[] l = new float[vocab];
            for (int i = 0; i < vocab; i++) l[i] = (float) (rnd.nextGaussian() * (t % 3 + 1));
            for (int i = 0; i < 30; i++) l[rnd.nextInt(vocab)] = l[rnd.nextInt(vocab)];   // ties
            double temp = List.of(0.5, 0.8, 1.0, 1.7).get(t % 4);
            int topK = t % 3 == 0 ? 0 : 10 + t;
            double topP = t % 2 == 0 ? 1.0 : 0.7;
            double minP = t % 4 == 3 ? 0.05 : 0.0;
            SamplingParams p = SamplingParams.builder().temperature(temp).topK(topK).topP(topP).minP(minP).seed(1L).build();
            int n = 4000;
            int[] host = new int[vocab], ref = new int[vocab];
            double[] w = SamplingReference.keptWeights(l, 0, vocab, (float) (1.0 / temp), topK, (float) topP, (float) minP);
            for (int j = 0; j < n; j++) {
                double u = (j + 0.5) / n;
                ref[SamplingReference.draw(w, u)]++;
                host[hostDraw(p, l, u)]++;
            }
            for (int i = 0; i < vocab; i++) {
                assertTrue(Math.abs(host[i] - ref[i]) <= 2, "case " + t + " token " + i + ": host " + host[i] + " reference " + ref[i]);
                if (w[i] == 0) assertEquals(0, host[i], "case " + t + ": the host drew token " + i + " outside the kept set");
            }
        }
    }

    /** The host sampler's token at draw u: a sampler whose next draw is u is found by seeding it so. */
    private static int hostDraw(SamplingParams p, float[] l, double u) {
        // TokenFilters.draw is the host's stochastic path; call it with u directly
        TokenFilters f = new TokenFilters(p);
        float max = Float.NEGATIVE_INFINITY;
        for (float v : l) max = Math.max(max, v);
        return f.draw(l, 0, l.length, max, u, new SamplerWorkspace());
    }

    @Test
    void peekDrawIsTheNextDraw() {
        // equal logits: both the host and the reference walk ids in order, so the token tells the draw (to 1/V)
        SamplingParams p = SamplingParams.builder().temperature(1.0).seed(42L).build();
        int vocab = 1 << 14;
        float[] l = new float[vocab];
        Sampler a = new Sampler(p, new int[] {1}), b = new Sampler(p, new int[] {1});
        double[] w = SamplingReference.keptWeights(l, 0, vocab, 1f, 0, 1f, 0f);
        for (int step = 0; step < 50; step++) {
            double u0 = b.peekDraw(0), u1 = b.peekDraw(1);
            int viaHost = a.sample(l, 0, vocab).tokenId();
            a.accept(viaHost);
            assertTrue(Math.abs(SamplingReference.draw(w, u0) - viaHost) <= 1, "step " + step + ": host " + viaHost + " at u " + u0);
            b.skipDraw();
            assertEquals(u1, b.peekDraw(0), "peekDraw(1) is the draw after the next");
            b.accept(viaHost);
        }
    }
}
