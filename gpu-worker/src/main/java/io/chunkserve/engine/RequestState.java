package io.chunkserve.engine;

import io.chunkserve.sampling.FinishReason;

/** A request inside the engine: its choices and bookkeeping. Engine thread only. */
final class RequestState {
    final GenerationRequest request;
    final RequestListener listener;
    final Choice[] choices;
    final long arrival;           // submission order
    io.chunkserve.engine.sched.QueuedRequest queued; // the scheduler's view
    int cachedTokens = -1;        // prompt tokens served from the prefix cache (first admission)
    boolean abortRequested;

    RequestState(GenerationRequest request, RequestListener listener, Choice[] choices, long arrival) {
        this.request = request;
        this.listener = listener;
        this.choices = choices;
        this.arrival = arrival;
    }

    String tenant() { return request.tenant(); }

    boolean allFinished() {
        for (Choice c : choices) if (!c.finished()) return false;
        return true;
    }

    /** Choices still generating. */
    int activeChoices() {
        int n = 0;
        for (Choice c : choices) if (!c.finished()) n++;
        return n;
    }

    int completionTokens() {
        int n = 0;
        for (Choice c : choices) n += c.generated();
        return n;
    }

    /** Whether the request has produced nothing yet (so choices > 0 can fork from choice 0). */
    boolean fresh() {
        for (Choice c : choices) if (c.generated() > 0 || c.finished()) return false;
        return true;
    }

    /** Every choice ended by STOP or LENGTH (not aborted, not failed). */
    boolean allFinishedNormally() {
        for (Choice c : choices) if (c.finish != FinishReason.STOP && c.finish != FinishReason.LENGTH) return false;
        return true;
    }

    void finishAll(FinishReason reason) {
        for (Choice c : choices) if (c.finish == null) c.finish = reason;
    }
}
