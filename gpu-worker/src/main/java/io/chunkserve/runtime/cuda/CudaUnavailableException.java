package io.chunkserve.runtime.cuda;

/** CUDA was asked for explicitly but cannot be used here; the message is one line: "CUDA unavailable: reason". */
public final class CudaUnavailableException extends IllegalStateException {
    public CudaUnavailableException(String message) { super(message); }
}
