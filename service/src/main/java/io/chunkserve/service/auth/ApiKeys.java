package io.chunkserve.service.auth;

import io.chunkserve.service.TenantResolver.Tenant;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The configured API keys, each standing for a tenant. Only SHA-256 hashes of the keys are kept in
 * memory; {@link #find} hashes the presented key and compares it with every configured hash using
 * {@link MessageDigest#isEqual} (constant time), without stopping at the first match, so the time
 * taken says nothing about which key, or how much of one, matched.
 *
 * <p>The file is either JSON or plain lines. JSON (the document starts with <code>{</code> or
 * <code>[</code>):
 * <pre>{@code
 * {"keys": [
 *   {"key": "sk-acme-1", "tenant": "acme", "weight": 2, "cache_salt": "acme"},
 *   {"key_sha256": "9f86d0...", "tenant": "globex"}
 * ]}
 * }</pre>
 * (a bare array of the same entries works too). Lines: {@code KEY TENANT [WEIGHT [CACHE_SALT]]}
 * separated by blanks; {@code #} starts a comment; a KEY written {@code sha256:HEX} is an
 * already-hashed key, so the file need not hold secrets in clear.
 *
 * <p>{@code weight} (default 1) is the tenant's scheduling weight. {@code cache_salt} (default: none,
 * i.e. salt 0, shared with every other unsalted tenant) isolates a tenant's prefix cache: tenants
 * with different salts never share KV chunks, so one cannot learn from cache-hit timing what another
 * has sent. Error messages name the line or entry, never the key.
 */
public final class ApiKeys {
    private static final Pattern TENANT = Pattern.compile("[A-Za-z0-9._:@-]{1,64}");
    private static final Pattern HEX64 = Pattern.compile("[0-9a-fA-F]{64}");

    /**
     * One configured key.
     *
     * @param keyHash SHA-256 of the key's UTF-8 bytes
     * @param tenant  the tenant it authenticates
     */
    public record Entry(byte[] keyHash, Tenant tenant) { }

    private final List<Entry> entries;

    private ApiKeys(List<Entry> entries) {
        this.entries = List.copyOf(entries);
    }

    /** Reads a keys file; throws IllegalArgumentException with one clear line when it is malformed. */
    public static ApiKeys load(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read API keys file " + file + ": " + e.getMessage(), e);
        }
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("API keys file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Parses the keys file format described above. */
    public static ApiKeys parse(String text) {
        String t = text.strip();
        List<Entry> out = t.startsWith("{") || t.startsWith("[") ? parseJson(t) : parseLines(text);
        if (out.isEmpty()) throw new IllegalArgumentException("no API keys defined");
        for (int i = 0; i < out.size(); i++) {
            for (int j = 0; j < i; j++) {
                if (MessageDigest.isEqual(out.get(i).keyHash(), out.get(j).keyHash())) {
                    throw new IllegalArgumentException("entry " + (i + 1) + " repeats the key of entry " + (j + 1));
                }
            }
        }
        return new ApiKeys(out);
    }

    /** The tenant whose key is {@code presented}, or null. Takes the same time whichever key matches. */
    public Tenant find(String presented) {
        if (presented == null || presented.isEmpty()) return null;
        byte[] h = sha256(presented);
        Tenant found = null;
        for (Entry e : entries) {
            // No early exit: every entry is compared whatever the outcome.
            if (MessageDigest.isEqual(e.keyHash(), h) & found == null) found = e.tenant();
        }
        return found;
    }

    public int size() { return entries.size(); }

    /** SHA-256 of a string's UTF-8 bytes. */
    public static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    /** The prefix-cache salt for a configured {@code cache_salt} string (0 when absent). */
    public static long saltOf(String cacheSalt) {
        if (cacheSalt == null || cacheSalt.isEmpty()) return 0L;
        long v = ByteBuffer.wrap(sha256("chunkserve-cache-salt:" + cacheSalt)).getLong();
        return v == 0 ? 1 : v; // 0 means "no salt"
    }

    private static List<Entry> parseJson(String text) {
        JsonArray arr;
        try {
            if (text.startsWith("[")) {
                arr = new JsonArray(text);
            } else {
                Object keys = new JsonObject(text).getValue("keys");
                if (!(keys instanceof JsonArray a)) throw new IllegalArgumentException("expected {\"keys\": [ ... ]}");
                arr = a;
            }
        } catch (DecodeException e) {
            throw new IllegalArgumentException("not valid JSON: " + firstLine(e.getMessage()));
        }
        List<Entry> out = new ArrayList<>();
        for (int i = 0; i < arr.size(); i++) {
            String where = "entry " + (i + 1);
            if (!(arr.getValue(i) instanceof JsonObject o)) throw new IllegalArgumentException(where + ": expected an object");
            Object key = o.getValue("key");
            Object hash = o.getValue("key_sha256");
            byte[] h;
            if (key instanceof String k && hash == null) h = sha256(checkKey(k, where));
            else if (hash instanceof String hx && key == null) h = hexHash(hx, where);
            else throw new IllegalArgumentException(where + ": give exactly one of \"key\" or \"key_sha256\" (a string)");
            if (!(o.getValue("tenant") instanceof String tenant)) throw new IllegalArgumentException(where + ": \"tenant\" must be a string");
            Object w = o.getValue("weight", 1);
            if (!(w instanceof Integer || w instanceof Long)) throw new IllegalArgumentException(where + ": \"weight\" must be an integer");
            Object salt = o.getValue("cache_salt");
            if (salt != null && !(salt instanceof String || salt instanceof Number)) {
                throw new IllegalArgumentException(where + ": \"cache_salt\" must be a string");
            }
            out.add(new Entry(h, tenant(tenant, ((Number) w).longValue(), salt == null ? null : salt.toString(), where)));
        }
        return out;
    }

    private static List<Entry> parseLines(String text) {
        List<Entry> out = new ArrayList<>();
        String[] lines = text.split("\\R");
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            int hash = line.indexOf('#');
            if (hash >= 0) line = line.substring(0, hash);
            line = line.strip();
            if (line.isEmpty()) continue;
            String where = "line " + (i + 1);
            String[] f = line.split("\\s+");
            if (f.length < 2 || f.length > 4) throw new IllegalArgumentException(where + ": expected KEY TENANT [WEIGHT [CACHE_SALT]]");
            byte[] h = f[0].startsWith("sha256:") ? hexHash(f[0].substring(7), where) : sha256(checkKey(f[0], where));
            long weight = 1;
            if (f.length >= 3) {
                try {
                    weight = Long.parseLong(f[2]);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(where + ": weight must be an integer");
                }
            }
            out.add(new Entry(h, tenant(f[1], weight, f.length == 4 ? f[3] : null, where)));
        }
        return out;
    }

    private static String checkKey(String key, String where) {
        if (key.isBlank() || key.chars().anyMatch(c -> c <= ' ' || c == 127)) {
            throw new IllegalArgumentException(where + ": a key must be non-empty, without blanks or control characters");
        }
        return key;
    }

    private static byte[] hexHash(String hex, String where) {
        if (!HEX64.matcher(hex).matches()) throw new IllegalArgumentException(where + ": a key hash must be 64 hex digits (SHA-256)");
        return HexFormat.of().parseHex(hex);
    }

    private static Tenant tenant(String name, long weight, String salt, String where) {
        if (!TENANT.matcher(name).matches()) {
            throw new IllegalArgumentException(where + ": tenant names are 1-64 characters of A-Z a-z 0-9 . _ : @ -");
        }
        if (weight < 1 || weight > 1_000_000) throw new IllegalArgumentException(where + ": weight must be in [1, 1000000]");
        return new Tenant(name, (int) weight, saltOf(salt));
    }

    private static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
