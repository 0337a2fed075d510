package io.chunkserve.service.config;

/**
 * A bad setting: the message is one line naming the setting, where it came from and what a good
 * value looks like, e.g. {@code kv_bytes (env CHUNKSERVE_KV_BYTES): '12XB' is not a size (use e.g.
 * 512MiB, ...)}. {@code serve} prints it and exits 2.
 */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }
}
