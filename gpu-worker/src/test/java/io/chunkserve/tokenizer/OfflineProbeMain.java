package io.chunkserve.tokenizer;

import java.io.IOException;
import java.net.Proxy;
import java.net.URL;
import java.net.URLConnection;
import java.net.URLStreamHandler;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Run in a child JVM by {@link DjlOfflineTest}: refuses (and reports) every http/https URL
 * connection, then loads a fixture tokenizer and prints what happened.
 */
public final class OfflineProbeMain {

    private OfflineProbeMain() {}

    private static URLConnection refuse(URL u) throws IOException {
        System.out.println("NETWORK-ATTEMPT " + u);
        throw new IOException("network access refused by OfflineProbeMain: " + u);
    }

    public static void main(String[] args) {
        URL.setURLStreamHandlerFactory(protocol -> protocol.startsWith("http") ? new URLStreamHandler() {
            @Override
            protected URLConnection openConnection(URL u) throws IOException {
                return refuse(u);
            }

            @Override
            protected URLConnection openConnection(URL u, Proxy p) throws IOException {
                return refuse(u);
            }
        } : null);
        try (Tokenizer tok = Tokenizer.load(Path.of(args[0]))) {
            System.out.println("IDS " + Arrays.toString(tok.encode("Hello, world!", false)));
            System.out.println("OFFLINE " + System.getProperty("ai.djl.offline"));
            System.out.println("OPT_OUT_TRACKING " + System.getProperty("OPT_OUT_TRACKING"));
        }
    }
}
