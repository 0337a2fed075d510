package io.chunkserve.bench.sim;

import java.util.List;

/**
 * A multi-tenant workload: root requests (with follow-ups) of several tenants, one of which
 * misbehaves; the others are the "well-behaved" tenants whose latency is reported.
 */
public record Workload(String name, String description, List<String> tenants, String misbehaving, List<RequestSpec> roots) {
    public int requests() { return roots.stream().mapToInt(RequestSpec::count).sum(); }

    public long tokens() { return roots.stream().mapToLong(RequestSpec::tokens).sum(); }
}
