package io.chunkserve.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.chunkserve.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading model directories, and the one-line errors for the ones that cannot be served. */
class ModelLoadingTest {
    @TempDir
    Path tmp;

    static Path copyOf(String fixture, Path dest) throws IOException {
        Files.createDirectories(dest);
        try (Stream<Path> files = Files.list(Fixtures.model(fixture))) {
            for (Path f : files.toList()) Files.copy(f, dest.resolve(f.getFileName()));
        }
        return dest;
    }

    /** The CPU backend's copy of the matrices: byte for byte the checkpoint's, in one buffer apart from the mapped file. */
    @Test
    void cpuWeightsAreAResidentCopy() {
        for (String name : new String[] {"tiny-llama3", "tiny-qwen2"}) {
            try (Model m = Model.load(Fixtures.model(name))) {
                ModelWeights w = m.weights(), c = m.cpuWeights();
                assertSame(c, m.cpuWeights(), "made once");
                java.util.List<Weight[]> pairs = new java.util.ArrayList<>();
                for (int l = 0; l < w.layers().length; l++) {
                    ModelWeights.Layer a = w.layers()[l], b = c.layers()[l];
                    pairs.add(new Weight[] {a.wq(), b.wq()});
                    pairs.add(new Weight[] {a.wk(), b.wk()});
                    pairs.add(new Weight[] {a.wv(), b.wv()});
                    pairs.add(new Weight[] {a.wo(), b.wo()});
                    pairs.add(new Weight[] {a.wGate(), b.wGate()});
                    pairs.add(new Weight[] {a.wUp(), b.wUp()});
                    pairs.add(new Weight[] {a.wDown(), b.wDown()});
                    assertSame(a.attnNorm(), b.attnNorm());
                }
                pairs.add(new Weight[] {w.lmHead(), c.lmHead()});
                long prev = -1;
                for (Weight[] p : pairs) {
                    assertEquals(p[0].byteSize(), p[1].byteSize(), p[0].name());
                    assertEquals(-1L, p[0].data().asSlice(0, p[0].byteSize()).mismatch(p[1].data()), p[0].name() + " copied byte for byte");
                    assertNotEquals(p[0].data().address(), p[1].data().address(), p[0].name() + " is a copy");
                    assertTrue(p[1].data().address() > prev, "one buffer in reading order");
                    prev = p[1].data().address();
                }
                assertEquals(w.embed() == w.lmHead(), c.embed() == c.lmHead(), name + ": a tied head stays the embedding");
            }
        }
    }

    @Test
    void readsEachArchitectureFeatureFromItsCheckpoint() {
        try (Model q2 = Model.load(Fixtures.model("tiny-qwen2"));
             Model q3 = Model.load(Fixtures.model("tiny-qwen3"));
             Model l3 = Model.load(Fixtures.model("tiny-llama3"))) {
            ModelWeights.Layer qwen2 = q2.weights().layers()[0];
            assertNotNull(qwen2.bq(), "qwen2 q bias");
            assertSame(q2.weights().embed(), q2.weights().lmHead(), "qwen2 ties its embeddings");
            assertNotNull(q3.weights().layers()[1].qNorm(), "qwen3 q_norm");
            assertEquals(32, q3.config().headDim(), "qwen3 head_dim differs from hidden/heads");
            assertFalse(Files.exists(Fixtures.model("tiny-qwen3").resolve("model.safetensors")), "qwen3 loads from its sharded index");
            assertNull(l3.weights().layers()[0].bq());
            assertFalse(l3.weights().embed() == l3.weights().lmHead());
            assertEquals("llama3", l3.config().rope().type());
            assertEquals(2, l3.config().groupSize());
        }
    }

