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
 * Token ids are random per segment, so two prompts share exactly the prefixes designed here.
 * {@code scale} scales request counts only; lengths, vocabulary and arrival spans come from a
 * {@link Sizes}: {@link Sizes#PAPER} (the methods without one; the simulator's) or
 * {@link Sizes#tiny} (the same shapes shrunk to a 512-token context, for the real CPU engine).
 */
public final class Workloads {
    /** Name of the misbehaving tenant; the others are "t1".."t3". */
    public static final String MISBEHAVING = "t0";
    private static final int TENANTS = 4;

    /** The misbehaving pattern. */
    public enum Pattern { S1, S2 }

    private Workloads() { }

    /**
     * Token lengths, counts (before {@code scale}) and time spans of the four workload kinds.
     *
     * @param label        shown in the bench header
     * @param vocab        token ids are drawn from 1 .. vocab−1
     * @param systemPrompt each tenant's shared system prompt (chat S2's misbehaving tenant: {@link Chat#systemS2})
     */
    public record Sizes(String label, int vocab, int systemPrompt, DocQa docQa, Tot tot, Judge judge, Chat chat) {
        /** Document QA: {@code docs} documents per tenant; the S2 misbehaving tenant's are {@code s2DocScale} times longer. */
        public record DocQa(int docs, int docMin, int docMax, double s2DocScale, int questionMin, int questionMax, int output,
                            int questions, double span) { }

        /** Tree-of-thoughts: prompt = system + problem; outputs; the instruction appended for each child. */
        public record Tot(int problem, int problemS2, int outputMin, int outputMax, int instruction, int trees, double span) { }

        /** LLM-as-judge: shared context per task, one short prompt per dimension. */
        public record Judge(int context, int contextS2, int dimPrompt, int outputMin, int outputMax, int tasksS1, int tasksS2,
                            double span) { }

        /** Multi-turn chat: turns of a user message and an answer, {@code think} seconds (mean) apart. */
        public record Chat(int systemS2, int messageMin, int messageMax, int answerMin, int answerMax, int turnsMin, int turnsMax,
                           double think, int sessions, double span) { }

        /** The paper-like sizes of the simulator (Llama-3 vocabulary, contexts up to ~33k tokens). */
        public static final Sizes PAPER = new Sizes("paper", 32000, 256,
                new DocQa(8, 4096, 12288, 2.5, 32, 96, 15, 240, 30),
                new Tot(294, 1950, 192, 320, 16, 60, 20),
                new Judge(2450, 9800, 32, 192, 320, 60, 40, 20),
                new Chat(4096, 32, 160, 64, 256, 4, 8, 0.5, 60, 20));

        /**
         * The same workloads shrunk so every request (prompt + output, follow-ups included) fits a
         * 512-token context, with ids below {@code vocab}: lengths 8–60× shorter (the misbehaving
         * tenants' ratios kept where 512 allows: S2 documents 2×, tree prefix 3.6×, judge context
         * 3.1×, chat system prompt 12×); per-tenant counts 2.5× the paper's for document QA and
         * judge and 2× for chat (their requests shrank most), so each kind takes a similar time at
         * the same scale; arrivals over 2 s and 50 ms think time instead of 20–30 s and 0.5 s. For the
         * real CPU engine at {@code scale} ≈ 0.2 (about 300–850 requests per workload).
         */
        public static Sizes tiny(int vocab) {
            return new Sizes("tiny (context 512)", vocab, 16,
                    new DocQa(8, 96, 224, 2.0, 8, 16, 15, 600, 2),
                    new Tot(56, 240, 40, 72, 8, 60, 2),
                    new Judge(112, 384, 8, 24, 40, 150, 100, 2),
                    new Chat(192, 8, 20, 12, 28, 4, 6, 0.05, 120, 2));
        }
    }

    /** All eight workloads (four kinds × S1, S2) in a fixed order, paper sizes. */
    public static List<Workload> all(long seed, double scale) { return all(seed, scale, Sizes.PAPER); }

    /** All eight workloads (four kinds × S1, S2) in a fixed order. */
    public static List<Workload> all(long seed, double scale, Sizes sizes) {
        List<Workload> out = new ArrayList<>();
        for (Pattern p : Pattern.values()) {
            out.add(docQa(p, seed, scale, sizes));
            out.add(treeOfThoughts(p, seed, scale, sizes));
            out.add(judge(p, seed, scale, sizes));
            out.add(chat(p, seed, scale, sizes));
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
    public static Workload docQa(Pattern p, long seed, double scale) { return docQa(p, seed, scale, Sizes.PAPER); }

    public static Workload docQa(Pattern p, long seed, double scale, Sizes sizes) {
        Sizes.DocQa z = sizes.docQa();
        Gen g = new Gen(seed ^ 0xD0C, "docqa", p, sizes.vocab());
        for (int t = 0; t < TENANTS; t++) {
            String tenant = "t" + t;
            boolean bad = t == 0;
            int[] sys = g.fresh(sizes.systemPrompt());
            double lenScale = bad && p == Pattern.S2 ? z.s2DocScale() : 1;
            int[][] docs = new int[z.docs()][];
            for (int d = 0; d < docs.length; d++) docs[d] = g.fresh((int) (lenScale * g.between(z.docMin(), z.docMax())));
            int n = g.count(bad && p == Pattern.S1 ? 4 * z.questions() : z.questions(), scale);
            for (double at : g.arrivals(n, z.span())) {
                int[] doc = docs[g.rnd.nextInt(docs.length)];
                g.root(tenant, at, concat(sys, doc, g.fresh(g.between(z.questionMin(), z.questionMax()))), g.fresh(z.output()));
            }
        }
        return g.done(String.format("long-document QA: %d docs/tenant of %d-%d tokens (S2 misbehaving %.0f-%.0f), %d output tokens",
                z.docs(), z.docMin(), z.docMax(), z.s2DocScale() * z.docMin(), z.s2DocScale() * z.docMax(), z.output()));
    }

    /**
     * Tree-of-thoughts (paper: ~550-token prefix, 256 output, 2- vs 4-branch trees). Each tree is a
     * root, its children and grandchildren; a child's prompt is its parent's prompt and output
     * plus a short instruction, sent when the parent finishes. 60 trees per tenant start over 20 s.
     */
    public static Workload treeOfThoughts(Pattern p, long seed, double scale) { return treeOfThoughts(p, seed, scale, Sizes.PAPER); }

    public static Workload treeOfThoughts(Pattern p, long seed, double scale, Sizes sizes) {
        Sizes.Tot z = sizes.tot();
        Gen g = new Gen(seed ^ 0x707, "tot", p, sizes.vocab());
        for (int t = 0; t < TENANTS; t++) {
            String tenant = "t" + t;
            boolean bad = t == 0;
            int[] sys = g.fresh(sizes.systemPrompt());
            int branch = bad && p == Pattern.S1 ? 4 : 2;
            int problem = bad && p == Pattern.S2 ? z.problemS2() : z.problem(); // paper: prefix ~550 vs ~2200 tokens
            int trees = g.count(z.trees(), scale);
            for (double at : g.arrivals(trees, z.span())) {
                g.rootTree(tenant, at, concat(sys, g.fresh(problem)), branch, 2, z.outputMin(), z.outputMax(), z.instruction());
            }
        }
        return g.done(String.format("tree-of-thoughts: prefix ~%d (S2 misbehaving ~%d), ~%d output, depth 2, branch 2 (S1 misbehaving 4)",
                sizes.systemPrompt() + z.problem(), sizes.systemPrompt() + z.problemS2(), (z.outputMin() + z.outputMax()) / 2));
    }

    /**
     * LLM-as-a-judge (paper: ~2.7k-token prefix, 256 output, 2 vs 16 dimensions). Each task is
     * one answer to grade (shared context) and one request per dimension, all sent at once; 60 tasks
     * per tenant (S2: 40) arrive over 20 s.
     */
    public static Workload judge(Pattern p, long seed, double scale) { return judge(p, seed, scale, Sizes.PAPER); }

    public static Workload judge(Pattern p, long seed, double scale, Sizes sizes) {
        Sizes.Judge z = sizes.judge();
        Gen g = new Gen(seed ^ 0x1D9, "judge", p, sizes.vocab());
        for (int t = 0; t < TENANTS; t++) {
            String tenant = "t" + t;
            boolean bad = t == 0;
            int[] sys = g.fresh(sizes.systemPrompt());
            int dims = p == Pattern.S1 ? (bad ? 16 : 2) : 4;
            int context = bad && p == Pattern.S2 ? z.contextS2() : z.context();
            int[][] dimPrompts = new int[dims][];
            for (int d = 0; d < dims; d++) dimPrompts[d] = g.fresh(z.dimPrompt());
            int tasks = g.count(p == Pattern.S1 ? z.tasksS1() : z.tasksS2(), scale);
            for (double at : g.arrivals(tasks, z.span())) {
                int[] ctx = concat(sys, g.fresh(context));
                for (int d = 0; d < dims; d++) {
                    g.root(tenant, at, concat(ctx, dimPrompts[d]), g.fresh(g.between(z.outputMin(), z.outputMax())));
                }
            }
        }
        return g.done(String.format("LLM-as-judge: context ~%d (S2 misbehaving ~%d), ~%d output, 2 dims (S1 misbehaving 16; S2 all 4)",
                sizes.systemPrompt() + z.context(), sizes.systemPrompt() + z.contextS2(), (z.outputMin() + z.outputMax()) / 2));
    }

    /**
     * Multi-turn chat: sessions of 4–8 turns; a turn's prompt is the whole conversation so far
     * plus a new user message, sent 0.5 s (mean) after the previous answer; 60 sessions per tenant
     * start over 20 s. S1: the misbehaving tenant runs four times the sessions; S2: its system prompt is 4k tokens instead of 256.
     */
    public static Workload chat(Pattern p, long seed, double scale) { return chat(p, seed, scale, Sizes.PAPER); }

    public static Workload chat(Pattern p, long seed, double scale, Sizes sizes) {
        Sizes.Chat z = sizes.chat();
        Gen g = new Gen(seed ^ 0xC4A7, "chat", p, sizes.vocab());
        for (int t = 0; t < TENANTS; t++) {
            String tenant = "t" + t;
            boolean bad = t == 0;
            int[] sys = g.fresh(bad && p == Pattern.S2 ? z.systemS2() : sizes.systemPrompt());
            int sessions = g.count(bad && p == Pattern.S1 ? 4 * z.sessions() : z.sessions(), scale);
            for (double at : g.arrivals(sessions, z.span())) g.rootChat(tenant, at, sys, g.between(z.turnsMin(), z.turnsMax()), z);
        }
        return g.done(String.format("multi-turn chat: %d-%d turns, %d-%d token messages, %d-%d token answers, %s s think time; "
                        + "S1 misbehaving 4x sessions, S2 misbehaving %d-token system prompt", z.turnsMin(), z.turnsMax(),
                z.messageMin(), z.messageMax(), z.answerMin(), z.answerMax(), z.think(), z.systemS2()));
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
        final int vocab;
        final List<RequestSpec> roots = new ArrayList<>();
        int nextId;

        Gen(long seed, String kind, Pattern p, int vocab) {
            rnd = new SplittableRandom(seed * 31 + p.ordinal());
            name = kind + "_" + p.name().toLowerCase();
            pattern = p;
            this.vocab = vocab;
        }

        int[] fresh(int n) {
            int[] t = new int[n];
            for (int i = 0; i < n; i++) t[i] = 1 + rnd.nextInt(vocab - 1);
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

        void rootTree(String tenant, double at, int[] prompt, int branch, int depth, int outMin, int outMax, int instruction) {
            roots.add(tree(tenant, at, prompt, branch, depth, outMin, outMax, instruction));
        }

        private RequestSpec tree(String tenant, double at, int[] prompt, int branch, int depth, int outMin, int outMax, int instruction) {
            int id = nextId++;
            int[] output = fresh(between(outMin, outMax));
            List<RequestSpec> children = new ArrayList<>();
            if (depth > 0) {
                int[] base = concat(prompt, output);
                for (int b = 0; b < branch; b++) {
                    children.add(tree(tenant, 0, concat(base, fresh(instruction)), branch, depth - 1, outMin, outMax, instruction));
                }
            }
            return new RequestSpec(id, tenant, at, prompt, output, List.copyOf(children));
        }

        void rootChat(String tenant, double at, int[] sys, int turns, Sizes.Chat z) {
            roots.add(turn(tenant, at, sys, turns, z));
        }

        private RequestSpec turn(String tenant, double at, int[] history, int turnsLeft, Sizes.Chat z) {
            int id = nextId++;
            int[] prompt = concat(history, fresh(between(z.messageMin(), z.messageMax())));
            int[] output = fresh(between(z.answerMin(), z.answerMax()));
            List<RequestSpec> next = turnsLeft > 1
                    ? List.of(turn(tenant, -Math.log(1 - rnd.nextDouble()) * z.think(), concat(prompt, output), turnsLeft - 1, z))
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
