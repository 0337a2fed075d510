package io.chunkserve.runtime.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUmodule;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuModuleGetGlobal;

/**
 * Diagnostics: what one two-phase partials launch did block by block ({@link CudaAttention#timeline}, the DIAG 3
 * instances of attention.cu): when each block began, passed its dependency wait and ended, on which SM, and what
 * item it ran — and, when they ran with timelines too, the merge launch and the o projection's GEMM after it
 * (session 24), on the same clock. {@link #summary} says how long each kind of block took, how the blocks filled the
 * SMs over the partials launch and how long its tail ran below full occupancy, then when the merge's and the o
 * projection's blocks began, were released from their waits and ended; {@link #csv} writes the raw rows.
 */
final class AttnTimeline {
    /** Kinds of the blocks of the launches after the partials: a merge block, an o projection GEMM block. */
    static final int MERGE = -1, O_GEMM = -2;

    /**
     * One block: times in ns from the partials launch's first block begin; kind 0 = warp block, &gt; 0 the block item's
     * rows, {@link #MERGE}, {@link #O_GEMM}; tokens: the item's (a GEMM block: its k-slice).
     */
    record Block(int index, int sm, int kind, int tokens, double beginNs, double startNs, double endNs, long cycles) { }

    private final List<Block> blocks;

    private AttnTimeline(List<Block> blocks) { this.blocks = blocks; }

    /**
     * The first {@code blocks} six-value records of the kernels' timeline array {@code name} (a {@code __device__} global
     * of {@code module}), after a device sync; empty for 0 blocks.
     */
    static long[] read(CUmodule module, String name, int blocks) {
        if (blocks == 0) return new long[0];
        cuCtxSynchronize();
        CUdeviceptr p = new CUdeviceptr();
        long[] size = new long[1];
        cuModuleGetGlobal(p, size, module, name);
        int n = (int) Math.min(blocks, size[0] / 48);
        long[] out = new long[6 * n];
        cuMemcpyDtoH(Pointer.to(out), p, 48L * n);
        return out;
    }

    /**
     * Parses {@link CudaAttention#timeline}'s array, with the o projection's ({@link SkinnyGemm#timeline}) appended when
     * it ran (blocks whose end was never written are dropped; a record's kernel is bits 9–10 of its info word; each
     * kernel's block indices count from 0).
     */
    static AttnTimeline of(long[] tl) {
        int n = tl.length / 6;
        long t0 = Long.MAX_VALUE, any = Long.MAX_VALUE;
        for (int b = 0; b < n; b++) {
            if (tl[6 * b + 2] == 0) continue;
            any = Math.min(any, tl[6 * b]);
            if (kernel(tl[6 * b + 5]) == 0) t0 = Math.min(t0, tl[6 * b]);
        }
        if (t0 == Long.MAX_VALUE) t0 = any;
        List<Block> out = new ArrayList<>();
        int[] index = new int[4];
        for (int b = 0; b < n; b++) {
            long[] r = Arrays.copyOfRange(tl, 6 * b, 6 * b + 6);
            long info = r[5];
            int kernel = kernel(info), idx = index[kernel]++;
            if (r[2] == 0) continue;
            int sm = (int) (info & 0xff), warp = (int) ((info >> 8) & 1), rows = (int) ((info >> 16) & 0xff);
            int kind = kernel == 1 ? MERGE : kernel == 2 ? O_GEMM : warp == 1 ? 0 : rows;
            out.add(new Block(idx, sm, kind, (int) (info >>> 32), r[0] - t0, r[1] - t0, r[2] - t0, r[4] - r[3]));
        }
        return new AttnTimeline(out);
    }

    private static int kernel(long info) { return (int) ((info >> 9) & 3); }

    List<Block> blocks() { return blocks; }

    static String kindName(int kind) {
        return kind == MERGE ? "merge block" : kind == O_GEMM ? "o GEMM block" : kind == 0 ? "warp block" : "item " + kind + " rows";
    }

    /** Lines for a log: per kind of partials block, the partials launch as a whole, then the merge's and o projection's blocks. */
    List<String> summary(int sms) {
        List<String> lines = partialsSummary(blocks.stream().filter(b -> b.kind() >= 0).toList(), sms);
        for (int k : new int[] {MERGE, O_GEMM}) {
            List<Block> after = blocks.stream().filter(b -> b.kind() == k).toList();
            if (after.isEmpty()) continue;
            double[] begin = after.stream().mapToDouble(Block::beginNs).sorted().toArray();
            double[] start = after.stream().mapToDouble(Block::startNs).sorted().toArray();
            double[] end = after.stream().mapToDouble(Block::endNs).sorted().toArray();
            double[] d = after.stream().mapToDouble(b -> b.endNs() - b.startNs()).sorted().toArray();
            lines.add(String.format(Locale.ROOT, "timeline then %-12s %4d blocks on %d SMs: began µs %.2f – %.2f (median %.2f), waits released %.2f – %.2f, "
                            + "ended %.2f – %.2f (median %.2f); after the wait µs median %.2f, max %.2f",
                    kindName(k), after.size(), after.stream().mapToInt(Block::sm).distinct().count(), begin[0] / 1e3, begin[begin.length - 1] / 1e3,
                    begin[begin.length / 2] / 1e3, start[0] / 1e3, start[start.length - 1] / 1e3, end[0] / 1e3, end[end.length - 1] / 1e3,
                    end[end.length / 2] / 1e3, d[d.length / 2] / 1e3, d[d.length - 1] / 1e3));
        }
        return lines;
    }

