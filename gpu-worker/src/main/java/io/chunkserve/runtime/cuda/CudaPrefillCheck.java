package io.chunkserve.runtime.cuda;

import io.chunkserve.model.DType;

import java.util.Locale;
import java.util.SplittableRandom;

import static io.chunkserve.runtime.cuda.CudaModelCheck.check;

/**
 * Part of {@link CudaModelCheck}: the causal attention of new tokens over chunked KV (the rows outside the two-phase
 * kernels: prefill pieces, and every row when those are off), the tensor-core kernel ({@code cs_attn_prefill_tc_*},
 * session 20) and the fp32 one it replaces, each against a float64 reference on the host computed from the same 16-bit
 * K/V: head dims 64 and 128, f16 and bf16 KV, GQA groups of 1, 3, 4 and 8 (units of ⌊64 / g⌋ tokens, the last rows of
 * a unit unused when g does not divide 64), chunk sizes 16, 32, 64 and 128, in one launch a long sequence whose new tokens start
 * mid-way (keys over many 64-key tiles, the last tile partial), a short one prefilled from position 0 and one with a
 * single new token. Outputs (bf16) are poisoned with NaN first. Tolerances ‖out − ref‖ / ‖ref‖: 3e-3 with f16 KV (the
 * bf16 output's rounding alone is ~1.1e-3), 1e-2 with bf16 (as for the two-phase kernels, which round q and the
 * probabilities the same way).
 */
final class CudaPrefillCheck {
    private CudaPrefillCheck() { }

    static void prefill(CudaDevice dev) {
        jcuda.driver.CUmodule mod = dev.loadModule(io.chunkserve.kernels.KernelImages.model().orElseThrow());
        SplittableRandom rnd = new SplittableRandom(41);
        int[][] heads = {{8, 8}, {12, 4}, {16, 2}, {32, 8}};
        int cases = 0;
        for (int hd : new int[] {64, 128}) {
            for (DType kv : new DType[] {DType.F16, DType.BF16}) {
                for (int hi = 0; hi < heads.length; hi++) {
                    int chunk = new int[] {16, 64, 128, 32}[(hi + cases / 4) % 4];
                    one(dev, mod, rnd, hd, kv, heads[hi][0], heads[hi][1], chunk);
                    cases++;
                }
            }
        }
        jcuda.driver.JCudaDriver.cuModuleUnload(mod);
    }

