package io.chunkserve.bench.sim;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The DLPM paper's workloads, in spirit and scaled to run in seconds: four tenants, each with its
 * own shared system prompt; tenant {@value #MISBEHAVING} misbehaves, the other three are the
 * well-behaved ones whose latency is reported.
 * <ul>
 *   <li>S1: the misbehaving tenant sends four times the requests (or the wider trees / more judge
 *       dimensions the paper uses for it).</li>
 *   <li>S2: the misbehaving tenant sends as many requests, with about four times longer prefixes.</li>
 * </ul>
 * Token ids are random per segment, so two prompts share exactly the prefixes designed here. All
 * sizes scale with {@code scale} (request counts) only; lengths stay fixed.
 */
public final class Workloads {
    /** Name of the misbehaving tenant; the others are "t1".."t3". */
    public static final String MISBEHAVING = "t0";
    private static final int TENANTS = 4;
    private static final int SYSTEM_PROMPT = 256; // tokens of each tenant's shared system prompt
    private static final int VOCAB = 32000;

    /** The misbehaving pattern. */
    public enum Pattern { S1, S2 }

    private Workloads() { }

    /** All eight workloads (four kinds × S1, S2) in a fixed order. */
    public static List<Workload> all(long seed, double scale) {
        List<Workload> out = new ArrayList<>();
        for (Pattern p : Pattern.values()) {
            out.add(docQa(p, seed, scale));
            out.add(treeOfThoughts(p, seed, scale));
            out.add(judge(p, seed, scale));
            out.add(chat(p, seed, scale));
        }
        out.sort((a, b) -> a.name().compareTo(b.name()));
        return out;
    }

    /**
     * Long-document QA (paper: LooGLE, 21k-token documents, 15 output tokens). Each tenant asks
     * questions about 8 documents of 4k–12k tokens (S2 misbehaving: 10k–30k), in random order;
     * 240 questions per tenant (S1 misbehaving 960) arrive over 30 s. 4 tenants · 8 documents · 8k ≈ 256k tokens of documents against
     * the bench's 128k-token KV cache, so which questions run together decides the hit rate.
     */
    public static Workload docQa(Pattern p, long seed, double scale) {
        Gen g = new Gen(seed ^ 0xD0C, "docqa", p);
        for (int t = 0; t < TENANTS; t++) {
            String tenant = "t" + t;
            boolean bad = t == 0;
            int[] sys = g.fresh(SYSTEM_PROMPT);
            double lenScale = bad && p == Pattern.S2 ? 2.5 : 1;
            int[][] docs = new int[8][];
            for (int d = 0; d < docs.length; d++) docs[d] = g.fresh((int) (lenScale * g.between(4096, 12288)));
            int n = g.count(bad && p == Pattern.S1 ? 4 * 240 : 240, scale);
            for (double at : g.arrivals(n, 30)) {
                int[] doc = docs[g.rnd.nextInt(docs.length)];
                g.root(tenant, at, concat(sys, doc, g.fresh(g.between(32, 96))), g.fresh(15));
            }
        }
        return g.done("long-document QA: 8 docs/tenant of 4k-12k tokens (S2 misbehaving 10k-30k), 15 output tokens");
    }

    /**
     * Tree-of-thoughts (paper: ~550-token prefix, 256 output, 2- vs 4-branch trees). Each tree is a
     * root, its children and grandchildren; a child's prompt is its parent's prompt and output
     * plus a short instruction, sent when the parent finishes. 60 trees per tenant start over 20 s.
     */
    public static Workload treeOfThoughts(Pattern p, long seed, double scale) {
        Gen g = new Gen(seed ^ 0x707, "tot", p);
        for (int t = 0; t < TENANTS; t++) {
            String tenant = "t" + t;
            boolean bad = t == 0;
            int[] sys = g.fresh(SYSTEM_PROMPT);
            int branch = bad && p == Pattern.S1 ? 4 : 2;
            int problem = bad && p == Pattern.S2 ? 1950 : 294; // prefix ~550 vs ~2200 tokens
            int trees = g.count(60, scale);
            for (double at : g.arrivals(trees, 20)) g.rootTree(tenant, at, concat(sys, g.fresh(problem)), branch, 2);
        }
        return g.done("tree-of-thoughts: prefix ~550 (S2 misbehaving ~2200), ~256 output, depth 2, branch 2 (S1 misbehaving 4)");
    }

    /**
     * LLM-as-a-judge (paper: ~2.7k-token prefix, 256 output, 2 vs 16 dimensions). Each task is
     * one answer to grade (shared context) and one request per dimension, all sent at once; 60 tasks
     * per tenant (S2: 40) arrive over 20 s.
     */
    public static Workload judge(Pattern p, long seed, double scale) {
        Gen g = new Gen(seed ^ 0x1D9, "judge", p);
        for (int t = 0; t < TENANTS; t++) {
            String tenant = "t" + t;
            boolean bad = t == 0;
            int[] sys = g.fresh(SYSTEM_PROMPT);
            int dims = p == Pattern.S1 ? (bad ? 16 : 2) : 4;
            int context = bad && p == Pattern.S2 ? 9800 : 2450;
            int[][] dimPrompts = new int[dims][];
            for (int d = 0; d < dims; d++) dimPrompts[d] = g.fresh(32);
            int tasks = g.count(p == Pattern.S1 ? 60 : 40, scale);
            for (double at : g.arrivals(tasks, 20)) {
                int[] ctx = concat(sys, g.fresh(context));
                for (int d = 0; d < dims; d++) g.root(tenant, at, concat(ctx, dimPrompts[d]), g.fresh(g.between(192, 320)));
            }
        }
        return g.done("LLM-as-judge: context ~2.7k (S2 misbehaving ~10k), ~256 output, 2 dims (S1 misbehaving 16; S2 all 4)");
    }

    /**
     * Multi-turn chat: sessions of 4–8 turns; a turn's prompt is the whole conversation so far
     * plus a new user message, sent 0.5 s (mean) after the previous answer; 60 sessions per tenant
     * start over 20 s. S1: the misbehaving tenant runs four times the sessions; S2: its system prompt is 4k tokens instead of 256.
     */
    public static Workload chat(Pattern p, long seed, double scale) {
        Gen g = new Gen(seed ^ 0xC4A7, "chat", p);
        for (int t = 0; t < TENANTS; t++) {
            String tenant = "t" + t;
            boolean bad = t == 0;
            int[] sys = g.fresh(bad && p == Pattern.S2 ? 4096 : SYSTEM_PROMPT);
            int sessions = g.count(bad && p == Pattern.S1 ? 4 * 60 : 60, scale);
            for (double at : g.arrivals(sessions, 20)) g.rootChat(tenant, at, sys, g.between(4, 8));
        }
        return g.done("multi-turn chat: 4-8 turns, 32-160 token messages, 64-256 token answers, 0.5 s think time; "
                + "S1 misbehaving 4x sessions, S2 misbehaving 4k system prompt");
    }

    static int[] concat(int[]... parts) {
        int n = 0;
        for (int[] p : parts) n += p.length;
        int[] out = new int[n];
        int o = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }

    /** Seeded generator state for one workload. */
    private static final class Gen {
        final SplittableRandom rnd;
        final String name;
        final Pattern pattern;
        final List<RequestSpec> roots = new ArrayList<>();
        int nextId;

        Gen(long seed, String kind, Pattern p) {
            rnd = new SplittableRandom(seed * 31 + p.ordinal());
            name = kind + "_" + p.name().toLowerCase();
            pattern = p;
        }

        int[] fresh(int n) {
            int[] t = new int[n];
            for (int i = 0; i < n; i++) t[i] = 1 + rnd.nextInt(VOCAB - 1);
            return t;
        }

        int between(int lo, int hi) { return lo + rnd.nextInt(hi - lo + 1); }

        int count(int n, double scale) { return Math.max(1, (int) Math.round(n * scale)); }

        /** {@code n} Poisson arrival times with mean rate n/span, sorted. */
        double[] arrivals(int n, double span) {
            double[] at = new double[n];
            double t = 0;
            for (int i = 0; i < n; i++) {
                t += -Math.log(1 - rnd.nextDouble()) * span / n;
                at[i] = t;
            }
            return at;
        }

        void root(String tenant, double at, int[] prompt, int[] output) {
            roots.add(new RequestSpec(nextId++, tenant, at, prompt, output, List.of()));
        }

        void rootTree(String tenant, double at, int[] prompt, int branch, int depth) {
            roots.add(tree(tenant, at, prompt, branch, depth));
        }

        private RequestSpec tree(String tenant, double at, int[] prompt, int branch, int depth) {
            int id = nextId++;
            int[] output = fresh(between(192, 320));
            List<RequestSpec> children = new ArrayList<>();
            if (depth > 0) {
                int[] base = concat(prompt, output);
                for (int b = 0; b < branch; b++) children.add(tree(tenant, 0, concat(base, fresh(16)), branch, depth - 1));
            }
            return new RequestSpec(id, tenant, at, prompt, output, List.copyOf(children));
        }

        void rootChat(String tenant, double at, int[] sys, int turns) {
            roots.add(turn(tenant, at, sys, turns));
        }

        private RequestSpec turn(String tenant, double at, int[] history, int turnsLeft) {
            int id = nextId++;
            int[] prompt = concat(history, fresh(between(32, 160)));
            int[] output = fresh(between(64, 256));
            List<RequestSpec> next = turnsLeft > 1
                    ? List.of(turn(tenant, -Math.log(1 - rnd.nextDouble()) * 0.5, concat(prompt, output), turnsLeft - 1))
                    : List.of();
            return new RequestSpec(id, tenant, at, prompt, output, next);
        }

        Workload done(String description) {
            List<String> tenants = new ArrayList<>();
            for (int t = 0; t < TENANTS; t++) tenants.add("t" + t);
            RequestSpec[] sorted = roots.toArray(RequestSpec[]::new);
            Arrays.sort(sorted, (a, b) -> a.at() != b.at() ? Double.compare(a.at(), b.at()) : Integer.compare(a.id(), b.id()));
            return new Workload(name, description, List.copyOf(tenants), MISBEHAVING, List.of(sorted));
        }
    }
}
