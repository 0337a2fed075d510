package io.chunkserve.model;

/** Element types of weights and KV slabs. Half types are widened to fp32 inside the kernels. */
public enum DType {
    F32(4), F16(2), BF16(2);

    private final int bytes;

    DType(int bytes) { this.bytes = bytes; }

    /** Bytes per element. */
    public int bytes() { return bytes; }

    /** Maps a safetensors dtype string ("F32", "F16", "BF16"); null when unsupported. */
    public static DType fromSafetensors(String s) {
        return switch (s) {
            case "F32" -> F32;
            case "F16" -> F16;
            case "BF16" -> BF16;
            default -> null;
        };
    }

    /** Parses a config name such as "f32", "fp16", "bfloat16". */
    public static DType parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "f32", "fp32", "float32", "float" -> F32;
            case "f16", "fp16", "float16", "half" -> F16;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("unknown dtype '" + s + "' (use f32, f16 or bf16)");
        };
    }

    public static float bf16ToFloat(short bits) { return Float.intBitsToFloat((bits & 0xffff) << 16); }

    /** Round-to-nearest-even fp32 → bf16 (NaN stays NaN). */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7fffffff) > 0x7f800000) return (short) ((x >>> 16) | 0x40);
        int rounding = 0x7fff + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }
}
