package io.chunkserve.engine.sched;

import java.util.Objects;

/**
 * What a scheduling policy knows about one request: a small mutable record the engine creates per
 * request (vLLM style: the scheduler sees this, never the prefix tree or the token ids).
 *
 * <h2>Who writes what</h2>
 * <ul>
 *   <li>The <b>engine</b> fills the constructor fields, refreshes {@link #cachedTokens()} (the
 *       prefix matched in the KV cache) on admission, and adds sampled tokens with
 *       {@link #addOutputTokens}. It may {@link #attach} its own request object.</li>
 *   <li>A cache-aware <b>policy</b> also refreshes {@link #cachedTokens()} at the start of a pass,
 *       through the prefix matcher the engine gave it (normally {@code PrefixCache.matchLength}),
 *       and keeps the policy-private fields: phase, age, tenant account, what it has charged.</li>
 * </ul>
 * Engine thread only, like the rest of the scheduler. {@code toString} carries no prompt text.
 */
public final class QueuedRequest {
    /** Where the request is in its life, as the policy has been told. */
    public enum Phase { NEW, WAITING, RUNNING, FINISHED, ABORTED }

    private final long id;
    private final String tenant;
    private final long arrivalSeq;
    private final int promptTokens;
    private final int maxNewTokens;
    private int cachedTokens;
    private int outputTokens;
    private Object attachment;

    // Policy-private state (same package): the policy keeps these consistent with its accounts.
    Phase phase = Phase.NEW;
    TenantAccount account;
    int age;                // younger same-tenant requests admitted ahead of this one
    int chargedOutput;      // output tokens already charged to the tenant
    boolean inputCharged;   // the prompt is charged once, on the first admission (not after preemption)

    /**
     * @param id           engine request id (unique per worker), for logs
     * @param tenant       who pays for the service
     * @param arrivalSeq   arrival order, a per-worker increasing sequence number (ties broken by it)
     * @param promptTokens prompt length in tokens, &ge; 1
     * @param maxNewTokens output tokens at most, &ge; 0
     */
    public QueuedRequest(long id, String tenant, long arrivalSeq, int promptTokens, int maxNewTokens) {
        this.id = id;
        this.tenant = Objects.requireNonNull(tenant, "tenant");
        this.arrivalSeq = arrivalSeq;
        if (promptTokens < 1) throw new IllegalArgumentException("prompt of request " + id + " is empty");
        if (maxNewTokens < 0) throw new IllegalArgumentException("negative max new tokens: " + maxNewTokens);
        this.promptTokens = promptTokens;
        this.maxNewTokens = maxNewTokens;
    }

    public long id() { return id; }

    public String tenant() { return tenant; }

    public long arrivalSeq() { return arrivalSeq; }

    public int promptTokens() { return promptTokens; }

    public int maxNewTokens() { return maxNewTokens; }

    /** Prompt tokens whose KV the cache holds (last refresh), 0 .. promptTokens. */
    public int cachedTokens() { return cachedTokens; }

    /** Sets the matched prefix; clamped to 0 .. promptTokens. */
    public void setCachedTokens(int tokens) { cachedTokens = Math.max(0, Math.min(promptTokens, tokens)); }

    /** Prompt tokens the forward must compute: what DLPM charges as w_e tokens. */
    public int uncachedTokens() { return promptTokens - cachedTokens; }

    /** Output tokens generated so far. */
    public int outputTokens() { return outputTokens; }

    /** Engine: {@code n} more tokens were sampled for this request. */
    public void addOutputTokens(int n) {
        if (n < 0) throw new IllegalArgumentException("negative token count " + n);
        outputTokens += n;
    }

    /** Younger requests of the same tenant admitted ahead of this one while it waited. */
    public int age() { return age; }

    public Phase phase() { return phase; }

    /** The engine's own object for this request (e.g. its {@code Request}); null until attached. */
    public Object attachment() { return attachment; }

    public void attach(Object o) { attachment = o; }

    @Override
    public String toString() {
        return "QueuedRequest[id=" + id + ", tenant=" + tenant + ", seq=" + arrivalSeq + ", prompt=" + promptTokens
                + ", cached=" + cachedTokens + ", out=" + outputTokens + "/" + maxNewTokens + ", age=" + age
                + ", " + phase + "]";
    }
}
