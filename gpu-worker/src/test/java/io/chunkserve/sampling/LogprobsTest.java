package io.chunkserve.sampling;

import static io.chunkserve.sampling.SamplingTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Log-probabilities: raw log-softmax, and the true top-k sorted with ties by id. */
class LogprobsTest {

    @Test
    void logprobsAreRawLogSoftmaxAndSumToOne() {
        float[] logits = randomLogits(20, 9, 3.0);
        SamplingParams p = seeded(2).logprobs(true).topLogprobs(20).temperature(0.3)
                .repetitionPenalty(1.3).presencePenalty(1).build();
        Sampler s = new Sampler(p, new int[] {0, 1, 2});
        double[] ref = softmax(logits, 1.0);
        for (int step = 0; step < 20; step++) {
            SampledToken t = s.sample(logits, 0, logits.length);
            s.accept(t.tokenId());
            assertEquals(20, t.topTokenIds().length);
            double sum = 0;
            for (float lp : t.topLogprobs()) sum += Math.exp(lp);
            assertEquals(1.0, sum, 1e-5);
            // raw: independent of penalties and temperature
            assertEquals(Math.log(ref[t.tokenId()]), t.logprob(), 1e-5);
            for (int j = 0; j < 20; j++) {
                assertEquals(Math.log(ref[t.topTokenIds()[j]]), t.topLogprobs()[j], 1e-5);
            }
        }
    }

    @Test
    void topLogprobsAreTheTrueTopKSortedWithTiesById() {
        int n = 152064;
        float[] logits = randomLogits(n, 10, 2.0);
        logits[777] = 15f;
        logits[5] = 15f;      // tie with 777: lower id first
        logits[n - 1] = 14.5f; // in the vector tail
        double max = 15.0, sum = 0;
        for (float v : logits) sum += Math.exp(v - max);
        double lse = max + Math.log(sum);

        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -logits[i]).thenComparingInt(i -> i));
        SamplingParams p = seeded(3).logprobs(true).topLogprobs(7).topK(50).build();
        SampledToken t = new Sampler(p, NO_PROMPT).sample(logits, 0, n);
        int[] want = new int[7];
        for (int j = 0; j < 7; j++) want[j] = order[j];
        assertArrayEquals(want, t.topTokenIds());
        assertEquals(5, t.topTokenIds()[0]);
        assertEquals(777, t.topTokenIds()[1]);
        for (int j = 0; j < 7; j++) {
            assertEquals(logits[want[j]] - lse, t.topLogprobs()[j], 1e-4);
            if (j > 0) assertTrue(t.topLogprobs()[j - 1] >= t.topLogprobs()[j]);
        }
        assertEquals(logits[t.tokenId()] - lse, t.logprob(), 1e-4);

        // logprobs=true with top_logprobs=0: only the chosen token's
        SampledToken only = new Sampler(seeded(3).logprobs(true).build(), NO_PROMPT).sample(logits, 0, n);
        assertEquals(0, only.topTokenIds().length);
        assertEquals(logits[only.tokenId()] - lse, only.logprob(), 1e-4);
        // not requested: NaN
        SampledToken none = new Sampler(seeded(3).build(), NO_PROMPT).sample(logits, 0, n);
        assertFalse(none.hasLogprob());
        assertEquals(0, none.topLogprobs().length);
    }
}
