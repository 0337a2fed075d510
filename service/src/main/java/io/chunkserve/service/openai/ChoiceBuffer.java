package io.chunkserve.service.openai;

import io.chunkserve.engine.RequestOutput.ChoiceDelta;
import io.chunkserve.engine.RequestOutput.TokenLogprob;
import io.chunkserve.sampling.FinishReason;

import java.util.ArrayList;
import java.util.List;

/**
 * One choice's text and logprobs received from the engine and not yet written: for a stream,
 * what is waiting for the client to drain (coalesced into one delta); for a non-streamed
 * response, everything until the end.
 */
final class ChoiceBuffer {
    final StringBuilder text = new StringBuilder();
    final List<TokenLogprob> logprobs = new ArrayList<>();
    /** Why the choice ended, once it has. */
    FinishReason finish;
    /** Completions' {@code text_offset} of the next token: characters of the tokens already written. */
    int textOffset;
    /** Whether the finish chunk has been written (streams). */
    boolean finishWritten;

    void add(ChoiceDelta d) {
        text.append(d.text());
        logprobs.addAll(d.logprobs());
        if (d.finish() != null) finish = d.finish();
    }

    boolean hasDelta() {
        return !text.isEmpty() || !logprobs.isEmpty();
    }

    void clearDelta() {
        textOffset += ResponseJson.textLength(logprobs);
        text.setLength(0);
        logprobs.clear();
    }
}
