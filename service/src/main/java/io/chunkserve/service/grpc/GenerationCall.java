package io.chunkserve.service.grpc;

import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.service.ServiceContext;
import io.chunkserve.service.TenantResolver.Tenant;
import io.chunkserve.service.generation.StreamingGeneration;
import io.chunkserve.service.generation.StreamingGeneration.Failure;
import io.chunkserve.service.generation.StreamingGeneration.Prompt;
import io.chunkserve.service.generation.TokenBuffer;
import io.chunkserve.service.grpc.v1.GenerateResponse;
import io.chunkserve.service.grpc.v1.Usage;
import io.chunkserve.service.request.InvalidParameter;
import io.chunkserve.service.request.RequestedSampling;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;

import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One server-streaming {@code Generate} or {@code Chat} call. It answers one
 * {@link GenerateResponse} per engine step with new text (the last one with finish reason and
 * usage), coalesces steps while the HTTP/2 stream's write queue is full, and aborts the engine
 * request when the client cancels, the connection drops or the deadline ({@code grpc-timeout})
 * passes. Runs on the connection's event loop.
 */
final class GenerationCall<Req> implements StreamingGeneration.Sink {
    private static final Logger LOG = Logger.getLogger(GenerationCall.class.getName());

    /** The gRPC trailer naming the request field an INVALID_ARGUMENT is about (OpenAI's {@code param}). */
    static final String PARAM_TRAILER = "chunkserve-error-param";

    /** What a request message says, in the engine's terms (built by {@link GrpcRequests}). */
    record Parsed(String user, Prompt prompt, RequestedSampling sampling) { }

    private final ServiceContext ctx;
    private final GrpcServerRequest<Req, GenerateResponse> request;
    private final GrpcServerResponse<Req, GenerateResponse> response;
    private final String id = StreamingGeneration.newRequestId("grpc");
    private final TokenBuffer pending = new TokenBuffer();
    private StreamingGeneration generation;
    private GenerateResponse last; // the final message, written after pending
    private boolean ended;        // the response stream is finished (or reset by the client)
    private long deadlineTimer = -1;

    private GenerationCall(ServiceContext ctx, GrpcServerRequest<Req, GenerateResponse> request) {
        this.ctx = ctx;
        this.request = request;
        this.response = request.response();
    }

    /** Handles calls of one server-streaming RPC whose request {@code parse} converts (throwing InvalidParameter). */
    static <Req> void handle(ServiceContext ctx, GrpcServerRequest<Req, GenerateResponse> request, Function<Req, Parsed> parse) {
        GenerationCall<Req> call = new GenerationCall<>(ctx, request);
        // A client cancel (RST_STREAM) arrives as a GrpcError once the request message has ended;
        // a dropped connection as an exception.
        request.errorHandler(err -> call.onReset());
        request.exceptionHandler(e -> call.onReset());
        request.response().exceptionHandler(e -> call.onReset());
        request.handler(msg -> call.start(msg, parse));
        request.endHandler(v -> {
            if (call.generation == null) call.fail(GrpcStatus.INVALID_ARGUMENT, "the call carried no request message", null);
        });
    }

    private void start(Req msg, Function<Req, Parsed> parse) {
        if (generation != null || ended) return; // one request message per server-streaming call
        try {
            // the key before anything else: a caller without one learns nothing about its request
            GrpcApi.authenticate(ctx, request.headers(), null);
            Parsed p = parse.apply(msg);
            Tenant tenant = GrpcApi.authenticate(ctx, request.headers(), p.user()); // without keys, the tenant is the user
            generation = StreamingGeneration.start(ctx, id, tenant, p.prompt(), p.sampling(), this);
        } catch (InvalidParameter e) {
            GrpcStatus s = InvalidParameter.MODEL_NOT_FOUND.equals(e.code()) ? GrpcStatus.NOT_FOUND : GrpcStatus.INVALID_ARGUMENT;
            fail(s, e.getMessage(), e.param());
            return;
        } catch (GrpcApi.Unauthenticated e) {
            fail(GrpcStatus.UNAUTHENTICATED, e.getMessage(), null);
            return;
        } catch (StreamingGeneration.Rejected e) {
            fail(status(e.failure()), e.getMessage(), null);
            return;
        } catch (RuntimeException e) { // our bug, not the client's: answer INTERNAL instead of resetting the stream
            LOG.log(Level.WARNING, "gRPC call " + id + " failed to start", e);
            fail(GrpcStatus.INTERNAL, "the generation could not start: " + e, null);
            return;
        }
        long timeoutMs = request.timeout();
        if (timeoutMs > 0) deadlineTimer = ctx.vertx().setTimer(timeoutMs, t -> onDeadline());
    }

