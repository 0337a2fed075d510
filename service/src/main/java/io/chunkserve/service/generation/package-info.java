/**
 * The engine-facing half of a streamed generation, shared by the WebSocket and gRPC front ends:
 * {@link io.chunkserve.service.generation.StreamingGeneration} (admission, tokenization,
 * submission, cancel) and {@link io.chunkserve.service.generation.TokenBuffer} (output held back
 * while a connection's write queue is full). Each front end frames the results its own way.
 */
package io.chunkserve.service.generation;
