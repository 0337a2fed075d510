package io.chunkserve.service.loadgen;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The baseline of {@code bench serve}: what this machine's loopback TCP delivers with no HTTP, no
 * JSON and no framework, in the same shape: {@code connections} sockets, one writer thread writing
 * one {@code eventBytes} message per socket in turn (one {@code write} each, TCP_NODELAY, as the
 * server flushes one SSE event), one reader thread reading whatever is ready (epoll, as the load
 * generator does). Both threads run flat out, so this is an upper bound on SSE events/s for any
 * server and client sharing these cores; the front end's figure is read against it.
 */
final class SocketFloor {
    record Result(int connections, int eventBytes, double seconds, double eventsPerSecond) { }

    private SocketFloor() { }

    static Result run(int connections, int eventBytes, double seconds) throws Exception {
        List<SocketChannel> writers = new ArrayList<>(), readers = new ArrayList<>();
        try (ServerSocketChannel listen = ServerSocketChannel.open();
             Selector selector = Selector.open()) {
            listen.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), connections);
            for (int i = 0; i < connections; i++) {
                SocketChannel w = SocketChannel.open(listen.getLocalAddress());
                w.setOption(StandardSocketOptions.TCP_NODELAY, true);
                writers.add(w);
                SocketChannel r = listen.accept();
                r.configureBlocking(false);
                r.register(selector, SelectionKey.OP_READ);
                readers.add(r);
            }
            AtomicBoolean stop = new AtomicBoolean();
            java.util.concurrent.atomic.AtomicLong read = new java.util.concurrent.atomic.AtomicLong();
            Thread reader = Thread.ofPlatform().name("floor-reader").start(() -> {
                ByteBuffer buf = ByteBuffer.allocateDirect(64 << 10);
                try {
                    while (!stop.get()) {
                        if (selector.select(100) == 0) continue;
                        for (SelectionKey k : selector.selectedKeys()) {
                            buf.clear();
                            int n = ((SocketChannel) k.channel()).read(buf);
                            if (n > 0) read.addAndGet(n);
                        }
                        selector.selectedKeys().clear();
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            ByteBuffer msg = ByteBuffer.allocateDirect(eventBytes);
            for (int i = 0; i < eventBytes; i++) msg.put((byte) 'x');
            long warm = System.nanoTime() + 500_000_000L, end = warm + (long) (seconds * 1e9);
            long readAtStart = -1;
            while (System.nanoTime() < end) {
                for (SocketChannel w : writers) {
                    msg.clear();
                    while (msg.hasRemaining()) w.write(msg);
                }
                if (readAtStart < 0 && System.nanoTime() >= warm) readAtStart = read.get();
            }
            long readAtEnd = read.get();
            stop.set(true);
            reader.join(5000);
            double events = (readAtEnd - Math.max(0, readAtStart)) / (double) eventBytes;
            return new Result(connections, eventBytes, seconds, events / seconds);
        } finally {
            for (SocketChannel c : writers) c.close();
            for (SocketChannel c : readers) c.close();
        }
    }
}
