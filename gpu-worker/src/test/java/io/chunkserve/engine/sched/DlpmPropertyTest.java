package io.chunkserve.engine.sched;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Long seeded random runs of DLPM against its guarantees (w_e = 1, w_q = 2):
 * <ul>
 *   <li>every deficit stays in (−U, Q_u·weight], U = w_e·L_input + w_q·M;</li>
 *   <li>over every interval in which tenants f and g both have waiting requests,
 *       |ΔW_f/w_f − ΔW_g/w_g| &lt; U/w_f + U/w_g + 2·Q_u (= 2(U + Q_u) at equal weights), W measured
 *       here, independently of the policy's counters;</li>
 *   <li>nothing is lost: after arrivals stop every request is admitted once and finishes;</li>
 *   <li>with aging no cache-cold request starves behind a flood of its tenant's cache-hot ones.</li>
 * </ul>
 * The engine model: KV of a request = prompt − cached + max new, reserved whole, at most M tokens;
 * a global LRU of warm prefix groups decides what is cached.
 */
class DlpmPropertyTest {
    private static final int M = 2000;          // KV capacity in tokens
    private static final int MAX_GROUP = 300, MAX_SUFFIX = 200, MAX_NEW = 40;
    private static final int L_INPUT = MAX_GROUP + MAX_SUFFIX;

    /** A warm-prefix model: group → prefix length; the 4 most recently admitted groups are cached. */
    private static final class GroupCache {
        final Map<QueuedRequest, int[]> groupOf = new HashMap<>(); // request -> {group id, prefix length}
        final LinkedHashMap<Integer, Boolean> warm = new LinkedHashMap<>(16, 0.75f, true);

        int match(QueuedRequest r) {
            int[] g = groupOf.get(r);
            return warm.containsKey(g[0]) ? g[1] : 0;
        }

