package io.chunkserve.engine;

/** The engine's answer when a scheduler asks to admit a waiting request. */
public enum Admission {
    /** Admitted: its KV is reserved and it runs from this step on. */
    ADMITTED,
    /** Not enough KV memory (free plus evictable chunks): stop admitting this step. */
    NO_KV_MEMORY,
    /** The batch holds as many sequences as allowed: stop admitting this step. */
    BATCH_FULL
}
