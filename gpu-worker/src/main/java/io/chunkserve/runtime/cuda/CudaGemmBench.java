package io.chunkserve.runtime.cuda;

import io.chunkserve.kernels.KernelImages;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;

import java.util.Arrays;
import java.util.Locale;

/**
 * cuBLAS through {@link Cublas} on the projection shapes of Llama-3.2-1B and Llama-3-8B at decode and prefill
 * token counts: bf16 weights and inputs, fp32 accumulation, output fp32 (what the runner uses) and bf16; median
 * of 20 timed calls (CUDA events) after 3 warm-ups, rotating over enough weight copies that each call reads its
 * weights from DRAM, not L2. Prints TSV (shape, T, µs, GB/s of weights + inputs + outputs, TFLOP/s), to compare
 * with torch.matmul on the same shapes (tools/gpu/torch_decode_bench.py --gemm) in the same run.
 */
public final class CudaGemmBench {
    private CudaGemmBench() { }

    /** name, n (out features), k (in features). */
    static final Object[][] SHAPES = {
            {"1b.qkv", 3072, 2048}, {"1b.o", 2048, 2048}, {"1b.gate_up", 16384, 2048}, {"1b.down", 2048, 8192}, {"1b.lm_head", 128256, 2048},
            {"8b.qkv", 6144, 4096}, {"8b.o", 4096, 4096}, {"8b.gate_up", 28672, 4096}, {"8b.down", 4096, 14336}, {"8b.lm_head", 128256, 4096}};
    static final int[] TS = {1, 16, 64, 128, 2304};

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("--algos")) {
            algos();
            return;
        }
        if (args.length > 0 && args[0].equals("--opts")) {
            options(args.length > 1 ? Integer.parseInt(args[1]) : 64, args.length > 2 ? args[2] : "direct,vec",
                    args.length > 3 ? Integer.parseInt(args[3]) : 3);
            return;
        }
        if (args.length > 0 && args[0].equals("--wide")) {
            wide(args.length > 1 ? Integer.parseInt(args[1]) : 64);
            return;
        }
        try (CudaDevice dev = CudaDevice.open(); Cublas blas = new Cublas()) {
            CUmodule mod = dev.loadModule(KernelImages.model().orElseThrow());
            CUfunction fill = CudaDevice.function(mod, "cs_fill_bf16");
            SkinnyGemm sk = new SkinnyGemm(mod, dev);
            int checked = 0, failed = 0;
            System.out.println("# cuBLAS " + blas.version() + " (" + Cublas.library() + ") on " + dev.describe());
            System.out.println("gemm\tshape\tT\tout\tus\tGBps\tTFLOPs");
            CUevent e0 = CudaDevice.event(), e1 = CudaDevice.event();
            for (Object[] sh : SHAPES) {
                String name = (String) sh[0];
                int n = (Integer) sh[1], k = (Integer) sh[2];
                long wBytes = 2L * n * k;
                int copies = (int) Math.max(1, Math.min(8, (256L << 20) / wBytes + 1));
                DeviceBuffer[] ws = new DeviceBuffer[copies];
                try (DeviceBuffer x = DeviceBuffer.allocate(2L * 2304 * k); DeviceBuffer y = DeviceBuffer.allocate(4L * 2304 * n)) {
                    for (int i = 0; i < copies; i++) {
                        ws[i] = DeviceBuffer.allocate(wBytes);
                        fillBf16(fill, ws[i], wBytes / 2, 5 + i);
                    }
                    fillBf16(fill, x, 2304L * k, 99);
                    for (int T : TS) {
                        if (SkinnyGemm.fits(T, k)) {
                            // model.cu's skinny kernel: checked against cuBLAS (fp32 out), then timed
                            try (DeviceBuffer ref = DeviceBuffer.allocate(4L * T * n)) {
                                long wa = Cublas.address(ws[0].ptr()), xa = Cublas.address(x.ptr());
                                blas.linear(wa, Cublas.CUDA_R_16BF, xa, Cublas.CUDA_R_16BF, Cublas.address(ref.ptr()), T, n, k, false);
                                y.fill32(0x7fc00000);
                                sk.run(wa, xa, Cublas.address(y.ptr()), T, n, k, false);
                                sk.run(wa, xa, Cublas.address(y.ptr()), T, n, k, true);   // y = 2 · x·Wᵀ
                                float[] a = new float[T * n], b = new float[T * n];
                                jcuda.driver.JCudaDriver.cuMemcpyDtoH(jcuda.Pointer.to(a), y.ptr(), 4L * T * n);
                                ref.download(b);
                                double err = relErrVsTwice(a, b);
                                checked++;
                                if (!(err < 1e-4)) failed++;
                                System.out.printf(Locale.ROOT, "# skinny %s T=%d: y = x·Wᵀ then y += x·Wᵀ vs 2·cuBLAS: rel err %.2e %s%n", name, T, err,
                                        err < 1e-4 ? "ok" : "FAIL");
                            }
                            double[] us = new double[20];
                            for (int it = -3; it < us.length; it++) {
                                DeviceBuffer w = ws[(it + 3) % copies];
                                CudaDevice.record(e0);
                                sk.run(Cublas.address(w.ptr()), Cublas.address(x.ptr()), Cublas.address(y.ptr()), T, n, k, false);
                                CudaDevice.record(e1);
                                float ms = CudaDevice.elapsedMs(e0, e1);
                                if (it >= 0) us[it] = ms * 1e3;
                            }
                            Arrays.sort(us);
                            double t = us[us.length / 2];
                            double bytes = wBytes + 2.0 * T * k + 4.0 * T * n;
                            System.out.printf(Locale.ROOT, "gemm\t%s\t%d\t%s\t%.1f\t%.0f\t%.1f%n", name, T, "skinny", t, bytes / (t * 1e3),
                                    2.0 * T * n * k / (t * 1e6));
                        }
                        for (int outType : new int[] {Cublas.CUDA_R_32F, Cublas.CUDA_R_16BF}) {
                            double[] us = new double[20];
                            for (int it = -3; it < us.length; it++) {
                                DeviceBuffer w = ws[(it + 3) % copies];
                                CudaDevice.record(e0);
                                blas.linear(Cublas.address(w.ptr()), Cublas.CUDA_R_16BF, Cublas.address(x.ptr()), Cublas.CUDA_R_16BF,
                                        Cublas.address(y.ptr()), outType, T, n, k, false);
                                CudaDevice.record(e1);
                                float ms = CudaDevice.elapsedMs(e0, e1);
                                if (it >= 0) us[it] = ms * 1e3;
                            }
                            Arrays.sort(us);
                            double t = us[us.length / 2];
                            double bytes = wBytes + 2.0 * T * k + (outType == Cublas.CUDA_R_32F ? 4.0 : 2.0) * T * n;
                            System.out.printf(Locale.ROOT, "gemm\t%s\t%d\t%s\t%.1f\t%.0f\t%.1f%n", name, T,
                                    outType == Cublas.CUDA_R_32F ? "f32" : "bf16", t, bytes / (t * 1e3), 2.0 * T * n * k / (t * 1e6));
                        }
                    }
                } finally {
                    for (DeviceBuffer w : ws) if (w != null) w.close();
                }
            }
            System.out.println("# skinny GEMM checks: " + checked + ", failed " + failed);
        }
    }

    /**
     * cublasGemmEx's numbered algorithms against its heuristic (algo −1) on the decode shapes at T = 64 and 128, fp32
     * output: median µs of 20 (weights rotated out of L2), and each algorithm's result vs the heuristic's.
     */
    static void algos() {
        int[] algos = new int[1 + 24 + 17];
        algos[0] = -1;
        for (int i = 0; i < 24; i++) algos[1 + i] = i;
        for (int i = 0; i < 17; i++) algos[25 + i] = 99 + i;
        try (CudaDevice dev = CudaDevice.open(); Cublas blas = new Cublas()) {
            CUmodule mod = dev.loadModule(KernelImages.model().orElseThrow());
            CUfunction fill = CudaDevice.function(mod, "cs_fill_bf16");
            System.out.println("# cuBLAS " + blas.version() + " algorithms on " + dev.describe());
            System.out.println("algo\tshape\tT\talgo\tus\tGBps\trel_err_vs_default");
            CUevent e0 = CudaDevice.event(), e1 = CudaDevice.event();
            for (Object[] sh : SHAPES) {
                String name = (String) sh[0];
                int n = (Integer) sh[1], k = (Integer) sh[2];
                if (name.endsWith("lm_head")) continue;
                long wBytes = 2L * n * k;
                int copies = (int) Math.max(1, Math.min(8, (256L << 20) / wBytes + 1));
                DeviceBuffer[] ws = new DeviceBuffer[copies];
                try (DeviceBuffer x = DeviceBuffer.allocate(2L * 128 * k); DeviceBuffer y = DeviceBuffer.allocate(4L * 128 * n);
                     DeviceBuffer ref = DeviceBuffer.allocate(4L * 128 * n)) {
                    for (int i = 0; i < copies; i++) {
                        ws[i] = DeviceBuffer.allocate(wBytes);
                        fillBf16(fill, ws[i], wBytes / 2, 5 + i);
                    }
                    fillBf16(fill, x, 128L * k, 99);
                    for (int T : new int[] {64, 128}) {
                        long wa = Cublas.address(ws[0].ptr()), xa = Cublas.address(x.ptr());
                        blas.linear(wa, Cublas.CUDA_R_16BF, xa, Cublas.CUDA_R_16BF, Cublas.address(ref.ptr()), Cublas.CUDA_R_32F, T, n, k, false, -1);
                        float[] b = new float[T * n], a = new float[T * n];
                        ref.download(b);
                        double best = Double.MAX_VALUE, dflt = 0;
                        int bestAlgo = -1;
                        for (int algo : algos) {
                            try {
                                y.fill32(0x7fc00000);
                                blas.linear(wa, Cublas.CUDA_R_16BF, xa, Cublas.CUDA_R_16BF, Cublas.address(y.ptr()), Cublas.CUDA_R_32F, T, n, k, false, algo);
                            } catch (IllegalStateException e) {
                                System.out.printf(Locale.ROOT, "algo\t%s\t%d\t%d\tunsupported\t\t%n", name, T, algo);
                                continue;
                            }
                            jcuda.driver.JCudaDriver.cuMemcpyDtoH(jcuda.Pointer.to(a), y.ptr(), 4L * T * n);
                            double num = 0, den = 0;
                            for (int i = 0; i < a.length; i++) {
                                double d = a[i] - b[i];
                                num += Float.isFinite(a[i]) ? d * d : Double.POSITIVE_INFINITY;
                                den += (double) b[i] * b[i];
                            }
                            double err = Math.sqrt(num / den);
                            double[] us = new double[20];
                            for (int it = -3; it < us.length; it++) {
                                DeviceBuffer w = ws[(it + 3) % copies];
                                CudaDevice.record(e0);
                                blas.linear(Cublas.address(w.ptr()), Cublas.CUDA_R_16BF, xa, Cublas.CUDA_R_16BF, Cublas.address(y.ptr()),
                                        Cublas.CUDA_R_32F, T, n, k, false, algo);
                                CudaDevice.record(e1);
                                float ms = CudaDevice.elapsedMs(e0, e1);
                                if (it >= 0) us[it] = ms * 1e3;
                            }
                            Arrays.sort(us);
                            double t = us[us.length / 2];
                            if (algo == -1) dflt = t;
                            if (err < 1e-3 && t < best) {
                                best = t;
                                bestAlgo = algo;
                            }
                            System.out.printf(Locale.ROOT, "algo\t%s\t%d\t%d\t%.1f\t%.0f\t%.1e%n", name, T, algo, t,
                                    (wBytes + 2.0 * T * k + 4.0 * T * n) / (t * 1e3), err);
                        }
                        System.out.printf(Locale.ROOT, "# %s T=%d: heuristic %.1f us, best algo %d %.1f us (%.2fx)%n", name, T, dflt, bestAlgo, best, dflt / best);
                    }
                } finally {
                    for (DeviceBuffer w : ws) if (w != null) w.close();
                }
            }
        }
    }

    /**
     * The skinny kernel's variants (SkinnyGemm.VARIANTS for T) × target blocks (1-4 × SMs) × plain / programmatic
     * dependent launch, against cuBLAS (fp32 out), on the decode shapes at T tokens. Timed as the engine runs them:
     * 10 launches back to back between two events (weights rotated out of L2, y zeroed beforehand as the runner's
     * RMSNorm does), µs per launch, median of 7 such loops. Each variant is first checked against cuBLAS
     * (y = then y += x·Wᵀ vs 2·cuBLAS, rel err < 1e-4).
     */
    static void wide(int T) {
        try (CudaDevice dev = CudaDevice.open(); Cublas blas = new Cublas()) {
            CUmodule mod = dev.loadModule(KernelImages.model().orElseThrow());
            CUfunction fill = CudaDevice.function(mod, "cs_fill_bf16");
            SkinnyGemm sk = new SkinnyGemm(mod, dev);
            int checked = 0, failed = 0;
            System.out.println("# skinny variants vs cuBLAS " + blas.version() + " at T=" + T + " on " + dev.describe());
            System.out.println("wide\tshape\tT\tkernel\ttarget\tpdl\tus\tGBps");
            CUevent e0 = CudaDevice.event(), e1 = CudaDevice.event();
            for (Object[] sh : SHAPES) {
                String name = (String) sh[0];
                int n = (Integer) sh[1], k = (Integer) sh[2];
                long wBytes = 2L * n * k;
                int copies = (int) Math.max(2, Math.min(8, (256L << 20) / wBytes + 1));
                DeviceBuffer[] ws = new DeviceBuffer[copies];
                try (DeviceBuffer x = DeviceBuffer.allocate(2L * T * k); DeviceBuffer y = DeviceBuffer.allocate(4L * T * n);
                     DeviceBuffer ref = DeviceBuffer.allocate(4L * T * n)) {
                    for (int i = 0; i < copies; i++) {
                        ws[i] = DeviceBuffer.allocate(wBytes);
                        fillBf16(fill, ws[i], wBytes / 2, 5 + i);
                    }
                    fillBf16(fill, x, (long) T * k, 99);
                    long xa = Cublas.address(x.ptr()), ya = Cublas.address(y.ptr());
                    boolean acc = name.endsWith(".o") || name.endsWith(".down");   // the residual adds (beta = 1), as the runner
                    blas.linear(Cublas.address(ws[0].ptr()), Cublas.CUDA_R_16BF, xa, Cublas.CUDA_R_16BF, Cublas.address(ref.ptr()), T, n, k, false);
                    float[] b = new float[T * n], a = new float[T * n];
                    ref.download(b);
                    double cub = loopUs(e0, e1, i -> blas.linear(Cublas.address(ws[i % copies].ptr()), Cublas.CUDA_R_16BF, xa,
                            Cublas.CUDA_R_16BF, ya, T, n, k, acc));
                    System.out.printf(Locale.ROOT, "wide\t%s\t%d\t%s\t%d\t%s\t%.1f\t%.0f%n", name, T, "cublas", 0, "-", cub, wBytes / (cub * 1e3));
                    double best = Double.MAX_VALUE;
                    String bestCfg = "";
                    for (int v = 0; v < SkinnyGemm.VARIANTS.length; v++) {
                        SkinnyGemm.Variant var = SkinnyGemm.VARIANTS[v];
                        if (var.nt() < T || (var.nt() > 64 && T <= 64) || (T > 32 && var.nt() < 64)) continue;
                        final int fv = v;
                        y.fill32(0x7fc00000);
                        sk.run(fv, 2, false, Cublas.address(ws[0].ptr()), xa, ya, T, n, k, false, false);
                        sk.run(fv, 2, false, Cublas.address(ws[0].ptr()), xa, ya, T, n, k, true, false);
                        jcuda.driver.JCudaDriver.cuMemcpyDtoH(jcuda.Pointer.to(a), y.ptr(), 4L * T * n);
                        double err = relErrVsTwice(a, b);
                        checked++;
                        if (!(err < 1e-4)) failed++;
                        System.out.printf(Locale.ROOT, "# %s %s T=%d: y = x·Wᵀ then y += x·Wᵀ vs 2·cuBLAS: rel err %.2e %s (occupancy %d blocks/SM)%n", var.name(), name, T, err,
                                err < 1e-4 ? "ok" : "FAIL", sk.occupancy(fv));
                        for (int target = 1; target <= (var.mt() == 1 ? 4 : 2); target++) {
                            for (boolean dep : new boolean[] {false, true}) {
                                if (dep && !sk.dependentLaunch()) continue;
                                final int ft = target;
                                final boolean fd = dep;
                                double us = loopUs(e0, e1, i -> sk.run(fv, ft, fd, Cublas.address(ws[i % copies].ptr()), xa, ya, T, n, k, acc, !acc));
                                System.out.printf(Locale.ROOT, "wide\t%s\t%d\t%s\t%d\t%s\t%.1f\t%.0f%n", name, T, var.name(), target, dep, us, wBytes / (us * 1e3));
                                if (us < best) {
                                    best = us;
                                    bestCfg = var.name() + " target " + target + (dep ? " pdl" : "");
                                }
                            }
                        }
                    }
                    System.out.printf(Locale.ROOT, "# best %s T=%d: %s %.1f us vs cuBLAS %.1f us (%.2fx)%n", name, T, bestCfg, best, cub, cub / best);
                    if (name.endsWith("gate_up") && sk.fusesSiluMul(T, n, k)) {
                        // the SiLU·mul epilogue (rows read as interleaved gate|up) vs SiLU·mul of cuBLAS's fp32 output on the host
                        try (DeviceBuffer act = DeviceBuffer.allocate(2L * T * (n / 2))) {
                            sk.runSiluMul(Cublas.address(ws[0].ptr()), xa, Cublas.address(act.ptr()), T, n, k);
                            short[] got = new short[T * (n / 2)];
                            jcuda.driver.JCudaDriver.cuMemcpyDtoH(jcuda.Pointer.to(got), act.ptr(), 2L * got.length);
                            double err = siluMulError(got, b, T, n);
                            checked++;
                            if (!(err < 1e-2)) failed++;
                            double us = loopUs(e0, e1, i -> sk.runSiluMul(Cublas.address(ws[i % copies].ptr()), xa, Cublas.address(act.ptr()), T, n, k));
                            System.out.printf(Locale.ROOT, "# fused SiLU·mul %s T=%d: bf16 act vs host SiLU·mul of cuBLAS: rel err %.2e %s; %.1f us (%.0f GB/s)%n",
                                    name, T, err, err < 1e-2 ? "ok" : "FAIL", us, wBytes / (us * 1e3));
                        }
                    }
                } finally {
                    for (DeviceBuffer w : ws) if (w != null) w.close();
                }
            }
            System.out.println("# wide checks: " + checked + ", failed " + failed);
        }
    }

    /**
     * SkinnyGemm's options (session 6: the epilogue direct | vec; specs as {@link SkinnyGemm.Options#parse}) at T tokens, through the runner's own policy ({@code run} as the runner calls
     * it). Per shape set (1B, 8B): each option set checked on every layer shape (y = then y += vs 2·cuBLAS < 1e-4;
     * the fused SiLU·mul vs the host's of cuBLAS's output < 1e-2), then `rounds` rounds, options alternated: a layer
     * sequence as the runner issues it (q|k|v, o +=, gate|up with SiLU·mul, down +=) over 8 layers of distinct
     * weights (out of L2), 4 passes between two events (µs per layer), and each GEMM alone, 10 back to back (µs).
     */
    static void options(int T, String specs, int rounds) {
        String[] spec = specs.split(",");
        try (CudaDevice dev = CudaDevice.open(); Cublas blas = new Cublas()) {
            CUmodule mod = dev.loadModule(KernelImages.model().orElseThrow());
            CUfunction fill = CudaDevice.function(mod, "cs_fill_bf16");
            SkinnyGemm sk = new SkinnyGemm(mod, dev);
            StringBuilder occ = new StringBuilder();
            for (int v = 0; v < SkinnyGemm.VARIANTS.length; v++) occ.append(' ').append(SkinnyGemm.VARIANTS[v].name()).append(':').append(sk.occupancy(v));
            System.out.println("# skinny GEMM options at T=" + T + " on " + dev.describe() + "; blocks/SM:" + occ);
            int checked = 0, failed = 0;
            CUevent e0 = CudaDevice.event(), e1 = CudaDevice.event();
            for (String set : new String[] {"1b", "8b"}) {
                int[][] shp = new int[4][];   // qkv, o, gate_up, down: {n, k}
                for (Object[] sh : SHAPES) {
                    String name = (String) sh[0];
                    if (!name.startsWith(set + ".")) continue;
                    int idx = switch (name.substring(3)) { case "qkv" -> 0; case "o" -> 1; case "gate_up" -> 2; case "down" -> 3; default -> -1; };
                    if (idx >= 0) shp[idx] = new int[] {(Integer) sh[1], (Integer) sh[2]};
                }
                final int layers = 8;
                DeviceBuffer[][] ws = new DeviceBuffer[layers][4];
                int maxK = 0, maxN = 0;
                for (int[] a : shp) { maxK = Math.max(maxK, a[1]); maxN = Math.max(maxN, a[0]); }
                try (DeviceBuffer x = DeviceBuffer.allocate(2L * T * maxK); DeviceBuffer y = DeviceBuffer.allocate(4L * T * maxN);
                     DeviceBuffer y2 = DeviceBuffer.allocate(4L * T * maxN); DeviceBuffer act = DeviceBuffer.allocate(2L * T * maxN);
                     DeviceBuffer ref = DeviceBuffer.allocate(4L * T * maxN)) {
                    for (int l = 0; l < layers; l++)
                        for (int g = 0; g < 4; g++) {
                            ws[l][g] = DeviceBuffer.allocate(2L * shp[g][0] * shp[g][1]);
                            fillBf16(fill, ws[l][g], (long) shp[g][0] * shp[g][1], 100 * l + g + 5);
                        }
                    fillBf16(fill, x, (long) T * maxK, 99);
                    long xa = Cublas.address(x.ptr()), ya = Cublas.address(y.ptr()), y2a = Cublas.address(y2.ptr()), aa = Cublas.address(act.ptr());
                    String[] gname = {"qkv", "o", "gate_up", "down"};
                    // checks of every option set on every shape
                    for (String sp : spec) {
                        sk.configure(SkinnyGemm.Options.parse(sp));
                        for (int g = 0; g < 4; g++) {
                            int n = shp[g][0], k = shp[g][1];
                            long wa = Cublas.address(ws[0][g].ptr());
                            blas.linear(wa, Cublas.CUDA_R_16BF, xa, Cublas.CUDA_R_16BF, Cublas.address(ref.ptr()), T, n, k, false);
                            float[] b = new float[T * n], a = new float[T * n];
                            ref.download(b);
                            y.fill32(0x7fc00000);
                            if (sk.splitsK(T, n, k)) y.fill32(0);
                            sk.run(wa, xa, ya, T, n, k, false, true);
                            sk.run(wa, xa, ya, T, n, k, true);
                            jcuda.driver.JCudaDriver.cuMemcpyDtoH(jcuda.Pointer.to(a), y.ptr(), 4L * T * n);
                            double err = relErrVsTwice(a, b);
                            checked++;
                            if (!(err < 1e-4)) failed++;
                            System.out.printf(Locale.ROOT, "# check %s %s.%s T=%d (splitsK %s): y = then y += vs 2·cuBLAS: rel err %.2e %s%n", sp, set, gname[g], T,
                                    sk.splitsK(T, n, k), err, err < 1e-4 ? "ok" : "FAIL");
                            if (g == 2 && sk.fusesSiluMul(T, n, k)) {
                                sk.runSiluMul(wa, xa, aa, T, n, k);
                                short[] got = new short[T * (n / 2)];
                                jcuda.driver.JCudaDriver.cuMemcpyDtoH(jcuda.Pointer.to(got), act.ptr(), 2L * got.length);
                                double e2 = siluMulError(got, b, T, n);
                                checked++;
                                if (!(e2 < 1e-2)) failed++;
                                System.out.printf(Locale.ROOT, "# check %s %s.gate_up fused SiLU·mul T=%d: rel err %.2e %s%n", sp, set, T, e2, e2 < 1e-2 ? "ok" : "FAIL");
                            }
                        }
                    }
                    System.out.println("opts	set	round	options	layer_us	qkv_us	o_us	gate_up_us	down_us");
                    double[][] sum = new double[spec.length][5];
                    for (int r = 0; r < rounds; r++) {
                        for (int si = 0; si < spec.length; si++) {
                            sk.configure(SkinnyGemm.Options.parse(spec[si]));
                            final DeviceBuffer[][] fw = ws;
                            double[] v = new double[5];
                            // the layer sequence: 8 layers × 4 passes between two events, median of 5 after one warm-up
                            double[] seq = new double[5];
                            for (int rep = -1; rep < seq.length; rep++) {
                                CudaDevice.record(e0);
                                for (int pass = 0; pass < 4; pass++) {
                                    for (int l = 0; l < layers; l++) {
                                        sk.run(Cublas.address(fw[l][0].ptr()), xa, y2a, T, shp[0][0], shp[0][1], false, true);
                                        sk.run(Cublas.address(fw[l][1].ptr()), xa, ya, T, shp[1][0], shp[1][1], true);
                                        if (sk.fusesSiluMul(T, shp[2][0], shp[2][1])) sk.runSiluMul(Cublas.address(fw[l][2].ptr()), xa, aa, T, shp[2][0], shp[2][1]);
                                        else sk.run(Cublas.address(fw[l][2].ptr()), xa, y2a, T, shp[2][0], shp[2][1], false, true);
                                        sk.run(Cublas.address(fw[l][3].ptr()), aa, ya, T, shp[3][0], shp[3][1], true);
                                    }
                                }
                                CudaDevice.record(e1);
                                float ms = CudaDevice.elapsedMs(e0, e1);
                                if (rep >= 0) seq[rep] = ms * 1e3 / (4 * layers);
                            }
                            Arrays.sort(seq);
                            v[0] = seq[seq.length / 2];
                            for (int g = 0; g < 4; g++) {
                                final int fg = g, n = shp[g][0], k = shp[g][1];
                                final boolean acc = g == 1 || g == 3;
                                if (g == 2 && sk.fusesSiluMul(T, n, k)) v[1 + g] = loopUs(e0, e1, i -> sk.runSiluMul(Cublas.address(fw[i % layers][fg].ptr()), xa, aa, T, n, k));
                                else v[1 + g] = loopUs(e0, e1, i -> sk.run(Cublas.address(fw[i % layers][fg].ptr()), xa, acc ? ya : y2a, T, n, k, acc, true));
                            }
                            for (int j = 0; j < 5; j++) sum[si][j] += v[j] / rounds;
                            System.out.printf(Locale.ROOT, "opts	%s	%d	%s	%.2f	%.2f	%.2f	%.2f	%.2f%n", set, r, spec[si], v[0], v[1], v[2], v[3], v[4]);
                        }
                    }
                    for (int si = 0; si < spec.length; si++)
                        System.out.printf(Locale.ROOT, "# mean %s %-14s layer %.2f us (x32 = %.3f ms a step), qkv %.2f, o %.2f, gate_up %.2f, down %.2f%n", set, spec[si],
                                sum[si][0], sum[si][0] * 32 / 1e3, sum[si][1], sum[si][2], sum[si][3], sum[si][4]);
                } finally {
                    for (DeviceBuffer[] lw : ws) for (DeviceBuffer b : lw) if (b != null) b.close();
                }
            }
            System.out.println("# option checks: " + checked + ", failed " + failed);
        }
    }

    /** µs per launch: 10 launches (i = 0..9 of the loop's offset) between two events, median of 7 loops after one warm-up. */
    private static double loopUs(CUevent e0, CUevent e1, java.util.function.IntConsumer launch) {
        double[] us = new double[7];
        for (int rep = -1; rep < us.length; rep++) {
            CudaDevice.record(e0);
            for (int i = 0; i < 10; i++) launch.accept(10 * (rep + 1) + i);
            CudaDevice.record(e1);
            float ms = CudaDevice.elapsedMs(e0, e1);
            if (rep >= 0) us[rep] = ms * 100;
        }
        Arrays.sort(us);
        return us[us.length / 2];
    }

    static void fillBf16(CUfunction fill, DeviceBuffer b, long n, int seed) {
        new Launcher().begin().ptr(b).i64(n).i32(seed).f32(0.05f).launch(Launcher.handle(fill), 1024, 1, 256, 0);
    }

    /** ‖a − 2b‖ / ‖2b‖ (a = y after y = x·Wᵀ then y += x·Wᵀ, b = the reference x·Wᵀ); +∞ if a has a non-finite value. */
    private static double relErrVsTwice(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - 2.0 * b[i];
            num += Float.isFinite(a[i]) ? d * d : Double.POSITIVE_INFINITY;
            den += 4.0 * b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    /**
     * Relative RMS error of a fused SiLU·mul output (bf16, (T, n/2)) against SiLU(gate)·up computed in double from the
     * fp32 GEMM result {@code b} (T, n) whose rows interleave gate|up in groups of 8.
     */
    static double siluMulError(short[] got, float[] b, int T, int n) {
        double num = 0, den = 0;
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < n / 2; j++) {
                int gc = 16 * (j / 8) + j % 8;
                double g = b[t * n + gc], u = b[t * n + gc + 8];
                double want = g / (1 + Math.exp(-g)) * u;
                double d = Float.intBitsToFloat((got[t * (n / 2) + j] & 0xffff) << 16) - want;
                num += Double.isFinite(d) ? d * d : Double.POSITIVE_INFINITY;
                den += want * want;
            }
        }
        return Math.sqrt(num / den);
    }
}