    private static void one(CudaDevice dev, jcuda.driver.CUmodule mod, SplittableRandom rnd, int D, DType kv, int hq, int hkv, int C) {
        int g = hq / hkv, qt = Math.max(1, 64 / g), logC = Integer.numberOfTrailingZeros(C);
        // sequences: (length after the new tokens, first new position)
        int[][] seqs = {{520, 400}, {45, 0}, {130, 129}};
        int chunksTotal = 0;
        for (int[] sq : seqs) chunksTotal += (sq[0] + C - 1) / C;
        int pool = chunksTotal + 5;
        int[] perm = new int[pool];
        for (int i = 0; i < pool; i++) perm[i] = i;
        for (int i = pool - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        // K/V slabs: (chunk, kv head, slot, dim)
        int slab = pool * hkv * C * D;
        short[] kBits = new short[slab], vBits = new short[slab];
        for (int i = 0; i < slab; i++) {
            kBits[i] = RandomBatch.bits(kv, (float) (rnd.nextDouble() * 2 - 1));
            vBits[i] = RandomBatch.bits(kv, (float) (rnd.nextDouble() * 2 - 1));
        }
        int rows = 0, units = 0, tableInts = 0;
        for (int[] sq : seqs) {
            rows += sq[0] - sq[1];
            units += (sq[0] - sq[1] + qt - 1) / qt;
            tableInts += (sq[0] + C - 1) / C;
        }
        int stride = (hq + 2 * hkv) * D;
        float[] qkv = new float[rows * stride];
        for (int i = 0; i < qkv.length; i++) qkv[i] = (float) (rnd.nextDouble() * 4 - 2);
        int[] tables = new int[tableInts], unit = new int[4 * units];
        int[][] seqTable = new int[seqs.length][];
        int[] seqRow0 = new int[seqs.length];
        int row = 0, u = 0, tOff = 0, used = 0;
        for (int s = 0; s < seqs.length; s++) {
            int len = seqs[s][0], pos0 = seqs[s][1], n = len - pos0, chunks = (len + C - 1) / C;
            seqTable[s] = new int[chunks];
            for (int c = 0; c < chunks; c++) seqTable[s][c] = tables[tOff + c] = perm[used++];
            seqRow0[s] = row;
            for (int j = 0; j < n; j += qt, u++) {
                unit[4 * u] = tOff;
                unit[4 * u + 1] = row + j;
                unit[4 * u + 2] = Math.min(qt, n - j);
                unit[4 * u + 3] = pos0 + j;
            }
            row += n;
            tOff += chunks;
        }
        // float64 reference from the 16-bit K/V: softmax(q·k / sqrt(D)) · v over keys 0 .. the token's position
        double[] ref = new double[rows * hq * D];
        double scale = 1 / Math.sqrt(D);
        double[] sc = new double[600];
        for (int s = 0; s < seqs.length; s++) {
            int pos0 = seqs[s][1], n = seqs[s][0] - pos0;
            for (int i = 0; i < n; i++) {
                int p = pos0 + i, r = seqRow0[s] + i;
                for (int hh = 0; hh < hq; hh++) {
                    int h = hh / g;
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int key = 0; key <= p; key++) {
                        int base = ((seqTable[s][key >> logC] * hkv + h) * C + (key & (C - 1))) * D;
                        double dot = 0;
                        for (int d = 0; d < D; d++) dot += qkv[r * stride + hh * D + d] * value(kv, kBits[base + d]);
                        sc[key] = dot * scale;
                        mx = Math.max(mx, sc[key]);
                    }
                    double sum = 0;
                    for (int key = 0; key <= p; key++) sum += sc[key] = Math.exp(sc[key] - mx);
                    for (int key = 0; key <= p; key++) {
                        int base = ((seqTable[s][key >> logC] * hkv + h) * C + (key & (C - 1))) * D;
                        double wgt = sc[key] / sum;
                        for (int d = 0; d < D; d++) ref[(r * hq + hh) * D + d] += wgt * value(kv, vBits[base + d]);
                    }
                }
            }
        }
        String kvName = kv == DType.F16 ? "f16" : "bf16";
        float scaleLog2 = (float) (1.0 / Math.sqrt(D) / Math.log(2.0));
        double tol = kv == DType.F16 ? 3e-3 : 1e-2;   // (the output is bf16: ~1.1e-3 RMS of rounding alone)
        String what = String.format(Locale.ROOT, "prefill attention d%d %s KV, %d/%d heads, chunk %d, %d units (%d rows)", D, kvName, hq, hkv, C, units, rows);
        try (DeviceBuffer dq = DeviceBuffer.allocate(4L * qkv.length); DeviceBuffer dk = DeviceBuffer.allocate(2L * slab);
             DeviceBuffer dv = DeviceBuffer.allocate(2L * slab); DeviceBuffer du = DeviceBuffer.allocate(4L * unit.length);
             DeviceBuffer dt = DeviceBuffer.allocate(4L * tables.length); DeviceBuffer dout = DeviceBuffer.allocate(2L * rows * hq * D)) {
            dq.upload(qkv);
            dk.upload(kBits);
            dv.upload(vBits);
            du.upload(unit);
            dt.upload(tables);
            short[] poison = new short[rows * hq * D];
            java.util.Arrays.fill(poison, RandomBatch.nan(DType.BF16));
            double[] err = new double[2];
            for (int variant = 0; variant < 2; variant++) {
                boolean tc = variant == 0;
                dout.upload(poison);
                jcuda.driver.CUfunction f = CudaDevice.function(mod, tc ? "cs_attn_prefill_tc_" + kvName + "_d" + D : "cs_attn_prefill_" + kvName + "_bf16_d" + D);
                int smem = tc ? 4 * 64 * D * 2 : 0;
                if (tc) CudaDevice.setDynamicShared(f, smem);
                new Launcher().begin().ptr(dq).ptr(dk).ptr(dv).ptr(du).ptr(dt).ptr(dout).i32(hq).i32(hkv).i32(logC).f32(scaleLog2)
                        .launch(Launcher.handle(f), units, hkv, tc ? 128 : 64 * Math.max(1, D / 32), smem);
                dev.synchronize();
                short[] out = new short[rows * hq * D];
                dout.download(out);
                double num = 0, den = 0;
                for (int i = 0; i < out.length; i++) {
                    double d = DType.bf16ToFloat(out[i]) - ref[i];
                    num += d * d;
                    den += ref[i] * ref[i];
                }
                err[variant] = Math.sqrt(num / den);   // (NaN if any output was left unwritten)
            }
            check(err[0] <= tol && err[1] <= tol, String.format(Locale.ROOT, "%s: vs float64, tensor cores %.2e, the fp32 kernel %.2e (tol %.0e)",
                    what, err[0], err[1], tol));
        }
    }

    private static double value(DType kv, short bits) {
        return kv == DType.F16 ? Float.float16ToFloat(bits) : DType.bf16ToFloat(bits);
    }
}
