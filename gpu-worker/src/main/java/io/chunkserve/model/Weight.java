package io.chunkserve.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A row-major 2-D weight matrix kept in its stored dtype, usually a slice of a memory-mapped
 * safetensors file. Shape (rows, cols): a linear layer y = W·x has rows = out features,
 * cols = in features (the PyTorch nn.Linear layout). 1-D tensors have rows = 1.
 */
public record Weight(String name, MemorySegment data, DType dtype, int rows, int cols) {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    public Weight {
        long need = (long) rows * cols * dtype.bytes();
        if (data.byteSize() < need) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes for shape (" + rows + ", " + cols + ") " + dtype);
        }
    }

    public long elements() { return (long) rows * cols; }

    public long byteSize() { return elements() * dtype.bytes(); }

    /** Element (r, c) widened to fp32 (scalar path; kernels use the Vector API). */
    public float get(int r, int c) {
        long i = (long) r * cols + c;
        return switch (dtype) {
            case F32 -> data.get(F32, i * 4);
            case F16 -> Float.float16ToFloat(data.get(I16, i * 2));
            case BF16 -> DType.bf16ToFloat(data.get(I16, i * 2));
        };
    }

    /** Copies row r, widened to fp32, into dst[off .. off+cols). */
    public void row(int r, float[] dst, int off) {
        for (int c = 0; c < cols; c++) dst[off + c] = get(r, c);
    }

    /** The whole tensor widened to fp32 (for small tensors: norms, biases). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(elements())];
        for (int r = 0; r < rows; r++) row(r, out, r * cols);
        return out;
    }
}
