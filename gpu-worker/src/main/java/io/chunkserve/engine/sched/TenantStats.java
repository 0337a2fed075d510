package io.chunkserve.engine.sched;

/**
 * One tenant as a policy sees it, for metrics ({@code chunkserve_tenant_*}) and tests.
 *
 * @param tenant       tenant name
 * @param weight       share weight (1 unless configured)
 * @param waiting      requests queued now
 * @param running      requests running now
 * @param admitted     admissions so far (a preempted request counts again)
 * @param finished     requests finished
 * @param extendTokens prompt tokens computed on admission (not served from cache), charged w_e each
 * @param cachedTokens prompt tokens served from the prefix cache on admission (free)
 * @param outputTokens output tokens generated, charged w_q each
 * @param service      w_e·extendTokens + w_q·outputTokens (cost units)
 * @param credit       the policy's fairness state: DLPM deficit q, VTC counter; 0 for LPM and FCFS
 */
public record TenantStats(String tenant, int weight, int waiting, int running, long admitted, long finished,
                          long extendTokens, long cachedTokens, long outputTokens, long service, double credit) { }
