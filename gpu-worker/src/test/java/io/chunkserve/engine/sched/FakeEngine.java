package io.chunkserve.engine.sched;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.ToIntFunction;

/**
 * A tiny scripted engine for policy tests: a waiting and a running list, limits on running
 * sequences, KV tokens (prompt − cached + max new, reserved whole) and prefill tokens per pass,
 * and a table of matched prefixes by request id that the prefix matcher reads.
 */
final class FakeEngine {
    final SchedulingPolicy policy;
    final List<QueuedRequest> waiting = new ArrayList<>();
    final List<QueuedRequest> running = new ArrayList<>();
    final Map<Long, Integer> matched = new HashMap<>();
    final Map<Long, QueuedRequest> byId = new HashMap<>();
    final List<Long> tried = new ArrayList<>();
    int maxRunning = Integer.MAX_VALUE;
    long memoryTokens = Long.MAX_VALUE;
    long passTokenBudget = Long.MAX_VALUE;
    long usedTokens;
    int matcherCalls;
    /** The matched prefix of a request now; by default the {@link #matched} table. */
    ToIntFunction<QueuedRequest> cache = r -> matched.getOrDefault(r.id(), 0);
    /** Told of each admission, after the engine booked it. */
    Consumer<QueuedRequest> onAdmit = r -> { };
    private long passTokens;
    private long nextSeq;

    FakeEngine(SchedulerConfig config) {
        this.policy = config.create(r -> {
            matcherCalls++;
            return cache.applyAsInt(r);
        });
    }

    /** Submits a request with a generated id and arrival number; its matched prefix comes from {@link #cache}. */
    QueuedRequest submit(String tenant, int prompt, int maxNew) {
        long id = nextSeq++;
        QueuedRequest r = new QueuedRequest(id, tenant, id, prompt, maxNew);
        byId.put(id, r);
        policy.onArrival(r);
        waiting.add(r);
        return r;
    }

    /** Submits a request whose id is its arrival number; {@code cached} is its current matched prefix. */
    QueuedRequest submit(String tenant, int prompt, int cached, int maxNew) {
        long id = nextSeq++;
        QueuedRequest r = new QueuedRequest(id, tenant, id, prompt, maxNew);
        matched.put(id, cached);
        byId.put(id, r);
        policy.onArrival(r);
        waiting.add(r);
        return r;
    }

    AdmitOutcome tryAdmit(QueuedRequest r) {
        tried.add(r.id());
        if (running.size() >= maxRunning) return AdmitOutcome.BATCH_FULL;
        int cached = cache.applyAsInt(r);
        long prefill = r.promptTokens() - cached;
        if (passTokens > 0 && passTokens + prefill > passTokenBudget) return AdmitOutcome.TOKEN_BUDGET;
        long need = kvTokens(r, cached);
        if (usedTokens + need > memoryTokens) return AdmitOutcome.NO_KV_MEMORY;
        usedTokens += need;
        passTokens += prefill;
        r.setCachedTokens(cached);
        running.add(r);
        onAdmit.accept(r);
        return AdmitOutcome.ADMITTED;
    }

    static long kvTokens(QueuedRequest r, int cached) { return r.promptTokens() - cached + r.maxNewTokens(); }

    /** One scheduling pass; returns the ids admitted, in order. */
    List<Long> pass() {
        tried.clear();
        passTokens = 0;
        int before = running.size();
        int n = policy.schedule(waiting, this::tryAdmit);
        List<Long> ids = new ArrayList<>();
        for (int i = before; i < running.size(); i++) ids.add(running.get(i).id());
        if (n != ids.size()) throw new AssertionError("schedule returned " + n + " but admitted " + ids);
        return ids;
    }

    /** Every running request emits one token; those at max new tokens finish. */
    void step() {
        for (QueuedRequest r : running) if (r.outputTokens() < r.maxNewTokens()) r.addOutputTokens(1);
        policy.onStep(running);
        for (QueuedRequest r : List.copyOf(running)) if (r.outputTokens() >= r.maxNewTokens()) finish(r);
    }

    void finish(QueuedRequest r) {
        running.remove(r);
        usedTokens -= kvTokens(r, r.cachedTokens());
        policy.onFinish(r);
    }

    void finishAll() { for (QueuedRequest r : List.copyOf(running)) finish(r); }

    TenantStats tenant(String t) { return policy.stats().tenants().get(t); }

    double credit(String t) { return tenant(t).credit(); }
}
