package io.chunkserve.service;

/** chunkserve command line entry point. */
public final class Main {
    private Main() { }

    public static void main(String[] args) {
        System.out.println("chunkserve");
    }
}
