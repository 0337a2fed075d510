package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * A random prefix tree over a pool: sequences share 0..k leading chunks in nested groups, then
 * get random private suffixes; lengths include exact chunk boundaries (even a last chunk that is
 * shared) and 1-token sequences. Chunk ids are shuffled pool slots.
 */
record RandomTree(int[][] tables, int[] lengths, int[] chunks) {
    static int chunksNeeded(int batch) { return batch * 16 + 8; }

    static RandomTree generate(ChunkPool pool, int batch, Random rnd) {
        int c = pool.layout().chunkSize();
        List<Integer> free = new ArrayList<>();
        for (int i = 0; i < chunksNeeded(batch); i++) free.add(pool.allocate());
        Collections.shuffle(free, rnd);
        List<List<Integer>> tables = new ArrayList<>();
        int[] lengths = new int[batch];
        List<Integer> seqs = new ArrayList<>();
        for (int b = 0; b < batch; b++) { tables.add(new ArrayList<>()); seqs.add(b); }
        grow(seqs, 0, tables, lengths, free, c, rnd);
        int[][] t = new int[batch][];
        for (int b = 0; b < batch; b++) t[b] = tables.get(b).stream().mapToInt(Integer::intValue).toArray();
        List<Integer> used = new ArrayList<>();
        for (int[] tb : t) for (int id : tb) if (!used.contains(id)) used.add(id);
        return new RandomTree(t, lengths, used.stream().mapToInt(Integer::intValue).toArray());
    }

    private static void grow(List<Integer> seqs, int depth, List<List<Integer>> tables, int[] lengths,
                             List<Integer> free, int c, Random rnd) {
        if (seqs.size() >= 2 && depth < 8 && rnd.nextInt(10) < 7) {
            List<Integer> s = new ArrayList<>(seqs);
            Collections.shuffle(s, rnd);
            int parts = 1 + rnd.nextInt(Math.min(3, s.size()));
            for (int p = 0; p < parts; p++) {
                List<Integer> part = new ArrayList<>(s.subList(p * s.size() / parts, (p + 1) * s.size() / parts));
                Collections.sort(part);
                int shared = 1 + rnd.nextInt(3);
                for (int k = 0; k < shared; k++) {
                    int id = free.removeLast();
                    for (int b : part) tables.get(b).add(id);
                }
                grow(part, depth + shared, tables, lengths, free, c, rnd);
            }
            return;
        }
        for (int b : seqs) {
            List<Integer> t = tables.get(b);
            int full = t.size() + (rnd.nextInt(3) == 0 ? 0 : rnd.nextInt(3)); // private full chunks
            while (t.size() < full) t.add(free.removeLast());
            int tail = rnd.nextInt(4) == 0 ? 0 : 1 + rnd.nextInt(rnd.nextBoolean() ? c : 3);
            if (t.isEmpty() && tail == 0) tail = rnd.nextBoolean() ? 1 : c;
            if (tail > 0) t.add(free.removeLast());
            lengths[b] = full * c + tail;
        }
    }
}
