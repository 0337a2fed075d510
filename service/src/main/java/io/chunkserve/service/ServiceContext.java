package io.chunkserve.service;

import io.vertx.core.Vertx;

/**
 * What the HTTP, WebSocket and gRPC front ends share: Vert.x, the engine bridge, the tenant
 * resolver and the service configuration. Created once by {@link Server}.
 */
public record ServiceContext(Vertx vertx, EngineBridge bridge, TenantResolver tenants, ServiceConfig config) { }
