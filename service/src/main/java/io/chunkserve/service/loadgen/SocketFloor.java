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

    /** A paced run: messages/s offered and delivered, and each message's latency from its nominal send time (µs). */
    record Paced(int connections, double offeredPerSecond, double deliveredPerSecond, double p50Ms, double p99Ms, double maxMs,
                 double writerLateP99Ms) { }

    private SocketFloor() { }

    /**
     * Opens {@code connections} loopback pairs: blocking TCP_NODELAY writers, non-blocking readers registered for
     * reads on {@code selector} (with {@code stamped}, each carries {bytes of the current message, its stamp}).
     */
    private static void connect(ServerSocketChannel listen, Selector selector, int connections, List<SocketChannel> writers,
                                List<SocketChannel> readers, boolean stamped) throws IOException {
        listen.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), connections);
        for (int i = 0; i < connections; i++) {
            SocketChannel w = SocketChannel.open(listen.getLocalAddress());
            w.setOption(StandardSocketOptions.TCP_NODELAY, true);
            writers.add(w);
            SocketChannel r = listen.accept();
            r.configureBlocking(false);
            r.register(selector, SelectionKey.OP_READ, stamped ? new long[2] : null);
            readers.add(r);
        }
    }

    static Result run(int connections, int eventBytes, double seconds) throws Exception {
        List<SocketChannel> writers = new ArrayList<>(), readers = new ArrayList<>();
        try (ServerSocketChannel listen = ServerSocketChannel.open();
             Selector selector = Selector.open()) {
            connect(listen, selector, connections, writers, readers, false);
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

    /**
     * The latency floor at a given rate: the same sockets and message size, the writer thread stepping every 1 ms
     * and writing the messages due by then (round-robin over the sockets), each stamped with its step's nominal
     * {@link System#nanoTime()}; the reader takes the time once per read and counts receive time − stamp for every
     * message it completes (the load generator's rule). Two threads, no HTTP: what any server plus client on these
     * cores adds at least, at this rate.
     */
    static Paced runPaced(int connections, int eventBytes, double seconds, double perSecond) throws Exception {
        List<SocketChannel> writers = new ArrayList<>(), readers = new ArrayList<>();
        org.HdrHistogram.Histogram lat = new org.HdrHistogram.Histogram(60_000_000L, 3), late = new org.HdrHistogram.Histogram(60_000_000L, 3);
        try (ServerSocketChannel listen = ServerSocketChannel.open();
             Selector selector = Selector.open()) {
            connect(listen, selector, connections, writers, readers, true);
            AtomicBoolean stop = new AtomicBoolean();
            long t0 = System.nanoTime(), measureFrom = t0 + 500_000_000L, end = measureFrom + (long) (seconds * 1e9);
            java.util.concurrent.atomic.AtomicLong received = new java.util.concurrent.atomic.AtomicLong();
            Thread reader = Thread.ofPlatform().name("floor-reader").start(() -> {
                ByteBuffer buf = ByteBuffer.allocateDirect(64 << 10);
                try {
                    while (!stop.get()) {
                        if (selector.select(100) == 0) continue;
                        long now = System.nanoTime();
                        for (SelectionKey k : selector.selectedKeys()) {
                            long[] st = (long[]) k.attachment();
                            buf.clear();
                            int n = ((SocketChannel) k.channel()).read(buf);
                            for (int i = 0; i < n; i++) {
                                int pos = (int) st[0];
                                if (pos < 8) st[1] = (st[1] << 8) | (buf.get(i) & 0xff);
                                if (++st[0] == eventBytes) {
                                    st[0] = 0;
                                    long stamp = st[1];
                                    st[1] = 0;
                                    if (stamp >= measureFrom && stamp < end) {
                                        lat.recordValue(Math.max(0, (now - stamp) / 1000));
                                        received.incrementAndGet();
                                    }
                                }
                            }
                        }
                        selector.selectedKeys().clear();
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            ByteBuffer msg = ByteBuffer.allocateDirect(eventBytes);
            long sent = 0;
            int next = 0;
            for (long step = 0; ; step++) {
                long nominal = t0 + step * 1_000_000L;
                long now = System.nanoTime();
                if (nominal > now) {
                    java.util.concurrent.locks.LockSupport.parkNanos(nominal - now);
                    now = System.nanoTime();
                }
                if (nominal >= end) break;
                if (nominal >= measureFrom) late.recordValue(Math.max(0, (now - nominal) / 1000));
                long due = (long) ((step + 1) * perSecond / 1000.0);
                for (; sent < due; sent++) {
                    msg.clear();
                    msg.putLong(nominal);
                    while (msg.position() < eventBytes) msg.put((byte) 'x');
                    msg.flip();
                    SocketChannel w = writers.get(next);
                    next = next + 1 == connections ? 0 : next + 1;
                    while (msg.hasRemaining()) w.write(msg);
                }
            }
            Thread.sleep(200);   // the last messages arrive
            stop.set(true);
            reader.join(5000);
            return new Paced(connections, perSecond, received.get() / seconds, lat.getValueAtPercentile(50) / 1000.0,
                    lat.getValueAtPercentile(99) / 1000.0, lat.getMaxValue() / 1000.0, late.getValueAtPercentile(99) / 1000.0);
        } finally {
            for (SocketChannel c : writers) c.close();
            for (SocketChannel c : readers) c.close();
        }
    }
}
