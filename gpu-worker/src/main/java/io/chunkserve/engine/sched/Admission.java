package io.chunkserve.engine.sched;

/**
 * The engine's side of a scheduling pass: asked by the policy, in the policy's order, to start
 * one waiting request now.
 *
 * <p>Contract for the engine's implementation (it runs on the engine thread, inside
 * {@link SchedulingPolicy#schedule}):
 * <ul>
 *   <li>Decide with the engine's own limits only: KV reservation (free plus evictable chunks),
 *       maximum running sequences, this step's token budget. Return the first limit hit.</li>
 *   <li>On {@link AdmitOutcome#ADMITTED}: move the request into the running set (open its
 *       {@code KvSequence}, reserve) and call {@link QueuedRequest#setCachedTokens} with the prefix
 *       actually reused ({@code KvSequence.cachedTokens()}); the policy charges the tenant for
 *       {@code promptTokens − cachedTokens} right after this call returns.</li>
 *   <li>Do not touch the waiting list handed to {@code schedule}: the policy removes admitted
 *       requests from it when the pass ends.</li>
 * </ul>
 */
@FunctionalInterface
public interface Admission {
    /** Tries to start {@code request} in this step; never throws for "does not fit". */
    AdmitOutcome tryAdmit(QueuedRequest request);
}
