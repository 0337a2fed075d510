package io.chunkserve.service.config;

import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.model.DType;
import io.chunkserve.service.ServiceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigLoaderTest {
    static final Path MODEL = Path.of(System.getProperty("chunkserve.fixtures", "../fixtures")).resolve("tiny-llama3");
    static final ServiceConfig DEFAULTS = ServiceConfig.defaults(WorkerConfig.defaults(MODEL), "0.0.0.0", 8080, 50051);

    @TempDir
    Path dir;

    private static Map<Setting, String> flags(Object... kv) {
        Map<Setting, String> m = new EnumMap<>(Setting.class);
        for (int i = 0; i < kv.length; i += 2) m.put((Setting) kv[i], (String) kv[i + 1]);
        return m;
    }

    private Path file(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    @Test
    void nothingSetGivesTheDefaults() {
        var r = ConfigLoader.load(DEFAULTS, Map.of(), Map.of(), null);
        assertEquals(DEFAULTS, r.config());
        r.sources().values().forEach(s -> assertEquals(ConfigLoader.Source.DEFAULT, s));
        assertNull(r.file());
    }

    @Test
    void flagsBeatEnvironmentWhichBeatsTheFile() throws IOException {
        Path f = file("c.yaml", "port: 1111\ngrpc_port: 2222\nchunk_size: 32\n");
        var r = ConfigLoader.load(DEFAULTS, Map.of("CHUNKSERVE_PORT", "3333", "CHUNKSERVE_GRPC_PORT", "4444"),
                flags(Setting.PORT, "5555"), f);
        assertEquals(5555, r.config().port());
        assertEquals(4444, r.config().grpcPort());
        assertEquals(32, r.config().worker().chunkSize());
        assertEquals(ConfigLoader.Source.FLAG, r.sources().get(Setting.PORT));
        assertEquals(ConfigLoader.Source.ENV, r.sources().get(Setting.GRPC_PORT));
        assertEquals(ConfigLoader.Source.FILE, r.sources().get(Setting.CHUNK_SIZE));
    }

    @Test
    void everyKeyFromAYamlFile() throws IOException {
        Path keys = file("keys.yaml", "sk-secret-123: alice\n");
        Path f = file("full.yaml", """
                model: %s
                host: 127.0.0.1
                port: 0
                grpc-port: -1          # kebab-case works too
                chunk_size: 16
                kv_bytes: 512MiB
                kv_dtype: bf16
                threads: 2
                scheduler: VTC
                quantum: 1000
                max_running_seqs: 8
                max_batch_tokens: 16
                max_waiting_requests: 10
                max_waiting_tokens: 20000
                max_waiting_requests_per_tenant: 5
                max_waiting_tokens_per_tenant: 3000
                max_body_bytes: 1MiB
                keys_file: %s
                drain_timeout: 2m
                synthetic: 0
                """.formatted(MODEL, keys));
        ServiceConfig c = ConfigLoader.load(DEFAULTS, Map.of(), Map.of(), f).config();
        assertEquals("127.0.0.1", c.host());
        assertEquals(0, c.port());
        assertEquals(-1, c.grpcPort());
        assertEquals(16, c.worker().chunkSize());
        assertEquals(512L << 20, c.worker().kvBytes());
        assertEquals(DType.BF16, c.worker().kvDtype());
        assertEquals(2, c.worker().threads());
        assertEquals("vtc", c.worker().scheduler());
        assertEquals(1000, c.worker().quantum());
        assertEquals(8, c.worker().engine().maxRunningSequences());
        assertEquals(16, c.worker().engine().maxBatchTokens());
        assertEquals(10, c.maxWaitingRequests());
        assertEquals(20000, c.maxWaitingTokens());
        assertEquals(5, c.maxWaitingRequestsPerTenant());
        assertEquals(3000, c.maxWaitingTokensPerTenant());
        assertEquals(1L << 20, c.maxBodyBytes());
        assertEquals(keys, c.keysFile());
        assertEquals(Duration.ofMinutes(2), c.drainTimeout());
    }

    @Test
    void kvDtypeDefaultsToAutoAndParsesAuto() {
        ServiceConfig d = ConfigLoader.load(DEFAULTS, Map.of(), Map.of(), null).config();
        org.junit.jupiter.api.Assertions.assertNull(d.worker().kvDtype(), "default: auto");
        assertEquals("auto", Setting.KV_DTYPE.show(d));
        ServiceConfig a = ConfigLoader.load(DEFAULTS, Map.of("CHUNKSERVE_KV_DTYPE", "bf16"), flags(Setting.KV_DTYPE, "AUTO"), null).config();
        org.junit.jupiter.api.Assertions.assertNull(a.worker().kvDtype(), "the flag's auto wins over the environment");
        ServiceConfig f = ConfigLoader.load(DEFAULTS, Map.of(), flags(Setting.KV_DTYPE, "f32"), null).config();
        assertEquals(DType.F32, f.worker().kvDtype());
        assertEquals("f32", Setting.KV_DTYPE.show(f));
    }

    @Test
    void jsonFileAndConfigFromEnvironment() throws IOException {
        Path f = file("c.json", "{\"kv_bytes\": \"2GiB\", \"drain_timeout\": 45, \"synthetic\": 50}");
        var r = ConfigLoader.load(DEFAULTS, Map.of("CHUNKSERVE_CONFIG", f.toString()), Map.of(), null);
        assertEquals(2L << 30, r.config().worker().kvBytes());
        assertEquals(Duration.ofSeconds(45), r.config().drainTimeout());
        assertEquals(50.0, r.config().synthetic());
        assertEquals(f, r.file());
    }

    @Test
    void badValuesNameTheSettingAndItsSource() throws IOException {
        assertBad("kv_bytes (env CHUNKSERVE_KV_BYTES): '12XB' is not a size",
                Map.of("CHUNKSERVE_KV_BYTES", "12XB"), Map.of(), null);
        assertBad("chunk_size (flag --chunk-size): 48 is not one of 16, 32, 64, 128", Map.of(), flags(Setting.CHUNK_SIZE, "48"), null);
        assertBad("port (flag --port): 70000 is out of range 0..65535", Map.of(), flags(Setting.PORT, "70000"), null);
        assertBad("scheduler (flag --scheduler): 'rr' is not one of dlpm, vtc, lpm, fcfs", Map.of(), flags(Setting.SCHEDULER, "rr"), null);
        assertBad("kv_dtype (flag --kv-dtype): unknown dtype", Map.of(), flags(Setting.KV_DTYPE, "int3"), null);
        assertBad("drain_timeout (flag --drain-timeout): 'soon' is not a duration", Map.of(), flags(Setting.DRAIN_TIMEOUT, "soon"), null);
        assertBad("threads (flag --threads): 'many' is not an integer", Map.of(), flags(Setting.THREADS, "many"), null);
        Path f = file("bad.yaml", "max_body_bytes: lots\n");
        assertBad("max_body_bytes (config file " + f + "): 'lots' is not a size", Map.of(), Map.of(), f);
        assertBad("unknown key 'kv_byte'", Map.of(), Map.of(), file("typo.yaml", "kv_byte: 1GiB\n"));
        assertBad("must be a single value", Map.of(), Map.of(), file("nested.yaml", "port: [1, 2]\n"));
        assertBad("expected a map", Map.of(), Map.of(), file("list.yaml", "- 1\n"));
        assertBad("not found", Map.of(), Map.of(), dir.resolve("missing.yaml"));
        assertBad("model (flag --model): no model directory at /nonexistent", Map.of(), flags(Setting.MODEL, "/nonexistent"), null);
        assertBad("keys_file (flag --keys-file): cannot read", Map.of(), flags(Setting.KEYS_FILE, dir.resolve("nokeys").toString()), null);
    }

    @Test
    void batchLimitsAreCheckedTogether() {
        // Larger running set with a larger budget: fine in either order.
        ServiceConfig c = ConfigLoader.load(DEFAULTS, Map.of(), flags(Setting.MAX_RUNNING_SEQS, "2048", Setting.MAX_BATCH_TOKENS, "4096"), null).config();
        assertEquals(2048, c.worker().engine().maxRunningSequences());
        c = ConfigLoader.load(DEFAULTS, Map.of(), flags(Setting.MAX_RUNNING_SEQS, "8", Setting.MAX_BATCH_TOKENS, "16"), null).config();
        assertEquals(16, c.worker().engine().maxBatchTokens());
        assertBad("max_batch_tokens (flag --max-batch-tokens): max_batch_tokens (32) must be >= max_running_seqs (64)",
                Map.of(), flags(Setting.MAX_BATCH_TOKENS, "32"), null);
    }

    @Test
    void syntheticModeNeedsNoModel() {
        var r = ConfigLoader.load(DEFAULTS, Map.of(), flags(Setting.SYNTHETIC, "100", Setting.MODEL, "/nonexistent"), null);
        assertEquals(100.0, r.config().synthetic());
        assertTrue(r.describe().contains("unused: synthetic mode"));
        assertBad("synthetic (flag --synthetic): 'fast' is not a number", Map.of(), flags(Setting.SYNTHETIC, "fast"), null);
    }

    @Test
    void startupBlockListsEverySettingAndNoKeys() throws IOException {
        Path keys = file("keys.yaml", "sk-very-secret: alice\n");
        var r = ConfigLoader.load(DEFAULTS, Map.of("CHUNKSERVE_KEYS_FILE", keys.toString()), Map.of(), null);
        String block = r.describe();
        for (Setting s : Setting.values()) assertTrue(block.contains("\n  " + s.key() + " "), s.key());
        assertTrue(block.contains(keys.toString()));
        assertFalse(block.contains("sk-very-secret"));
        assertTrue(block.lines().anyMatch(l -> l.contains("keys_file") && l.endsWith("(env)")), block);
        assertTrue(block.lines().anyMatch(l -> l.contains("kv_bytes") && l.contains("256MiB")), block);
    }

    @Test
    void unknownEnvironmentVariablesWarnButDoNotFail() {
        var r = ConfigLoader.load(DEFAULTS, Map.of("CHUNKSERVE_KV_BYTE", "1GiB", "CHUNKSERVE_HOME", "/x", "PATH", "/bin"), Map.of(), null);
        assertEquals(1, r.warnings().size());
        assertTrue(r.warnings().getFirst().contains("CHUNKSERVE_KV_BYTE"));
    }

    @Test
    void namesAreDerivedFromTheKey() {
        assertEquals("CHUNKSERVE_MAX_WAITING_TOKENS_PER_TENANT", Setting.MAX_WAITING_TOKENS_PER_TENANT.env());
        assertEquals("--max-waiting-tokens-per-tenant", Setting.MAX_WAITING_TOKENS_PER_TENANT.flag());
        assertEquals(Setting.KV_BYTES, Setting.byKey("kv-bytes"));
        assertNull(Setting.byKey("kv"));
    }

    private static void assertBad(String expected, Map<String, String> env, Map<Setting, String> flags, Path file) {
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(DEFAULTS, env, flags, file));
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }
}
