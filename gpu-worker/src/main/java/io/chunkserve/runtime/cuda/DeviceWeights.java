package io.chunkserve.runtime.cuda;

import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.model.Weight;
import jcuda.Pointer;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

/**
 * A model's weights on the device, laid out for {@link CudaModelRunner}: per layer the fused q|k|v projection
 * ((Hq + 2·Hkv)·D, hidden), o, the fused gate|up projection (2·I, hidden) and down, in the matrix type of the
 * {@link Precision} (bf16, or fp32 for the exact mode); norm gains, biases and q/k norms in fp32. When I % 8 == 0
 * the gate|up rows are interleaved in blocks of 8 ({@link #gateUpInterleaved}: rows 16q .. 16q+7 are gate rows
 * 8q .. 8q+7, rows 16q+8 .. 16q+15 the up rows 8q .. 8q+7), so that a GEMM's epilogue holds both factors of
 * SiLU(gate)·up in one thread (model.cu gemm_skinny mode 3).
 */
public final class DeviceWeights implements AutoCloseable {
    /** Matrix type on the device, and so the type of every matrix-multiply input. */
    public enum Precision {
        /** fp32 matrices and inputs, fp32 (pedantic) accumulation: the CPU backend's arithmetic. */
        F32(4, Cublas.CUDA_R_32F, "f32"),
        /** bf16 matrices and inputs, fp32 accumulation; residual stream, norms, RoPE and softmax in fp32. */
        BF16(2, Cublas.CUDA_R_16BF, "bf16");

        final int bytes, cudaType;
        final String suffix;

        Precision(int bytes, int cudaType, String suffix) {
            this.bytes = bytes;
            this.cudaType = cudaType;
            this.suffix = suffix;
        }

        /** The precision for a checkpoint stored in {@code dt}: fp32 checkpoints keep fp32, half ones run bf16. */
        public static Precision forCheckpoint(DType dt) { return dt == DType.F32 ? F32 : BF16; }
    }

    /** One layer's tensors; bias (q|k|v concatenated), qNorm and kNorm may be null. */
    public record Layer(DeviceBuffer attnNorm, DeviceBuffer wqkv, DeviceBuffer bias, DeviceBuffer qNorm, DeviceBuffer kNorm,
                        DeviceBuffer wo, DeviceBuffer mlpNorm, DeviceBuffer wgu, DeviceBuffer wdown) { }

    private final Precision precision;
    private final DeviceBuffer embed, lmHead, norm;
    private final Layer[] layers;
    private final List<DeviceBuffer> owned;
    private final long matrixBytesPerStep;
    private final boolean gateUpInterleaved;

    private DeviceWeights(Precision p, DeviceBuffer embed, DeviceBuffer lmHead, DeviceBuffer norm, Layer[] layers,
                          List<DeviceBuffer> owned, long matrixBytesPerStep, boolean gateUpInterleaved) {
        this.gateUpInterleaved = gateUpInterleaved;
        this.precision = p;
        this.embed = embed;
        this.lmHead = lmHead;
        this.norm = norm;
        this.layers = layers;
        this.owned = owned;
        this.matrixBytesPerStep = matrixBytesPerStep;
    }

    public Precision precision() { return precision; }

    public DeviceBuffer embed() { return embed; }

    public DeviceBuffer lmHead() { return lmHead; }

    public DeviceBuffer norm() { return norm; }

    public Layer layer(int l) { return layers[l]; }

    /** Whether each layer's gate|up rows are interleaved in blocks of 8 (see the class comment). */
    public boolean gateUpInterleaved() { return gateUpInterleaved; }

    /** Whether a model of this config gets the interleaved gate|up layout. */
    static boolean interleaves(ModelConfig c) { return c.intermediateSize() % 8 == 0; }

    /** Bytes of the matrices a decode step reads: every layer's projections and the LM head. */
    public long matrixBytesPerStep() { return matrixBytesPerStep; }

    /** Device bytes held. */
    public long deviceBytes() {
        long n = 0;
        for (DeviceBuffer b : owned) n += b.bytes();
        return n;
    }

    private static long matrixBytes(ModelConfig c, int elemBytes) {
        long h = c.hiddenSize(), layer = ((long) c.qDim() + 2L * c.kvDim()) * h + h * c.qDim() + 3L * c.intermediateSize() * h;
        return (c.numLayers() * layer + (long) c.vocabSize() * h) * elemBytes;
    }

