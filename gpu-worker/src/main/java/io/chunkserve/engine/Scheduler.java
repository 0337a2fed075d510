package io.chunkserve.engine;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The engine's view of a local scheduling policy (DLPM, VTC, LPM, FCFS): it orders the waiting
 * requests and asks the engine to admit them; the engine charges and informs it. Engine thread only.
 */
interface Scheduler {
    void onArrival(RequestState r);

    /** Asks {@code admit} for waiting requests in the policy's order until it declines to go on. */
    void schedule(List<RequestState> waiting, Function<RequestState, Admission> admit);

    /** After each forward step: the requests that ran (each produced one token per active choice). */
    void onStep(List<RequestState> running);

    void onPreempt(RequestState r);

    void onFinish(RequestState r);

    /** Per-tenant counters for metrics (service, deficits, ...). */
    Map<String, Map<String, Double>> stats();
}
