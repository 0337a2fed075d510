/**
 * API keys, tenants and admission control for the service's front ends.
 *
 * <ul>
 *   <li>{@link io.chunkserve.service.auth.ApiKeys} reads the keys file (JSON or one key per line)
 *       and keeps only SHA-256 hashes of the keys;</li>
 *   <li>{@link io.chunkserve.service.auth.ApiKeyResolver} turns an {@code Authorization: Bearer}
 *       header into a {@link io.chunkserve.service.TenantResolver.Tenant}, comparing hashes in
 *       constant time;</li>
 *   <li>{@link io.chunkserve.service.auth.AdmissionControl} counts requests accepted and not yet
 *       finished, globally and per tenant, so an overloaded server answers 429 before it does
 *       any work.</li>
 * </ul>
 */
package io.chunkserve.service.auth;
