package io.chunkserve.runtime.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Where and what {@link CudaModelRunner} pulls into L2 while a decode step's two-phase attention runs (issue 7,
 * session 8): the attention is latency-bound at ~2.3× its KV bytes, so HBM has bandwidth to spare while it runs, and
 * the weights read right after it (the o projection, later the down projection) are otherwise read cold.
 * Measured on an H200 (BENCHMARKS.md, issue 7, session 8): no configuration wins on either shape (neutral to
 * +0.08 ms a step at 1B, +0.10 to +1.05 ms at 8B), so it is off by default and kept for A/B.
 * {@code -Dchunkserve.cuda.l2Prefetch=SPEC}, default {@code off}; SPEC is {@code off} or colon-separated tokens:
 * <ul>
 * <li>{@code kernel} (a one-warp-a-block kernel launched as a programmatic dependent just before the partials: it
 *     triggers its dependents at once, issues the prefetches, then waits for the kernel before it) or {@code attn}
 *     (each partials block issues its share at its start, before its dependency wait) — one of them, first;</li>
 * <li>the weights, {@code +}-joined: {@code o} (this layer's o projection), {@code down} (its down projection);</li>
 * <li>optional {@code last}: the prefetches carry an {@code L2::evict_last} cache policy;</li>
 * <li>optional {@code persistN}: the context's persisting-L2 limit ({@code CU_LIMIT_PERSISTING_L2_CACHE_SIZE}) set
 *     to N MiB when the runner next launches (0 = none, the driver's default); without it the limit is left as it is.</li>
 * </ul>
 * Examples: {@code kernel:o}, {@code attn:o:last}, {@code attn:o+down:last:persist40}.
 */
public record L2Prefetch(int where, boolean o, boolean down, boolean evictLast, int persistMiB) {

    public static final int OFF = 0, KERNEL = 1, ATTN = 2;
    public static final L2Prefetch NONE = new L2Prefetch(OFF, false, false, false, -1);

    public L2Prefetch {
        if (where != OFF && where != KERNEL && where != ATTN) throw new IllegalArgumentException("where " + where);
        if (where != OFF && !o && !down) throw new IllegalArgumentException("l2Prefetch: nothing to prefetch");
    }

    public boolean on() { return where != OFF; }

    /** The kernel flags ({@code cs_l2_prefetch}, the partials' {@code pfFlags}): bit 0 = evict_last. */
    public int flags() { return evictLast ? 1 : 0; }

    /** Parses a SPEC (see the class comment); throws IllegalArgumentException with the reason. */
    public static L2Prefetch parse(String spec) {
        String s = spec == null ? "" : spec.trim();
        if (s.isEmpty() || s.equals("off")) return NONE;
        String[] f = s.split(":");
        int where = switch (f[0]) {
            case "kernel" -> KERNEL;
            case "attn" -> ATTN;
            default -> throw new IllegalArgumentException("l2Prefetch '" + spec + "': first token must be off, kernel or attn");
        };
        if (f.length < 2) throw new IllegalArgumentException("l2Prefetch '" + spec + "': which weights (o, down, o+down)?");
        boolean o = false, down = false;
        for (String t : f[1].split("\\+")) {
            switch (t) {
                case "o" -> o = true;
                case "down" -> down = true;
                default -> throw new IllegalArgumentException("l2Prefetch '" + spec + "': unknown weights " + t + " (o, down)");
            }
        }
        boolean last = false;
        int persist = -1;
        for (int i = 2; i < f.length; i++) {
            if (f[i].equals("last")) {
                last = true;
            } else if (f[i].startsWith("persist")) {
                try {
                    persist = Integer.parseInt(f[i].substring("persist".length()));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("l2Prefetch '" + spec + "': persistN needs a number of MiB");
                }
                if (persist < 0) throw new IllegalArgumentException("l2Prefetch '" + spec + "': persist MiB must be >= 0");
            } else {
                throw new IllegalArgumentException("l2Prefetch '" + spec + "': unknown option " + f[i] + " (last, persistN)");
            }
        }
        return new L2Prefetch(where, o, down, last, persist);
    }

    @Override
    public String toString() {
        if (!on()) return "off";
        List<String> w = new ArrayList<>();
        if (o) w.add("o");
        if (down) w.add("down");
        return (where == KERNEL ? "kernel" : "attn") + ":" + String.join("+", w) + (evictLast ? ":last" : "")
                + (persistMiB >= 0 ? ":persist" + persistMiB : "");
    }
}
