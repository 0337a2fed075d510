package io.chunkserve.service.auth;

import io.chunkserve.service.ServiceConfig;

import java.util.HashMap;
import java.util.Map;

/**
 * Admission control in front of the engine: counts requests this server has accepted and not yet
 * finished (queued or running in the engine, or still being tokenized), and their prompt tokens,
 * globally and per tenant. Over a limit, the request is refused before any work is done, and the
 * front end answers 429 with {@code Retry-After}.
 *
 * <p>Admission has two steps because the prompt's token count is known only after tokenization:
 * {@link #admit} takes a request slot (checked against the request limits) before the body is
 * tokenized; {@link Ticket#addTokens} then charges the prompt tokens (checked against the token
 * limits) before the request is submitted. {@link Ticket#release} gives both back; it is
 * idempotent, and is called when the engine reports the request finished (normally, aborted after
 * a disconnect, or failed) or when the request is refused or fails before submission.
 *
 * <p>The counters never ask the engine thread anything: they live here, guarded by this object's
 * monitor, held for a few map operations only, so every event loop (HTTP, WebSocket, gRPC) may
 * share one instance. Per-tenant entries vanish when a tenant has nothing in flight, so the map
 * is bounded by the requests in flight.
 */
public final class AdmissionControl {
    /** Seconds a refused client is told to wait: queues turn over within a few engine steps. */
    public static final int RETRY_AFTER_SECONDS = 1;

    /**
     * @param maxRequests          requests in flight, all tenants
     * @param maxTokens            prompt tokens in flight, all tenants
     * @param maxRequestsPerTenant requests in flight per tenant
     * @param maxTokensPerTenant   prompt tokens in flight per tenant
     */
    public record Limits(int maxRequests, long maxTokens, int maxRequestsPerTenant, long maxTokensPerTenant) {
        public static Limits of(ServiceConfig c) {
            return new Limits(c.maxWaitingRequests(), c.maxWaitingTokens(), c.maxWaitingRequestsPerTenant(), c.maxWaitingTokensPerTenant());
        }
    }

    /**
     * Why a request was refused.
     *
     * @param message           for the client
     * @param kind              "requests" or "tokens" (the OpenAI error type of a 429)
     * @param retryAfterSeconds the {@code Retry-After} value
     */
    public record Refusal(String message, String kind, int retryAfterSeconds) { }

    private final Limits limits;
    private final Map<String, long[]> perTenant = new HashMap<>(); // tenant -> {requests, tokens}
    private int requests;
    private long tokens;

    public AdmissionControl(Limits limits) {
        this.limits = limits;
    }

    /** Takes a request slot for {@code tenant}; the ticket's {@link Ticket#refusal()} says if it was refused. */
    public synchronized Ticket admit(String tenant) {
        long[] t = perTenant.get(tenant);
        long tenantRequests = t == null ? 0 : t[0];
        if (requests >= limits.maxRequests()) {
            return new Ticket(this, tenant, new Refusal("the server has " + requests + " requests in flight (limit "
                    + limits.maxRequests() + "); retry later", "requests", RETRY_AFTER_SECONDS));
        }
        if (tenantRequests >= limits.maxRequestsPerTenant()) {
            return new Ticket(this, tenant, new Refusal("tenant '" + tenant + "' has " + tenantRequests
                    + " requests in flight (limit " + limits.maxRequestsPerTenant() + "); retry later", "requests", RETRY_AFTER_SECONDS));
        }
        perTenant.computeIfAbsent(tenant, k -> new long[2])[0]++;
        requests++;
        return new Ticket(this, tenant, null);
    }

    /** Requests in flight, all tenants. */
    public synchronized int requestsInFlight() { return requests; }

    /** Prompt tokens in flight, all tenants. */
    public synchronized long tokensInFlight() { return tokens; }

    /** Requests in flight for one tenant. */
    public synchronized int requestsInFlight(String tenant) {
        long[] t = perTenant.get(tenant);
        return t == null ? 0 : (int) t[0];
    }

    private synchronized Refusal charge(Ticket ticket, long n) {
        if (ticket.released) return null;
        long[] t = perTenant.get(ticket.tenant);
        if (tokens + n > limits.maxTokens()) {
            return new Refusal("the server has " + tokens + " prompt tokens in flight; this request's " + n
                    + " would exceed the limit of " + limits.maxTokens() + "; retry later", "tokens", RETRY_AFTER_SECONDS);
        }
        if (t[1] + n > limits.maxTokensPerTenant()) {
            return new Refusal("tenant '" + ticket.tenant + "' has " + t[1] + " prompt tokens in flight; this request's " + n
                    + " would exceed the limit of " + limits.maxTokensPerTenant() + "; retry later", "tokens", RETRY_AFTER_SECONDS);
        }
        t[1] += n;
        tokens += n;
        ticket.tokens += n;
        return null;
    }

    private synchronized void release(Ticket ticket) {
        if (ticket.released || ticket.refusal != null) return;
        ticket.released = true;
        long[] t = perTenant.get(ticket.tenant);
        t[0]--;
        t[1] -= ticket.tokens;
        if (t[0] == 0) perTenant.remove(ticket.tenant);
        requests--;
        tokens -= ticket.tokens;
    }

    /** One admitted (or refused) request's hold on the counters. */
    public static final class Ticket {
        private final AdmissionControl owner;
        private final String tenant;
        private final Refusal refusal;
        private long tokens;        // guarded by owner
        private boolean released;   // guarded by owner

        private Ticket(AdmissionControl owner, String tenant, Refusal refusal) {
            this.owner = owner;
            this.tenant = tenant;
            this.refusal = refusal;
        }

        /** Null when admitted; else why not (then the ticket holds nothing). */
        public Refusal refusal() { return refusal; }

        /** Charges prompt tokens; returns null on success, else the refusal (nothing is charged). */
        public Refusal addTokens(long n) {
            if (refusal != null) return refusal;
            return owner.charge(this, n);
        }

        /** Gives the slot and the tokens back; safe to call more than once. */
        public void release() { owner.release(this); }
    }
}
