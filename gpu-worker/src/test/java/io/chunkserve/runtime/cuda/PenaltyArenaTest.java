package io.chunkserve.runtime.cuda;

import io.chunkserve.sampling.Sampler;
import io.chunkserve.sampling.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device-resident penalty lists' bookkeeping ({@link PenaltyArena}) against a simulated device: an int array that
 * receives only the step's deltas (as {@code cs_pen_scatter} writes them) and grows as the runner's buffer does
 * (positions kept). After every step each placed sequence's region must equal its host list, entry for entry; then,
 * after every sequence ended and {@link PenaltyArena#RETAIN_STEPS} empty steps, the arena is back to one free block.
 */
class PenaltyArenaTest {

    /** A simulated device copy of the arena: (id, count) pairs. */
    private static final class Device {
        int[] mem = new int[0];

        void apply(PenaltyArena a) {
            if (mem.length < 2 * a.capacity()) {
                int[] grown = new int[2 * a.capacity()];
                Arrays.fill(grown, 0xdead);   // garbage where nothing was written
                System.arraycopy(mem, 0, grown, 0, mem.length);
                mem = grown;
            }
            int[] d = a.deltas();
            for (int i = 0; i < a.deltaCount(); i++) {
                mem[2 * d[3 * i]] = d[3 * i + 1];
                mem[2 * d[3 * i] + 1] = d[3 * i + 2];
            }
        }
    }

    private static final class Seq {
        final Sampler sampler;
        final int[] prompt;
        int first = -1;

        Seq(Sampler s, int[] prompt) {
            this.sampler = s;
            this.prompt = prompt;
        }
    }

    private static Seq newSeq(SplittableRandom rnd, int vocab) {
        int[] prompt = rnd.ints(rnd.nextInt(0, rnd.nextInt(4) == 0 ? 600 : 60), 0, vocab).toArray();
        double rep = rnd.nextInt(3) == 0 ? 1.0 : 1.1, pres = rnd.nextBoolean() ? 0.3 : 0, freq = rnd.nextBoolean() || (rep == 1.0 && pres == 0) ? 0.2 : 0;
        SamplingParams p = SamplingParams.builder().temperature(0).repetitionPenalty(rep).presencePenalty(pres).frequencyPenalty(freq).build();
        return new Seq(new Sampler(p, prompt), prompt);
    }

    private static int place(PenaltyArena a, Sampler s) {
        return a.place(s.penaltyKey(), s.penaltyIds(), s.penaltyCounts(), s.penaltyEntries(), s.penaltyRecords(), s.penaltyLastEntry());
    }

    private static void assertRegion(Device d, Seq q, String at) {
        Sampler s = q.sampler;
        for (int j = 0; j < s.penaltyEntries(); j++) {
            assertEquals(s.penaltyIds()[j], d.mem[2 * (q.first + j)], at + ": id of entry " + j);
            assertEquals(s.penaltyCounts()[j], d.mem[2 * (q.first + j) + 1], at + ": count of entry " + j);
        }
    }

    @Test
    void randomSoakKeepsEveryDeviceCopyEqualToItsListAndFreesEverything() {
        for (int trial = 0; trial < 6; trial++) {
            SplittableRandom rnd = new SplittableRandom(100 + trial);
            int vocab = trial % 2 == 0 ? 50 : 5000;   // a small vocabulary: generated tokens hit prompt entries often
            PenaltyArena a = new PenaltyArena(trial % 3 == 0 ? 0 : 4096);
            int startCapacity = a.capacity();
            Device d = new Device();
            List<Seq> live = new ArrayList<>();
            long placed = 0, incremental = 0;
            for (int step = 0; step < 400; step++) {
                // arrivals, forks (a choice of its own: a new list of the same prompt with the same output so far), ends
                int arrivals = step < 350 ? rnd.nextInt(3) : 0;
                for (int i = 0; i < arrivals; i++) live.add(newSeq(rnd, vocab));
                if (!live.isEmpty() && rnd.nextInt(8) == 0) {
                    Seq parent = live.get(rnd.nextInt(live.size()));
                    Seq child = newSeqLike(parent, rnd, vocab);
                    live.add(child);
                }
                int ends = step < 350 ? rnd.nextInt(3) : Math.min(live.size(), 2 + rnd.nextInt(4));
                for (int i = 0; i < ends && !live.isEmpty(); i++) live.remove(rnd.nextInt(live.size()));
                // a step: most sequences in it; some absent (preempted, or picked on the host this step)
                boolean residentStep = rnd.nextInt(10) != 0;   // else: the runner uploaded lists whole (A/B switch)
                List<Seq> in = new ArrayList<>();
                for (Seq q : live) if (rnd.nextInt(10) != 0) in.add(q);
                if (residentStep) {
                    a.beginStep();
                    for (Seq q : in) {
                        long before = a.uploadedEntries();
                        q.first = place(a, q.sampler);
                        placed++;
                        if (a.uploadedEntries() - before <= 2) incremental++;
                    }
                    a.endStep();
                    d.apply(a);
                    for (Seq q : in) assertRegion(d, q, "trial " + trial + " step " + step);
                    checkDisjoint(in, a);
                }
                // the engine accepts a token for each (sometimes two: a step the runner did not see)
                for (Seq q : in) {
                    int k = rnd.nextInt(12) == 0 ? 2 : 1;
                    for (int i = 0; i < k; i++) q.sampler.accept(nextToken(rnd, q, vocab));
                }
            }
            live.clear();
            for (int i = 0; i < PenaltyArena.RETAIN_STEPS; i++) {
                a.beginStep();
                a.endStep();
            }
            assertEquals(0, a.liveSlots(), "trial " + trial + ": regions left");
            assertEquals(a.capacity(), a.freeEntries(), "trial " + trial + ": entries not freed");
            assertEquals(1, a.freeBlocks(), "trial " + trial + ": the free list merged back into one block");
            assertTrue(a.capacity() >= startCapacity);
            assertTrue(incremental > placed / 2, "trial " + trial + ": most placements upload at most two entries (" + incremental + " of " + placed + ")");
        }
    }

    @Test
    void aSteadySequenceUploadsItsListOnceThenOnlyWhatATokenChanged() {
        SplittableRandom rnd = new SplittableRandom(7);
        int[] prompt = rnd.ints(2300, 0, 128256).toArray();
        Sampler s = new Sampler(SamplingParams.builder().temperature(0).repetitionPenalty(1.1).presencePenalty(0.3).frequencyPenalty(0.2).build(), prompt);
        PenaltyArena a = new PenaltyArena(0);
        Device d = new Device();
        Seq q = new Seq(s, prompt);
        for (int step = 0; step < 64; step++) {
            a.beginStep();
            long before = a.uploadedEntries();
            q.first = place(a, s);
            a.endStep();
            d.apply(a);
            assertRegion(d, q, "step " + step);
            long up = a.uploadedEntries() - before;
            if (step == 0) assertEquals(s.penaltyEntries(), up, "the first step uploads the whole list");
            else assertEquals(1, up, "step " + step + ": one entry changed");
            s.accept(step % 3 == 0 ? prompt[step] : rnd.nextInt(128256));   // a prompt token (count 0 → 1) or any
        }
        assertEquals(1, a.fullUploads());
        // a failed step forgets every copy: the next placement uploads the list whole again, into a region
        a.clear();
        a.beginStep();
        long before = a.uploadedEntries();
        q.first = place(a, s);
        a.endStep();
        d.apply(a);
        assertRegion(d, q, "after clear");
        assertEquals(s.penaltyEntries(), a.uploadedEntries() - before);
    }

    private static Seq newSeqLike(Seq parent, SplittableRandom rnd, int vocab) {
        Sampler p = parent.sampler;
        SamplingParams sp = SamplingParams.builder().temperature(0).repetitionPenalty(p.repetitionPenalty())
                .presencePenalty(p.presencePenalty()).frequencyPenalty(p.frequencyPenalty()).build();
        Sampler s = new Sampler(sp, parent.prompt);
        int n = rnd.nextInt(4);
        for (int i = 0; i < n; i++) s.accept(rnd.nextInt(vocab));
        return new Seq(s, parent.prompt);
    }

    private static int nextToken(SplittableRandom rnd, Seq q, int vocab) {
        if (q.prompt.length > 0 && rnd.nextInt(4) == 0) return q.prompt[rnd.nextInt(q.prompt.length)];
        return rnd.nextInt(vocab);
    }

    /** The placed regions do not overlap (each holds its list's entries). */
    private static void checkDisjoint(List<Seq> in, PenaltyArena a) {
        int[][] spans = new int[in.size()][];
        for (int i = 0; i < in.size(); i++) spans[i] = new int[] {in.get(i).first, in.get(i).first + in.get(i).sampler.penaltyEntries()};
        Arrays.sort(spans, (x, y) -> Integer.compare(x[0], y[0]));
        for (int i = 1; i < spans.length; i++) {
            assertTrue(spans[i - 1][1] <= spans[i][0] || spans[i - 1][1] == spans[i - 1][0] || spans[i][1] == spans[i][0],
                    "regions overlap: " + Arrays.toString(spans[i - 1]) + " " + Arrays.toString(spans[i]));
        }
        for (int[] sp : spans) assertTrue(sp[1] <= a.capacity());
    }
}
