package io.chunkserve.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.chunkserve.service.ServeCommand;
import io.chunkserve.service.ServiceConfig;
import io.chunkserve.service.config.ConfigLoader;
import io.chunkserve.service.config.Setting;
import io.chunkserve.service.metrics.ServiceMetrics;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kustomize base and overlays, checked against the service they deploy: every file parses,
 * every kustomization reference resolves, ports and probe paths are the server's, the config
 * file holds only known keys with valid values, and the drain fits the grace period.
 */
class ManifestsTest {
    static final Path ROOT = Path.of(System.getProperty("k8s.dir", "."));
    static final List<Path> KUSTOMIZATIONS = List.of(ROOT.resolve("base"), ROOT.resolve("overlays/cpu"), ROOT.resolve("overlays/gpu"));
    static final YAMLMapper YAML = new YAMLMapper();

    static List<JsonNode> docs(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
            while (it.hasNext()) {
                JsonNode n = it.next();
                if (n != null && !n.isNull() && !n.isMissingNode()) out.add(n);
            }
        }
        return out;
    }

    /** Every object an overlay (or the base) builds, by kind/name, with overlay patches merged in. */
    static Map<String, JsonNode> build(Path dir) throws IOException {
        JsonNode k = docs(dir.resolve("kustomization.yaml")).getFirst();
        Map<String, JsonNode> objects = new HashMap<>();
        for (JsonNode r : k.path("resources")) {
            Path p = dir.resolve(r.asText()).normalize();
            if (Files.isDirectory(p)) objects.putAll(build(p));
            else for (JsonNode d : docs(p)) objects.put(key(d), d);
        }
        for (JsonNode patch : k.path("patches")) {
            for (JsonNode d : docs(dir.resolve(patch.path("path").asText()))) {
                JsonNode target = objects.get(key(d));
                assertNotNull(target, dir + ": patch for " + key(d) + " matches no resource");
                merge((com.fasterxml.jackson.databind.node.ObjectNode) target, d);
            }
        }
        return objects;
    }

    /** A strategic-merge approximation: maps merge, lists of named items merge by name, others replace. */
    static void merge(com.fasterxml.jackson.databind.node.ObjectNode into, JsonNode patch) {
        patch.properties().forEach(e -> {
            JsonNode cur = into.get(e.getKey()), p = e.getValue();
            if (cur != null && cur.isObject() && p.isObject()) {
                merge((com.fasterxml.jackson.databind.node.ObjectNode) cur, p);
            } else if (cur != null && cur.isArray() && p.isArray() && p.size() > 0 && p.get(0).has("name")) {
                for (JsonNode item : p) {
                    JsonNode match = null;
                    for (JsonNode c : cur) if (c.path("name").equals(item.path("name"))) match = c;
                    if (match != null) merge((com.fasterxml.jackson.databind.node.ObjectNode) match, item);
                    else ((com.fasterxml.jackson.databind.node.ArrayNode) cur).add(item);
                }
            } else {
                into.set(e.getKey(), p.deepCopy());
            }
        });
    }

    static String key(JsonNode d) { return d.path("kind").asText() + "/" + d.path("metadata").path("name").asText(); }

    @Test
    void everyYamlFileParsesAndNamesItsKind() throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.walk(ROOT)) {
            files = s.filter(p -> p.toString().endsWith(".yaml") && !p.toString().contains("/target/") && !p.toString().contains("/src/")).toList();
        }
        assertTrue(files.size() >= 12, "found " + files);
        for (Path f : files) {
            List<JsonNode> ds = docs(f);
            assertFalse(ds.isEmpty(), f + " is empty");
            for (JsonNode d : ds) {
                assertFalse(d.path("apiVersion").asText().isEmpty(), f + ": no apiVersion");
                assertFalse(d.path("kind").asText().isEmpty(), f + ": no kind");
                if (!d.path("kind").asText().equals("Kustomization")) assertFalse(d.path("metadata").path("name").asText().isEmpty(), f + ": no name");
            }
        }
    }

    @Test
    void kustomizationReferencesResolve() throws IOException {
        for (Path dir : KUSTOMIZATIONS) {
            JsonNode k = docs(dir.resolve("kustomization.yaml")).getFirst();
            assertEquals("Kustomization", k.path("kind").asText());
            for (JsonNode r : k.path("resources")) {
                Path p = dir.resolve(r.asText()).normalize();
                assertTrue(Files.isRegularFile(p) || Files.isRegularFile(p.resolve("kustomization.yaml")), dir + ": resource " + r.asText() + " missing");
            }
            for (JsonNode patch : k.path("patches")) {
                assertTrue(Files.isRegularFile(dir.resolve(patch.path("path").asText())), dir + ": patch " + patch + " missing");
            }
            Map<String, JsonNode> objects = build(dir);
            for (String kind : List.of("Deployment/chunkserve", "Service/chunkserve", "ConfigMap/chunkserve-config",
                    "Secret/chunkserve-keys", "PodDisruptionBudget/chunkserve", "HorizontalPodAutoscaler/chunkserve")) {
                assertTrue(objects.containsKey(kind), dir + " lacks " + kind);
            }
        }
    }

    @Test
    void portsProbesAndConfigMatchTheService() throws IOException {
        for (Path dir : KUSTOMIZATIONS) {
            Map<String, JsonNode> o = build(dir);
            ServiceConfig cfg = effectiveConfig(o.get("ConfigMap/chunkserve-config"), dir);
            JsonNode pod = o.get("Deployment/chunkserve").path("spec").path("template");
            JsonNode c = pod.path("spec").path("containers").get(0);
            Map<String, Integer> ports = new HashMap<>();
            for (JsonNode p : c.path("ports")) ports.put(p.path("name").asText(), p.path("containerPort").asInt());
            assertEquals(cfg.port(), ports.get("http"), dir + ": http port");
            assertEquals(cfg.grpcPort(), ports.get("grpc"), dir + ": grpc port");
            // Without a config file the server would listen on its defaults; the manifests agree with them too.
            assertEquals(ServeCommand.defaults().port(), ports.get("http"));
            assertEquals(ServeCommand.defaults().grpcPort(), ports.get("grpc"));

            assertEquals("/ready", c.path("readinessProbe").path("httpGet").path("path").asText());
            assertEquals("/health", c.path("livenessProbe").path("httpGet").path("path").asText());
            for (String probe : List.of("readinessProbe", "livenessProbe", "startupProbe")) {
                assertTrue(ports.containsKey(c.path(probe).path("httpGet").path("port").asText()), dir + ": " + probe + " port");
            }
            assertEquals(String.valueOf(cfg.port()), pod.path("metadata").path("annotations").path("prometheus.io/port").asText());
            assertEquals("/metrics", pod.path("metadata").path("annotations").path("prometheus.io/path").asText());

            // The args point at the mounted config file; keys_file lies in the mounted Secret.
            List<String> args = new ArrayList<>();
            c.path("args").forEach(a -> args.add(a.asText()));
            assertEquals("serve", args.getFirst());
            String configPath = args.get(args.indexOf("--config") + 1);
            assertTrue(mounts(c, pod).containsKey(configPath), dir + ": " + configPath + " not mounted");
            assertEquals("configMap:chunkserve-config", mounts(c, pod).get(configPath));
            assertNotNull(cfg.keysFile(), dir + ": keys_file");
            assertTrue(mounts(c, pod).entrySet().stream().anyMatch(m -> cfg.keysFile().toString().startsWith(m.getKey() + "/")
                    && m.getValue().equals("secret:chunkserve-keys")), dir + ": keys_file outside the Secret mount");
            String keysName = cfg.keysFile().getFileName().toString();
            assertTrue(o.get("Secret/chunkserve-keys").path("stringData").has(keysName)
                    || o.get("Secret/chunkserve-keys").path("data").has(keysName), dir + ": Secret lacks " + keysName);

            // Drain fits in the grace period: preStop sleep + drain_timeout + a margin for the abort flush and exit.
            long grace = pod.path("spec").path("terminationGracePeriodSeconds").asLong();
            long preStop = c.path("lifecycle").path("preStop").path("exec").path("command").get(1).asLong();
            assertTrue(grace >= preStop + cfg.drainTimeout().toSeconds() + 5,
                    dir + ": grace " + grace + " s < preStop " + preStop + " s + drain " + cfg.drainTimeout().toSeconds() + " s + 5 s");
            assertTrue(c.path("resources").path("requests").has("cpu") && c.path("resources").path("limits").has("memory"), dir + ": resources");

            // Service: both ports, by name, to the pods.
            JsonNode svc = o.get("Service/chunkserve").path("spec");
            for (JsonNode p : svc.path("ports")) assertTrue(ports.containsKey(p.path("targetPort").asText()), dir + ": service targetPort " + p);
            assertEquals(2, svc.path("ports").size());
            assertSelects(svc.path("selector"), pod, dir + ": Service");
            assertSelects(o.get("PodDisruptionBudget/chunkserve").path("spec").path("selector").path("matchLabels"), pod, dir + ": PDB");
            assertSelects(o.get("Deployment/chunkserve").path("spec").path("selector").path("matchLabels"), pod, dir + ": Deployment");
        }
    }

    @Test
    void hpaScalesTheDeploymentOnTheQueueGauge() throws IOException {
        Map<String, JsonNode> o = build(ROOT.resolve("base"));
        JsonNode hpa = o.get("HorizontalPodAutoscaler/chunkserve");
        assertEquals("autoscaling/v2", hpa.path("apiVersion").asText());
        assertEquals("Deployment", hpa.path("spec").path("scaleTargetRef").path("kind").asText());
        assertEquals("chunkserve", hpa.path("spec").path("scaleTargetRef").path("name").asText());
        String metric = hpa.path("spec").path("metrics").get(0).path("pods").path("metric").path("name").asText();
        assertEquals("chunkserve_waiting_requests", metric);
        // The metric is one the server exports, as a plain gauge.
        String scrape = new ServiceMetrics(() -> null, () -> 0, () -> false).scrape();
        assertTrue(scrape.contains("# TYPE " + metric + " gauge"), scrape);
        assertTrue(hpa.path("metadata").path("annotations").fieldNames().next().contains(metric));
        assertTrue(hpa.path("spec").path("minReplicas").asInt() >= 2, "min 2 replicas: the PDB and rolling drains need a second one");
    }

    @Test
    void gpuOverlayAsksForAGpuAndToleratesGpuNodes() throws IOException {
        JsonNode spec = build(ROOT.resolve("overlays/gpu")).get("Deployment/chunkserve").path("spec").path("template").path("spec");
        JsonNode res = spec.path("containers").get(0).path("resources");
        assertEquals("1", res.path("limits").path("nvidia.com/gpu").asText());
        assertFalse(spec.path("nodeSelector").isEmpty());
        assertEquals("nvidia.com/gpu", spec.path("tolerations").get(0).path("key").asText());
        JsonNode cpu = build(ROOT.resolve("overlays/cpu")).get("Deployment/chunkserve").path("spec").path("template").path("spec");
        assertTrue(cpu.path("containers").get(0).path("resources").path("limits").path("nvidia.com/gpu").isMissingNode());
        // The patches kept the base's probes (merged, not replaced).
        assertEquals("/ready", spec.path("containers").get(0).path("readinessProbe").path("httpGet").path("path").asText());
    }

    /** The config file in the ConfigMap, every key known and every value valid (model and keys file are not read here). */
    static ServiceConfig effectiveConfig(JsonNode configMap, Path dir) {
        String text = configMap.path("data").path("chunkserve.yaml").asText();
        assertFalse(text.isBlank(), dir + ": empty config file");
        Map<Setting, String> settings = ConfigLoader.parse(text, dir + " ConfigMap");
        ServiceConfig cfg = ServeCommand.defaults();
        for (var e : settings.entrySet()) cfg = e.getKey().apply(cfg, e.getValue());
        assertTrue(cfg.drainTimeout().compareTo(Duration.ZERO) > 0);
        return cfg;
    }

    /** mountPath → "configMap:NAME" / "secret:NAME". */
    static Map<String, String> mounts(JsonNode container, JsonNode pod) {
        Map<String, String> volumes = new HashMap<>();
        for (JsonNode v : pod.path("spec").path("volumes")) {
            if (v.has("configMap")) volumes.put(v.path("name").asText(), "configMap:" + v.path("configMap").path("name").asText());
            if (v.has("secret")) volumes.put(v.path("name").asText(), "secret:" + v.path("secret").path("secretName").asText());
        }
        Map<String, String> out = new HashMap<>();
        for (JsonNode m : container.path("volumeMounts")) out.put(m.path("mountPath").asText(), volumes.get(m.path("name").asText()));
        return out;
    }

    static void assertSelects(JsonNode selector, JsonNode podTemplate, String what) {
        assertFalse(selector.isEmpty(), what + ": empty selector");
        selector.properties().forEach(e -> assertEquals(e.getValue().asText(),
                podTemplate.path("metadata").path("labels").path(e.getKey()).asText(), what + " selects " + e));
    }
}
