package io.chunkserve.service;

import io.chunkserve.service.auth.AdmissionControl;
import io.vertx.core.Vertx;

/**
 * What the HTTP, WebSocket and gRPC front ends share: Vert.x, the engine bridge, the tenant
 * resolver, the service configuration, and one admission control (requests and prompt tokens in
 * flight, overall and per tenant) that every front end charges. Created once by {@link Server}.
 */
public record ServiceContext(Vertx vertx, EngineBridge bridge, TenantResolver tenants, ServiceConfig config,
                             AdmissionControl admission) {

    /** With a fresh admission control sized by {@code config}. */
    public ServiceContext(Vertx vertx, EngineBridge bridge, TenantResolver tenants, ServiceConfig config) {
        this(vertx, bridge, tenants, config, new AdmissionControl(AdmissionControl.Limits.of(config)));
    }
}
