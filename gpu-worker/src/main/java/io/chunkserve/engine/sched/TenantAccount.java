package io.chunkserve.engine.sched;

import java.util.Arrays;

/** One tenant's scheduling state inside a policy: queue counts, service so far, and the policy's credit. */
final class TenantAccount {
    final String tenant;
    final int weight;
    int waiting;            // requests in phase WAITING
    int running;            // requests in phase RUNNING
    long deficit;           // DLPM: q_i in cost units
    double counter;         // VTC: virtual counter (cost / weight)
    long admitted, finished, aborted, preempted;
    long extendTokens, cachedTokens, outputTokens;

    // Scratch for one pass: arrival numbers of this tenant's requests admitted in it (aging).
    long[] passAdmits = new long[4];
    int passAdmitCount;
    // Scratch for one VTC pass: this tenant's FIFO as indices into the waiting list (-1: empty).
    int passHead = -1, passTail = -1;

    TenantAccount(String tenant, int weight) {
        this.tenant = tenant;
        this.weight = weight;
    }

    boolean idle() { return waiting == 0 && running == 0; }

    void notePassAdmit(long arrivalSeq) {
        if (passAdmitCount == passAdmits.length) passAdmits = Arrays.copyOf(passAdmits, passAdmitCount * 2);
        passAdmits[passAdmitCount++] = arrivalSeq;
    }

    /** Requests admitted in this pass that arrived after {@code arrivalSeq}. */
    int passAdmitsAfter(long arrivalSeq) {
        int n = 0;
        for (int i = 0; i < passAdmitCount; i++) if (passAdmits[i] > arrivalSeq) n++;
        return n;
    }

    /** Service in cost units: w_e per computed prompt token plus w_q per output token. */
    long service(int inputWeight, int outputWeight) {
        return inputWeight * extendTokens + outputWeight * outputTokens;
    }
}
