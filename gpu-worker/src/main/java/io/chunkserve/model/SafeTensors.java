package io.chunkserve.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header
 * {@code {name: {dtype, shape, data_offsets: [begin, end]}}}, then the raw tensor bytes.
 * Tensors are slices of the mapping; nothing is copied onto the heap. Every offset and size
 * is validated against the file so a truncated or corrupt file fails with one clear line.
 */
public final class SafeTensors {
    /** One tensor's entry in the header. */
    public record Entry(String name, String dtype, long[] shape, MemorySegment data) { }

    private static final long MAX_HEADER = 100L << 20;

    private final Path path;
    private final Map<String, Entry> tensors = new LinkedHashMap<>();

    private SafeTensors(Path path) { this.path = path; }

    public Path path() { return path; }

    public Map<String, Entry> tensors() { return tensors; }

    /** Maps {@code file} into {@code arena} (the arena's lifetime bounds the mapping). */
    public static SafeTensors open(Path file, Arena arena) {
        SafeTensors st = new SafeTensors(file);
        String where = file.getFileName().toString();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new ModelLoadException(where + ": truncated safetensors file (" + size + " bytes)");
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
                throw new ModelLoadException(where + ": corrupt or truncated safetensors header (length " + headerLen + ", file " + size + " bytes)");
            }
            byte[] hb = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            JsonNode header;
            try {
                header = new ObjectMapper().readTree(new String(hb, StandardCharsets.UTF_8).trim());
            } catch (IOException e) {
                throw new ModelLoadException(where + ": corrupt safetensors header (not JSON)");
            }
            if (header == null || !header.isObject()) throw new ModelLoadException(where + ": corrupt safetensors header");
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) continue;
                st.tensors.put(e.getKey(), entry(where, e.getKey(), e.getValue(), all, dataStart, dataLen));
            }
        } catch (IOException e) {
            throw new ModelLoadException(where + ": cannot read (" + e.getMessage() + ")");
        }
        return st;
    }

    private static Entry entry(String where, String name, JsonNode t, MemorySegment all, long dataStart, long dataLen) {
        String dtype = t.path("dtype").asText("");
        JsonNode shapeNode = t.path("shape");
        JsonNode offs = t.path("data_offsets");
        if (!shapeNode.isArray() || !offs.isArray() || offs.size() != 2) {
            throw new ModelLoadException(where + ": corrupt header entry for tensor " + name);
        }
        long[] shape = new long[shapeNode.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0) throw new ModelLoadException(where + ": negative dimension in tensor " + name);
            count = Math.multiplyExact(count, shape[i]);
        }
        long begin = offs.get(0).asLong(-1), end = offs.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataLen) {
            throw new ModelLoadException(where + ": tensor " + name + " lies outside the file (offsets " + begin + ".." + end
                    + ", data " + dataLen + " bytes): truncated or corrupt file");
        }
        DType dt = DType.fromSafetensors(dtype);
        if (dt != null && count * dt.bytes() != end - begin) {
            throw new ModelLoadException(where + ": tensor " + name + " has " + (end - begin) + " bytes for its shape and dtype " + dtype);
        }
        return new Entry(name, dtype, shape, all.asSlice(dataStart + begin, end - begin));
    }

    /** Opens a model directory's weights: model.safetensors or the shards named by model.safetensors.index.json. */
    public static Map<String, Entry> openModel(Path dir, Arena arena) {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        Map<String, Entry> all = new LinkedHashMap<>();
        if (Files.isRegularFile(index)) {
            JsonNode map;
            try {
                map = new ObjectMapper().readTree(index.toFile()).path("weight_map");
            } catch (IOException e) {
                throw new ModelLoadException("model.safetensors.index.json is not valid JSON");
            }
            if (!map.isObject()) throw new ModelLoadException("model.safetensors.index.json has no weight_map");
            Map<String, SafeTensors> files = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String fname = e.getValue().asText();
                if (fname.contains("/") || fname.contains("\\")) throw new ModelLoadException("index names a shard outside the model directory: " + fname);
                SafeTensors st = files.computeIfAbsent(fname, f -> {
                    Path p = dir.resolve(f);
                    if (!Files.isRegularFile(p)) throw new ModelLoadException("missing shard " + f + " named by model.safetensors.index.json");
                    return open(p, arena);
                });
                Entry t = st.tensors.get(e.getKey());
                if (t == null) throw new ModelLoadException("shard " + fname + " lacks tensor " + e.getKey() + " named by the index");
                all.put(e.getKey(), t);
            }
        } else if (Files.isRegularFile(single)) {
            all.putAll(open(single, arena).tensors);
        } else {
            throw new ModelLoadException("no model.safetensors or model.safetensors.index.json in " + dir);
        }
        return all;
    }
}
