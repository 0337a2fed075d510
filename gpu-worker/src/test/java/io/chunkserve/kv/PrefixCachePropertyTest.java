package io.chunkserve.kv;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Long seeded random runs of open / reserve / commit / fork / release / clear against a model:
 * the list of live sequences with the tokens each one holds, and a replica of the cluster prefix
 * index fed only by the drained events. After every operation: {@code checkInvariants()}, the
 * replica equals the tree's key set, and (with the real hash) live sequences with the same salt
 * and the same full-chunk prefix hold the very same chunks. The KV of touched sequences is read
 * back every operation, of all live sequences periodically.
 */
class PrefixCachePropertyTest {

    static Stream<Arguments> configs() {
        List<Arguments> out = new ArrayList<>();
        for (int c : new int[] {16, 32, 64, 128}) {
            for (long seed : new long[] {1, 2}) out.add(Arguments.of(c, 14, seed, false));
        }
        out.add(Arguments.of(16, 12, 3L, true));
        out.add(Arguments.of(64, 20, 4L, true));
        return out.stream();
    }

    @ParameterizedTest(name = "C={0} pool={1} seed={2} weakHash={3}")
    @MethodSource("configs")
    void randomOperationsKeepEveryInvariant(int chunkSize, int poolChunks, long seed, boolean weakHash) {
        Run run = new Run(chunkSize, poolChunks, seed, weakHash, 1);
        run.go(3000);
        run.finish();
        assertTrue(run.pc.stats().hitTokens() > 0, "the run never hit the cache: " + run.pc.stats());
        assertTrue(run.pc.stats().evictions() > 0, "the run never evicted: " + run.pc.stats());
        assertTrue(run.reserveFailures > 0, "the run never ran out of memory");
        assertTrue(run.forks > 0, "the run never forked");
        if (!weakHash) assertTrue(run.dedups > 0, "the run never deduplicated");
    }

    @Test
    void soakOfRandomRequestsCancellationsAndForksReturnsEveryChunk() {
        for (int c : new int[] {16, 32}) {
            Run run = new Run(c, 20, 99 + c, false, 200);
            int start = run.pc.pool().freeChunks();
            run.go(20_000);
            run.finish();
            assertEquals(start, run.pc.pool().freeChunks());
            KvStats st = run.pc.stats();
            assertEquals(0, st.referencedChunks());
            assertEquals(0, st.cachedChunks());
            assertEquals(0, st.liveSequences());
            assertTrue(st.evictions() > 100, "soak should evict a lot: " + st);
            assertTrue(run.reserveFailures > 0 && run.forks > 0 && run.dedups > 0, "soak should hit every path");
        }
    }

    /** One randomized run; the model is {@link #refs} plus {@link #index}. */
    private static final class Run {
        final int c;
        final PrefixCache pc;
        final SplittableRandom rnd;
        final boolean weakHash;
        final int fullCheckEvery;
        final int maxLive = 6, maxLength;
        final List<Ref> refs = new ArrayList<>();
        final Set<Long> index = new HashSet<>(); // the cluster index replica
        final int[][] families;                  // shared system prompts
        int ops, reserveFailures, forks, dedups;
        long queried, hits;

        Run(int chunkSize, int poolChunks, long seed, boolean weakHash, int fullCheckEvery) {
            this.c = chunkSize;
            this.weakHash = weakHash;
            this.fullCheckEvery = fullCheckEvery;
            this.maxLength = 7 * chunkSize;
            ChunkPool pool = FakeForward.pool(chunkSize, poolChunks);
            pc = weakHash
                    // only the parent, the salt and one token's parity: collisions everywhere
                    ? new PrefixCache(pool, true, (parent, t, off, n, salt) -> parent * 31 + salt + (t[off] & 1))
                    : new PrefixCache(pool);
            rnd = new SplittableRandom(seed);
            Random r = new Random(seed);
            families = new int[4][];
            for (int i = 0; i < families.length; i++) {
                int len = i == 0 ? 2 * c : r.nextInt(3 * c + 1); // one on a chunk boundary
                families[i] = FakeForward.range(10_000 * (i + 1), len);
            }
        }

