package io.chunkserve.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The partials timeline's records (attention.cu DIAG 3) as the kernel writes them, decoded and summarised. */
class AttnTimelineTest {
    /** One record: globaltimer begin / after the wait / end, clock64 after the wait / end, and the packed info word. */
    private static long[] rec(long begin, long start, long end, long c0, long c1, int sm, boolean warp, int rows, int tokens) {
        long info = sm | (warp ? 1L << 8 : 0) | ((long) rows << 16) | ((long) tokens << 32);
        return new long[] {begin, start, end, c0, c1, info};
    }

    private static long[] join(long[]... r) {
        long[] out = new long[6 * r.length];
        for (int i = 0; i < r.length; i++) System.arraycopy(r[i], 0, out, 6 * i, 6);
        return out;
    }

    @Test
    void decodesBlocksRelativeToTheFirstBegin() {
        long t = 1_000_000_000L;
        long[] tl = join(
                rec(t, t + 500, t + 10_500, 100, 20_100, 3, false, 64, 512),
                rec(t + 100, t + 600, t + 4_600, 7, 8_007, 4, true, 4, 144),
                rec(t + 200, t + 700, 0, 0, 0, 5, true, 4, 144),          // never ended: dropped
                rec(t + 5_000, t + 5_100, t + 8_100, 0, 6_000, 4, true, 4, 288));
        AttnTimeline a = AttnTimeline.of(tl);
        List<AttnTimeline.Block> b = a.blocks();
        assertEquals(3, b.size());
        assertEquals(0, b.get(0).index());
        assertEquals(3, b.get(0).sm());
        assertEquals(64, b.get(0).kind());
        assertEquals(512, b.get(0).tokens());
        assertEquals(0.0, b.get(0).beginNs());
        assertEquals(500.0, b.get(0).startNs());
        assertEquals(10_500.0, b.get(0).endNs());
        assertEquals(20_000, b.get(0).cycles());
        assertEquals(0, b.get(1).kind(), "a warp block is kind 0 whatever its rows");
        assertEquals(3, b.get(2).index(), "block indices survive the dropped record");
        assertEquals(288, b.get(2).tokens());
    }

    /** A merge (kernel 1) or o projection GEMM (kernel 2) record: the kernel in bits 9–10 of the info word. */
    private static long[] after(int kernel, long begin, long start, long end, int sm, int slice) {
        return new long[] {begin, start, end, 0, end - start, sm | ((long) kernel << 9) | ((long) slice << 32)};
    }

    @Test
    void theMergeAndTheOProjectionFollowOnThePartialsClock() {
        long t = 5_000_000L;
        long[] tl = join(
                after(1, t - 300, t + 9_000, t + 9_800, 7, 0),               // a merge block resident before the partials began
                rec(t, t + 400, t + 8_000, 0, 1, 3, false, 64, 512),
                rec(t + 50, t + 450, t + 8_500, 0, 1, 4, true, 4, 192),
                after(1, t + 8_100, t + 9_000, t + 9_600, 3, 0),
                after(2, t + 8_200, t + 9_900, t + 12_900, 3, 5),
                after(2, t + 8_600, t + 9_900, 0, 4, 6));                    // never ended: dropped
        AttnTimeline a = AttnTimeline.of(tl);
        List<AttnTimeline.Block> b = a.blocks();
        assertEquals(5, b.size());
        assertEquals(AttnTimeline.MERGE, b.get(0).kind());
        assertEquals(-300.0, b.get(0).beginNs(), "times count from the partials' first begin, not the merge's");
        assertEquals(0, b.get(0).index());
        assertEquals(1, b.get(3).index(), "each kernel's blocks count from 0");
        assertEquals(AttnTimeline.O_GEMM, b.get(4).kind());
        assertEquals(5, b.get(4).tokens(), "a GEMM block's k-slice");
        List<String> s = a.summary(2);
        String merge = s.stream().filter(l -> l.contains("merge block")).findFirst().orElseThrow();
        assertTrue(merge.contains("2 blocks on 2 SMs") && merge.contains("began µs -0.30 – 8.10") && merge.contains("waits released 9.00 – 9.00")
                && merge.contains("ended 9.60 – 9.80"), merge);
        String o = s.stream().filter(l -> l.contains("o GEMM block")).findFirst().orElseThrow();
        assertTrue(o.contains("1 blocks on 1 SMs") && o.contains("waits released 9.90 – 9.90") && o.contains("after the wait µs median 3.00"), o);
        assertTrue(s.stream().anyMatch(l -> l.contains("span 8.10 µs")), "the partials launch line counts partials blocks only: " + s);
    }

    @Test
    void summarySaysWhatRanLateAndHowLong(@TempDir Path dir) throws Exception {
        long t = 0;
        long[] tl = join(
                rec(t, t, t + 10_000, 0, 1, 0, false, 64, 512),
                rec(t, t, t + 4_000, 0, 1, 1, true, 4, 144),
                rec(t + 4_000, t + 4_000, t + 8_000, 0, 1, 1, true, 4, 144));
        AttnTimeline a = AttnTimeline.of(tl);
        List<String> s = a.summary(2);
        assertEquals(4, s.size(), String.join("\n", s));
        assertTrue(s.get(0).contains("warp block") && s.get(0).contains("2 blocks") && s.get(0).contains("median 4.00"), s.get(0));
        assertTrue(s.get(1).contains("item 64 rows") && s.get(1).contains("max 10.00"), s.get(1));
        assertTrue(s.get(2).contains("span 10.00 µs") && s.get(2).contains("1 blocks started after the first ended"), s.get(2));
        // 18 µs of block time over a 10 µs span on 2 SMs; from 8 µs on only one block (of a peak of 2) is resident
        assertTrue(s.get(2).contains("mean resident blocks an SM 0.90"), s.get(2));
        assertTrue(s.get(3).endsWith(": 2 2 2 2 2 2 2 2 1 1"), s.get(3));
        Path f = dir.resolve("t.csv");
        a.csv(f);
        List<String> rows = Files.readAllLines(f);
        assertEquals(4, rows.size());
        assertEquals("2,1,0,144,4000,4000,8000,1", rows.get(3));
    }
}
