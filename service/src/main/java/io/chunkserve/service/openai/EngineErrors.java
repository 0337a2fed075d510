package io.chunkserve.service.openai;

import java.util.logging.Logger;

/** Maps the engine's error strings (on a failed {@code RequestOutput}) to client errors. */
final class EngineErrors {
    private static final Logger LOG = Logger.getLogger(EngineErrors.class.getName());

    private EngineErrors() { }

    static OpenAiError toOpenAi(String engineMessage) {
        if (engineMessage.contains("shutting down")) {
            return new OpenAiError(503, "server_error", "the server is shutting down; retry on another replica", null, "service_unavailable");
        }
        LOG.warning("request failed in the engine: " + engineMessage);
        return OpenAiError.internal("the engine failed while generating this response; the server log has details");
    }
}