        static final class Ref {
            final KvSequence s;
            int[] all;       // the token stream: prompt, then generated tokens as they come
            final int promptLen;

            Ref(KvSequence s, int[] all, int promptLen) {
                this.s = s;
                this.all = all;
                this.promptLen = promptLen;
            }
        }

        void go(int n) {
            for (int i = 0; i < n; i++) {
                int op = rnd.nextInt(100);
                Ref touched = null;
                if (op < 20 || refs.isEmpty()) touched = open();
                else if (op < 68) touched = advance(refs.get(rnd.nextInt(refs.size())));
                else if (op < 76) touched = fork(refs.get(rnd.nextInt(refs.size())));
                else if (op < 93) release(refs.get(rnd.nextInt(refs.size())));
                else if (op < 98) probe();
                else pc.clear();
                afterOp(touched);
            }
        }

        int[] prompt() {
            if (rnd.nextInt(8) == 0 && !refs.isEmpty()) { // an exact repeat of a live prompt
                Ref r = refs.get(rnd.nextInt(refs.size()));
                return Arrays.copyOf(r.all, r.promptLen);
            }
            int[] fam = families[rnd.nextInt(families.length)];
            int[] suffix = new int[rnd.nextInt(2 * c)];
            for (int i = 0; i < suffix.length; i++) suffix[i] = rnd.nextInt(3); // tiny vocabulary: suffixes repeat
            int[] p = FakeForward.concat(fam, suffix);
            return p.length == 0 ? new int[] {1} : p;
        }

        Ref open() {
            if (refs.size() >= maxLive) return null;
            int[] p = prompt();
            long salt = rnd.nextInt(4) == 0 ? 1 : 0;
            int match = pc.matchLength(p, salt);
            KvSequence s = pc.open(p, salt);
            assertEquals(Math.min(match, (p.length - 1) / c * c), s.length(), "open reuses the longest cached prefix but not all");
            assertEquals(s.length(), s.cachedTokens());
            queried += p.length;
            hits += s.length();
            Ref r = new Ref(s, p, p.length);
            refs.add(r);
            return r;
        }

        Ref advance(Ref r) {
            KvSequence s = r.s;
            int n;
            if (s.length() < r.promptLen) {
                int rest = r.promptLen - s.length();
                n = rnd.nextBoolean() ? rest : 1 + rnd.nextInt(rest); // whole or chunked prefill
            } else {
                if (s.length() >= maxLength) {
                    release(r);
                    return null;
                }
                n = rnd.nextInt(10) == 0 ? 1 + rnd.nextInt(c + 3) : 1; // mostly decode, some multi-token steps
                n = Math.min(n, maxLength - s.length());
                int[] grown = Arrays.copyOf(r.all, Math.max(r.all.length, s.length() + n));
                for (int i = s.length(); i < s.length() + n; i++) grown[i] = rnd.nextInt(3);
                r.all = grown;
            }
            int extra = rnd.nextInt(6) == 0 ? rnd.nextInt(2 * c) : 0; // reserve more than this step commits
            KvStats before = pc.stats();
            int version = s.tableVersion();
            boolean expected = pc.chunksToReserve(s, n + extra) <= before.availableChunks();
            boolean ok = pc.reserve(s, n + extra);
            assertEquals(expected, ok, "reserve succeeds exactly when free + evictable chunks suffice");
            if (!ok) {
                reserveFailures++;
                assertEquals(before, pc.stats(), "a failed reserve changes nothing");
                assertEquals(version, s.tableVersion());
                if (rnd.nextBoolean()) release(r); // preempted
                return null;
            }
            int[] oldTable = FakeForward.table(s);
            int sealedBefore = s.sealedChunks();
            FakeForward.write(pc.pool(), s, r.all, n);
            pc.commit(s, r.all, s.length(), n);
            for (int i = sealedBefore; i < s.sealedChunks(); i++) if (s.chunkTable()[i] != oldTable[i]) dedups++;
            for (int i = 0; i < sealedBefore; i++) assertEquals(oldTable[i], s.chunkTable()[i], "commit changed a sealed chunk");
            return r;
        }