    @Test
    void olderRopeKeysGiveTheSameFrequenciesAsRopeParameters() throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) om.readTree(Fixtures.model("tiny-llama3").resolve("config.json").toFile());
        ModelConfig modern = ModelConfig.parse(cfg);
        ObjectNode params = (ObjectNode) cfg.remove("rope_parameters");
        cfg.put("rope_theta", params.get("rope_theta").asDouble());
        params.remove("rope_theta");
        params.remove("rope_type");
        params.put("type", "llama3"); // the oldest spelling
        cfg.set("rope_scaling", params);
        ModelConfig old = ModelConfig.parse(cfg);
        assertEquals(modern.rope(), old.rope());
        float[] a = modern.rope().inverseFrequencies(16), plain = new RopeScaling("default", 500000, 1, 1, 4, 64).inverseFrequencies(16);
        assertTrue(a[7] < plain[7] / 7.9, "llama3 scaling divides the low frequencies by the factor");
        assertEquals(plain[0], a[0], "high frequencies are kept");
    }

    @Test
    void missingDirectoryIsOneClearLine() {
        var e = assertThrows(ModelLoadException.class, () -> Model.load(tmp.resolve("nope")));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void unsupportedArchitectureIsNamed() throws IOException {
        Path d = copyOf("tiny-llama3", tmp.resolve("m"));
        String cfg = Files.readString(d.resolve("config.json")).replace("\"model_type\": \"llama\"", "\"model_type\": \"gpt2\"")
                .replace("LlamaForCausalLM", "GPT2LMHeadModel");
        Files.writeString(d.resolve("config.json"), cfg);
        var e = assertThrows(ModelLoadException.class, () -> Model.load(d));
        assertTrue(e.getMessage().contains("unsupported architecture 'GPT2LMHeadModel'"), e.getMessage());
    }

    @Test
    void truncatedSafetensorsIsReported() throws IOException {
        Path d = copyOf("tiny-llama3", tmp.resolve("m"));
        Path st = d.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(st);
        Files.write(st, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        var e = assertThrows(ModelLoadException.class, () -> Model.load(d));
        assertTrue(e.getMessage().contains("truncated or corrupt"), e.getMessage());
    }

    @Test
    void corruptHeaderIsReported() throws IOException {
        Path d = copyOf("tiny-llama3", tmp.resolve("m"));
        Files.write(d.resolve("model.safetensors"), new byte[]{(byte) 0xff, (byte) 0xff, 0, 0, 0, 0, 0, 0, 1, 2, 3});
        var e = assertThrows(ModelLoadException.class, () -> Model.load(d));
        assertTrue(e.getMessage().contains("corrupt or truncated safetensors header"), e.getMessage());
    }

    @Test
    void unsupportedDtypeIsNamed() throws IOException {
        Path d = copyOf("tiny-llama3", tmp.resolve("m"));
        // Rewrite one tensor's dtype in the header to I8 (same byte count would not match; the dtype check comes first).
        Path st = d.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(st);
        long hl = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) hl, StandardCharsets.UTF_8);
        String patched = header.replaceFirst("\"F32\"", "\"I64\"");
        assertEquals(header.length(), patched.length());
        System.arraycopy(patched.getBytes(StandardCharsets.UTF_8), 0, bytes, 8, (int) hl);
        Files.write(st, bytes);
        var e = assertThrows(ModelLoadException.class, () -> Model.load(d));
        assertTrue(e.getMessage().contains("unsupported dtype I64"), e.getMessage());
    }

    @Test
    void missingShardIsReported() throws IOException {
        Path d = copyOf("tiny-qwen3", tmp.resolve("m"));
        Files.delete(d.resolve("model-00003-of-00011.safetensors"));
        var e = assertThrows(ModelLoadException.class, () -> Model.load(d));
        assertTrue(e.getMessage().contains("missing shard model-00003-of-00011.safetensors"), e.getMessage());
    }

    @Test
    void weightsAreMappedNotCopied() {
        try (Model m = Model.load(Fixtures.model("tiny-llama3-bf16"))) {
            Weight wq = m.weights().layers()[0].wq();
            assertEquals(DType.BF16, wq.dtype());
            assertTrue(wq.data().isMapped(), "weights are slices of the file mapping");
        }
    }
}
