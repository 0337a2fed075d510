package io.chunkserve.service.openai;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A bare HTTP/1.1 client on a socket, for tests that must control reading: stop early, or read late. */
final class RawHttp implements AutoCloseable {
    final Socket socket;
    final InputStream in;

    private RawHttp(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
    }

    /** Opens a connection (with the given receive buffer, 0 = default) and sends a POST with a JSON body. */
    static RawHttp post(int port, String path, String json, int receiveBuffer) throws IOException {
        Socket s = new Socket();
        if (receiveBuffer > 0) s.setReceiveBufferSize(receiveBuffer);
        s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
        s.setSoTimeout(60_000);
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(body);
        out.flush();
        return new RawHttp(s);
    }

    /** Reads raw bytes until {@code marker} has been seen; returns what was read. */
    String readUntil(String marker) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] b = new byte[4096];
        while (!buf.toString(StandardCharsets.UTF_8).contains(marker)) {
            int n = in.read(b);
            if (n < 0) throw new IOException("connection closed before '" + marker + "': " + buf.toString(StandardCharsets.UTF_8));
            buf.write(b, 0, n);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    /** Reads the status line and headers of a 200 chunked response. */
    void readHead() throws IOException {
        String head = line();
        if (!head.startsWith("HTTP/1.1 200")) throw new IOException("unexpected status line: " + head);
        String h;
        boolean chunked = false;
        while (!(h = line()).isEmpty()) chunked |= h.toLowerCase().startsWith("transfer-encoding: chunked");
        if (!chunked) throw new IOException("not a chunked response");
    }

    /** After {@link #readHead}: reads the rest of a chunked body and returns it de-chunked. */
    String readChunkedBody() throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        while (true) {
            int size = Integer.parseInt(line().split(";")[0].trim(), 16);
            if (size == 0) {
                line();
                return body.toString(StandardCharsets.UTF_8);
            }
            body.write(in.readNBytes(size));
            line();
        }
    }

    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) != '\n') {
            if (c < 0) throw new IOException("unexpected end of stream");
            if (c != '\r') b.write(c);
        }
        return b.toString(StandardCharsets.US_ASCII);
    }

    @Override
    public void close() throws IOException { socket.close(); }
}