        Ref fork(Ref r) {
            KvSequence s = r.s;
            if (refs.size() >= maxLive) return null;
            int copies = (s.length() + c - 1) / c - s.sealedChunks();
            boolean expected = copies <= pc.availableChunks();
            KvSequence f = pc.fork(s);
            if (!expected) {
                assertNull(f, "fork without room must fail");
                return null;
            }
            assertNotNull(f, "fork with room must succeed");
            forks++;
            assertEquals(s.length(), f.length());
            assertEquals(s.salt(), f.salt());
            for (int i = 0; i < s.sealedChunks(); i++) assertEquals(s.chunkTable()[i], f.chunkTable()[i]);
            Ref child = new Ref(f, r.all.clone(), r.promptLen);
            refs.add(child);
            return child;
        }

        void release(Ref r) {
            pc.release(r.s);
            refs.remove(r);
            if (rnd.nextInt(20) == 0) assertThrows(IllegalStateException.class, () -> pc.release(r.s));
        }

        void probe() {
            int[] p = prompt();
            KvStats before = pc.stats();
            int m = pc.matchLength(p, 0);
            assertEquals(0, m % c);
            assertTrue(m <= p.length);
            assertEquals(before, pc.stats());
        }

        void afterOp(Ref touched) {
            ops++;
            pc.checkInvariants();
            KvStats st = pc.stats();
            assertEquals(refs.size(), st.liveSequences());
            assertEquals(queried, st.queriedTokens());
            assertEquals(hits, st.hitTokens());
            pc.drainEvents(e -> {
                switch (e) {
                    case KvEvent.ChunkStored s -> assertTrue(index.add(s.key()), "stored twice: " + s);
                    case KvEvent.ChunkRemoved rm -> assertTrue(index.remove(rm.key()), "removed unknown: " + rm);
                    case KvEvent.AllCleared ac -> index.clear();
                }
            });
            Set<Long> treeKeys = new HashSet<>();
            for (int ch = 0; ch < pc.numChunks; ch++) if (pc.inTree[ch]) treeKeys.add(pc.key[ch]);
            assertEquals(treeKeys, index, "the event-fed index must equal the tree's keys");
            if (touched != null) FakeForward.verify(pc.pool(), touched.s, touched.all);
            if (ops % fullCheckEvery == 0) {
                for (Ref r : refs) FakeForward.verify(pc.pool(), r.s, r.all);
            }
            if (!weakHash) checkCanonicalSharing();
        }

        /** With a collision-free hash, one full-chunk prefix (and salt) has exactly one copy among live sequences. */
        void checkCanonicalSharing() {
            Map<List<Long>, Integer> copy = new HashMap<>();
            for (Ref r : refs) {
                KvSequence s = r.s;
                assertEquals(s.length() / c, s.sealedChunks(), "every full chunk is sealed");
                long h = s.salt();
                for (int i = 0; i < s.sealedChunks(); i++) {
                    for (int p = i * c; p < (i + 1) * c; p++) h = (h ^ r.all[p]) * 0x9E3779B97F4A7C15L + p;
                    Integer prev = copy.putIfAbsent(List.of(s.salt(), h), s.chunkTable()[i]);
                    if (prev != null) assertEquals(prev.intValue(), s.chunkTable()[i], "two copies of one prefix chunk");
                }
            }
        }

        void finish() {
            for (Ref r : List.copyOf(refs)) {
                FakeForward.verify(pc.pool(), r.s, r.all);
                pc.release(r.s);
                refs.remove(r);
                pc.checkInvariants();
            }
            KvStats st = pc.stats();
            assertEquals(0, st.referencedChunks());
            assertEquals(pc.pool().numChunks(), st.freeChunks() + st.cachedChunks());
            pc.clear();
            afterOp(null);
            assertEquals(pc.pool().numChunks(), pc.pool().freeChunks());
            assertTrue(index.isEmpty());
        }
    }
}
