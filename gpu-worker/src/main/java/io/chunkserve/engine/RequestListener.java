package io.chunkserve.engine;

/**
 * Receives a request's outputs. Called on the engine thread once per step at most: it must hand
 * the output over (e.g. to the request's Vert.x context) and return at once, never block.
 */
@FunctionalInterface
public interface RequestListener {
    void onOutput(RequestOutput output);
}