        void admitted(QueuedRequest r) {
            warm.put(groupOf.get(r)[0], Boolean.TRUE);
            if (warm.size() > 4) warm.remove(warm.keySet().iterator().next());
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
    void deficitsAndServiceGapStayWithinTheirBoundsAndNothingIsLost(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int tenants = 2 + rnd.nextInt(4);
        long quantum = new long[] {50, 200, 1000, 8192}[rnd.nextInt(4)];
        Map<String, Integer> weights = new HashMap<>();
        if (seed % 3 == 0) weights.put("t0", 2 + rnd.nextInt(3)); // some runs weighted
        FakeEngine e = new FakeEngine(SchedulerConfig.of("dlpm").withQuantum(quantum).withTenantWeights(weights)
                .withAgingLimit(1 + rnd.nextInt(40)));
        e.memoryTokens = M;
        e.maxRunning = 4 + rnd.nextInt(16);
        e.passTokenBudget = 300 + rnd.nextInt(700);
        GroupCache cache = new GroupCache();
        e.cache = cache::match;
        e.onAdmit = cache::admitted;
        long U = (long) L_INPUT + 2L * M;

        String[] names = new String[tenants];
        double[] rate = new double[tenants];
        int[][] groupLen = new int[tenants][3];
        long[] service = new long[tenants];
        Map<String, Integer> index = new HashMap<>();
        for (int t = 0; t < tenants; t++) {
            names[t] = "t" + t;
            index.put(names[t], t);
            rate[t] = (0.4 + 0.4 * rnd.nextDouble()) / tenants; // ~0.5 arrivals a step in all: about twice what the engine serves
            for (int g = 0; g < 3; g++) groupLen[t][g] = rnd.nextInt(MAX_GROUP + 1);
        }
        Map<QueuedRequest, Integer> admissions = new HashMap<>();
        java.util.function.Consumer<QueuedRequest> book = e.onAdmit;
        e.onAdmit = r -> {
            book.accept(r);
            admissions.merge(r, 1, Integer::sum);
            service[index.get(r.tenant())] += r.uncachedTokens(); // w_e = 1
        };

        long[][] lo = new long[tenants][tenants], hi = new long[tenants][tenants];
        boolean[][] active = new boolean[tenants][tenants];
        int longestInterval = 0;
        int[][] intervalLength = new int[tenants][tenants];
        List<QueuedRequest> all = new ArrayList<>();
        int steps = 3000;
        for (int step = 0; step < 200_000 && (step < steps || !e.waiting.isEmpty() || !e.running.isEmpty()); step++) {
            if (step < steps) {
                for (int t = 0; t < tenants; t++) {
                    int burst = rnd.nextDouble() < 0.1 ? 1 + rnd.nextInt(6) : 1;
                    for (int b = 0; b < burst; b++) {
                        if (rnd.nextDouble() >= rate[t]) continue;
                        int g = rnd.nextInt(3);
                        int prompt = groupLen[t][g] + 1 + rnd.nextInt(MAX_SUFFIX);
                        QueuedRequest r = new QueuedRequest(all.size(), names[t], all.size(), prompt, 1 + rnd.nextInt(MAX_NEW));
                        cache.groupOf.put(r, new int[] {t * 3 + g, groupLen[t][g]});
                        e.policy.onArrival(r);
                        e.waiting.add(r);
                        all.add(r);
                    }
                }
            }
            for (int phase = 0; phase < 2; phase++) {
                if (phase == 1) e.pass();
                SchedulerStats st = e.policy.stats();
                for (TenantStats ts : st.tenants().values()) {
                    if (!(ts.credit() > -U && ts.credit() <= quantum * ts.weight())) {
                        fail("seed " + seed + " step " + step + ": deficit of " + ts + " outside (-" + U + ", " + quantum * ts.weight() + "]");
                    }
                }
                for (int f = 0; f < tenants; f++) {
                    for (int g = f + 1; g < tenants; g++) {
                        TenantStats sf = st.tenants().get(names[f]), sg = st.tenants().get(names[g]);
                        if (sf == null || sg == null || sf.waiting() == 0 || sg.waiting() == 0) {
                            active[f][g] = false;
                            continue;
                        }
                        // scaled by wf*wg to stay in integers: D = W_f*w_g − W_g*w_f
                        long wf = sf.weight(), wg = sg.weight();
                        long d = service[f] * wg - service[g] * wf;
                        if (!active[f][g]) {
                            active[f][g] = true;
                            lo[f][g] = hi[f][g] = d;
                            intervalLength[f][g] = 0;
                        }
                        lo[f][g] = Math.min(lo[f][g], d);
                        hi[f][g] = Math.max(hi[f][g], d);
                        longestInterval = Math.max(longestInterval, ++intervalLength[f][g]);
                        long bound = U * wg + U * wf + 2 * quantum * wf * wg;
                        if (hi[f][g] - lo[f][g] >= bound) {
                            fail("seed " + seed + " step " + step + ": service gap " + (hi[f][g] - lo[f][g]) + " of "
                                    + names[f] + "/" + names[g] + " reaches the bound " + bound);
                        }
                    }
                }
            }
            for (QueuedRequest r : e.running) {
                if (r.outputTokens() < r.maxNewTokens()) {
                    r.addOutputTokens(1);
                    service[index.get(r.tenant())] += 2;
                }
            }
            e.policy.onStep(e.running);
            for (QueuedRequest r : List.copyOf(e.running)) if (r.outputTokens() >= r.maxNewTokens()) e.finish(r);
        }
        assertTrue(longestInterval > 100, "seed " + seed + ": tenants were never backlogged together for long");
        assertTrue(e.waiting.isEmpty() && e.running.isEmpty(), "seed " + seed + ": not drained");
        assertEquals(all.size(), admissions.size(), "seed " + seed + ": a request was never admitted");
        for (QueuedRequest r : all) {
            assertEquals(1, admissions.get(r), "admitted more than once: " + r);
            assertEquals(QueuedRequest.Phase.FINISHED, r.phase());
        }
        long finished = e.policy.stats().tenants().values().stream().mapToLong(TenantStats::finished).sum();
        assertEquals(all.size(), finished);
        for (TenantStats ts : e.policy.stats().tenants().values()) assertEquals(service[index.get(ts.tenant())], ts.service());
    }

    @ParameterizedTest
    @ValueSource(longs = {11, 12, 13, 14, 15})
    void agingAdmitsEveryColdRequestWhileHotOnesFloodIn(long seed) {
        int limit = 8;
        int[] waitedDlpm = maxColdWait(seed, SchedulerConfig.of("dlpm").withAgingLimit(limit));
        int[] waitedLpm = maxColdWait(seed, SchedulerConfig.of("lpm"));
        // DLPM: every cold request admitted, each within a bounded number of steps.
        assertEquals(0, waitedDlpm[1], "seed " + seed + ": cold requests never admitted under DLPM");
        assertTrue(waitedDlpm[0] < 100, "seed " + seed + ": a cold request waited " + waitedDlpm[0] + " steps");
        // Pure LPM starves them for as long as the flood lasts.
        assertTrue(waitedLpm[1] > 0, "seed " + seed + ": LPM was expected to starve a cold request");
    }

    /**
     * Two tenants, each sending one cache-hot request a step (plus a cache-cold one now and then)
     * into an engine that frees two slots a step: hot requests alone keep it full. Returns {max
     * steps a cold request waited until admission, cold requests never admitted}.
     */
    private static int[] maxColdWait(long seed, SchedulerConfig config) {
        SplittableRandom rnd = new SplittableRandom(seed);
        FakeEngine e = new FakeEngine(config);
        e.maxRunning = 8; // 4 steps per request: 2 admissions a step
        Map<QueuedRequest, Integer> arrivedAt = new HashMap<>();
        Map<QueuedRequest, Integer> cold = new HashMap<>();
        e.cache = r -> cold.containsKey(r) ? 0 : 900;
        int[] step = {0};
        int[] maxWait = {0};
        e.onAdmit = r -> {
            if (cold.containsKey(r)) maxWait[0] = Math.max(maxWait[0], step[0] - arrivedAt.get(r));
            cold.remove(r);
        };
        for (; step[0] < 1500; step[0]++) {
            for (String t : new String[] {"A", "B"}) {
                QueuedRequest hot = e.submit(t, 1000, 4);
                arrivedAt.put(hot, step[0]);
                if (rnd.nextDouble() < 0.03) {
                    QueuedRequest c = e.submit(t, 1000, 4);
                    arrivedAt.put(c, step[0]);
                    cold.put(c, 0);
                }
            }
            e.pass();
            e.step();
        }
        // the last few cold arrivals may legitimately still wait: count only those older than 100 steps
        int starved = 0;
        for (QueuedRequest c : cold.keySet()) if (arrivedAt.get(c) < 1400) starved++;
        return new int[] {maxWait[0], starved};
    }
}
