package io.chunkserve.engine;

import io.chunkserve.kv.KvSequence;
import io.chunkserve.runtime.ForwardBatch;

import java.util.ArrayList;
import java.util.List;

/** One engine step's batch and, per batch row, its choice, token count and the KV sequence it ran in. Engine thread only. */
final class Step {
    final ForwardBatch batch = new ForwardBatch();
    final List<Choice> choices = new ArrayList<>();
    int[] counts = new int[16];
    final List<KvSequence> kvs = new ArrayList<>();

    void clear() {
        batch.clear();
        choices.clear();
        kvs.clear();
    }
}
