package io.chunkserve.service;

import io.chunkserve.engine.WorkerConfig;

/**
 * The service's settings (ports and limits) beside the worker's (model, KV cache, scheduler).
 *
 * @param host           listen address
 * @param port           HTTP port (OpenAI API, WebSocket, metrics, pages)
 * @param worker         model / KV / scheduler settings
 */
public record ServiceConfig(String host, int port, WorkerConfig worker) { }
