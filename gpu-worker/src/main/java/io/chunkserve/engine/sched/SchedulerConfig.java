package io.chunkserve.engine.sched;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.ToIntFunction;

/**
 * Which local scheduling policy a worker runs, and its parameters; {@link #create} builds it.
 * Invalid values fail here, at start-up, with a message naming the parameter.
 *
 * @param policy        "dlpm" (default), "vtc", "lpm" or "fcfs" (case-insensitive; stored lower case)
 * @param inputWeight   w_e: cost of one prompt token the forward computes (cached ones are free)
 * @param outputWeight  w_q: cost of one output token
 * @param quantum       Q_u: DLPM credit added per refill (times the tenant's weight)
 * @param lpmMaxWaiting DLPM and LPM sort by prefix only up to this many waiting requests, FCFS above
 * @param agingLimit    DLPM: younger same-tenant requests that may overtake a waiting one before it is
 *                      promoted ({@link PrefixOrder})
 * @param tenantWeights share weights &ge; 1 by tenant (DLPM: weighted quantum; VTC: counters
 *                      divided by weight); tenants not listed weigh 1
 */
public record SchedulerConfig(String policy, int inputWeight, int outputWeight, long quantum, int lpmMaxWaiting,
                              int agingLimit, Map<String, Integer> tenantWeights) {
    /** Names {@link #create} accepts. */
    public static final List<String> POLICIES = List.of("dlpm", "vtc", "lpm", "fcfs");
    public static final String DEFAULT_POLICY = "dlpm";
    /** w_e = 1, w_q = 2: the DLPM and VTC papers' cost, a decoded token costs about two prefilled ones. */
    public static final int DEFAULT_INPUT_WEIGHT = 1;
    public static final int DEFAULT_OUTPUT_WEIGHT = 2;
    /**
     * Q_u = 8192: the middle of the paper's 1k–32k sweep. About one long cache-cold prompt (or a
     * few dozen cache-hot requests) per tenant per round, so a tenant keeps its hot prefixes busy
     * for a while before the others' turn, and the unfairness bound 2(U + Q_u) stays dominated by
     * U (the KV capacity term) rather than by the quantum.
     */
    public static final long DEFAULT_QUANTUM = 8192;
    /**
     * SGLang's threshold (schedule_policy.py): beyond it, matching every waiting request's prefix
     * every pass costs the engine thread more than it saves. Under bursts it also switches locality
     * off exactly when it matters: in {@code SchedulerBench}'s long-document QA (queues of several
     * hundred) DLPM with 128 is no faster than VTC, with 1024 about 4.5× faster. Raise it when the
     * matcher is cheap (e.g. a key-set probe per chunk rather than hashing the prompt).
     */
    public static final int DEFAULT_LPM_MAX_WAITING = 128;
    /**
     * 64 overtakes by younger requests of the same tenant before a waiting request is promoted
     * ({@link PrefixOrder}). Measured in {@code SchedulerBench} (Q_u = 8192): 32 cost up to 15% of
     * LPM's throughput (tree-of-thoughts, document QA: promoted cold requests evict hot prefixes);
     * 64 stays within 9% of LPM on every workload; 256 gains 4% more but lets tree-of-thoughts'
     * well-behaved p99 grow from 19 s to 27 s.
     */
    public static final int DEFAULT_AGING_LIMIT = 64;

    public SchedulerConfig {
        Objects.requireNonNull(policy, "policy");
        policy = policy.trim().toLowerCase(Locale.ROOT);
        if (!POLICIES.contains(policy)) {
            throw new IllegalArgumentException("unknown scheduling policy '" + policy + "' (expected one of "
                    + String.join(", ", POLICIES) + ")");
        }
        if (inputWeight < 0) throw new IllegalArgumentException("w_e (input token weight) must be >= 0, got " + inputWeight);
        if (outputWeight < 0) throw new IllegalArgumentException("w_q (output token weight) must be >= 0, got " + outputWeight);
        if (inputWeight == 0 && outputWeight == 0) throw new IllegalArgumentException("w_e and w_q cannot both be 0");
        if (quantum < 1) throw new IllegalArgumentException("quantum Q_u must be >= 1, got " + quantum);
        if (quantum > Long.MAX_VALUE / 1_000_000) throw new IllegalArgumentException("quantum Q_u too large: " + quantum);
        if (lpmMaxWaiting < 0) throw new IllegalArgumentException("lpm_max_waiting must be >= 0, got " + lpmMaxWaiting);
        if (agingLimit < 1) throw new IllegalArgumentException("aging_limit must be >= 1, got " + agingLimit);
        tenantWeights = Map.copyOf(Objects.requireNonNull(tenantWeights, "tenantWeights"));
        tenantWeights.forEach((t, w) -> {
            if (w == null || w < 1 || w > 1_000_000) {
                throw new IllegalArgumentException("weight of tenant '" + t + "' must be 1..1000000, got " + w);
            }
        });
    }

    /** DLPM with every default. */
    public static SchedulerConfig defaults() { return of(DEFAULT_POLICY); }

    /** {@code policy} with every other parameter at its default. */
    public static SchedulerConfig of(String policy) {
        return new SchedulerConfig(policy, DEFAULT_INPUT_WEIGHT, DEFAULT_OUTPUT_WEIGHT, DEFAULT_QUANTUM,
                DEFAULT_LPM_MAX_WAITING, DEFAULT_AGING_LIMIT, Map.of());
    }

    /**
     * From string options (config file or CLI): {@code policy}, {@code quantum}, {@code w_e},
     * {@code w_q}, {@code lpm_max_waiting}, {@code aging_limit}, {@code tenant_weights}
     * ("alice:2,bob:1"). Missing keys take defaults; unknown keys and malformed numbers throw.
     */
    public static SchedulerConfig fromMap(Map<String, String> options) {
        Map<String, String> o = new LinkedHashMap<>(options);
        SchedulerConfig d = of(o.getOrDefault("policy", DEFAULT_POLICY));
        o.remove("policy");
        int we = (int) number(o, "w_e", d.inputWeight);
        int wq = (int) number(o, "w_q", d.outputWeight);
        long q = number(o, "quantum", d.quantum);
        int lpm = (int) number(o, "lpm_max_waiting", d.lpmMaxWaiting);
        int aging = (int) number(o, "aging_limit", d.agingLimit);
        Map<String, Integer> weights = parseWeights(o.remove("tenant_weights"));
        if (!o.isEmpty()) {
            throw new IllegalArgumentException("unknown scheduler option(s) " + o.keySet()
                    + " (known: policy, quantum, w_e, w_q, lpm_max_waiting, aging_limit, tenant_weights)");
        }
        return new SchedulerConfig(d.policy, we, wq, q, lpm, aging, weights);
    }

    public SchedulerConfig withPolicy(String p) {
        return new SchedulerConfig(p, inputWeight, outputWeight, quantum, lpmMaxWaiting, agingLimit, tenantWeights);
    }

    public SchedulerConfig withQuantum(long q) {
        return new SchedulerConfig(policy, inputWeight, outputWeight, q, lpmMaxWaiting, agingLimit, tenantWeights);
    }

    public SchedulerConfig withLpmMaxWaiting(int n) {
        return new SchedulerConfig(policy, inputWeight, outputWeight, quantum, n, agingLimit, tenantWeights);
    }

    public SchedulerConfig withAgingLimit(int n) {
        return new SchedulerConfig(policy, inputWeight, outputWeight, quantum, lpmMaxWaiting, n, tenantWeights);
    }

    public SchedulerConfig withTenantWeights(Map<String, Integer> w) {
        return new SchedulerConfig(policy, inputWeight, outputWeight, quantum, lpmMaxWaiting, agingLimit, w);
    }

    /** The weight of {@code tenant}: configured, else 1. */
    public int weightOf(String tenant) { return tenantWeights.getOrDefault(tenant, 1); }

    /**
     * Builds the policy. {@code prefixMatcher} returns a waiting request's matched prefix in tokens
     * (normally {@code PrefixCache.matchLength(promptIds, salt)} on the engine thread); the cache-aware
     * policies (dlpm, lpm) require it and call it for every waiting request at the start of a pass,
     * the others ignore it (it may be null).
     */
    public SchedulingPolicy create(ToIntFunction<QueuedRequest> prefixMatcher) {
        return switch (policy) {
            case "dlpm" -> new DlpmPolicy(this, requireMatcher(prefixMatcher));
            case "lpm" -> new LpmPolicy(this, requireMatcher(prefixMatcher));
            case "vtc" -> new VtcPolicy(this);
            case "fcfs" -> new FcfsPolicy(this);
            default -> throw new AssertionError(policy);
        };
    }

    private ToIntFunction<QueuedRequest> requireMatcher(ToIntFunction<QueuedRequest> m) {
        if (m == null) {
            throw new IllegalArgumentException(policy + " is cache-aware and needs a prefix matcher"
                    + " (e.g. r -> prefixCache.matchLength(tokensOf(r), salt))");
        }
        return m;
    }

    private static long number(Map<String, String> o, String key, long dflt) {
        String v = o.remove(key);
        if (v == null) return dflt;
        try {
            long x = Long.parseLong(v.trim().replace("_", ""));
            if (!key.equals("quantum") && (x < Integer.MIN_VALUE || x > Integer.MAX_VALUE)) throw new NumberFormatException();
            return x;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("scheduler option " + key + " must be an integer, got '" + v + "'");
        }
    }

    private static Map<String, Integer> parseWeights(String spec) {
        Map<String, Integer> out = new LinkedHashMap<>();
        if (spec == null || spec.isBlank()) return out;
        for (String part : spec.split(",")) {
            int colon = part.lastIndexOf(':');
            if (colon <= 0) throw new IllegalArgumentException("tenant_weights entry '" + part.trim() + "' is not tenant:weight");
            String t = part.substring(0, colon).trim();
            try {
                out.put(t, Integer.parseInt(part.substring(colon + 1).trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("weight of tenant '" + t + "' must be an integer, got '"
                        + part.substring(colon + 1).trim() + "'");
            }
        }
        return out;
    }
}