    /** Uploads host weights (any stored dtype), converting the matrices to {@code p}'s type. */
    public static DeviceWeights upload(ModelConfig c, ModelWeights w, Precision p) {
        List<DeviceBuffer> owned = new ArrayList<>();
        try {
            DeviceBuffer embed = matrix(owned, p, w.embed());
            DeviceBuffer head = w.lmHead() == w.embed() ? embed : matrix(owned, p, w.lmHead());
            DeviceBuffer norm = vector(owned, w.norm());
            Layer[] layers = new Layer[c.numLayers()];
            for (int l = 0; l < layers.length; l++) {
                ModelWeights.Layer L = w.layers()[l];
                DeviceBuffer bias = null;
                if (L.bq() != null || L.bk() != null || L.bv() != null) {
                    float[] b = new float[c.qDim() + 2 * c.kvDim()];
                    if (L.bq() != null) System.arraycopy(L.bq(), 0, b, 0, c.qDim());
                    if (L.bk() != null) System.arraycopy(L.bk(), 0, b, c.qDim(), c.kvDim());
                    if (L.bv() != null) System.arraycopy(L.bv(), 0, b, c.qDim() + c.kvDim(), c.kvDim());
                    bias = vector(owned, b);
                }
                layers[l] = new Layer(vector(owned, L.attnNorm()), matrix(owned, p, L.wq(), L.wk(), L.wv()), bias,
                        L.qNorm() == null ? null : vector(owned, L.qNorm()), L.kNorm() == null ? null : vector(owned, L.kNorm()),
                        matrix(owned, p, L.wo()), vector(owned, L.mlpNorm()),
                        interleaves(c) ? gateUp(owned, p, L.wGate(), L.wUp()) : matrix(owned, p, L.wGate(), L.wUp()),
                        matrix(owned, p, L.wDown()));
            }
            return new DeviceWeights(p, embed, head, norm, layers, owned, matrixBytes(c, p.bytes), interleaves(c));
        } catch (RuntimeException e) {
            for (DeviceBuffer b : owned) b.close();
            throw e;
        }
    }

    /**
     * Random bf16 weights made on the device (a hash of seed and index, no host copy): matrices uniform in
     * ±sqrt(3 / cols) (unit-variance outputs for unit-variance inputs), the embedding in ±1, norm gains 1, no
     * biases or q/k norms. For benchmarks of real shapes (an 8B model's 16 GB never cross the bus).
     */
    public static DeviceWeights random(ModelConfig c, long seed, CudaDevice device, jcuda.driver.CUfunction fill) {
        List<DeviceBuffer> owned = new ArrayList<>();
        int[] next = {(int) seed};
        try {
            int h = c.hiddenSize();
            DeviceBuffer embed = randomMatrix(owned, device, fill, (long) c.vocabSize() * h, 1f, next);
            DeviceBuffer head = c.tieWordEmbeddings() ? embed : randomMatrix(owned, device, fill, (long) c.vocabSize() * h, (float) Math.sqrt(3.0 / h), next);
            DeviceBuffer norm = ones(owned, h);
            Layer[] layers = new Layer[c.numLayers()];
            for (int l = 0; l < layers.length; l++) {
                layers[l] = new Layer(ones(owned, h),
                        randomMatrix(owned, device, fill, ((long) c.qDim() + 2L * c.kvDim()) * h, (float) Math.sqrt(3.0 / h), next), null, null, null,
                        randomMatrix(owned, device, fill, (long) h * c.qDim(), (float) Math.sqrt(3.0 / c.qDim()), next), ones(owned, h),
                        randomMatrix(owned, device, fill, 2L * c.intermediateSize() * h, (float) Math.sqrt(3.0 / h), next),
                        randomMatrix(owned, device, fill, (long) h * c.intermediateSize(), (float) Math.sqrt(3.0 / c.intermediateSize()), next));
            }
            device.synchronize();
            // random gate|up rows: any order is as random as the other; the flag keeps the runner's layout consistent
            return new DeviceWeights(Precision.BF16, embed, head, norm, layers, owned, matrixBytes(c, 2), interleaves(c));
        } catch (RuntimeException e) {
            for (DeviceBuffer b : owned) b.close();
            throw e;
        }
    }

    private static DeviceBuffer randomMatrix(List<DeviceBuffer> owned, CudaDevice device, jcuda.driver.CUfunction fill,
                                             long elements, float scale, int[] seed) {
        DeviceBuffer b = DeviceBuffer.allocate(elements * 2);
        owned.add(b);
        int blocks = 8 * device.multiprocessors();
        Pointer p = Pointer.to(Pointer.to(b.ptr()), Pointer.to(new long[] {elements}), Pointer.to(new int[] {seed[0]++}),
                Pointer.to(new float[] {scale}));
        cuLaunchKernel(fill, blocks, 1, 1, 256, 1, 1, 0, null, p, null);
        return b;
    }

    private static DeviceBuffer ones(List<DeviceBuffer> owned, int n) {
        DeviceBuffer b = DeviceBuffer.allocate(4L * n);
        owned.add(b);
        b.fill32(Float.floatToRawIntBits(1f));
        return b;
    }

    private static DeviceBuffer vector(List<DeviceBuffer> owned, float[] v) {
        DeviceBuffer b = DeviceBuffer.allocate(4L * v.length);
        owned.add(b);
        b.upload(v);
        return b;
    }

