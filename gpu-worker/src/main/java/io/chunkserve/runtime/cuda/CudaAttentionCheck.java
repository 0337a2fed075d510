package io.chunkserve.runtime.cuda;

import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * GPU correctness check of the CUDA decode attention through the Java launch path (JCuda): random prefix trees,
 * batch sizes, lengths, chunk sizes, head dims, GQA ratios and piece sizes, fresh random inputs per case, outputs
 * and partials poisoned with NaN before every launch, compared with a float64 reference by ‖out − ref‖ / ‖ref‖
 * (≤ 2e-3 fp16, ≤ 1e-2 bf16), sharing on and off, with rows written directly where one item holds their sequence (the default) and with every
 * row through the merge. Each case then appends one token to some sequences through
 * the KV-append kernel (checked bit for bit), moves their lengths, and checks again without a plan rebuild.
 *
 * <pre>java ... io.chunkserve.runtime.cuda.CudaAttentionCheck [--cases N] [--seed S] [--small]</pre>
 * Exit code 0 only when every check passed; the last line is "N passed, M failed".
 */
public final class CudaAttentionCheck {
    private static final double TOL_F16 = 2e-3, TOL_BF16 = 1e-2;

    private CudaAttentionCheck() { }

    public static void main(String[] args) {
        int cases = 100;
        long seed = System.nanoTime();
        boolean small = false, large = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--cases" -> cases = Integer.parseInt(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--small" -> small = true;
                case "--large" -> large = true;   // B 48-64, GQA 8×4 / 4×8, deep trees: 64-row chunk-first items in every case
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
        System.out.println("device: " + dev.describe() + "; seed " + seed + (small ? " (small cases)" : large ? " (large cases)" : "") + "; partials variant "
                + System.getProperty("chunkserve.cuda.attnVariant", CudaAttention.DEFAULT_VARIANT));
        SplittableRandom rnd = new SplittableRandom(seed);
        int passed = 0, failed = 0;
        double worstF16 = 0, worstBf16 = 0;
        List<String> failures = new ArrayList<>();
        int[][] heads = {{1, 1}, {2, 4}, {4, 2}, {8, 1}, {2, 8}, {1, 6}, {4, 4}, {32, 1}};
        int[] chunkSizes = {16, 32, 64, 128};
        for (int c = 0; c < cases; c++) {
            DType dtype = c % 2 == 0 ? DType.F16 : DType.BF16;
            int headDim = (c / 2) % 2 == 0 ? 128 : 64;
            int chunk = chunkSizes[rnd.nextInt(chunkSizes.length)];
            int[] hg = heads[rnd.nextInt(small ? 5 : heads.length)];
            int batch = small ? 1 + rnd.nextInt(6) : 1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 64 : 24);
            int maxDepth = small ? 3 : 1 + rnd.nextInt(rnd.nextInt(3) == 0 ? 40 : 12);
            int forced = small ? rnd.nextInt(3) : new int[] {0, 0, 0, 1, 2, 3}[rnd.nextInt(6)];
            if (large) {
                hg = rnd.nextBoolean() ? new int[] {8, 4} : new int[] {4, 8};
                batch = 48 + rnd.nextInt(17);
                maxDepth = 8 + rnd.nextInt(33);
            }
            RandomBatch rb = RandomBatch.generate(rnd, dtype, batch, hg[0], hg[1], headDim, chunk, maxDepth);
            String name = String.format("case %3d %-4s d%-3d C=%-3d B=%-2d hkv=%-2d g=%d depth<=%-2d pieces=%s", c,
                    dtype == DType.F16 ? "f16" : "bf16", headDim, chunk, batch, hg[0], hg[1], maxDepth, forced == 0 ? "auto" : forced + "t");
            double tol = dtype == DType.F16 ? TOL_F16 : TOL_BF16;
            try {
                List<String> res = runCase(dev, rb, forced, rnd, tol);
                boolean ok = res.stream().allMatch(s -> s.endsWith("ok"));
                for (String s : res) {
                    double e = Double.parseDouble(s.replaceAll(".*err=(\\S+).*", "$1"));
                    if (dtype == DType.F16) worstF16 = Math.max(worstF16, e); else worstBf16 = Math.max(worstBf16, e);
                }
                System.out.println(name + " | " + String.join(" | ", res));
                if (ok) passed++; else { failed++; failures.add(name); }
            } catch (RuntimeException e) {
                failed++;
                failures.add(name + ": " + e);
                System.out.println(name + " | ERROR " + e);
            }
        }
        for (String f : failures) System.out.println("FAILED " + f);
        System.out.printf("worst relative error: fp16 %.3g (tol %.0e), bf16 %.3g (tol %.0e)%n", worstF16, TOL_F16, worstBf16, TOL_BF16);
        System.out.println(passed + " passed, " + failed + " failed");
        dev.close();
        System.exit(failed == 0 ? 0 : 1);
    }

    /** Sharing off, sharing on, then an appended token per eligible sequence (no plan rebuild), each against float64. */
    private static List<String> runCase(CudaDevice dev, RandomBatch rb, int forced, SplittableRandom rnd, double tol) {
        List<String> res = new ArrayList<>();
        KvLayout lay = new KvLayout(1, rb.kvHeads(), rb.headDim(), rb.chunkSize(), rb.dtype());
        int batch = rb.lengths().length;
        short nan = RandomBatch.nan(rb.dtype());
        try (DeviceKvCache kv = new DeviceKvCache(lay, rb.numChunks());
             CudaAttention att = new CudaAttention(dev, kv, rb.qHeads());
             DeviceBuffer dq = DeviceBuffer.allocate(2L * rb.q().length);
             DeviceBuffer dout = DeviceBuffer.allocate(2L * rb.q().length)) {
            kv.keys(0).upload(rb.keys());
            kv.values(0).upload(rb.values());
            dq.upload(rb.q());
            att.forceTilesPerPiece(forced);
            double[] ref = rb.reference();
            for (boolean sharing : new boolean[] {false, true}) {
                att.prepare(rb.tables(), rb.lengths(), sharing);
                res.add(launchAndCompare(dev, att, rb, dq, dout, nan, ref, tol, (sharing ? "shared " : "private ") + "tiles/piece=" + att.plan().tilesPerPiece()
                        + " groups=" + att.plan().groupCount() + " items=" + att.plan().itemCount()));
                // every row through a record and the merge (the earlier path)
                att.directWrites(false);
                res.add(launchAndCompare(dev, att, rb, dq, dout, nan, ref, tol, "all-merged"));
                att.directWrites(true);
            }
            // every item of ≤ 16 rows run one a warp (f64 kernels; the engine's plans use them where they fill the GPU)
            int mode = att.warpItems();
            att.warpItems(CudaPlan.WARP_ALWAYS);
            if (att.warpItems() == CudaPlan.WARP_ALWAYS) {
                for (boolean sharing : new boolean[] {false, true}) {
                    att.prepare(rb.tables(), rb.lengths(), sharing);
                    res.add(launchAndCompare(dev, att, rb, dq, dout, nan, ref, tol, (sharing ? "shared" : "private") + " warp items="
                            + att.plan().warpItemCount() + "/" + att.plan().itemCount()));
                    att.directWrites(false);
                    res.add(launchAndCompare(dev, att, rb, dq, dout, nan, ref, tol, "warp all-merged"));
                    att.directWrites(true);
                }
                // private chunk lists cut into 2 pieces at least (-Dchunkserve.cuda.privateSplit): warp items
                // that end mid-list, their rows merged with the list's other piece
                int split = att.privateSplit();
                att.privateSplit(2);
                for (boolean sharing : new boolean[] {false, true}) {
                    att.prepare(rb.tables(), rb.lengths(), sharing);
                    res.add(launchAndCompare(dev, att, rb, dq, dout, nan, ref, tol, (sharing ? "shared" : "private") + " split private lists: "
                            + att.plan()));
                }
                att.privateSplit(split);
            }
            att.warpItems(mode);
            att.prepare(rb.tables(), rb.lengths(), true);   // the append below must keep this plan
            // append one token to sequences whose tail stays partly filled, through the kernel and on the host
            List<Integer> seqs = new ArrayList<>();
            for (int b = 0; b < batch; b++) {
                int len = rb.lengths()[b], c = rb.chunkSize();
                if (len % c != 0 && (len + 1) % c != 0) seqs.add(b);
            }
            if (!seqs.isEmpty()) {
                int n = seqs.size(), w = rb.kvHeads() * rb.headDim();
                short[] kNew = new short[n * w], vNew = new short[n * w];
                for (int i = 0; i < kNew.length; i++) {
                    kNew[i] = RandomBatch.bits(rb.dtype(), (float) (rnd.nextDouble() * 2 - 1));
                    vNew[i] = RandomBatch.bits(rb.dtype(), (float) (rnd.nextDouble() * 2 - 1));
                }
                int[] chunk = new int[n], slot = new int[n];
                for (int i = 0; i < n; i++) {
                    int b = seqs.get(i), p = rb.lengths()[b];
                    chunk[i] = rb.tables()[b][p / rb.chunkSize()];
                    slot[i] = p % rb.chunkSize();
                    rb.appendHost(b, kNew, vNew, i * w);
                }
                try (DeviceBuffer dk = DeviceBuffer.allocate(2L * kNew.length); DeviceBuffer dv = DeviceBuffer.allocate(2L * vNew.length);
                     DeviceBuffer dc = DeviceBuffer.allocate(4L * n); DeviceBuffer ds = DeviceBuffer.allocate(4L * n)) {
                    dk.upload(kNew);
                    dv.upload(vNew);
                    dc.upload(chunk);
                    ds.upload(slot);
                    att.append(0, dk.ptr(), dv.ptr(), dc.ptr(), ds.ptr(), n);
                    dev.synchronize();
                }
                short[] kDev = new short[rb.keys().length], vDev = new short[rb.values().length];
                kv.keys(0).download(kDev);
                kv.values(0).download(vDev);
                boolean same = java.util.Arrays.equals(kDev, rb.keys()) && java.util.Arrays.equals(vDev, rb.values());
                boolean rebuilt = att.prepare(rb.tables(), rb.lengths(), true);
                String what = "append " + n + " (slabs " + (same ? "equal" : "DIFFER") + ", plan " + (rebuilt ? "REBUILT" : "kept") + ")";
                String r = launchAndCompare(dev, att, rb, dq, dout, nan, rb.reference(), tol, what);
                res.add(same && !rebuilt ? r : r.replace(" ok", " FAIL"));
            }
        }
        return res;
    }

    private static String launchAndCompare(CudaDevice dev, CudaAttention att, RandomBatch rb, DeviceBuffer dq, DeviceBuffer dout,
                                           short nan, double[] ref, double tol, String what) {
        dout.fill16(nan);
        att.poisonScratch();
        att.decode(0, dq.ptr(), dout.ptr());
        dev.synchronize();
        short[] out = new short[rb.q().length];
        dout.download(out);
        double err = RandomBatch.relativeError(rb.dtype(), out, ref);
        return String.format("%s err=%.3g %s", what, err, err <= tol ? "ok" : "FAIL");
    }
}
