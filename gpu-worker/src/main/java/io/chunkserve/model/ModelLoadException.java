package io.chunkserve.model;

/** A model directory that cannot be served; the message is one line meant for the operator. */
public final class ModelLoadException extends RuntimeException {
    public ModelLoadException(String message) { super(message); }

    public ModelLoadException(String message, Throwable cause) { super(message, cause); }
}
