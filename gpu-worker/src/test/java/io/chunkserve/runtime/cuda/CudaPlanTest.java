package io.chunkserve.runtime.cuda;

import io.chunkserve.model.DType;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The plan the CUDA kernels read, checked without a GPU: an emulator runs the work items and the merge exactly
 * as attention.cu defines them (in float64) and must reproduce the float64 reference on random prefix trees,
 * batch sizes, lengths, chunk sizes, GQA ratios, piece sizes and slot counts, with every partial record written
 * once and merged once.
 */
class CudaPlanTest {
    @Test
    void emulatedKernelsMatchReferenceOnRandomTrees() {
        SplittableRandom rnd = new SplittableRandom(20261128);
        int[][] heads = {{1, 1}, {2, 4}, {4, 2}, {1, 6}, {2, 8}, {1, 80}};
        int[] chunkSizes = {16, 32, 64, 128};
        for (int c = 0; c < 200; c++) {
            int[] hg = heads[rnd.nextInt(heads.length)];
            int chunk = chunkSizes[rnd.nextInt(chunkSizes.length)];
            int batch = 1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 40 : 10);
            RandomBatch rb = RandomBatch.generate(rnd, DType.F16, batch, hg[0], hg[1], 8, chunk, 1 + rnd.nextInt(8));
            double[] ref = rb.reference();
            for (boolean sharing : new boolean[] {true, false}) {
                int sms = new int[] {1, 7, 132}[rnd.nextInt(3)];
                int forced = new int[] {0, 0, 1, 2, 3}[rnd.nextInt(5)];
                int warp = rnd.nextInt(3);
                int split = new int[] {CudaPlan.SPLIT_OFF, CudaPlan.SPLIT_AUTO, 2, 3}[rnd.nextInt(4)];
                CudaPlan plan = CudaPlan.build(rb.tables(), rb.lengths(), sharing,
                        new CudaPlan.Shape(hg[0], hg[1], 8, chunk, sms, 2, forced, warp, split, rnd.nextBoolean() ? 4 : 8));
                if (split >= 2) assertEquals(split, plan.privatePieces());
                if (split == CudaPlan.SPLIT_OFF) assertEquals(1, plan.privatePieces());
                if (warp == CudaPlan.WARP_OFF) assertEquals(plan.itemCount(), plan.warpStart());
                double[] out = emulate(plan, rb);
                for (int i = 0; i < ref.length; i++) {
                    assertEquals(ref[i], out[i], 1e-9, "case " + c + " sharing " + sharing + " " + plan + " at " + i);
                }
                if (!sharing) assertEquals(0, plan.groupCount());
            }
        }
    }

    @Test
    void paperBatchHasOneGroupAndPrivateTails() {
        int batch = 32, p = 4096, s = 512, c = 64;
        int[][] tables = new int[batch][];
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            tables[b] = new int[(p + s) / c];
            for (int i = 0; i < p / c; i++) tables[b][i] = i;
            for (int i = 0; i < s / c; i++) tables[b][p / c + i] = p / c + b * (s / c) + i;
            lengths[b] = p + s;
        }
        CudaPlan.Shape shape = new CudaPlan.Shape(32, 1, 128, c, 132, 2, 0);
        CudaPlan on = CudaPlan.build(tables, lengths, true, shape);
        assertEquals(1, on.groupCount());
        assertEquals(64, on.sharedChunkCount());
        assertEquals(batch * 8, on.privateChunkCount());
        assertTrue(on.blockCount() >= 132, on.toString());   // enough blocks to fill the GPU
        CudaPlan off = CudaPlan.build(tables, lengths, false, shape);
        assertEquals(0, off.groupCount());
        assertEquals(batch * 72, off.privateChunkCount());
    }

    @Test
    void perSequenceCopiesAreWrittenDirectlyAndSharedTreesMerged() {
        int batch = 32, p = 1024, c = 64, per = p / c;
        int[][] copies = new int[batch][per], shared = new int[batch][per];
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < per; i++) {
                copies[b][i] = b * per + i;
                shared[b][i] = i;
            }
            lengths[b] = p;
        }
        CudaPlan.Shape shape = new CudaPlan.Shape(8, 4, 128, c, 132, 2, 0);
        CudaPlan distinct = CudaPlan.build(copies, lengths, true, shape);
        // one piece per sequence (the cost model's choice measured fastest on an H200): no merge at all
        assertEquals(1 << 20, distinct.tilesPerPiece(), distinct.toString());
        assertTrue(distinct.hasDirectRows());
        assertFalse(distinct.needsMerge());
        CudaPlan tree = CudaPlan.build(shared, lengths, true, shape);
        assertFalse(tree.hasDirectRows(), tree.toString());
        assertTrue(tree.needsMerge());
    }

    @Test
    void sharedPrefixBatchRunsPrivateListsOneAWarp() {
        // the engine benchmark's batch: 64 sequences share a 2048-token prefix, each has 256 + 17 tokens of its own
        int batch = 64, c = 64, pre = 2048 / c;
        int[][] tables = new int[batch][];
        int[] lengths = new int[batch];
        for (int b = 0, next = pre; b < batch; b++) {
            lengths[b] = 2048 + 256 + 17;
            tables[b] = new int[(lengths[b] + c - 1) / c];
            for (int i = 0; i < tables[b].length; i++) tables[b][i] = i < pre ? i : next++;
        }
        CudaPlan blocks = CudaPlan.build(tables, lengths, true, new CudaPlan.Shape(8, 4, 128, c, 132, 2, 0, CudaPlan.WARP_OFF));
        CudaPlan warps = CudaPlan.build(tables, lengths, true, new CudaPlan.Shape(8, 4, 128, c, 132, 2, 0, CudaPlan.WARP_AUTO));
        assertEquals(0, blocks.warpItemCount());
        assertEquals(batch, warps.warpItemCount(), warps.toString());   // the private lists (4 rows each)
        // the 32-chunk group in 3 pieces (≤ 11 tiles, about as long as a 5-tile private list run by one warp),
        // 4 row tiles each, beside 16 blocks of 4 private lists, per KV head: one wave on 132 SMs × 2
        assertEquals((3 * 4 + batch / 4) * 8, warps.blockCount(), warps.toString());
        assertEquals((warps.warpStart() + batch / 4) * 8, warps.blockCount());
        for (int i = 0; i < warps.itemCount(); i++) {
            int rows = warps.items[i * CudaPlan.ITEM_INTS + 4];
            assertEquals(i >= warps.warpStart(), rows <= CudaPlan.WARP_ROWS, "item " + i + " rows " + rows);
        }
        // one sequence alone: 4 items a block would leave most multiprocessors idle, so auto keeps block items
        CudaPlan one = CudaPlan.build(new int[][] {tables[0]}, new int[] {lengths[0]}, true, new CudaPlan.Shape(8, 4, 128, c, 132, 2, 0, CudaPlan.WARP_AUTO));
        assertEquals(0, one.warpItemCount(), one.toString());
        CudaPlan forced = CudaPlan.build(new int[][] {tables[0]}, new int[] {lengths[0]}, true, new CudaPlan.Shape(8, 4, 128, c, 132, 2, 0, CudaPlan.WARP_ALWAYS));
        assertEquals(forced.itemCount(), forced.warpItemCount());
        // private lists split (SPLIT_AUTO): at 8B (d128, 2 blocks an SM) two pieces of each private list do not
        // fit one wave beside the group, so the plan stays the one above
        CudaPlan split8 = CudaPlan.build(tables, lengths, true, new CudaPlan.Shape(8, 4, 128, c, 132, 2, 0, CudaPlan.WARP_AUTO, CudaPlan.SPLIT_AUTO));
        assertEquals(1, split8.privatePieces(), split8.toString());
        assertEquals(warps.blockCount(), split8.blockCount());
        // at 1B (d64, 3 blocks an SM) each 5-chunk private list in 2 warp items (≤ 3 tiles) beside the group in 4
        // pieces of 8 tiles, 4 row tiles each: (16 + 128 / 4) · 8 = 384 blocks ≤ 396, longest item 8 tiles (was 12)
        CudaPlan split1 = CudaPlan.build(tables, lengths, true, new CudaPlan.Shape(8, 4, 64, c, 132, 3, 0, CudaPlan.WARP_AUTO, CudaPlan.SPLIT_AUTO));
        assertEquals(2, split1.privatePieces(), split1.toString());
        assertEquals(2 * batch, split1.warpItemCount(), split1.toString());
        assertEquals((4 * 4 + 2 * batch / 4) * 8, split1.blockCount(), split1.toString());
        assertTrue(split1.needsMerge() && !split1.hasDirectRows());
        CudaPlan off1 = CudaPlan.build(tables, lengths, true, new CudaPlan.Shape(8, 4, 64, c, 132, 3, 0, CudaPlan.WARP_AUTO, CudaPlan.SPLIT_OFF));
        assertEquals(1, off1.privatePieces());
        assertEquals(batch, off1.warpItemCount(), off1.toString());
        // the 8-warp partials (f64w8: 256-thread blocks, 2 an SM at d64) keep that plan: 3 group pieces × 4 row tiles
        // beside 16 warp blocks, per KV head, (12 + 16) · 8 = 224 blocks ≤ 132 × 2
        CudaPlan w8 = CudaPlan.build(tables, lengths, true, new CudaPlan.Shape(8, 4, 64, c, 132, 2, 0, CudaPlan.WARP_AUTO, CudaPlan.SPLIT_OFF));
        assertEquals((3 * 4 + batch / 4) * 8, w8.blockCount(), w8.toString());
        assertEquals(off1.blockCount(), w8.blockCount(), off1 + " vs " + w8);
        assertEquals(off1.tilesPerPiece(), w8.tilesPerPiece());
        assertArrayEquals(off1.items, w8.items);
        // 8 warp items a warp block (f64w8hw): the same items, half the warp blocks; with the real occupancy (2 an SM)
        // the one-wave rule then fits each private list in 2 pieces beside the group: (16 + 2 · 64 / 8) · 8 = 256 blocks
        CudaPlan hw3 = CudaPlan.build(tables, lengths, true, new CudaPlan.Shape(8, 4, 64, c, 132, 3, 0, CudaPlan.WARP_AUTO, CudaPlan.SPLIT_AUTO, 8));
        assertTrue(hw3.blockCount() <= 132 * 3, hw3.toString());
        assertEquals((hw3.warpStart() + (hw3.warpItemCount() + 7) / 8) * 8, hw3.blockCount(), hw3.toString());
        CudaPlan hw2 = CudaPlan.build(tables, lengths, true, new CudaPlan.Shape(8, 4, 64, c, 132, 2, 0, CudaPlan.WARP_AUTO, CudaPlan.SPLIT_AUTO, 8));
        assertEquals(2 * batch, hw2.warpItemCount(), hw2.toString());
        assertEquals((16 + 2 * batch / 8) * 8, hw2.blockCount(), hw2.toString());
        assertThrows(IllegalArgumentException.class, () -> new CudaPlan.Shape(8, 4, 64, c, 132, 2, 0, CudaPlan.WARP_AUTO, CudaPlan.SPLIT_AUTO, 6));
        // chunks under 16 tokens: never (a warp's 16-token stage must lie in one chunk)
        CudaPlan small = CudaPlan.build(new int[][] {{0, 1, 2}}, new int[] {20}, true, new CudaPlan.Shape(1, 4, 128, 8, 132, 2, 0, CudaPlan.WARP_ALWAYS));
        assertEquals(0, small.warpItemCount());
    }

    @Test
    void structureSurvivesTailGrowthOnly() {
        int[][] tables = {{5, 6, 7}, {5, 6, 9}};
        int[] lengths = {150, 140};   // chunk 64: two full shared chunks, private tails
        CudaPlan.Shape shape = new CudaPlan.Shape(2, 2, 64, 64, 100, 2, 0);
        CudaPlan plan = CudaPlan.build(tables, lengths, true, shape);
        assertEquals(1, plan.groupCount());
        assertTrue(plan.sameStructure(tables, new int[] {151, 141}));
        assertFalse(plan.sameStructure(tables, new int[] {192, 141}), "a tail that fills changes the structure");
        assertFalse(plan.sameStructure(new int[][] {{5, 6, 7}, {5, 8, 9}}, lengths), "another chunk id");
        assertFalse(plan.sameStructure(new int[][] {{5, 6, 7}}, new int[] {150}), "another batch");
        plan.updateLengths(new int[] {151, 141});
        assertEquals(151, plan.lengths()[0]);
    }

    /**
     * Runs the items and the merge as attention.cu does with the merge fused (fused = 1), in float64: a row whose
     * sequence is held by one item only is written out directly; the others leave a record that their
     * sequence's merge reads. Also checks what the kernel takes from the item record (chunk id prefix,
     * consecutive sequence ids) and the per-sequence item counts that decide the last block.
     */
    static double[] emulate(CudaPlan plan, RandomBatch rb) {
        CudaPlan.Shape s = plan.shape();
        int hkv = s.kvHeads(), g = s.groupSize(), d = s.headDim(), c = s.chunkSize(), hq = hkv * g;
        int n = plan.records(), batch = rb.lengths().length, w = CudaPlan.ITEM_INTS;
        double[] po = new double[n * d], pm = new double[n], pl = new double[n];
        boolean[] written = new boolean[n];
        int[] merged = new int[n], itemsSeen = new int[batch];
        int[] it = plan.items, lens = rb.lengths(), info = plan.seqInfo;
        double[] out = new double[batch * hq * d];
        int[] outWrites = new int[batch * hq];
        for (int i = 0; i < plan.itemCount(); i++) {
            int chunkOff = it[i * w], fullTok = it[i * w + 1], seqOff = it[i * w + 2], rowStart = it[i * w + 3];
            int rowCount = it[i * w + 4], partBase = it[i * w + 5], partStride = it[i * w + 6], tailSeq = it[i * w + 7];
            int seqBase = it[i * w + 8];
            for (int j = 0; j < CudaPlan.ITEM_PREFIX && j < fullTok / c; j++) {
                assertEquals(plan.chunkIds[chunkOff + j], it[i * w + 9 + j], "item " + i + " chunk prefix " + j);
            }
            int nTok = tailSeq >= 0 ? fullTok - c + ((lens[tailSeq] - 1) & (c - 1)) + 1 : fullTok;
            assertTrue(rowCount >= 1 && rowCount <= CudaPlan.ROWS && nTok >= 1);
            for (int k = rowStart / g; k <= (rowStart + rowCount - 1) / g; k++) itemsSeen[plan.rowSeqs[seqOff + k]]++;
            for (int h = 0; h < hkv; h++) {
                for (int r = 0; r < rowCount; r++) {
                    int rg = rowStart + r, seq = plan.rowSeqs[seqOff + rg / g], qh = h * g + rg % g;
                    if (seqBase >= 0) assertEquals(seqBase + rg / g, seq, "item " + i + " seqBase");
                    double[] sc = new double[nTok];
                    double m = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t < nTok; t++) {
                        int base = ((plan.chunkIds[chunkOff + t / c] * hkv + h) * c + t % c) * d;
                        double dot = 0;
                        for (int x = 0; x < d; x++) dot += RandomBatch.value(rb.dtype(), rb.q()[(seq * hq + qh) * d + x]) * RandomBatch.value(rb.dtype(), rb.keys()[base + x]);
                        sc[t] = dot / Math.sqrt(d);
                        m = Math.max(m, sc[t]);
                    }
                    double l = 0;
                    double[] o = new double[d];
                    for (int t = 0; t < nTok; t++) {
                        double wt = Math.exp(sc[t] - m);
                        l += wt;
                        int base = ((plan.chunkIds[chunkOff + t / c] * hkv + h) * c + t % c) * d;
                        for (int x = 0; x < d; x++) o[x] += wt * RandomBatch.value(rb.dtype(), rb.values()[base + x]);
                    }
                    if (info[4 * seq + 2] == 1) {   // written directly
                        outWrites[seq * hq + qh]++;
                        for (int x = 0; x < d; x++) out[(seq * hq + qh) * d + x] = o[x] / l;
                        continue;
                    }
                    int rec = partBase + h * partStride + r;
                    assertFalse(written[rec], "record " + rec + " written twice");
                    written[rec] = true;
                    pm[rec] = m;
                    pl[rec] = l;
                    System.arraycopy(o, 0, po, rec * d, d);
                }
            }
        }
        for (int b = 0; b < batch; b++) {
            assertEquals(itemsSeen[b], info[4 * b + 2], "items holding sequence " + b);
            if (info[4 * b + 2] == 1) continue;
            for (int qh = 0; qh < hq; qh++) {
                int kvh = qh / g, j = qh % g;
                double mm = Double.NEGATIVE_INFINITY, l = 0;
                double[] o = new double[d];
                for (int e = info[4 * b]; e < info[4 * b + 1]; e++) {
                    int rec = plan.mergeEnt[2 * e] + kvh * plan.mergeEnt[2 * e + 1] + j;
                    assertTrue(written[rec], "merge reads unwritten record " + rec);
                    merged[rec]++;
                    mm = Math.max(mm, pm[rec]);
                }
                for (int e = info[4 * b]; e < info[4 * b + 1]; e++) {
                    int rec = plan.mergeEnt[2 * e] + kvh * plan.mergeEnt[2 * e + 1] + j;
                    double f = Math.exp(pm[rec] - mm);
                    l += f * pl[rec];
                    for (int x = 0; x < d; x++) o[x] += f * po[rec * d + x];
                }
                outWrites[b * hq + qh]++;
                for (int x = 0; x < d; x++) out[(b * hq + qh) * d + x] = o[x] / l;
            }
        }
        for (int r = 0; r < n; r++) {
            assertEquals(written[r] ? 1 : 0, merged[r], "record " + r + " written " + written[r] + ", merged " + merged[r] + " times");
        }
        for (int i = 0; i < outWrites.length; i++) assertEquals(1, outWrites[i], "output row " + i + " written " + outWrites[i] + " times");
        assertEquals(0, plan.items.length % w);
        return out;
    }
}
