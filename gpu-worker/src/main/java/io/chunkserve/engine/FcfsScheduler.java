package io.chunkserve.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** First come, first served: arrival order, stop at the first request that does not fit. */
final class FcfsScheduler implements Scheduler {
    @Override
    public void onArrival(RequestState r) { }

    @Override
    public void schedule(List<RequestState> waiting, Function<RequestState, Admission> admit) {
        List<RequestState> order = new ArrayList<>(waiting);
        order.sort((a, b) -> Long.compare(a.arrival, b.arrival));
        for (RequestState r : order) {
            if (admit.apply(r) != Admission.ADMITTED) return;
        }
    }

    @Override
    public void onStep(List<RequestState> running) { }

    @Override
    public void onPreempt(RequestState r) { }

    @Override
    public void onFinish(RequestState r) { }

    @Override
    public Map<String, Map<String, Double>> stats() { return Map.of(); }
}
