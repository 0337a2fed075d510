package io.chunkserve.runtime.cuda;

import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import jcuda.driver.CUevent;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;


/**
 * Decode-attention benchmark on the GPU through the Java launch path: the paper's grid (B = 32, 64; 32 query
 * heads × 128; shared prefix P ∈ {1024, 2048, 4096}; unique tokens per sequence S ∈ {0, 256, 512, 1024}; fp16;
 * chunk 64) with 32 and 8 KV heads, our two-phase kernel with sharing on and off, and the device-copy bandwidth
 * that the unique-bytes floor uses, plus the same kernel over distinct per-sequence copies (the prefix-unaware
 * memory pattern), each also with every row through the merge (the earlier path: {@link CudaAttention#directWrites}).
 * Every timed launch starts with L2 flushed (a read of 4× the L2, which leaves clean lines), is
 * bracketed by CUDA events, and the median of the iterations is reported. Writes a TSV that
 * {@code tools/gpu/report.py} joins with the SDPA timings.
 *
 * <pre>java ... io.chunkserve.runtime.cuda.CudaAttentionBench --out ours.tsv [--iters 30]</pre>
 */
public final class CudaAttentionBench {
    private CudaAttentionBench() { }

    public static void main(String[] args) throws IOException {
        Path out = Path.of("ours.tsv");
        int iters = 30;
        int[] kvHeadsList = {32, 8}, batches = {32, 64}, prefixes = {1024, 2048, 4096}, uniques = {0, 256, 512, 1024};
        boolean sweeps = true;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(args[++i]);
                case "--iters" -> iters = Integer.parseInt(args[++i]);
                case "--quick" -> { batches = new int[] {32}; prefixes = new int[] {4096}; uniques = new int[] {0, 512}; }
                case "--only" -> {   // one shape, no sweeps (profilers): --only HKV,B,P,S
                    int[] v = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                    kvHeadsList = new int[] {v[0]};
                    batches = new int[] {v[1]};
                    prefixes = new int[] {v[2]};
                    uniques = new int[] {v[3]};
                    sweeps = false;
                }
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        CudaDevice dev;
        try {
            dev = CudaDevice.open();
        } catch (CudaUnavailableException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        System.out.println("device: " + dev.describe());
        long flushBytes = Math.max(256L << 20, 4L * dev.l2Bytes());
        double copyBps;
        try (DeviceBuffer flush = DeviceBuffer.allocate(flushBytes)) {
            flush.fill32(0x3c003c00);
            copyBps = dev.copyBandwidth();
            System.out.printf("device copy: %.0f GB/s (bytes read + written)%n", copyBps / 1e9);
            List<String> rows = new ArrayList<>();
            rows.add("# device\t" + dev.name() + "\tcopy_GBps\t" + String.format("%.1f", copyBps / 1e9));
            rows.add("hkv\tB\tP\tS\tours_us\tours_min_us\tnoshare_us\tnoshare_min_us\tdistinct_us\ttiles_per_piece\titems\tplan_build_us\tdiff_share_vs_noshare"
                    + "\tours_2launch_us\tdistinct_2launch_us\tdistinct_tiles_per_piece");
            System.out.printf("%4s %3s %5s %5s | %9s %9s %9s (copy%%) | %9s %9s | %9s %6s | %7s %7s %s%n", "Hkv", "B", "P", "S", "ours us", "noshare", "distinct",
                    "ours 2L", "dist 2L", "tp on/off", "items", "floorus", "plan us", "diff");
            launchFloor(dev, flush, iters);
            for (int hkv : kvHeadsList) {
                for (int b : batches) {
                    for (int p : prefixes) {
                        for (int s : uniques) {
                            rows.add(runConfig(dev, flush, hkv, b, p, s, iters, copyBps));
                        }
                    }
                }
            }
            Files.write(out, rows);
            if (sweeps) {
                sweep(dev, flush, iters);
                sweepDistinct(dev, flush, iters);
            }
        }
        dev.close();
    }

    /** Piece-size sweep at two headline shapes (sharing on): how far the cost model's choice is from the best. */
    private static void sweep(CudaDevice dev, DeviceBuffer flush, int iters) {
        int[][] shapes = {{32, 32, 4096, 0}, {32, 32, 4096, 512}, {32, 64, 4096, 512}, {8, 32, 4096, 512}, {8, 64, 4096, 512},
                {8, 64, 2048, 0}, {8, 64, 2048, 256}, {8, 32, 2048, 256}, {32, 64, 2048, 0}};
        for (int[] sh : shapes) {
            int hkv = sh[0], batch = sh[1], prefix = sh[2], unique = sh[3], c = 64, d = 128;
            int sharedChunks = prefix / c, privChunks = unique / c, numChunks = sharedChunks + batch * privChunks;
            int[][] tables = new int[batch][];
            int[] lengths = new int[batch];
            for (int b = 0; b < batch; b++) {
                tables[b] = new int[sharedChunks + privChunks];
                for (int i = 0; i < sharedChunks; i++) tables[b][i] = i;
                for (int i = 0; i < privChunks; i++) tables[b][sharedChunks + i] = sharedChunks + b * privChunks + i;
                lengths[b] = prefix + unique;
            }
            KvLayout lay = new KvLayout(1, hkv, d, c, DType.F16);
            StringBuilder line = new StringBuilder(String.format("sweep hkv=%d B=%d P=%d S=%d:", hkv, batch, prefix, unique));
            try (DeviceKvCache kv = new DeviceKvCache(lay, numChunks);
                 CudaAttention att = new CudaAttention(dev, kv, 32);
                 DeviceBuffer dq = DeviceBuffer.allocate(2L * batch * 32 * d);
                 DeviceBuffer o = DeviceBuffer.allocate(2L * batch * 32 * d)) {
                att.fillRandom(kv.keys(0).ptr(), lay.chunkElements() * numChunks, 21);
                att.fillRandom(kv.values(0).ptr(), lay.chunkElements() * numChunks, 22);
                att.fillRandom(dq.ptr(), (long) batch * 32 * d, 23);
                for (int tp : new int[] {0, 2, 4, 8, 16, 32, 64}) {
                    att.forceTilesPerPiece(tp);
                    att.prepare(tables, lengths, true);
                    line.append(String.format(" tp=%s:%.1fus", tp == 0 ? "auto(" + att.plan().tilesPerPiece() + ")" : tp + "",
                            median(time(dev, att, flush, dq, o, iters))));
                }
                att.forceTilesPerPiece(0);
                att.prepare(tables, lengths, true);
                att.prefetchPlan(false);
                line.append(String.format(" | auto without plan prefetch:%.1fus", median(time(dev, att, flush, dq, o, iters))));
                att.prefetchPlan(true);
                if (att.plan().needsMerge()) {
                    // the same plan with the merge as a plain launch after the partials (no programmatic dependence)
                    boolean dep = att.dependentMerge();
                    att.dependentMerge(false);
                    line.append(String.format(" | auto, plain merge launch:%.1fus", median(time(dev, att, flush, dq, o, iters))));
                    att.dependentMerge(dep);
                    line.append(String.format(" | auto again (merge %s):%.1fus", dep ? "dependent" : "plain", median(time(dev, att, flush, dq, o, iters))));
                }
            }
            System.out.println(line);
        }
    }

    /**
     * Piece-size sweep over distinct per-sequence copies (the "≥ 85% of the copy bandwidth" rows with GQA): the
     * cost model's choice against fixed piece sizes.
     */
    private static void sweepDistinct(CudaDevice dev, DeviceBuffer flush, int iters) {
        int[][] shapes = {{8, 32, 1024, 0}, {8, 32, 1024, 256}, {8, 64, 1024, 0}, {8, 32, 2048, 0}};
        for (int[] sh : shapes) {
            int hkv = sh[0], batch = sh[1], prefix = sh[2], unique = sh[3];
            StringBuilder line = new StringBuilder(String.format("sweep distinct hkv=%d B=%d P=%d S=%d:", hkv, batch, prefix, unique));
            try (DeviceBuffer dq = DeviceBuffer.allocate(2L * batch * 32 * 128); DeviceBuffer o = DeviceBuffer.allocate(2L * batch * 32 * 128)) {
                try (DeviceKvCache kv = new DeviceKvCache(new KvLayout(1, hkv, 128, 64, DType.F16), 1); CudaAttention att = new CudaAttention(dev, kv, 32)) {
                    att.fillRandom(dq.ptr(), (long) batch * 32 * 128, 41);
                }
                for (int tp : new int[] {0, 4, 8, 16, 1 << 20}) {
                    String[] chosen = new String[1];
                    float us = median(timeDistinct(dev, flush, hkv, batch, prefix, unique, dq, o, iters, true, tp, chosen));
                    line.append(String.format(" tp=%s:%.1fus", tp == 0 ? "auto(" + chosen[0] + ")" : tp == 1 << 20 ? "whole" : tp + "", us));
                }
            }
            System.out.println(line);
        }
    }

    /**
     * The fixed cost of one timed launch as the table measures it: an L2 flush, then a kernel that reads 16
     * bytes (one block), between CUDA events (median). No launch of ours can take less than this.
     */
    private static void launchFloor(CudaDevice dev, DeviceBuffer flush, int iters) {
        try (DeviceKvCache kv = new DeviceKvCache(new KvLayout(1, 8, 128, 64, DType.F16), 1);
             CudaAttention att = new CudaAttention(dev, kv, 32);
             DeviceBuffer tiny = DeviceBuffer.allocate(16)) {
            att.readOne(tiny);
            CUevent e0 = CudaDevice.event(), e1 = CudaDevice.event();
            float[] us = new float[iters];
            for (int i = -3; i < iters; i++) {
                att.readAll(flush);
                CudaDevice.record(e0);
                att.readOne(tiny);
                CudaDevice.record(e1);
                float ms = CudaDevice.elapsedMs(e0, e1);
                if (i >= 0) us[i] = ms * 1e3f;
            }
            System.out.printf("launch floor (L2 flushed, one tiny kernel between events): median %.2f us, min %.2f us%n", median(us), min(us));
            System.out.println("partials blocks per multiprocessor (occupancy): " + att.blocksPerMultiprocessor() + " (variant " + att.variant() + ")");
        }
    }

    private static String runConfig(CudaDevice dev, DeviceBuffer flush, int hkv, int batch, int prefix, int unique, int iters, double copyBps) {
        int qHeads = 32, d = 128, c = 64;
        int sharedChunks = prefix / c, privChunks = unique / c;
        int numChunks = sharedChunks + batch * privChunks;
        KvLayout lay = new KvLayout(1, hkv, d, c, DType.F16);
        int[][] tables = new int[batch][];
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            tables[b] = new int[sharedChunks + privChunks];
            for (int i = 0; i < sharedChunks; i++) tables[b][i] = i;
            for (int i = 0; i < privChunks; i++) tables[b][sharedChunks + i] = sharedChunks + b * privChunks + i;
            lengths[b] = prefix + unique;
        }
        try (DeviceKvCache kv = new DeviceKvCache(lay, numChunks);
             CudaAttention att = new CudaAttention(dev, kv, qHeads);
             DeviceBuffer dq = DeviceBuffer.allocate(2L * batch * qHeads * d);
             DeviceBuffer outShared = DeviceBuffer.allocate(2L * batch * qHeads * d);
             DeviceBuffer outPrivate = DeviceBuffer.allocate(2L * batch * qHeads * d);
             DeviceBuffer outDistinct = DeviceBuffer.allocate(2L * batch * qHeads * d);
             DeviceBuffer out2 = DeviceBuffer.allocate(2L * batch * qHeads * d)) {
            long elems = lay.chunkElements() * numChunks;
            att.fillRandom(kv.keys(0).ptr(), elems, 11 + batch + prefix + unique);
            att.fillRandom(kv.values(0).ptr(), elems, 12 + batch + prefix + unique);
            att.fillRandom(dq.ptr(), (long) batch * qHeads * d, 13 + batch + prefix + unique);
            att.prepare(tables, lengths, true);
            String tp = att.plan().tilesPerPiece() + "";
            int items = att.plan().itemCount();
            float[] shared = time(dev, att, flush, dq, outShared, iters);
            att.directWrites(false);
            float[] shared2 = time(dev, att, flush, dq, out2, iters);
            att.directWrites(true);
            att.prepare(tables, lengths, false);
            tp += "/" + att.plan().tilesPerPiece();
            float[] priv = time(dev, att, flush, dq, outPrivate, iters);
            String[] distinctTp = new String[1];
            float[] distinct = timeDistinct(dev, flush, hkv, batch, prefix, unique, dq, outDistinct, iters, true, 0, distinctTp);
            float[] distinct2 = timeDistinct(dev, flush, hkv, batch, prefix, unique, dq, outDistinct, iters, false, 0, null);
            // host cost of a plan rebuild (the engine pays it when the batch or the tree changes)
            CudaPlan.Shape shape = att.plan().shape();
            double[] buildUs = new double[20];
            for (int i = -5; i < buildUs.length; i++) {
                long t0 = System.nanoTime();
                CudaPlan.build(tables, lengths, true, shape);
                if (i >= 0) buildUs[i] = (System.nanoTime() - t0) / 1e3;
            }
            Arrays.sort(buildUs);
            // the two paths compute the same function: compare their outputs
            short[] a = new short[batch * qHeads * d], bb = new short[a.length];
            outShared.download(a);
            outPrivate.download(bb);
            double num = 0, den = 0;
            for (int i = 0; i < a.length; i++) {
                double x = Float.float16ToFloat(a[i]), y = Float.float16ToFloat(bb[i]);
                num += (x - y) * (x - y);
                den += y * y;
            }
            double diff = Double.isFinite(num) ? Math.sqrt(num / den) : Double.POSITIVE_INFINITY;
            // direct writes and the all-merged path compute the same function too
            out2.download(bb);
            double num2 = 0, den2 = 0;
            for (int i = 0; i < a.length; i++) {
                double x = Float.float16ToFloat(a[i]), y = Float.float16ToFloat(bb[i]);
                num2 += (x - y) * (x - y);
                den2 += y * y;
            }
            diff = Math.max(diff, Double.isFinite(num2) ? Math.sqrt(num2 / den2) : Double.POSITIVE_INFINITY);
            double floorUs = 2.0 * hkv * d * 2 * (prefix + (double) batch * unique) / copyBps * 1e6;
            double distinctBw = 2.0 * hkv * d * 2 * batch * (prefix + unique) / (median(distinct) * 1e-6);
            System.out.printf("%4d %3d %5d %5d | %9.1f %9.1f %9.1f (%3.0f%%) | %9.1f %9.1f | %9s %6d | %7.1f %7.1f %.1e%n", hkv, batch, prefix, unique, median(shared),
                    median(priv), median(distinct), 100 * distinctBw / copyBps, median(shared2), median(distinct2), tp, items, floorUs, buildUs[buildUs.length / 2], diff);
            return String.format("%d\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%d\t%.1f\t%.2e\t%.2f\t%.2f\t%s", hkv, batch, prefix, unique, median(shared), min(shared),
                    median(priv), min(priv), median(distinct), tp, items, buildUs[buildUs.length / 2], diff, median(shared2), median(distinct2), distinctTp[0]);
        }
    }

