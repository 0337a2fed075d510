package io.chunkserve.bench.sim;

/**
 * Deterministic time of one engine step (one forward over the whole batch):
 * {@code a + b·prefillTokens + c·decodeSequences + d·kvTokensRead}, in milliseconds. Shaped after
 * Llama-3.1-8B in bf16 on one H100 (3.35 TB/s, ~400 TFLOP/s achieved on large matmuls); only ratios
 * matter to the scheduler comparison, and each term is the one a scheduler can move.
 *
 * @param fixedMs          a: reading 16 GB of weights once per step (16 GB / 3.35 TB/s ≈ 4.8 ms),
 *                         plus launch overhead
 * @param perPrefillToken  b: 2·8e9 FLOP per token at ~400 TFLOP/s ≈ 0.04 ms (≈ 25k prompt
 *                         tokens/s, what servers measure for 8B prefill on an H100)
 * @param perDecodeSeq     c: the same linear-layer FLOPs for each decoded token, plus sampling
 * @param perKvToken       d: attention reads 128 KiB of KV per token (32 layers · 8 KV heads · 128
 *                         dims · K and V · 2 bytes) at 3.35 TB/s ≈ 0.04 µs. Counted once per chunk
 *                         per step however many sequences share it (chunk-first two-phase
 *                         attention), so shared prefixes are cheap in decode too
 */
public record CostModel(double fixedMs, double perPrefillToken, double perDecodeSeq, double perKvToken) {
    public static final CostModel LLAMA3_8B_H100 = new CostModel(5.0, 0.04, 0.04, 0.00004);

    /** Step time in seconds. */
    public double stepSeconds(long prefillTokens, int decodeSeqs, long kvTokensRead) {
        return (fixedMs + perPrefillToken * prefillTokens + perDecodeSeq * decodeSeqs + perKvToken * kvTokensRead) / 1000.0;
    }

    @Override
    public String toString() {
        return String.format("step_ms = %.1f + %.3f*prefill_tokens + %.3f*decode_seqs + %.5f*kv_tokens_read",
                fixedMs, perPrefillToken, perDecodeSeq, perKvToken);
    }
}
