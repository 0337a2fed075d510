package io.chunkserve.service.auth;

import io.chunkserve.service.TenantResolver.Tenant;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiKeysTest {
    @Test
    void jsonFormat() {
        ApiKeys k = ApiKeys.parse("""
                {"keys": [
                  {"key": "sk-acme-1", "tenant": "acme", "weight": 2, "cache_salt": "acme"},
                  {"key_sha256": "%s", "tenant": "globex"}
                ]}""".formatted(HexFormat.of().formatHex(ApiKeys.sha256("sk-globex"))));
        assertEquals(2, k.size());
        Tenant a = k.find("sk-acme-1");
        assertEquals("acme", a.name());
        assertEquals(2, a.weight());
        assertEquals(ApiKeys.saltOf("acme"), a.cacheSalt());
        assertNotEquals(0L, a.cacheSalt());
        Tenant g = k.find("sk-globex");
        assertEquals(new Tenant("globex", 1, 0L), g);
        assertNull(k.find("sk-acme-2"));
        assertNull(k.find(""));
        assertNull(k.find(null));
        assertEquals(1, ApiKeys.parse("[{\"key\":\"k\",\"tenant\":\"t\"}]").size());
    }

    @Test
    void linesFormat() {
        ApiKeys k = ApiKeys.parse("""
                # key            tenant   weight  cache_salt
                sk-one           one
                sk-two  two 3    # comment
                sha256:%s   three 1 iso

                """.formatted(HexFormat.of().formatHex(ApiKeys.sha256("sk-three"))));
        assertEquals(3, k.size());
        assertEquals(new Tenant("one", 1, 0), k.find("sk-one"));
        assertEquals(3, k.find("sk-two").weight());
        assertEquals(ApiKeys.saltOf("iso"), k.find("sk-three").cacheSalt());
        assertNull(k.find("sk-four"));
    }

    @Test
    void malformedFilesNameTheLineButNeverTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("sk-secret-value\n"));
        assertTrue(e.getMessage().startsWith("line 1"), e.getMessage());
        assertFalse(e.getMessage().contains("sk-secret-value"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("sk-a t notanumber"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("sk-a t 0"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("sk-a bad/tenant"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("sha256:abc t"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("sk-a t\nsk-a u"), "duplicate key");
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("# nothing\n"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("{\"keys\": 5}"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("{\"keys\": [{\"tenant\":\"t\"}]}"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("{\"keys\": [{\"key\":\"k\",\"key_sha256\":\"x\",\"tenant\":\"t\"}]}"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("{\"keys\": [{\"key\":\"k\",\"tenant\":\"t\",\"weight\":\"2\"}]}"));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("{broken"));
    }

    @Test
    void bearerParsing() {
        assertEquals("abc", ApiKeyResolver.bearerToken("Bearer abc"));
        assertEquals("abc", ApiKeyResolver.bearerToken("bearer   abc "));
        assertNull(ApiKeyResolver.bearerToken("Basic abc"));
        assertNull(ApiKeyResolver.bearerToken("Bearer "));
        assertNull(ApiKeyResolver.bearerToken(null));
        ApiKeyResolver r = new ApiKeyResolver(ApiKeys.parse("sk-x tx"));
        assertEquals("tx", r.resolve("Bearer sk-x", "someone-else").name());
        assertNull(r.resolve("Bearer sk-y", "tx"));
        assertNull(r.resolve(null, "tx"));
        assertTrue(r.authRequired());
    }
}
