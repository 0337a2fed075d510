package io.chunkserve.kv;

/**
 * The structural invariants of a {@link PrefixCache}, checked from scratch (O(chunks · C +
 * live table entries)). For tests and debug runs, never the engine's hot path.
 */
final class PrefixCacheInvariants {
    private PrefixCacheInvariants() { }

    static void check(PrefixCache pc) {
        int n = pc.numChunks;
        ChunkPool pool = pc.pool;

        // Refcounts recounted from the live sequences' tables.
        int[] holders = new int[n];
        for (int i = 0; i < pc.liveCount; i++) {
            KvSequence s = pc.live[i];
            require(s != null && s.liveIndex == i && !s.released && s.owner == pc, "live list broken at " + i);
            checkSequence(pc, s, holders);
        }

        // Each chunk is exactly one of free, cached (tree, refcount 0, in the LRU list) or referenced.
        int free = 0, cached = 0, referenced = 0, treeNodes = 0;
        int[] childCount = new int[n];
        for (int c = 0; c < n; c++) {
            require(pc.refcount[c] == holders[c], "chunk " + c + " refcount " + pc.refcount[c] + " but " + holders[c] + " live sequences hold it");
            boolean isFree = pool.isFree(c);
            if (isFree) {
                require(pc.refcount[c] == 0 && !pc.inTree[c] && !pc.lru.contains(c), "chunk " + c + " is free and in use");
                free++;
            } else if (pc.refcount[c] > 0) {
                require(!pc.lru.contains(c), "referenced chunk " + c + " in the LRU list");
                referenced++;
            } else {
                require(pc.inTree[c], "chunk " + c + " leaked: neither free, cached nor referenced");
                require(pc.lru.contains(c), "cached chunk " + c + " missing from the LRU list");
                cached++;
            }
            if (pc.inTree[c]) {
                treeNodes++;
                checkNode(pc, c);
                if (pc.parent[c] != PrefixCache.NONE) childCount[pc.parent[c]]++;
            }
        }
        require(free == pool.freeChunks(), "pool says " + pool.freeChunks() + " free, found " + free);
        require(free + cached + referenced == n, "free " + free + " + cached " + cached + " + referenced " + referenced + " != total " + n);
        require(referenced == pc.referenced, "referenced counter " + pc.referenced + ", found " + referenced);
        require(treeNodes == pc.byKey.size(), "key table holds " + pc.byKey.size() + " keys for " + treeNodes + " tree chunks");
        for (int c = 0; c < n; c++) {
            require(childCount[c] == pc.children[c], "chunk " + c + " child count " + pc.children[c] + ", found " + childCount[c]);
        }

        // The LRU list: exactly the cached chunks (size + membership above), every chunk before its ancestors.
        pc.lru.checkLinks();
        require(pc.lru.size() == cached, "LRU list holds " + pc.lru.size() + " chunks, " + cached + " are cached");
        boolean[] seen = new boolean[n];
        for (int c = pc.lru.after(-1); c >= 0; c = pc.lru.after(c)) {
            int p = pc.parent[c];
            require(p == PrefixCache.NONE || !seen[p], "LRU list has chunk " + p + " before its child " + c);
            seen[c] = true;
        }
        int oldest = pc.lru.oldest();
        require(oldest < 0 || pc.children[oldest] == 0, "oldest cached chunk " + oldest + " is not a leaf");
    }

    private static void checkSequence(PrefixCache pc, KvSequence s, int[] holders) {
        int cs = pc.chunkSize;
        int filled = (s.length + cs - 1) / cs; // entries holding at least one position
        require(s.sealed <= filled && filled <= s.chunkCount, s + ": sealed ≤ filled ≤ chunks violated");
        require(s.sealed * cs <= s.length, s + ": a sealed chunk is not full");
        if (!s.uncacheable) {
            require(s.sealed == s.length / cs, s + ": a full chunk is not sealed");
            // at most one private chunk holds KV: the partial tail, present iff length is off a boundary
            require(filled - s.sealed == (s.length % cs != 0 ? 1 : 0), s + ": not exactly one private tail");
        }
        for (int i = 0; i < s.chunkCount; i++) {
            int c = s.table[i];
            require(c >= 0 && c < pc.numChunks, s + ": bad chunk id " + c);
            holders[c]++;
            if (i < s.sealed) {
                require(pc.inTree[c], s + ": sealed entry " + i + " (chunk " + c + ") not in the tree");
                int expectParent = i == 0 ? PrefixCache.NONE : s.table[i - 1];
                require(pc.parent[c] == expectParent, s + ": chunk " + c + " has parent " + pc.parent[c] + ", path says " + expectParent);
                require(pc.salt[c] == s.salt, s + ": chunk " + c + " has another salt");
            } else {
                require(!pc.inTree[c], s + ": private entry " + i + " (chunk " + c + ") is in the tree");
                require(pc.refcount[c] == 1, s + ": private chunk " + c + " has refcount " + pc.refcount[c]);
            }
        }
    }

    private static void checkNode(PrefixCache pc, int c) {
        int p = pc.parent[c], cs = pc.chunkSize;
        require(p == PrefixCache.NONE || pc.inTree[p], "tree chunk " + c + " under non-tree chunk " + p);
        long parentKey = p == PrefixCache.NONE ? ChunkHash.ROOT : pc.key[p];
        require(pc.key[c] == pc.keyFunction.of(parentKey, pc.tokens, c * cs, cs, pc.salt[c]), "tree chunk " + c + " key mismatch");
        require(p == PrefixCache.NONE || pc.salt[p] == pc.salt[c], "tree chunk " + c + " salt differs from its parent's");
        require(pc.byKey.get(pc.key[c]) == c, "key table does not map chunk " + c + "'s key to it");
        require(p == PrefixCache.NONE || pc.refcount[p] >= pc.refcount[c], "chunk " + c + " more referenced than its parent");
    }

    private static void require(boolean ok, String what) {
        if (!ok) throw new IllegalStateException("prefix cache invariant: " + what);
    }
}