    /**
     * The prefix-unaware memory pattern itself: every sequence holds its own copy of the prefix (B·(P+S) distinct
     * tokens, as SDPA reads them), so no chunk is read twice and L2 cannot help; this is what the "≥ 85% of
     * measured bandwidth" target is about. (Sharing off over the shared tree re-reads the same chunks, which
     * partly hit L2.)
     */
    private static float[] timeDistinct(CudaDevice dev, DeviceBuffer flush, int hkv, int batch, int prefix, int unique,
                                        DeviceBuffer dq, DeviceBuffer dout, int iters, boolean direct, int forcedTiles, String[] tpOut) {
        int c = 64, per = (prefix + unique) / c;
        KvLayout lay = new KvLayout(1, hkv, 128, c, DType.F16);
        int[][] tables = new int[batch][per];
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < per; i++) tables[b][i] = b * per + i;
            lengths[b] = prefix + unique;
        }
        try (DeviceKvCache kv = new DeviceKvCache(lay, batch * per); CudaAttention att = new CudaAttention(dev, kv, 32)) {
            att.fillRandom(kv.keys(0).ptr(), lay.chunkElements() * batch * per, 31);
            att.fillRandom(kv.values(0).ptr(), lay.chunkElements() * batch * per, 32);
            att.directWrites(direct);
            att.forceTilesPerPiece(forcedTiles);
            att.prepare(tables, lengths, true);
            if (tpOut != null) tpOut[0] = att.plan().tilesPerPiece() + "";
            return time(dev, att, flush, dq, dout, iters);
        }
    }

    /** Microseconds of each of iters decode launches, each after an L2 flush (by reads); 3 warm-up launches first. */
    private static float[] time(CudaDevice dev, CudaAttention att, DeviceBuffer flush, DeviceBuffer dq, DeviceBuffer dout, int iters) {
        CUevent e0 = CudaDevice.event(), e1 = CudaDevice.event();
        float[] us = new float[iters];
        for (int i = -3; i < iters; i++) {
            att.readAll(flush);
            CudaDevice.record(e0);
            att.decode(0, dq.ptr(), dout.ptr());
            CudaDevice.record(e1);
            float ms = CudaDevice.elapsedMs(e0, e1);
            if (i >= 0) us[i] = ms * 1e3f;
        }
        dev.synchronize();
        return us;
    }

    static float median(float[] a) {
        float[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static float min(float[] a) {
        float m = Float.MAX_VALUE;
        for (float x : a) m = Math.min(m, x);
        return m;
    }
}
