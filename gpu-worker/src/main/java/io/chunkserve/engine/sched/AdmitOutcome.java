package io.chunkserve.engine.sched;

/**
 * What the engine answers when a policy asks to start a waiting request ({@link Admission#tryAdmit}).
 * A small enum instead of exceptions, as SGLang's {@code AddReqResult}: the policy decides the
 * order, the engine decides whether the request fits this step.
 *
 * <p>Every outcome but {@link #ADMITTED} ends the scheduling pass. Continuing past a request that
 * does not fit would let smaller requests overtake a large one forever (SGLang breaks on
 * {@code NO_TOKEN} for the same reason); DLPM additionally stops "when KV memory is full".
 */
public enum AdmitOutcome {
    /** Started: the engine moved the request into its running set and set its cached tokens. */
    ADMITTED,
    /** Its KV (uncached prompt plus headroom) does not fit the free and evictable chunks now. */
    NO_KV_MEMORY,
    /** The engine already runs its maximum number of sequences. */
    BATCH_FULL,
    /** This step's token budget (decodes plus prefill chunks) is used up. */
    TOKEN_BUDGET;

    /** Whether the request was started. */
    public boolean admitted() { return this == ADMITTED; }
}
