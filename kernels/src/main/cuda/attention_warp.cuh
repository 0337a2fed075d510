// The two-phase partials' warp items (attention.cu's partials_warp), included by attention.cu inside namespace cs
// after the helpers it uses (Args, ROWS, PRE, pick_pre, ldg_again).
#pragma once

// One warp = one work item of ≤ 16 rows (a sequence's private chunks at g ≤ 16, or a small group piece): the
// block's 4 warps run 4 such items side by side, each with its own pipeline of 16-token stages in its quarter
// of the block's shared memory (query rows 16·warp .., stages: WST × (16 K + 16 V rows)), no block barrier and
// no cross-warp reduction (the block path splits each 64-token tile over 4 warps and merges their states, and
// a block starts per item: for the short private items of a shared-prefix batch that start-up dominated).
// Needs C ≥ 16 (a stage lies in one chunk) and the f64 shared-memory size (64·D + 3·2·64·D elements).
// PAIR (the _f64w8p kernels, session 10, 8 warps a block): warps w and w + 4 run item w together, warp w + 4·hf taking
// the item's 16-token tiles hf, hf + 2, ...; each has its own query copy and stages (8 warps' worth of shared memory:
// 8·(16·D + WST·2·16·D) elements), and warp w + 4 hands its (m, l, o) to warp w through shared memory at the end.
// WPB8 (the _f64w8hw kernels, session 23, 8 warps a block): every warp its own item (8 a block), each with its own query
// copy and stages as in PAIR's layout.
// MODE (diagnostics, session 23; garbage outputs): 1 = the K/V loads and waits without the tile math, 2 = the tile math
// on whatever shared memory holds, without the K/V loads.
template <typename T, int D, int WST, bool FTZ = false, bool PAIR = false, bool WPB8 = false, int MODE = 0>
__device__ __forceinline__ void partials_warp(const T* __restrict__ kc, const T* __restrict__ vc,
                                              const T* __restrict__ q, const Args& A, int h, const int* itemRec,
                                              int4 ia, int4 ib, int4 ic, int4 id, unsigned char* smem) {
    constexpr int NTW = 16;              // tokens a stage
    constexpr int PR = D / 8;            // 16-byte pieces per row
    constexpr int WSTAGE = 2 * NTW * D;  // elements of one K + V stage
    static_assert(NTW * PR % 32 == 0, "stage load split");
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    constexpr int NWS = PAIR || WPB8 ? 8 : 4;    // warps with their own query copy and stages
    const int hf = PAIR ? warp >> 2 : 0;  // which of the pair (tiles hf, hf + TSTEP, ...)
    constexpr int TSTEP = PAIR ? 2 : 1;
    T* qs = reinterpret_cast<T*>(smem) + warp * 16 * D;
    T* kvs = reinterpret_cast<T*>(smem) + NWS * 16 * D + warp * WST * WSTAGE;
    const int chunkOff = ia.x, fullTok = ia.y, seqOff = ia.z, rowStart = ia.w, rowCount = ib.x, tailSeq = ib.w;
    const int seqBase = ic.x;
    const int g = A.g, hkv = A.hkv, logC = A.logC, C = 1 << logC, hq = hkv * g;
    const int tailLen = tailSeq >= 0 ? __ldg(A.lens + tailSeq) : 0;
    // query rows (rows past rowCount zero)
    for (int p = lane; p < 16 * PR; p += 32) {
        int r = p / PR, c = p % PR;
        bool valid = r < rowCount;
        const T* src = q;
        if (valid) {
            int rg = rowStart + r, k = rg / g;
            int seq = seqBase >= 0 ? seqBase + k : __ldg(A.rowSeqs + seqOff + k);
            src = q + (size_t)(seq * hq + h * g + (rg - k * g)) * D + c * 8;
        }
        cp_async16(smem_u32(qs + swz<D>(r, c)), src, valid);
    }
    const int nTok = tailSeq >= 0 ? fullTok - C + ((tailLen - 1) & (C - 1)) + 1 : fullTok;
    const int nTilesAll = (nTok + NTW - 1) / NTW;
    const int nTiles = (nTilesAll - hf + TSTEP - 1) / TSTEP;   // this warp's tiles: hf + TSTEP·j
    auto chunk_of = [&](int j) {
        int ci = ((hf + TSTEP * j) * NTW) >> logC;
        return ci < PRE ? pick_pre(ic, id, ci) : __ldg(A.chunkIds + chunkOff + ci);
    };
    // stage load: tokens tile·16 .. +15 lie in one chunk; slots ≥ nTok are zero-filled, not read
    auto load = [&](int j, int stage, int chunk) {
        if constexpr (MODE == 2) return;
        const int tok0 = (hf + TSTEP * j) * NTW;
        const T* kb = kc + (((size_t)chunk * hkv + h) * C + (tok0 & (C - 1))) * D;
        const T* vb = vc + (kb - kc);
        T* ks = kvs + stage * WSTAGE;
        T* vs = ks + NTW * D;
        #pragma unroll
        for (int it = 0; it < NTW * PR / 32; ++it) {
            int p = lane + it * 32, r = p / PR, c = p % PR;
            bool valid = tok0 + r < nTok;
            cp_async16(smem_u32(ks + swz<D>(r, c)), valid ? kb + r * D + c * 8 : kc, valid);
            cp_async16(smem_u32(vs + swz<D>(r, c)), valid ? vb + r * D + c * 8 : vc, valid);
        }
    };
    #pragma unroll
    for (int s = 0; s < WST - 1; ++s) {
        if (s < nTiles) load(s, s, chunk_of(s));
        cp_async_commit();   // the first group also holds the query rows
    }
    if constexpr (MODE == 2) {   // the math alone runs on zeroed stages (stale shared memory may hold NaN patterns)
        for (int p = lane; p < WST * WSTAGE / 8; p += 32) reinterpret_cast<uint4*>(kvs)[p] = make_uint4(0u, 0u, 0u, 0u);
        __syncwarp();
    }
    float o[D / 8][4];
    #pragma unroll
    for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    uint32_t qf[D / 16][4];
    for (int i = 0; i < nTiles; ++i) {
        const int nextTile = i + WST - 1;
        const int nextChunk = nextTile < nTiles ? chunk_of(nextTile) : 0;   // requested before the wait
        cp_async_wait<WST - 2>();
        __syncwarp();
        if (nextTile < nTiles) load(nextTile, nextTile % WST, nextChunk);
        cp_async_commit();
        if (i == 0) {
            #pragma unroll
            for (int kk = 0; kk < D / 16; ++kk) {
                int mat = lane >> 3, row = (lane & 7) + ((mat & 1) << 3);
                ldsm_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], smem_u32(qs + swz<D>(row, kk * 2 + (mat >> 1))));
            }
        }
        if constexpr (MODE == 1) continue;
        const T* ks = kvs + (i % WST) * WSTAGE;
        const T* vs = ks + NTW * D;
        float s[2][4];
        #pragma unroll
        for (int n = 0; n < 2; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
        #pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            uint32_t b0, b1, b2, b3;
            int row = (lane & 7) + ((lane >> 4) << 3);
            ldsm_x4(b0, b1, b2, b3, smem_u32(ks + swz<D>(row, kk * 2 + ((lane >> 3) & 1))));
            Elem<T>::mma(s[0], qf[kk], b0, b1);
            Elem<T>::mma(s[1], qf[kk], b2, b3);
        }
        float mx0 = -INFINITY, mx1 = -INFINITY;
        #pragma unroll
        for (int n = 0; n < 2; ++n) {
            #pragma unroll
            for (int e = 0; e < 2; ++e) {
                int tg = (hf + TSTEP * i) * NTW + n * 8 + 2 * (lane & 3) + e;
                bool v = tg < nTok;
                s[n][e] = v ? s[n][e] * A.scaleLog2 : -INFINITY;
                s[n][2 + e] = v ? s[n][2 + e] * A.scaleLog2 : -INFINITY;
                mx0 = fmaxf(mx0, s[n][e]);
                mx1 = fmaxf(mx1, s[n][2 + e]);
            }
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        float base0 = mn0 == -INFINITY ? 0.f : mn0, base1 = mn1 == -INFINITY ? 0.f : mn1;
        if (!__all_sync(0xffffffffu, mn0 == m0 && mn1 == m1)) {
            float c0 = ex2<FTZ>(m0 - base0), c1 = ex2<FTZ>(m1 - base1);
            l0 *= c0;
            l1 *= c1;
            #pragma unroll
            for (int n = 0; n < D / 8; ++n) {
                o[n][0] *= c0; o[n][1] *= c0;
                o[n][2] *= c1; o[n][3] *= c1;
            }
        }
        m0 = mn0;
        m1 = mn1;
        uint32_t pf[4];
        #pragma unroll
        for (int n = 0; n < 2; ++n) {
            float p0 = ex2<FTZ>(s[n][0] - base0), p1 = ex2<FTZ>(s[n][1] - base0);
            float p2 = ex2<FTZ>(s[n][2] - base1), p3 = ex2<FTZ>(s[n][3] - base1);
            l0 += p0 + p1;
            l1 += p2 + p3;
            pf[n * 2 + 0] = Elem<T>::pack(p0, p1);
            pf[n * 2 + 1] = Elem<T>::pack(p2, p3);
        }
        #pragma unroll
        for (int db = 0; db < D / 16; ++db) {
            uint32_t v0, v1, v2, v3;
            int row = (lane & 7) + (((lane >> 3) & 1) << 3);
            ldsm_x4_t(v0, v1, v2, v3, smem_u32(vs + swz<D>(row, db * 2 + (lane >> 4))));
            Elem<T>::mma(o[2 * db], pf, v0, v1);
            Elem<T>::mma(o[2 * db + 1], pf, v2, v3);
        }
    }
    cp_async_wait<0>();
    if constexpr (MODE != 0) {   // diagnostics: finite records and outputs (their values are meaningless)
        m0 = m1 = 0.f;
        l0 = l1 = 1.f;
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    if constexpr (PAIR) {
        // warp w + 4 → warp w: its state through its own (now idle) stage area, a 64-thread named barrier per pair
        float* xs = reinterpret_cast<float*>(reinterpret_cast<T*>(smem) + NWS * 16 * D + (warp & 3 | 4) * WST * WSTAGE);
        static_assert((D / 8) * 4 * 32 * 4 + 4 * 32 * 4 <= WST * WSTAGE * 2, "pair hand-over area");
        if (hf == 1) {
            #pragma unroll
            for (int n = 0; n < D / 8; ++n)
                *reinterpret_cast<float4*>(xs + (n * 32 + lane) * 4) = make_float4(o[n][0], o[n][1], o[n][2], o[n][3]);
            *reinterpret_cast<float4*>(xs + (D / 8 * 32 + lane) * 4) = make_float4(m0, m1, l0, l1);
        }
        switch (warp & 3) {   // immediate barrier ids: a register id makes ptxas reserve all 16
            case 0: asm volatile("bar.sync 1, 64;" ::: "memory"); break;
            case 1: asm volatile("bar.sync 2, 64;" ::: "memory"); break;
            case 2: asm volatile("bar.sync 3, 64;" ::: "memory"); break;
            default: asm volatile("bar.sync 4, 64;" ::: "memory"); break;
        }
        if (hf == 1) return;
        const float4 ml = *reinterpret_cast<const float4*>(xs + (D / 8 * 32 + lane) * 4);
        const float M0 = fmaxf(m0, ml.x), M1 = fmaxf(m1, ml.y);
        const float b0 = M0 == -INFINITY ? 0.f : M0, b1 = M1 == -INFINITY ? 0.f : M1;
        const float fa0 = exp2f(m0 - b0), fb0 = exp2f(ml.x - b0), fa1 = exp2f(m1 - b1), fb1 = exp2f(ml.y - b1);
        #pragma unroll
        for (int n = 0; n < D / 8; ++n) {
            const float4 x = *reinterpret_cast<const float4*>(xs + (n * 32 + lane) * 4);
            o[n][0] = o[n][0] * fa0 + x.x * fb0; o[n][1] = o[n][1] * fa0 + x.y * fb0;
            o[n][2] = o[n][2] * fa1 + x.z * fb1; o[n][3] = o[n][3] * fa1 + x.w * fb1;
        }
        l0 = l0 * fa0 + ml.z * fb0;
        l1 = l1 * fa1 + ml.w * fb1;
        m0 = M0;
        m1 = M1;
    }
    const int4 jb = ldg_again(itemRec + 4);
    const int partBase = jb.y, partStride = jb.z;
    #pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int r = (lane >> 2) + 8 * half;
        if (r >= rowCount) continue;
        const float M = half ? m1 : m0, L = half ? l1 : l0;
        const int rg = rowStart + r, k = rg / g;
        const int seq = seqBase >= 0 ? seqBase + k : __ldg(A.rowSeqs + seqOff + k);
        const int col0 = 2 * (lane & 3);
        if (A.direct && __ldg(A.seqInfo + 4 * seq + 2) == 1) {   // the only item of this sequence
            float inv = 1.f / L;
            uint32_t* dst = reinterpret_cast<uint32_t*>(static_cast<T*>(A.out) + ((size_t)seq * hq + h * g + (rg - k * g)) * D + col0);
            #pragma unroll
            for (int n = 0; n < D / 8; ++n) dst[n * 4] = Elem<T>::pack(o[n][2 * half] * inv, o[n][2 * half + 1] * inv);
            continue;
        }
        size_t recIdx = (size_t)partBase + (size_t)h * partStride + r;
        float2* dst = reinterpret_cast<float2*>(A.partO + recIdx * D + col0);
        #pragma unroll
        for (int n = 0; n < D / 8; ++n) dst[n * 4] = make_float2(o[n][2 * half], o[n][2 * half + 1]);
        if ((lane & 3) == 0) *reinterpret_cast<float2*>(A.partML + 2 * recIdx) = make_float2(M, L);
    }
}
