package io.chunkserve.engine;

import io.chunkserve.sampling.FinishReason;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Collects a request's outputs; completes when the request finishes. */
final class Collector implements RequestListener {
    final CompletableFuture<Collector> done = new CompletableFuture<>();
    final List<List<Integer>> ids = new ArrayList<>();
    final List<StringBuilder> text = new ArrayList<>();
    final List<FinishReason> finish = new ArrayList<>();
    final List<List<RequestOutput.TokenLogprob>> logprobs = new ArrayList<>();
    volatile RequestOutput last;
    volatile int outputs;
    volatile int firstTokens = -1;

    @Override
    public synchronized void onOutput(RequestOutput o) {
        outputs++;
        last = o;
        for (RequestOutput.ChoiceDelta d : o.choices()) {
            while (ids.size() <= d.index()) {
                ids.add(new ArrayList<>());
                text.add(new StringBuilder());
                finish.add(null);
                logprobs.add(new ArrayList<>());
            }
            if (d.logprobs() != null) logprobs.get(d.index()).addAll(d.logprobs());
            for (int t : d.tokenIds()) ids.get(d.index()).add(t);
            text.get(d.index()).append(d.text());
            if (d.finish() != null) finish.set(d.index(), d.finish());
        }
        if (o.finished()) done.complete(this);
    }

    Collector await() {
        try {
            return done.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("request did not finish: " + e, e);
        }
    }

    int[] ids(int choice) { return ids.get(choice).stream().mapToInt(Integer::intValue).toArray(); }
}
