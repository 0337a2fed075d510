package io.chunkserve.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Optional;

/**
 * Loads the compiled CUDA kernels shipped in this jar. The fatbin holds sm_80 and sm_90 machine code and
 * compute_90 PTX (the driver compiles the PTX for newer GPUs); it is absent when the build ran without nvcc.
 */
public final class KernelImages {
    /** Resource path of the attention kernels (two-phase decode attention, merge, KV append). */
    public static final String ATTENTION = "/io/chunkserve/kernels/attention.fatbin";

    /** Resource path of the model kernels (embedding, norms, RoPE, q/k/v epilogue, prefill attention, sampling). */
    public static final String MODEL = "/io/chunkserve/kernels/model.fatbin";

    private KernelImages() { }

    /** The model fatbin's bytes, or empty when this build has none (no nvcc at build time). */
    public static Optional<byte[]> model() { return read(MODEL); }

    /** The attention fatbin's bytes, or empty when this build has none (no nvcc at build time). */
    public static Optional<byte[]> attention() { return read(ATTENTION); }

    private static Optional<byte[]> read(String resource) {
        try (InputStream in = KernelImages.class.getResourceAsStream(resource)) {
            return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource, e);
        }
    }
}