    @Override
    public void onTokens(String text, int[] tokenIds) {
        pending.append(text, tokenIds);
        emit();
    }

    @Override
    public void onDone(FinishReason reason, RequestOutput.Usage usage) {
        last = GenerateResponse.newBuilder().setId(id).setFinishReason(finishReason(reason)).setUsage(usage(usage)).build();
        emit();
    }

    @Override
    public void onFailure(Failure failure, String message, String param) {
        flushPending();
        fail(status(failure), message, param);
    }

    private void emit() {
        if (ended) return;
        if (response.writeQueueFull()) {
            // Later steps coalesce into pending until the stream drains.
            response.drainHandler(v -> emit());
            return;
        }
        flushPending();
        if (last != null) {
            ended = true;
            cancelDeadline();
            response.end(last);
        }
    }

    private void flushPending() {
        if (ended || pending.isEmpty()) return;
        GenerateResponse.Builder b = GenerateResponse.newBuilder().setId(id).setText(pending.text());
        for (int t : pending.tokenIds()) b.addTokenIds(t);
        pending.clear();
        if (last != null) {
            // The final message carries the last text too: one message fewer.
            b.setFinishReason(last.getFinishReason()).setUsage(last.getUsage());
            last = b.build();
        } else {
            response.write(b.build());
        }
    }

    /** Ends the call with a status; {@code param} (the field at fault, or null) goes in {@link #PARAM_TRAILER}. */
    private void fail(GrpcStatus status, String message, String param) {
        if (ended) return;
        ended = true;
        cancelDeadline();
        if (param != null) response.trailers().set(PARAM_TRAILER, param);
        response.status(status).statusMessage(message).end();
    }

    /** The client cancelled (RST_STREAM) or the connection closed: stop the engine request, write nothing more. */
    private void onReset() {
        LOG.log(Level.FINE, () -> "gRPC call " + id + " reset by the client");
        ended = true;
        cancelDeadline();
        if (generation != null) generation.cancel();
    }

    private void onDeadline() {
        deadlineTimer = -1;
        if (generation != null) generation.cancel();
        fail(GrpcStatus.DEADLINE_EXCEEDED, "the deadline passed before generation finished", null);
    }

    private void cancelDeadline() {
        if (deadlineTimer >= 0) ctx.vertx().cancelTimer(deadlineTimer);
        deadlineTimer = -1;
    }

    static GrpcStatus status(Failure failure) {
        return switch (failure) {
            case INVALID_REQUEST -> GrpcStatus.INVALID_ARGUMENT;
            case OVERLOADED -> GrpcStatus.RESOURCE_EXHAUSTED;
            case UNAVAILABLE -> GrpcStatus.UNAVAILABLE;
            case INTERNAL -> GrpcStatus.INTERNAL;
        };
    }

    private static io.chunkserve.service.grpc.v1.FinishReason finishReason(FinishReason r) {
        return switch (r) {
            case STOP -> io.chunkserve.service.grpc.v1.FinishReason.FINISH_REASON_STOP;
            case LENGTH -> io.chunkserve.service.grpc.v1.FinishReason.FINISH_REASON_LENGTH;
            case ABORT, ERROR -> io.chunkserve.service.grpc.v1.FinishReason.FINISH_REASON_ABORT;
        };
    }

    private static Usage usage(RequestOutput.Usage u) {
        return Usage.newBuilder().setPromptTokens(u.promptTokens()).setCompletionTokens(u.completionTokens())
                .setTotalTokens(u.promptTokens() + u.completionTokens()).setCachedTokens(u.cachedTokens()).build();
    }
}
