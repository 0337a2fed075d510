package io.chunkserve.service.openai;

import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.RequestOutput.ChoiceDelta;
import io.chunkserve.sampling.FinishReason;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;

/**
 * Collects a request's outputs and answers once with the whole {@code chat.completion} /
 * {@code text_completion} object, or with an error.
 */
final class JsonResponder implements Responder {
    private final HttpServerResponse resp;
    private final ResponseJson json;
    private final ChoiceBuffer[] choices;
    private final boolean logprobs;
    private boolean ended;

    JsonResponder(HttpServerResponse resp, ResponseJson json, int n, boolean logprobs) {
        this.resp = resp;
        this.json = json;
        this.logprobs = logprobs;
        this.choices = new ChoiceBuffer[n];
        for (int i = 0; i < n; i++) choices[i] = new ChoiceBuffer();
    }

    @Override
    public void start() { }

    @Override
    public void onOutput(RequestOutput out) {
        if (ended) return;
        for (ChoiceDelta d : out.choices()) choices[d.index()].add(d);
        if (out.error() != null) {
            fail(EngineErrors.toOpenAi(out.error()));
            return;
        }
        if (!out.finished()) return;
        JsonArray arr = new JsonArray();
        for (int i = 0; i < choices.length; i++) {
            ChoiceBuffer c = choices[i];
            if (c.finish == FinishReason.ERROR) {
                fail(OpenAiError.internal("generation failed"));
                return;
            }
            arr.add(json.finalChoice(i, c.text.toString(), logprobs ? json.logprobs(c.logprobs, 0) : null, c.finish));
        }
        ended = true;
        if (!resp.closed()) OpenAiApi.sendJson(resp, 200, json.completion(arr, out.usage()));
    }

    @Override
    public void fail(OpenAiError error) {
        if (ended) return;
        ended = true;
        if (!resp.closed()) OpenAiApi.sendError(resp, error);
    }
}