    private static List<String> partialsSummary(List<Block> blocks, int sms) {
        List<String> lines = new ArrayList<>();
        if (blocks.isEmpty()) return lines;
        double end = blocks.stream().mapToDouble(Block::endNs).max().orElse(0);
        double firstStart = blocks.stream().mapToDouble(Block::startNs).min().orElse(0);
        double lastBegin = blocks.stream().mapToDouble(Block::beginNs).max().orElse(0);
        double firstEnd = blocks.stream().mapToDouble(Block::endNs).min().orElse(0);
        int[] kinds = blocks.stream().mapToInt(Block::kind).distinct().sorted().toArray();
        for (int k : kinds) {
            double[] d = blocks.stream().filter(b -> b.kind() == k).mapToDouble(b -> b.endNs() - b.startNs()).sorted().toArray();
            double[] st = blocks.stream().filter(b -> b.kind() == k).mapToDouble(Block::startNs).sorted().toArray();
            double tok = blocks.stream().filter(b -> b.kind() == k).mapToInt(Block::tokens).average().orElse(0);
            lines.add(String.format(Locale.ROOT, "timeline %-14s %4d blocks, %6.0f tokens avg: duration µs median %.2f, p90 %.2f, max %.2f; starts µs %.2f – %.2f",
                    kindName(k), d.length, tok, d[d.length / 2] / 1e3, d[(int) (d.length * 0.9)] / 1e3, d[d.length - 1] / 1e3, st[0] / 1e3, st[st.length - 1] / 1e3));
        }
        double busy = blocks.stream().mapToDouble(b -> b.endNs() - b.startNs()).sum();
        long later = blocks.stream().filter(b -> b.startNs() >= firstEnd).count();
        // resident blocks over time (100 ns bins): when the launch ran below its peak
        int bins = (int) Math.ceil(end / 100.0) + 1;
        int[] live = new int[bins];
        for (Block b : blocks) for (int i = (int) (b.startNs() / 100); i < Math.min(bins, (int) Math.ceil(b.endNs() / 100)); i++) live[i]++;
        int peak = Arrays.stream(live).max().orElse(0);
        int half = 0;
        for (int i = bins - 1; i >= 0; i--) if (live[i] >= peak / 2) { half = i; break; }
        int[] perSm = new int[256];
        for (Block b : blocks) perSm[b.sm()]++;
        int smsUsed = (int) Arrays.stream(perSm).filter(c -> c > 0).count();
        lines.add(String.format(Locale.ROOT, "timeline launch: %d blocks on %d of %d SMs, span %.2f µs from the first start (waits released %.2f µs after the first begin; "
                        + "last block began at %.2f µs); %d blocks started after the first ended; mean resident blocks an SM %.2f (peak %d in all); "
                        + "below half the peak for the last %.2f µs",
                blocks.size(), smsUsed, sms, (end - firstStart) / 1e3, firstStart / 1e3, lastBegin / 1e3, later, busy / (end - firstStart) / sms,
                peak, (end - (half + 1) * 100.0) / 1e3));
        StringBuilder prof = new StringBuilder("timeline resident blocks by µs:");
        for (int us = 0; us * 1000 < end; us++) {
            int mx = 0;
            for (int i = us * 10; i < Math.min(bins, us * 10 + 10); i++) mx = Math.max(mx, live[i]);
            prof.append(' ').append(mx);
        }
        lines.add(prof.toString());
        return lines;
    }

    /** The rows as CSV (times in ns from the first block's start). */
    void csv(Path file) throws IOException {
        List<String> rows = new ArrayList<>();
        rows.add("block,sm,kind,tokens,begin_ns,start_ns,end_ns,cycles");
        for (Block b : blocks) {
            rows.add(String.format(Locale.ROOT, "%d,%d,%d,%d,%.0f,%.0f,%.0f,%d", b.index(), b.sm(), b.kind(), b.tokens(), b.beginNs(), b.startNs(), b.endNs(), b.cycles()));
        }
        Files.write(file, rows);
    }
}
