package io.chunkserve.bench.sim;

import java.util.List;

/**
 * One request of a workload, with the tokens it will generate decided in advance (the simulator
 * does not run a model), so follow-up requests can embed them in their prompts.
 *
 * @param id        unique within the workload
 * @param tenant    who sends it
 * @param at        roots: arrival time in seconds; follow-ups: delay after the parent finishes
 * @param prompt    token ids
 * @param output    the token ids it generates; its length is the output length (max new tokens)
 * @param followUps sent when this one finishes (next chat turn, next tree-of-thoughts level)
 */
public record RequestSpec(int id, String tenant, double at, int[] prompt, int[] output, List<RequestSpec> followUps) {
    /** This request and, recursively, its follow-ups. */
    public int count() {
        int n = 1;
        for (RequestSpec f : followUps) n += f.count();
        return n;
    }

    /** Prompt plus output tokens of this request and its follow-ups. */
    public long tokens() {
        long n = prompt.length + output.length;
        for (RequestSpec f : followUps) n += f.tokens();
        return n;
    }

    @Override
    public String toString() {
        return "RequestSpec[id=" + id + ", tenant=" + tenant + ", prompt=" + prompt.length + ", output=" + output.length + "]";
    }
}
