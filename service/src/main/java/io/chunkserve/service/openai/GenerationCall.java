package io.chunkserve.service.openai;

import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.EngineBridge;
import io.chunkserve.service.TenantResolver.Tenant;
import io.chunkserve.service.auth.AdmissionControl;
import io.chunkserve.service.request.InvalidParameter;
import io.chunkserve.service.request.SamplingFields;
import io.vertx.core.AsyncResult;
import io.vertx.core.Future;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerResponse;

import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One chat or completion request from admission to the end of its response, on the request's
 * event loop: take an admission slot, tokenize on the worker pool, check the context, charge the
 * prompt tokens, submit to the engine, and hand the engine's outputs to a {@link Responder}. If the
 * client goes away, the request is aborted in the engine (its KV is freed at the next step); the
 * admission slot is given back when the engine reports the request finished.
 */
final class GenerationCall {
    private static final Logger LOG = Logger.getLogger(GenerationCall.class.getName());

    private final OpenAiApi api;
    private final HttpServerResponse resp;
    private final HttpConnection conn;
    private final ApiRequest req;
    private final Tenant tenant;
    private final String id;
    private AdmissionControl.Ticket ticket;
    private Responder responder;
    private boolean submitted;
    private boolean done;
    private io.chunkserve.service.metrics.RequestMetrics metrics = io.chunkserve.service.metrics.RequestMetrics.NOOP;

    GenerationCall(OpenAiApi api, HttpServerResponse resp, HttpConnection conn, ApiRequest req, Tenant tenant) {
        this.api = api;
        this.resp = resp;
        this.conn = conn;
        this.req = req;
        this.tenant = tenant;
        this.id = req.endpoint().idPrefix + randomHex();
    }

    void run() {
        metrics = api.bridge().requestMetrics();
        ticket = api.admission().admit(tenant.name());
        if (ticket.refusal() != null) {
            OpenAiApi.sendRateLimited(resp, ticket.refusal());
            return;
        }
        EngineBridge bridge = api.bridge();
        Future<int[]> ids = switch (req.endpoint()) {
            case CHAT -> bridge.tokenizeChat(req.messages(), true, Map.of());
            case COMPLETION -> req.promptIds() != null ? Future.succeededFuture(req.promptIds()) : bridge.tokenize(req.promptText());
        };
        ids.onComplete(this::tokenized);
    }

    private void tokenized(AsyncResult<int[]> ar) {
        try {
            if (ar.failed()) {
                Throwable e = ar.cause();
                if (e instanceof IllegalArgumentException) throw OpenAiError.invalid(e.getMessage(), req.endpoint().inputParam);
                LOG.log(Level.WARNING, "tokenization failed for " + id, e);
                throw OpenAiError.internal("tokenization failed; the server log has details");
            }
            if (resp.closed()) { // the client left while we tokenized
                ticket.release();
                return;
            }
            submit(ar.result());
        } catch (RuntimeException e) {
            OpenAiError err;
            if (e instanceof OpenAiError oe) {
                err = oe;
            } else {
                LOG.log(Level.SEVERE, "request " + id + " failed", e);
                err = OpenAiError.internal("internal error; the server log has details");
            }
            if (submitted) {
                // Already in the engine (and maybe streaming): stop it, end the response; the
                // engine's final output releases the ticket.
                api.bridge().abort(id);
                responder.fail(err);
            } else {
                ticket.release();
                OpenAiApi.sendError(resp, err);
            }
        }
    }

    private void submit(int[] promptIds) {
        SamplingParams params = paramsFor(promptIds.length);
        AdmissionControl.Refusal r = ticket.addTokens(promptIds.length);
        if (r != null) {
            ticket.release();
            OpenAiApi.sendRateLimited(resp, r);
            return;
        }
        ResponseJson json = new ResponseJson(req.endpoint(), id, System.currentTimeMillis() / 1000, api.bridge().modelName(),
                req.includeUsage());
        responder = req.stream()
                ? new SseResponder(SseSink.of(resp, conn), json, req.endpoint(), params.n(), req.includeUsage())
                : new JsonResponder(resp, json, params.n(), params.logprobs());
        try {
            api.bridge().submit(new GenerationRequest(id, tenant.name(), promptIds, params, tenant.cacheSalt()), this::onOutput);
        } catch (IllegalArgumentException e) {
            throw OpenAiError.invalid(e.getMessage(), SamplingFields.engineRefusalParam(e.getMessage(), req.endpoint().inputParam));
        } catch (IllegalStateException e) {
            throw new OpenAiError(503, "server_error", e.getMessage(), null, "service_unavailable");
        }
        submitted = true;
        resp.closeHandler(v -> clientGone());
        resp.exceptionHandler(e -> clientGone());
        responder.start();
    }

    /** The final sampling parameters, now that the prompt length is known. */
    private SamplingParams paramsFor(int promptTokens) {
        try {
            return req.sampling().forPrompt(promptTokens, api.bridge().contextLength());
        } catch (InvalidParameter e) {
            throw OpenAiError.of(e);
        }
    }

    private void onOutput(RequestOutput out) {
        int tokens = 0;
        for (RequestOutput.ChoiceDelta d : out.choices()) tokens += d.tokenIds().length;
        if (tokens > 0) metrics.onToken(tokens);
        if (out.finished()) {
            String reason = out.error() != null ? "error"
                    : out.choices().isEmpty() || out.choices().get(0).finish() == null ? "stop" : out.choices().get(0).finish().openAiName();
            metrics.onFinish(tenant.name(), reason);
        }
        try {
            responder.onOutput(out);
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "writing the response of " + id + " failed", e);
            if (!out.finished()) api.bridge().abort(id);
            responder.fail(OpenAiError.internal("internal error while writing the response; the server log has details"));
        } finally {
            if (out.finished()) {
                done = true;
                ticket.release();
            }
        }
    }

    /** The connection closed (or failed) before the response ended: stop generating. */
    private void clientGone() {
        if (submitted && !done) {
            done = true; // abort once; the ticket is released when the engine confirms
            api.bridge().abort(id);
            api.countAbort();
        }
    }

    private static String randomHex() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return Long.toHexString(r.nextLong() | Long.MIN_VALUE) + Long.toHexString(r.nextLong() | Long.MIN_VALUE);
    }
}
