package io.chunkserve.service.auth;

import io.chunkserve.service.ServiceConfig;
import io.chunkserve.service.TenantResolver;

/**
 * Tenants from API keys: {@code Authorization: Bearer <key>} is looked up in {@link ApiKeys}; a
 * missing header, another scheme or an unknown key resolves to null (the front end answers 401).
 * The request's {@code user} field is ignored: the key alone decides the tenant.
 */
public final class ApiKeyResolver implements TenantResolver {
    private final ApiKeys keys;

    public ApiKeyResolver(ApiKeys keys) {
        this.keys = keys;
    }

    /** {@link TenantResolver#OPEN} without a keys file, else a resolver over the file's keys. */
    public static TenantResolver forConfig(ServiceConfig cfg) {
        return cfg.keysFile() == null ? TenantResolver.OPEN : new ApiKeyResolver(ApiKeys.load(cfg.keysFile()));
    }

    @Override
    public Tenant resolve(String authorization, String user) {
        String key = bearerToken(authorization);
        return key == null ? null : keys.find(key);
    }

    @Override
    public boolean authRequired() { return true; }

    /** The token of an {@code Authorization: Bearer <token>} header (scheme case-insensitive), else null. */
    public static String bearerToken(String authorization) {
        if (authorization == null) return null;
        String a = authorization.strip();
        if (a.length() < 7 || !a.regionMatches(true, 0, "Bearer ", 0, 7)) return null;
        String token = a.substring(7).strip();
        return token.isEmpty() ? null : token;
    }
}