    /** The weights' rows stacked (all of the same cols), in p's type. */
    private static DeviceBuffer matrix(List<DeviceBuffer> owned, Precision p, Weight... parts) {
        long rows = 0;
        int cols = parts[0].cols();
        for (Weight w : parts) {
            if (w.cols() != cols) throw new IllegalArgumentException(w.name() + ": cols " + w.cols() + " != " + cols);
            rows += w.rows();
        }
        DeviceBuffer b = DeviceBuffer.allocate(rows * cols * p.bytes);
        owned.add(b);
        long off = 0;
        for (Weight w : parts) {
            upload(w, p, b, off);
            off += w.elements() * p.bytes;
        }
        return b;
    }

    /** gate (I, cols) and up (I, cols) as one (2·I, cols) matrix in p's type, rows interleaved in blocks of 8. */
    private static DeviceBuffer gateUp(List<DeviceBuffer> owned, Precision p, Weight gate, Weight up) {
        int inter = gate.rows(), cols = gate.cols();
        if (up.rows() != inter || up.cols() != cols || inter % 8 != 0) {
            throw new IllegalArgumentException("gate " + gate.rows() + "x" + gate.cols() + " and up " + up.rows() + "x" + up.cols()
                    + " must match, rows a multiple of 8");
        }
        DeviceBuffer b = DeviceBuffer.allocate(2L * inter * cols * p.bytes);
        owned.add(b);
        // staged in pieces of whole 16-row groups (8 gate + 8 up rows)
        long groupElems = 16L * cols;
        int groupsPerPiece = (int) Math.max(1, STEP / groupElems);
        int groups = inter / 8;
        for (int g0 = 0; g0 < groups; g0 += groupsPerPiece) {
            int ng = Math.min(groupsPerPiece, groups - g0);
            int elems = (int) (ng * groupElems);
            if (p == Precision.F32) {
                float[] a = new float[elems];
                for (int g = 0; g < ng; g++) {
                    for (int i = 0; i < 16; i++) {
                        Weight w = i < 8 ? gate : up;
                        int row = 8 * (g0 + g) + (i & 7), base = (16 * g + i) * cols;
                        for (int c = 0; c < cols; c++) a[base + c] = w.get(row, c);
                    }
                }
                cuMemcpyHtoD(b.at(g0 * groupElems * 4), Pointer.to(a), 4L * elems);
            } else {
                short[] a = new short[elems];
                for (int g = 0; g < ng; g++) {
                    for (int i = 0; i < 16; i++) {
                        Weight w = i < 8 ? gate : up;
                        int row = 8 * (g0 + g) + (i & 7), base = (16 * g + i) * cols;
                        if (w.dtype() == DType.BF16) {
                            MemorySegment.copy(w.data(), java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 2L * row * cols, a, base, cols);
                        } else {
                            for (int c = 0; c < cols; c++) a[base + c] = DType.floatToBf16(w.get(row, c));
                        }
                    }
                }
                cuMemcpyHtoD(b.at(g0 * groupElems * 2), Pointer.to(a), 2L * elems);
            }
        }
        return b;
    }

    private static final long STEP = 1L << 24;   // elements per staged piece

    private static void upload(Weight w, Precision p, DeviceBuffer dst, long dstOff) {
        long n = w.elements();
        MemorySegment seg = w.data();
        boolean raw = (p == Precision.BF16 && w.dtype() == DType.BF16) || (p == Precision.F32 && w.dtype() == DType.F32);
        if (raw) {
            long bytes = n * p.bytes;
            for (long o = 0; o < bytes; o += STEP * 8) {
                long k = Math.min(STEP * 8, bytes - o);
                java.nio.ByteBuffer bb = seg.asSlice(o, k).asByteBuffer();
                if (!bb.isDirect()) {   // a heap segment: copy through an array
                    byte[] a = new byte[(int) k];
                    bb.get(a);
                    cuMemcpyHtoD(dst.at(dstOff + o), Pointer.to(a), k);
                } else {
                    cuMemcpyHtoD(dst.at(dstOff + o), Pointer.to(bb), k);
                }
            }
            return;
        }
        int cols = w.cols();
        for (long e0 = 0; e0 < n; e0 += STEP) {
            int k = (int) Math.min(STEP, n - e0);
            if (p == Precision.F32) {
                float[] a = new float[k];
                for (int i = 0; i < k; i++) {
                    long e = e0 + i;
                    a[i] = w.get((int) (e / cols), (int) (e % cols));
                }
                cuMemcpyHtoD(dst.at(dstOff + e0 * 4), Pointer.to(a), 4L * k);
            } else {
                short[] a = new short[k];
                for (int i = 0; i < k; i++) {
                    long e = e0 + i;
                    a[i] = DType.floatToBf16(w.get((int) (e / cols), (int) (e % cols)));
                }
                cuMemcpyHtoD(dst.at(dstOff + e0 * 2), Pointer.to(a), 2L * k);
            }
        }
    }

    @Override
    public void close() {
        for (DeviceBuffer b : owned) b.close();
        owned.clear();
    }

    @Override
    public String toString() {
        return "DeviceWeights[" + precision + ", " + layers.length + " layers, " + Arrays.toString(new long[] {deviceBytes()}) + " B]";
    }
}
