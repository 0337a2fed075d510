/**
 * Request validation shared by the OpenAI, WebSocket and gRPC front ends, so they accept and
 * refuse the same things with the same words: {@link io.chunkserve.service.request.SamplingFields}
 * maps the sampling fields onto the engine's {@code SamplingParams},
 * {@link io.chunkserve.service.request.ChatMessages} checks conversations,
 * {@link io.chunkserve.service.request.Identity} {@code model} and {@code user}, and
 * {@link io.chunkserve.service.request.RequestedSampling#forPrompt} the context length. Fields are
 * read through {@link io.chunkserve.service.request.RequestFields} (JSON here, protobuf in the gRPC
 * package); every refusal is an {@link io.chunkserve.service.request.InvalidParameter} that each
 * front end frames its own way.
 */
package io.chunkserve.service.request;
