package io.chunkserve.runtime.cpu;

import io.chunkserve.model.Weight;

/**
 * The CPU compute kernels of the forward pass. Activations are fp32 arrays laid out
 * token-major: x is (T, cols), out is (T, rows). Weights stay in their stored dtype.
 */
public final class CpuKernels implements Parallel, AutoCloseable {
    private final int threads;

    public CpuKernels(int threads) {
        this.threads = Math.max(1, threads);
    }

    public int threads() { return threads; }

    @Override
    public void forRange(int n, java.util.function.IntConsumer task) {
        Parallel.SERIAL.forRange(n, task);
    }

    /** out[t, r] = Σ_c W[r, c] · x[t, c] for t < T. x: (T, W.cols), out: (T, W.rows). */
    public void matmul(Weight w, float[] x, int T, float[] out) {
        int rows = w.rows(), cols = w.cols();
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < T; t++) {
                float acc = 0;
                for (int c = 0; c < cols; c++) acc += w.get(r, c) * x[t * cols + c];
                out[t * rows + r] = acc;
            }
        }
    }

    /** out[t, :] = x[t, :] / rms(x[t, :]) · gamma, over n = gamma.length; rows of width n. */
    public static void rmsnorm(float[] out, float[] x, float[] gamma, int T, float eps) {
        int n = gamma.length;
        for (int t = 0; t < T; t++) {
            int o = t * n;
            double ss = 0;
            for (int i = 0; i < n; i++) ss += x[o + i] * x[o + i];
            float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
            for (int i = 0; i < n; i++) out[o + i] = x[o + i] * inv * gamma[i];
        }
    }

    /** gate[i] = silu(gate[i]) · up[i] for i < n. */
    public static void siluMul(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    /** a[i] += b[i] for i < n. */
    public static void add(float[] a, float[] b, int n) {
        for (int i = 0; i < n; i++) a[i] += b[i];
    }

    @Override
    public void close() { }
}
