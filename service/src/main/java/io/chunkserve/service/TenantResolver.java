package io.chunkserve.service;

/**
 * Maps a request's credentials to a tenant. With API keys configured, a missing or unknown key is
 * rejected; without keys, the tenant is the request's {@code user} field, else "anonymous".
 */
public interface TenantResolver {
    /**
     * @param authorization the Authorization header value (may be null)
     * @param user          the request body's {@code user} field (may be null)
     * @return the tenant, or null when the credentials are missing or wrong (answer 401)
     */
    Tenant resolve(String authorization, String user);

    /** Whether API keys are required. */
    boolean authRequired();

    /**
     * @param name      tenant name (metrics label, scheduler key)
     * @param weight    scheduling weight (≥ 1)
     * @param cacheSalt prefix-cache salt: tenants with different salts never share KV
     */
    record Tenant(String name, int weight, long cacheSalt) { }

    /** No keys: tenant from {@code user}, all sharing one cache salt. */
    TenantResolver OPEN = new TenantResolver() {
        @Override
        public Tenant resolve(String authorization, String user) {
            String name = user == null || user.isBlank() ? "anonymous" : user;
            return new Tenant(name, 1, 0L);
        }

        @Override
        public boolean authRequired() { return false; }
    };
}
