package io.chunkserve.kv;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static io.chunkserve.kv.FakeForward.assertStats;
import static io.chunkserve.kv.FakeForward.concat;
import static io.chunkserve.kv.FakeForward.range;
import static io.chunkserve.kv.FakeForward.step;
import static io.chunkserve.kv.FakeForward.table;
import static io.chunkserve.kv.FakeForward.verify;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrefixCacheTest {
    private static final int C = 16;
    private static final int[] SYSTEM = range(1000, 4 * C); // a 64-token system prompt: 4 full chunks

    private static List<KvEvent> drain(PrefixCache pc) {
        List<KvEvent> out = new ArrayList<>();
        pc.drainEvents(out::add);
        return out;
    }

    /** Opens {@code prompt} and prefills the uncached rest, checking the invariants and the KV. */
    private static KvSequence prefill(PrefixCache pc, int[] prompt, long salt) {
        KvSequence s = pc.open(prompt, salt);
        pc.checkInvariants();
        step(pc, s, prompt, prompt.length - s.length());
        pc.checkInvariants();
        verify(pc.pool(), s, prompt);
        return s;
    }

    @Test
    void twoLiveSequencesSharingASystemPromptHoldOneCopyOfIt() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 64));
        int[] a = concat(SYSTEM, range(1, 10)), b = concat(SYSTEM, range(50, 7));
        KvSequence sa = prefill(pc, a, 0);
        assertEquals(0, sa.cachedTokens());
        assertStats(pc, 64 - 5, 0, 5); // 4 sealed + A's tail

        KvSequence sb = pc.open(b, 0);
        assertEquals(64, sb.length());
        assertEquals(64, sb.cachedTokens());
        assertArrayEquals(Arrays.copyOf(table(sa), 4), table(sb));
        step(pc, sb, b, b.length - sb.length());
        pc.checkInvariants();
        verify(pc.pool(), sb, b);
        verify(pc.pool(), sa, a);
        assertStats(pc, 64 - 6, 0, 6); // the system prompt once, plus one tail each
        assertNotEquals(table(sa)[4], table(sb)[4]);
        KvStats st = pc.stats();
        assertEquals(a.length + b.length, st.queriedTokens());
        assertEquals(64, st.hitTokens());
        assertEquals(2, st.liveSequences());
        assertEquals(6.0 / 64, st.usageRatio(), 1e-12);
    }

    @Test
    void aLaterRequestReusesAReleasedPrefixAndCountsHits() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 64));
        int[] a = concat(SYSTEM, range(1, 10));
        KvSequence sa = prefill(pc, a, 7);
        pc.release(sa);
        pc.checkInvariants();
        assertStats(pc, 64 - 4, 4, 0); // full chunks stay cached, the private tail is freed
        assertEquals(64, pc.matchLength(a, 7));

        int[] b = concat(SYSTEM, range(300, 3));
        KvSequence sb = prefill(pc, b, 7);
        assertEquals(64, sb.cachedTokens());
        assertEquals(64, pc.stats().hitTokens());
        assertEquals(a.length + b.length, pc.stats().queriedTokens());
        assertStats(pc, 64 - 5, 0, 5);
        assertEquals(0, pc.stats().evictions());
    }

    @Test
    void openNeverReusesTheWholePrompt() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 16));
        pc.release(prefill(pc, SYSTEM, 0));
        assertEquals(64, pc.matchLength(SYSTEM, 0));
        KvSequence s = pc.open(SYSTEM, 0); // prompt ends on a chunk boundary: the last chunk is recomputed
        assertEquals(48, s.length());
        assertEquals(3, s.chunkCount());
        step(pc, s, SYSTEM, 16);
        pc.checkInvariants();
        assertEquals(table(s)[3], pc.open(concat(SYSTEM, range(1, 1)), 0).chunkTable()[3]); // sealed into its twin
        verify(pc.pool(), s, SYSTEM);
        assertEquals(0, pc.open(new int[0], 0).length());
        assertEquals(0, pc.open(range(1000, 1), 0).length());
        pc.checkInvariants();
    }

    @Test
    void matchLengthHasNoSideEffects() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 16));
        pc.release(prefill(pc, concat(SYSTEM, range(1, 3)), 0));
        drain(pc);
        KvStats before = pc.stats();
        assertEquals(64, pc.matchLength(concat(SYSTEM, range(9, 40)), 0));
        assertEquals(32, pc.matchLength(concat(Arrays.copyOf(SYSTEM, 40), range(9, 40)), 0));
        assertEquals(0, pc.matchLength(SYSTEM, 1));
        assertEquals(0, pc.matchLength(range(1000, 15), 0));
        assertEquals(before, pc.stats());
        assertTrue(drain(pc).isEmpty());
        pc.checkInvariants();
    }

    @Test
    void differentSaltsNeverShare() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 64));
        int[] p = concat(SYSTEM, range(1, 5));
        KvSequence s1 = prefill(pc, p, 1);
        KvSequence s2 = prefill(pc, p, 2);
        assertEquals(0, s2.cachedTokens());
        Set<Integer> ids = new HashSet<>();
        for (int c : table(s1)) ids.add(c);
        for (int c : table(s2)) assertFalse(ids.contains(c), "chunk " + c + " shared across salts");
        assertStats(pc, 64 - 10, 0, 10);
        assertEquals(64, pc.matchLength(p, 1));
        assertEquals(64, pc.matchLength(p, 2));
        assertEquals(0, pc.matchLength(p, 3));
        pc.release(s1);
        pc.release(s2);
        assertEquals(0, pc.open(p, 3).length());
        pc.checkInvariants();
    }

    @Test
    void evictionTakesUnreferencedLeavesInLruOrder() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 8));
        int[] x = range(100, 3 * C), y = range(500, 2 * C);
        KvSequence sx = prefill(pc, x, 0);
        KvSequence sy = prefill(pc, y, 0);
        long[] xk = keys(x), yk = keys(y);
        pc.release(sx); // LRU: x2 x1 x0
        pc.release(sy); // LRU: x2 x1 x0 y1 y0
        pc.checkInvariants();
        assertStats(pc, 3, 5, 0);
        drain(pc);

        KvSequence z = pc.open(range(900, 80), 0);
        assertTrue(pc.reserve(z, 80)); // 5 chunks: 3 free, then evict x2, x1
        pc.checkInvariants();
        assertEquals(List.of(new KvEvent.ChunkRemoved(xk[2]), new KvEvent.ChunkRemoved(xk[1])), drain(pc));
        assertEquals(2, pc.stats().evictions());
        assertEquals(16, pc.matchLength(x, 0));
        assertEquals(32, pc.matchLength(y, 0));

        // A live sequence's chunks are never evicted: pin y's chunks, then z cannot grow.
        KvSequence sy2 = pc.open(concat(y, range(1, 1)), 0);
        assertEquals(32, sy2.length());
        assertTrue(pc.reserve(z, 96)); // one more chunk: only x0 is evictable
        assertEquals(List.of(new KvEvent.ChunkRemoved(xk[0])), drain(pc));
        assertFalse(pc.reserve(z, 112));
        assertEquals(0, pc.matchLength(x, 0));
        assertEquals(32, pc.matchLength(y, 0));
        pc.checkInvariants();
        pc.release(sy2); // y1, y0 cached again
        assertTrue(pc.reserve(z, 112));
        assertEquals(List.of(new KvEvent.ChunkRemoved(yk[1])), drain(pc)); // the leaf, not its parent y0
        assertEquals(16, pc.matchLength(y, 0));
        pc.checkInvariants();
    }

    @Test
    void aParentIsEvictedOnlyAfterItsChildren() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 6));
        int[] p = range(100, C);
        int[] a = concat(p, range(200, C)), b = concat(p, range(300, C));
        pc.release(prefill(pc, a, 0));           // LRU: a1 p
        KvSequence sb = prefill(pc, b, 0);       // pins p, seals b1 under it
        pc.release(sb);                          // LRU: a1 b1 p
        pc.checkInvariants();
        long[] ak = keys(a), bk = keys(b);
        drain(pc);
        KvSequence z = pc.open(range(900, 1), 0);
        assertTrue(pc.reserve(z, 6 * C));
        assertEquals(List.of(new KvEvent.ChunkRemoved(ak[1]), new KvEvent.ChunkRemoved(bk[1]),
                new KvEvent.ChunkRemoved(ak[0])), drain(pc));
        assertEquals(ak[0], bk[0]);
        pc.checkInvariants();
    }

    @Test
    void reserveFailsCleanlyWhenThePoolIsFullOfReferencedChunks() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 6));
        int[] a = range(100, 4 * C), b = range(700, 20);
        KvSequence sa = pc.open(a, 0);
        step(pc, sa, a, a.length);
        KvSequence sb = prefill(pc, b, 0);
        assertStats(pc, 0, 0, 6);
        drain(pc);

        KvStats before = pc.stats();
        int version = sb.tableVersion();
        int[] tableBefore = table(sb);
        assertFalse(pc.reserve(sb, 20)); // needs 1 chunk, none free or evictable
        assertFalse(pc.reserve(sb, 1000));
        assertEquals(before, pc.stats());
        assertEquals(version, sb.tableVersion());
        assertArrayEquals(tableBefore, table(sb));
        assertEquals(12, sb.reservedTokens());
        assertTrue(pc.reserve(sb, 12)); // fits in the tail: nothing to allocate
        assertNull(pc.fork(sb));         // its partial tail needs a copy
        assertNotNull(pc.fork(sa));      // on a chunk boundary: nothing to copy
        assertTrue(drain(pc).isEmpty());
        pc.checkInvariants();

        assertTrue(pc.canEverFit(6 * C));
        assertFalse(pc.canEverFit(6 * C + 1));
        assertFalse(pc.canEverFit(-1));
    }

    @Test
    void reserveAllocatesWholeRangeOrNothing() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 5));
        KvSequence a = pc.open(range(1, 40), 0);
        KvSequence b = pc.open(range(100, 40), 0);
        assertTrue(pc.reserve(a, 40)); // 3 chunks
        assertFalse(pc.reserve(b, 40)); // needs 3, 2 left
        assertEquals(0, b.chunkCount());
        assertStats(pc, 2, 0, 3);
        assertTrue(pc.reserve(b, 32));
        assertStats(pc, 0, 0, 5);
        pc.release(a); // nothing committed: every chunk goes straight back
        assertStats(pc, 3, 0, 2);
        pc.checkInvariants();
    }

    @Test
    void concurrentIdenticalPrefillsAreDeduplicated() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 16));
        int[] p = range(100, 40); // 2 full chunks + 8
        KvSequence a = pc.open(p, 0), b = pc.open(p, 0);
        assertTrue(pc.reserve(a, 40));
        assertTrue(pc.reserve(b, 40));
        FakeForward.write(pc.pool(), a, p, 40);
        FakeForward.write(pc.pool(), b, p, 40);
        assertStats(pc, 10, 0, 6);
        pc.commit(a, p, 0, 40);
        pc.checkInvariants();
        int version = b.tableVersion();
        pc.commit(b, p, 0, 40);
        pc.checkInvariants();
        assertNotEquals(version, b.tableVersion());
        assertArrayEquals(Arrays.copyOf(table(a), 2), Arrays.copyOf(table(b), 2));
        assertNotEquals(table(a)[2], table(b)[2]);
        assertStats(pc, 12, 0, 4); // the duplicates went back to the pool
        verify(pc.pool(), a, p);
        verify(pc.pool(), b, p);
        long[] k = keys(p);
        assertEquals(List.of(new KvEvent.ChunkStored(k[0], ChunkHash.ROOT, C), new KvEvent.ChunkStored(k[1], k[0], C)),
                drain(pc)); // stored once
        pc.release(a);
        pc.checkInvariants();
        pc.release(b);
        pc.checkInvariants();
        assertStats(pc, 14, 2, 0);
    }

    @Test
    void forkSharesFullChunksAndCopiesTheTail() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 16));
        int[] p = range(100, 40);
        KvSequence a = prefill(pc, p, 3);
        KvSequence f = pc.fork(a);
        pc.checkInvariants();
        assertEquals(40, f.length());
        assertEquals(3, f.salt());
        assertArrayEquals(Arrays.copyOf(table(a), 2), Arrays.copyOf(table(f), 2));
        assertNotEquals(table(a)[2], table(f)[2]);
        verify(pc.pool(), f, p);
        assertStats(pc, 12, 0, 4);

        // Diverging samples write only their own tails.
        int[] ta = concat(p, range(7000, 30)), tf = concat(p, range(8000, 30));
        for (int i = 0; i < 30; i++) {
            step(pc, a, ta, 1);
            step(pc, f, tf, 1);
            pc.checkInvariants();
        }
        verify(pc.pool(), a, ta);
        verify(pc.pool(), f, tf);
        assertEquals(4, a.sealedChunks()); // 70 tokens: 4 full chunks + a 6-token tail
        assertNotEquals(table(a)[2], table(f)[2]);

        // Identical continuations of two forks converge onto one copy when their tails fill.
        KvSequence g = pc.fork(f), h = pc.fork(f);
        pc.release(f);
        int[] same = concat(tf, range(9000, 20));
        step(pc, g, same, 20);
        step(pc, h, same, 20);
        pc.checkInvariants();
        assertEquals(table(g)[4], table(h)[4]);
        verify(pc.pool(), g, same);
        verify(pc.pool(), h, same);
    }

    @Test
    void eventsAreDrainedInOrder() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 4));
        int[] a = range(100, 2 * C + 3), b = range(500, C);
        long[] ak = keys(a), bk = keys(b);
        KvSequence sa = prefill(pc, a, 0);
        pc.release(sa);
        KvSequence sb = prefill(pc, b, 0);
        KvSequence z = pc.open(range(900, 5), 0);
        assertTrue(pc.reserve(z, 2 * C)); // 1 free + evict a1 (the leaf)
        KvSequence keep = pc.open(b, 0); // pins nothing new (cap), b0 is held by sb anyway
        pc.clear();                      // drops a0; b0 is held by sb, so it is announced again
        List<KvEvent> expected = List.of(
                new KvEvent.ChunkStored(ak[0], ChunkHash.ROOT, C),
                new KvEvent.ChunkStored(ak[1], ak[0], C),
                new KvEvent.ChunkStored(bk[0], ChunkHash.ROOT, C),
                new KvEvent.ChunkRemoved(ak[1]),
                new KvEvent.AllCleared(),
                new KvEvent.ChunkStored(bk[0], ChunkHash.ROOT, C));
        assertEquals(expected, drain(pc));
        assertTrue(drain(pc).isEmpty());
        assertEquals(0, pc.matchLength(a, 0));
        assertEquals(C, pc.matchLength(b, 0));
        pc.release(keep);
        pc.checkInvariants();

        PrefixCache quiet = new PrefixCache(FakeForward.pool(C, 4), false);
        quiet.release(prefill(quiet, a, 0));
        quiet.clear();
        assertTrue(drain(quiet).isEmpty());
        assertEquals(4, quiet.stats().freeChunks());
    }

    @Test
    void misuseThrowsInsteadOfCorrupting() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 8));
        KvSequence s = prefill(pc, range(1, 20), 0);
        assertThrows(IllegalStateException.class, () -> pc.commit(s, range(1, 20), 0, 13)); // only 12 reserved
        assertThrows(IndexOutOfBoundsException.class, () -> pc.commit(s, range(1, 2), 1, 2));
        assertThrows(IllegalArgumentException.class, () -> pc.reserve(s, -1));
        pc.release(s);
        KvStats after = pc.stats();
        assertThrows(IllegalStateException.class, () -> pc.release(s));
        assertThrows(IllegalStateException.class, () -> pc.reserve(s, 1));
        assertThrows(IllegalStateException.class, () -> pc.fork(s));
        assertEquals(after, pc.stats());
        assertEquals(0, s.chunkCount());
        PrefixCache other = new PrefixCache(FakeForward.pool(C, 8));
        KvSequence foreign = other.open(range(1, 3), 0);
        assertThrows(IllegalArgumentException.class, () -> pc.release(foreign));
        assertThrows(IllegalArgumentException.class, () -> pc.reserve(foreign, 1));
        pc.checkInvariants();
        other.checkInvariants();

        ChunkPool used = FakeForward.pool(C, 2);
        used.allocate();
        assertThrows(IllegalArgumentException.class, () -> new PrefixCache(used));
    }

    @Test
    void aKeyCollisionIsAMissNeverWrongKv() {
        // Every chunk under the same parent and salt gets the same key: tokens must decide.
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 16), true, (parent, t, off, n, salt) -> parent * 31 + salt + 1);
        int[] a = range(100, 2 * C + 1), b = range(500, 2 * C + 1);
        KvSequence sa = prefill(pc, a, 0);
        KvSequence sb = pc.open(b, 0);
        assertEquals(0, sb.length()); // same key, different tokens: a miss
        step(pc, sb, b, b.length);
        pc.checkInvariants();
        verify(pc.pool(), sb, b);
        assertEquals(0, sb.sealedChunks()); // b0 collides with a0: b's path stays private
        assertStats(pc, 16 - 6, 0, 6);
        pc.release(sb);
        assertStats(pc, 16 - 3, 0, 3); // nothing of b was cached
        assertEquals(0, pc.matchLength(b, 0));
        assertEquals(2 * C, pc.matchLength(a, 0));
        KvSequence sa2 = prefill(pc, a, 0);
        assertEquals(2 * C, sa2.cachedTokens());
        pc.release(sa);
        pc.release(sa2);
        pc.clear();
        assertStats(pc, 16, 0, 0);
        pc.checkInvariants();
    }

    @Test
    void clearDropsEveryUnreferencedChunkAndKeepsLiveOnes() {
        PrefixCache pc = new PrefixCache(FakeForward.pool(C, 32));
        KvSequence live = prefill(pc, concat(SYSTEM, range(1, 3)), 0);
        pc.release(prefill(pc, range(5000, 50), 0));
        pc.release(prefill(pc, concat(SYSTEM, range(77, 40)), 0));
        pc.checkInvariants();
        assertTrue(pc.stats().cachedChunks() > 0);
        pc.clear();
        pc.checkInvariants();
        assertStats(pc, 32 - 5, 0, 5);
        assertEquals(64, pc.matchLength(SYSTEM, 0));
        pc.release(live);
        pc.clear();
        assertStats(pc, 32, 0, 0);
        assertEquals(0, pc.matchLength(SYSTEM, 0));
    }

    /** The chained keys of prompt's full chunks under salt 0. */
    private static long[] keys(int[] prompt) {
        long[] k = new long[prompt.length / C];
        long parent = ChunkHash.ROOT;
        for (int i = 0; i < k.length; i++) parent = k[i] = ChunkHash.of(parent, prompt, i * C, C, 0);
        return k;
    }
}
