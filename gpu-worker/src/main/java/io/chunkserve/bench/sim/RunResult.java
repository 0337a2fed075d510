package io.chunkserve.bench.sim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one workload × policy run measured (simulated seconds unless noted).
 *
 * @param workload       workload name
 * @param policy         policy name
 * @param throughput     prompt + output tokens of all requests / makespan (tokens per second of the model)
 * @param jain           Jain's index over per-tenant service w_e·computed prompt + w_q·output, counted
 *                       over the steps in which every tenant had waiting requests; NaN if none
 * @param jainFullPrompt the same with every prompt token counted (cached ones too: VTC's view)
 * @param maxGap         largest minus smallest tenant service in that window (cost units)
 * @param meanService    mean tenant service in that window (cost units), the scale for maxGap
 * @param windowSeconds  length of that window
 * @param p50            median end-to-end latency of the well-behaved tenants' requests
 * @param p99            99th percentile of the same
 * @param hitRate        prompt tokens served from the prefix cache on first admission / prompt tokens
 * @param makespan       first arrival to last finish
 * @param steps          engine steps
 * @param preemptions    requests preempted for KV memory
 * @param schedMicros    wall-clock microseconds per scheduling pass (this JVM, incl. prefix matching)
 * @param finished       requests that finished (all of the workload's, or the run failed)
 */
public record RunResult(String workload, String policy, double throughput, double jain, double jainFullPrompt,
                        double maxGap, double meanService, double windowSeconds, double p50, double p99,
                        double hitRate, double makespan, long steps, long preemptions, double schedMicros,
                        int finished) {

    /** A copy with another scheduling time (the one field that depends on the machine, not the simulation). */
    public RunResult withSchedMicros(double micros) {
        return new RunResult(workload, policy, throughput, jain, jainFullPrompt, maxGap, meanService, windowSeconds, p50, p99,
                hitRate, makespan, steps, preemptions, micros, finished);
    }

    /** The fields of the final RESULT line. */
    public Map<String, Object> summary() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("throughput", round(throughput, 1));
        m.put("jain", round(jain, 4));
        m.put("p99_well_behaved_s", round(p99, 3));
        m.put("hit_rate", round(hitRate, 4));
        m.put("p50_well_behaved_s", round(p50, 3));
        m.put("max_service_gap", round(maxGap, 0));
        m.put("jain_full_prompt", round(jainFullPrompt, 4));
        return m;
    }

    private static double round(double x, int digits) {
        if (Double.isNaN(x) || Double.isInfinite(x)) return x;
        double f = Math.pow(10, digits);
        return Math.round(x * f) / f;
    }

    /** Jain's fairness index (Σx)² / (n·Σx²); 1 when all equal. */
    public static double jain(double[] x) {
        double s = 0, s2 = 0;
        for (double v : x) {
            s += v;
            s2 += v * v;
        }
        return s2 == 0 ? Double.NaN : s * s / (x.length * s2);
    }
}
