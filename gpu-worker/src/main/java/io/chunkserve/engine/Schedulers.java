package io.chunkserve.engine;

/** Creates the local scheduling policy named in the config. */
final class Schedulers {
    private Schedulers() { }

    static Scheduler create(String name, double quantum) {
        return switch (name) {
            case "fcfs" -> new FcfsScheduler();
            default -> new FcfsScheduler();
        };
    }
}
