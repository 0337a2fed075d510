// The forward pass of a Llama-family decoder on the GPU, apart from the matrix multiplies (cuBLAS) and the
// two-phase decode attention (attention.cu): embedding, RMSNorm, RoPE tables, the q/k/v epilogue (bias, q/k
// norm, RoPE, KV append), attention over the chunked KV for prefill (and decode where attention.cu does not
// apply), SiLU·mul, 16-bit conversions, greedy argmax and random weight fill. Built into model.fatbin.
//
// Activations: the residual stream x is fp32 (T, hidden); matrix-multiply inputs are "A" = float (exact mode)
// or bf16; matrix-multiply outputs are fp32. KV slabs hold float, half or bf16 in KvLayout's layout:
// element (chunk c, kv head h, slot t, dim d) at ((c·Hkv + h)·C + t)·D + d.

#include "common.cuh"
#include "wgmma.cuh"

namespace csm {

// Programmatic dependent launch (sm_90): a kernel launched with programmatic stream serialization may start
// while the kernel before it runs; it must wait (pdl_wait) before it reads or writes what that kernel or any earlier
// one touches. pdl_trigger lets the next such kernel be scheduled once every block of this one has started. Both
// are no-ops on a plain launch and before sm_90. Every kernel that runs pdl_wait runs it in every block before it
// exits, so the completion of a grid implies the completion of the grids before it.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

__device__ __forceinline__ float warp_sum(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over a block of ≤ 1024 threads (blockDim a multiple of 32); every thread gets the result.
__device__ __forceinline__ float block_sum(float v, float* red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    float s = 0.f;
    for (int i = 0; i < nw; ++i) s += red[i];
    return s;
}

// x[t, :] = embed[tokens[t], :] widened to fp32; a negative token -1 - i is prev[i] (a pick of the step before,
// still on the device). Grid: T blocks.
template <typename W>
__device__ void embed(const W* __restrict__ e, const int* __restrict__ tokens, const int* __restrict__ prev, float* __restrict__ x,
                      int hidden) {
    int t = blockIdx.x;
    int tok = __ldg(tokens + t);
    if (tok < 0) tok = prev[-1 - tok];   // the token the step before picked on the device (its ids, index -1 - tok)
    if (tok < 0) tok = 0;   // it picked none (a non-finite logit): the engine drops this row; read a row in bounds
    const W* row = e + (size_t)tok * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) x[(size_t)t * hidden + i] = to_f(row[i]);
}

// Four consecutive outputs in one store (o is 4-element aligned: 16 bytes for float, 8 for bf16).
__device__ __forceinline__ void store4(float* o, float a, float b, float c, float d) {
    *reinterpret_cast<float4*>(o) = make_float4(a, b, c, d);
}
__device__ __forceinline__ void store4(__nv_bfloat16* o, float a, float b, float c, float d) {
    __nv_bfloat162 lo = __floats2bfloat162_rn(a, b), hi = __floats2bfloat162_rn(c, d);
    uint2 u;
    u.x = *reinterpret_cast<unsigned int*>(&lo);
    u.y = *reinterpret_cast<unsigned int*>(&hi);
    *reinterpret_cast<uint2*>(o) = u;
}

// out[i, :] = x[r, :] / rms(x[r, :]) · gamma with r = rows ? rows[i] : i. Grid: n blocks.
// Also zeroes zero[0 .. zeroWords) (the fp32 output of a split-k GEMM that follows; 16-byte aligned), after pdl_wait.
template <typename A>
__device__ void rmsnorm(const float* __restrict__ x, const int* __restrict__ rows, const float* __restrict__ gamma,
                        A* __restrict__ out, int hidden, float eps, float* __restrict__ zero, int zeroWords) {
    __shared__ float red[32];
    pdl_trigger();
    pdl_wait();
    if (zero) {
        const float4 z4 = make_float4(0.f, 0.f, 0.f, 0.f);
        for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < (zeroWords >> 2); j += gridDim.x * blockDim.x)
            reinterpret_cast<float4*>(zero)[j] = z4;
        for (int j = (zeroWords & ~3) + blockIdx.x * blockDim.x + threadIdx.x; j < zeroWords; j += gridDim.x * blockDim.x) zero[j] = 0.f;
    }
    int i = blockIdx.x, r = rows ? __ldg(rows + i) : i;
    const float* xr = x + (size_t)r * hidden;
    A* o = out + (size_t)i * hidden;
    constexpr int RV = 2;   // float4s per thread held in registers on the vector path
    if ((hidden & 3) == 0 && hidden <= 4 * RV * (int)blockDim.x && ((reinterpret_cast<size_t>(gamma) & 15) == 0)) {
        // the row and gamma in registers, loaded once and before the reduction (it was latency-bound: load,
        // reduce, then load the row again and gamma)
        const int n4 = hidden >> 2;
        float4 v[RV], gv[RV];
        float ss = 0.f;
        #pragma unroll
        for (int k = 0; k < RV; ++k) {
            int j = threadIdx.x + k * blockDim.x;
            if (j < n4) {
                v[k] = reinterpret_cast<const float4*>(xr)[j];
                gv[k] = __ldg(reinterpret_cast<const float4*>(gamma) + j);
                ss = fmaf(v[k].x, v[k].x, ss);
                ss = fmaf(v[k].y, v[k].y, ss);
                ss = fmaf(v[k].z, v[k].z, ss);
                ss = fmaf(v[k].w, v[k].w, ss);
            }
        }
        ss = block_sum(ss, red);
        float inv = (float)(1.0 / sqrt((double)ss / hidden + (double)eps));
        #pragma unroll
        for (int k = 0; k < RV; ++k) {
            int j = threadIdx.x + k * blockDim.x;
            if (j < n4) {
                store4(o + 4 * j, v[k].x * inv * gv[k].x, v[k].y * inv * gv[k].y, v[k].z * inv * gv[k].z,
                       v[k].w * inv * gv[k].w);
            }
        }
        return;
    }
    float ss = 0.f;
    for (int j = threadIdx.x; j < hidden; j += blockDim.x) ss = fmaf(xr[j], xr[j], ss);
    ss = block_sum(ss, red);
    float inv = (float)(1.0 / sqrt((double)ss / hidden + (double)eps));
    for (int j = threadIdx.x; j < hidden; j += blockDim.x) o[j] = from_f<A>(xr[j] * inv * gamma[j]);
}

// After the fused q|k|v projection (T, (Hq + 2·Hkv)·D) fp32, per token: bias, q/k RMSNorm (Qwen3), RoPE on q
// and k (pairs i, i + D/2), K and V into the cache at (chunk[t], slot[t]), and for t < nq16 the query in the
// cache's 16-bit type (q16, (nq16, Hq, D)) for the two-phase decode kernels. Rotated q/k stay in qkv (fp32).
// Grid: (T, ⌈heads / warps per block⌉); one warp per head.
template <typename KV>
__device__ void qkv_post(float* __restrict__ qkv, const float* __restrict__ bias, const float* __restrict__ qn,
                         const float* __restrict__ kn, const float* __restrict__ cosT, const float* __restrict__ sinT,
                         KV* __restrict__ kc, KV* __restrict__ vc, const int* __restrict__ chunk,
                         const int* __restrict__ slot, KV* __restrict__ q16, int nq16, int hq, int hkv, int d,
                         int logC, float eps) {
    pdl_trigger();
    pdl_wait();
    const int t = blockIdx.x, lane = threadIdx.x & 31, nw = blockDim.x >> 5, warp = blockIdx.y * nw + (threadIdx.x >> 5);
    const int half = d >> 1, heads = hq + 2 * hkv, stride = heads * d;
    float* row = qkv + (size_t)t * stride;
    const float* cs = cosT + (size_t)t * half;
    const float* sn = sinT + (size_t)t * half;
    const int ch = __ldg(chunk + t), sl = __ldg(slot + t);
    for (int hh = warp; hh < heads; hh += nw * gridDim.y) {
        float* v = row + hh * d;
        const bool isQ = hh < hq, isK = !isQ && hh < hq + hkv;
        if (bias) {
            for (int i = lane; i < d; i += 32) v[i] += bias[hh * d + i];
        }
        if (qn && (isQ || isK)) {
            const float* gm = isQ ? qn : kn;
            float ss = 0.f;
            for (int i = lane; i < d; i += 32) ss = fmaf(v[i], v[i], ss);
            ss = warp_sum(ss);
            float inv = (float)(1.0 / sqrt((double)ss / d + (double)eps));
            for (int i = lane; i < d; i += 32) v[i] = v[i] * inv * gm[i];
        }
        __syncwarp();
        if (isQ || isK) {
            for (int i = lane; i < half; i += 32) {
                float c = cs[i], s = sn[i], x1 = v[i], x2 = v[i + half];
                v[i] = x1 * c - x2 * s;
                v[i + half] = x2 * c + x1 * s;
            }
        }
        __syncwarp();
        if (isQ) {
            if (t < nq16) {
                for (int i = lane; i < d; i += 32) q16[((size_t)t * hq + hh) * d + i] = from_f<KV>(v[i]);
            }
        } else {
            int kh = isK ? hh - hq : hh - hq - hkv;
            KV* dst = (isK ? kc : vc) + ((((size_t)ch * hkv + kh) << logC) + sl) * d;
            for (int i = lane; i < d; i += 32) dst[i] = from_f<KV>(v[i]);
        }
    }
}

// qkv_post with a head held in registers (D = 32·NPL, NPL ∈ {2, 4}): lane holds dims lane + 32·j, so a RoPE pair
// (i, i + D/2) is j and j + NPL/2 of one lane. One coalesced load of the head, every step in registers, then the
// stores: the session-4 kernel made three dependent global round trips a head (bias/norm, RoPE, cache write) and
// re-read v after each. Same arithmetic in the same order, so the same bits. Rotated q/k (and V with a bias) go back
// into qkv only for rows ≥ nq16, the ones the prefill attention reads from there.
template <typename KV, int NPL>
__device__ void qkv_post_reg(float* __restrict__ qkv, const float* __restrict__ bias, const float* __restrict__ qn,
                             const float* __restrict__ kn, const float* __restrict__ cosT, const float* __restrict__ sinT,
                             KV* __restrict__ kc, KV* __restrict__ vc, const int* __restrict__ chunk,
                             const int* __restrict__ slot, KV* __restrict__ q16, int nq16, int hq, int hkv,
                             int logC, float eps) {
    constexpr int D = 32 * NPL, HALF = D / 2, NH = NPL / 2;
    pdl_trigger();
    const int t = blockIdx.x, lane = threadIdx.x & 31, nw = blockDim.x >> 5, warp = blockIdx.y * nw + (threadIdx.x >> 5);
    const int heads = hq + 2 * hkv;
    // everything read here (qkv from the GEMM, the RoPE table, chunk/slot) comes from earlier kernels or copies
    pdl_wait();
    if (warp >= heads) return;
    const int hh = warp;
    float* v = qkv + (size_t)t * heads * D + hh * D;
    const bool isQ = hh < hq, isK = !isQ && hh < hq + hkv;
    float r[NPL];
    #pragma unroll
    for (int j = 0; j < NPL; ++j) r[j] = v[lane + 32 * j];
    float c[NH], s[NH];
    if (isQ || isK) {
        #pragma unroll
        for (int j = 0; j < NH; ++j) {
            c[j] = __ldg(cosT + (size_t)t * HALF + lane + 32 * j);
            s[j] = __ldg(sinT + (size_t)t * HALF + lane + 32 * j);
        }
    }
    if (bias) {
        #pragma unroll
        for (int j = 0; j < NPL; ++j) r[j] += __ldg(bias + hh * D + lane + 32 * j);
    }
    if (qn && (isQ || isK)) {
        const float* gm = isQ ? qn : kn;
        float ss = 0.f;
        #pragma unroll
        for (int j = 0; j < NPL; ++j) ss = fmaf(r[j], r[j], ss);
        ss = warp_sum(ss);
        float inv = (float)(1.0 / sqrt((double)ss / D + (double)eps));
        #pragma unroll
        for (int j = 0; j < NPL; ++j) r[j] = r[j] * inv * __ldg(gm + lane + 32 * j);
    }
    if (isQ || isK) {
        #pragma unroll
        for (int j = 0; j < NH; ++j) {
            float x1 = r[j], x2 = r[j + NH];
            r[j] = x1 * c[j] - x2 * s[j];
            r[j + NH] = x2 * c[j] + x1 * s[j];
        }
    }
    if ((isQ || isK || bias) && t >= nq16) {   // rows < nq16: the two-phase kernels read q16 and the cache, not qkv
        #pragma unroll
        for (int j = 0; j < NPL; ++j) v[lane + 32 * j] = r[j];
    }
    KV* dst = nullptr;
    if (isQ) {
        if (t < nq16) dst = q16 + ((size_t)t * hq + hh) * D;
    } else {
        const int ch = __ldg(chunk + t), sl = __ldg(slot + t);
        int kh = isK ? hh - hq : hh - hq - hkv;
        dst = (isK ? kc : vc) + ((((size_t)ch * hkv + kh) << logC) + sl) * D;
    }
    if (dst) {
        #pragma unroll
        for (int j = 0; j < NPL; ++j) dst[lane + 32 * j] = from_f<KV>(r[j]);
    }
}

// Causal attention of new tokens over a sequence's chunked KV (their own K/V already appended).
// Unit u = {tableOff, row0, nq, pos0}: query tokens row0 .. row0+nq-1 (rows of qkv / out) at positions
// pos0 .. pos0+nq-1 of the sequence whose chunk ids start at tables[tableOff]; token i attends 0 .. pos0+i.
// Block (unit, kv head): rows = nq·g (≤ 64) pairs (token, query head of the group); TPR = max(1, D/32) threads
// per row, each holding D/TPR of the head dims (64·TPR threads). Keys go through shared memory in tiles of KT,
// online softmax per tile in fp32.
template <int D> struct AttnShape {
    static constexpr int TPR = D >= 64 ? D / 32 : 1;
    static constexpr int THREADS = 64 * TPR;
};

template <typename KV, typename A, int D>
__device__ void attn_prefill(const float* __restrict__ qkv, const KV* __restrict__ kc, const KV* __restrict__ vc,
                             const int* __restrict__ units, const int* __restrict__ tables, A* __restrict__ out,
                             int hq, int hkv, int logC, float scaleLog2) {
    constexpr int TPR = AttnShape<D>::TPR, KT = 32, DPT = D / TPR, HS = DPT + 4, RS = TPR * HS;
    __shared__ __align__(16) float ks[KT * RS];
    __shared__ __align__(16) float vs[KT * RS];
    const int4 u = __ldg(reinterpret_cast<const int4*>(units) + blockIdx.x);
    const int tableOff = u.x, row0 = u.y, nq = u.z, pos0 = u.w;
    const int h = blockIdx.y, g = hq / hkv, C = 1 << logC;
    const int tid = threadIdx.x, r = tid / TPR, part = tid % TPR;
    const int qi = r / g, gi = r - qi * g;
    const bool valid = qi < nq;
    const int stride = (hq + 2 * hkv) * D;
    const int myPos = pos0 + (valid ? qi : nq - 1);
    float q[DPT], o[DPT];
    #pragma unroll
    for (int i = 0; i < DPT; ++i) {
        q[i] = valid ? qkv[(size_t)(row0 + qi) * stride + (h * g + gi) * D + part * DPT + i] * scaleLog2 : 0.f;
        o[i] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    const int nKeys = pos0 + nq;
    for (int k0 = 0; k0 < nKeys; k0 += KT) {
        __syncthreads();
        for (int e = tid; e < KT * D; e += blockDim.x) {
            int j = e / D, dd = e - j * D, kp = k0 + j;
            float kv = 0.f, vv = 0.f;
            if (kp < nKeys) {
                int c = __ldg(tables + tableOff + (kp >> logC));
                size_t idx = ((((size_t)c * hkv + h) << logC) + (kp & (C - 1))) * D + dd;
                kv = to_f(kc[idx]);
                vv = to_f(vc[idx]);
            }
            int at = j * RS + (dd / DPT) * HS + (dd % DPT);
            ks[at] = kv;
            vs[at] = vv;
        }
        __syncthreads();
        float s[KT];
        float mt = -INFINITY;
        #pragma unroll
        for (int j = 0; j < KT; ++j) {
            const float* kr = ks + j * RS + part * HS;
            float acc = 0.f;
            #pragma unroll
            for (int i = 0; i < DPT; i += 4) {
                float4 k4 = *reinterpret_cast<const float4*>(kr + i);
                acc = fmaf(q[i], k4.x, acc);
                acc = fmaf(q[i + 1], k4.y, acc);
                acc = fmaf(q[i + 2], k4.z, acc);
                acc = fmaf(q[i + 3], k4.w, acc);
            }
            #pragma unroll
            for (int x = 1; x < TPR; x <<= 1) acc += __shfl_xor_sync(0xffffffffu, acc, x);
            s[j] = (k0 + j <= myPos) ? acc : -INFINITY;
            mt = fmaxf(mt, s[j]);
        }
        float mn = fmaxf(m, mt);
        float alpha = exp2f(m - mn);   // m = -inf at first: 0
        float ls = 0.f;
        #pragma unroll
        for (int j = 0; j < KT; ++j) {
            s[j] = exp2f(s[j] - mn);
            ls += s[j];
        }
        l = l * alpha + ls;
        m = mn;
        #pragma unroll
        for (int i = 0; i < DPT; ++i) o[i] *= alpha;
        #pragma unroll
        for (int j = 0; j < KT; ++j) {
            const float* vr = vs + j * RS + part * HS;
            float p = s[j];
            #pragma unroll
            for (int i = 0; i < DPT; i += 4) {
                float4 v4 = *reinterpret_cast<const float4*>(vr + i);
                o[i] = fmaf(p, v4.x, o[i]);
                o[i + 1] = fmaf(p, v4.y, o[i + 1]);
                o[i + 2] = fmaf(p, v4.z, o[i + 2]);
                o[i + 3] = fmaf(p, v4.w, o[i + 3]);
            }
        }
    }
    if (valid) {
        float inv = 1.f / l;
        A* dst = out + (size_t)(row0 + qi) * hq * D + (h * g + gi) * D + part * DPT;
        #pragma unroll
        for (int i = 0; i < DPT; ++i) dst[i] = from_f<A>(o[i] * inv);
    }
}

// The same causal attention on tensor cores (flash-attention style), for bf16 activations over f16 / bf16 KV at head
// dims 64 and 128: the same units, grid (units, kv heads) and arguments. A block of 4 warps takes the unit's ≤ 64 rows
// (token, query head of the group), 16 a warp; tiles of 64 keys (gathered through the chunk table, any chunk size ≥ 8)
// go through shared memory by cp.async, double-buffered, 16-byte pieces XOR-swizzled; S = Q·Kᵀ by mma.sync with Q's
// fragments (scaled into log2 units, rounded to the KV type) in registers and K by ldmatrix, an online softmax on S's
// fragments (a row spread over a lane quad), then O += P·V with P rounded to the KV type and V by ldmatrix.trans.
// Dynamic shared memory: 4 tiles of 64 × D 16-bit elements (K and V, two stages).
template <typename KV, int D>
__device__ void attn_prefill_tc(const float* __restrict__ qkv, const KV* __restrict__ kc, const KV* __restrict__ vc,
                                const int* __restrict__ units, const int* __restrict__ tables, __nv_bfloat16* __restrict__ out,
                                int hq, int hkv, int logC, float scaleLog2) {
    using E = cs::Elem<KV>;
    constexpr int KT = 64, KS = D / 16, NP = D / 8;
    extern __shared__ __align__(16) unsigned char tc_smem[];
    KV* sm = reinterpret_cast<KV*>(tc_smem);   // K stage 0, K stage 1, V stage 0, V stage 1
    const int4 u = __ldg(reinterpret_cast<const int4*>(units) + blockIdx.x);
    const int tableOff = u.x, row0 = u.y, nq = u.z, pos0 = u.w;
    const int h = blockIdx.y, g = hq / hkv, C = 1 << logC;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, gr = lane >> 2, tq = lane & 3;
    const int stride = (hq + 2 * hkv) * D, nKeys = pos0 + nq;
    // this thread's two rows of the warp's 16 (gr, gr + 8): (token, head of the group); rows past the unit clamp to its
    // last token (their keys stay finite) and are not written
    int qi[2], gi[2], pos[2];
    bool valid[2];
    #pragma unroll
    for (int r = 0; r < 2; ++r) {
        int R = warp * 16 + gr + 8 * r;
        qi[r] = R / g;
        gi[r] = R - qi[r] * g;
        valid[r] = qi[r] < nq;
        pos[r] = pos0 + (valid[r] ? qi[r] : nq - 1);
    }
    uint32_t qa[KS][4];
    #pragma unroll
    for (int r = 0; r < 2; ++r) {
        const float* q = qkv + (size_t)(row0 + (valid[r] ? qi[r] : 0)) * stride + (h * g + gi[r]) * D;
        #pragma unroll
        for (int k = 0; k < KS; ++k) {
            int d = k * 16 + 2 * tq;
            qa[k][r] = valid[r] ? E::pack(q[d] * scaleLog2, q[d + 1] * scaleLog2) : 0u;
            qa[k][2 + r] = valid[r] ? E::pack(q[d + 8] * scaleLog2, q[d + 9] * scaleLog2) : 0u;
        }
    }
    auto load = [&](int t, int stage) {
        KV* ks = sm + stage * KT * D;
        KV* vs = sm + (2 + stage) * KT * D;
        for (int e = tid; e < KT * NP; e += blockDim.x) {
            int j = e / NP, p = e - j * NP, kp = t * KT + j;
            bool ok = kp < nKeys;
            size_t idx = 0;
            if (ok) {
                int c = __ldg(tables + tableOff + (kp >> logC));
                idx = ((((size_t)c * hkv + h) << logC) + (kp & (C - 1))) * D + p * 8;
            }
            int at = cs::swz<D>(j, p);
            cs::cp_async16(cs::smem_u32(ks + at), kc + idx, ok);
            cs::cp_async16(cs::smem_u32(vs + at), vc + idx, ok);
        }
        cs::cp_async_commit();
    };
    float o[2 * KS][4];
    #pragma unroll
    for (int j = 0; j < 2 * KS; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    const int nT = (nKeys + KT - 1) / KT, mi = lane >> 3, rr = lane & 7;
    load(0, 0);
    for (int t = 0; t < nT; ++t) {
        if (t + 1 < nT) load(t + 1, (t + 1) & 1);
        else cs::cp_async_commit();   // (an empty group: the wait below still leaves one pending)
        cs::cp_async_wait<1>();
        __syncthreads();
        const KV* ks = sm + (t & 1) * KT * D;
        const KV* vs = sm + (2 + (t & 1)) * KT * D;
        float s[8][4];
        #pragma unroll
        for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
        #pragma unroll
        for (int k = 0; k < KS; ++k) {
            #pragma unroll
            for (int np = 0; np < 4; ++np) {   // keys np·16 .. +15: ldmatrix of (keys 0-7 | 8-15) × (dims lo | hi)
                uint32_t b0, b1, b2, b3;
                cs::ldsm_x4(b0, b1, b2, b3, cs::smem_u32(ks + cs::swz<D>(np * 16 + (mi >> 1) * 8 + rr, 2 * k + (mi & 1))));
                E::mma(s[2 * np], qa[k], b0, b1);
                E::mma(s[2 * np + 1], qa[k], b2, b3);
            }
        }
        float mx[2] = {-INFINITY, -INFINITY};
        #pragma unroll
        for (int j = 0; j < 8; ++j) {
            #pragma unroll
            for (int e = 0; e < 4; ++e) {
                int key = t * KT + j * 8 + 2 * tq + (e & 1);
                if (key > pos[e >> 1]) s[j][e] = -INFINITY;
                mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
            }
        }
        float alpha[2];
        #pragma unroll
        for (int r = 0; r < 2; ++r) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            float mn = fmaxf(m[r], mx[r]);   // finite: key 0 is in every row's range
            alpha[r] = exp2f(m[r] - mn);
            m[r] = mn;
            l[r] *= alpha[r];
        }
        #pragma unroll
        for (int j = 0; j < 8; ++j) {
            #pragma unroll
            for (int e = 0; e < 4; ++e) {
                s[j][e] = exp2f(s[j][e] - m[e >> 1]);
                l[e >> 1] += s[j][e];
            }
        }
        #pragma unroll
        for (int j = 0; j < 2 * KS; ++j) {
            o[j][0] *= alpha[0];
            o[j][1] *= alpha[0];
            o[j][2] *= alpha[1];
            o[j][3] *= alpha[1];
        }
        #pragma unroll
        for (int kk = 0; kk < 4; ++kk) {   // keys kk·16 .. +15: P's A fragment from S's two n8 tiles
            uint32_t pa[4] = {E::pack(s[2 * kk][0], s[2 * kk][1]), E::pack(s[2 * kk][2], s[2 * kk][3]),
                              E::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), E::pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
            #pragma unroll
            for (int dp = 0; dp < KS; ++dp) {   // dims dp·16 .. +15: ldmatrix.trans of (keys lo | hi) × (dims 0-7 | 8-15)
                uint32_t v0, v1, v2, v3;
                cs::ldsm_x4_t(v0, v1, v2, v3, cs::smem_u32(vs + cs::swz<D>(kk * 16 + (mi & 1) * 8 + rr, 2 * dp + (mi >> 1))));
                E::mma(o[2 * dp], pa, v0, v1);
                E::mma(o[2 * dp + 1], pa, v2, v3);
            }
        }
        __syncthreads();   // every warp is done with this stage before it is loaded again
    }
    #pragma unroll
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        if (!valid[r]) continue;
        float inv = 1.f / l[r];
        __nv_bfloat16* dst = out + (size_t)(row0 + qi[r]) * hq * D + (h * g + gi[r]) * D + 2 * tq;
        #pragma unroll
        for (int j = 0; j < 2 * KS; ++j) {
            *reinterpret_cast<__nv_bfloat162*>(dst + j * 8) = __floats2bfloat162_rn(o[j][2 * r] * inv, o[j][2 * r + 1] * inv);
        }
    }
}

// out[t, :] = silu(gate) · up for each row t of gu: gate = gu[t, :I], up = gu[t, I:2I]; or, interleaved (the
// layout of DeviceWeights when I % 8 == 0), gate j = gu[t, 16·(j/8) + j%8] and up j 8 columns after it. Grid-stride.
template <typename A>
__device__ void silu_mul(const float* __restrict__ gu, A* __restrict__ out, long long n, int inter, int interleaved) {
    pdl_trigger();
    pdl_wait();
    if ((inter & 3) == 0 && n / 4 <= 0x7fffffffLL) {
        // 4 consecutive elements a thread (float4 loads of gate and up), 32-bit index arithmetic
        const int n4 = (int)(n >> 2), i4 = inter >> 2;
        for (int q = blockIdx.x * blockDim.x + threadIdx.x; q < n4; q += gridDim.x * blockDim.x) {
            int t = q / i4, j = q - t * i4;
            const float* row = gu + (size_t)t * 2 * inter;
            int gc = interleaved ? 16 * (j >> 1) + 4 * (j & 1) : 4 * j, uc = interleaved ? gc + 8 : inter + 4 * j;
            float4 g = *reinterpret_cast<const float4*>(row + gc), u = *reinterpret_cast<const float4*>(row + uc);
            A* o = out + (size_t)q * 4;
            o[0] = from_f<A>(g.x / (1.f + expf(-g.x)) * u.x);
            o[1] = from_f<A>(g.y / (1.f + expf(-g.y)) * u.y);
            o[2] = from_f<A>(g.z / (1.f + expf(-g.z)) * u.z);
            o[3] = from_f<A>(g.w / (1.f + expf(-g.w)) * u.w);
        }
        return;
    }
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long t = i / inter;
        int j = (int)(i - t * inter);
        int gc = interleaved ? 16 * (j >> 3) + (j & 7) : j, uc = interleaved ? gc + 8 : inter + j;
        float g = gu[t * 2 * inter + gc], u = gu[t * 2 * inter + uc];
        out[i] = from_f<A>(g / (1.f + expf(-g)) * u);
    }
}

template <typename S, typename A>
__device__ void convert(const S* __restrict__ in, A* __restrict__ out, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = from_f<A>(to_f(in[i]));
}

}  // namespace csm

#define CS_EMBED(NAME, W) \
    extern "C" __global__ void NAME(const W* e, const int* tokens, const int* prev, float* x, int hidden) {              \
        csm::embed<W>(e, tokens, prev, x, hidden);                                                                 \
    }
CS_EMBED(cs_embed_f32, float)
CS_EMBED(cs_embed_bf16, __nv_bfloat16)

#define CS_RMSNORM(NAME, A)                                                                                  \
    extern "C" __global__ void NAME(const float* x, const int* rows, const float* gamma, A* out, int hidden, \
                                    float eps, float* zero, int zeroWords) {                                 \
        csm::rmsnorm<A>(x, rows, gamma, out, hidden, eps, zero, zeroWords);                                  \
    }
CS_RMSNORM(cs_rmsnorm_f32, float)
CS_RMSNORM(cs_rmsnorm_bf16, __nv_bfloat16)

// cos/sin (T, half) of angle = invFreq[i] · pos[t] (the fp32 product, as Hugging Face), in double like the CPU.
extern "C" __global__ void cs_rope_table(const int* pos, const float* invFreq, float* cosT, float* sinT, int T, int half) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < T * half; i += gridDim.x * blockDim.x) {
        int t = i / half, j = i - t * half;
        float angle = invFreq[j] * (float)__ldg(pos + t);
        double s, c;
        sincos((double)angle, &s, &c);
        cosT[i] = (float)c;
        sinT[i] = (float)s;
    }
}

#define CS_QKV_POST(NAME, KV)                                                                                \
    extern "C" __global__ void NAME(float* qkv, const float* bias, const float* qn, const float* kn,          \
                                    const float* cosT, const float* sinT, KV* kc, KV* vc, const int* chunk,   \
                                    const int* slot, KV* q16, int nq16, int hq, int hkv, int d, int logC,     \
                                    float eps) {                                                              \
        csm::qkv_post<KV>(qkv, bias, qn, kn, cosT, sinT, kc, vc, chunk, slot, q16, nq16, hq, hkv, d, logC, eps); \
    }
CS_QKV_POST(cs_qkv_post_f32, float)
CS_QKV_POST(cs_qkv_post_f16, __half)
CS_QKV_POST(cs_qkv_post_bf16, __nv_bfloat16)

// qkv_post_reg at D = 64 and 128 (same arguments; d must equal the name's D). Grid: (T, ⌈heads / warps a block⌉).
#define CS_QKV_POST_REG(NAME, KV, NPL)                                                                       \
    extern "C" __global__ void NAME(float* qkv, const float* bias, const float* qn, const float* kn,          \
                                    const float* cosT, const float* sinT, KV* kc, KV* vc, const int* chunk,   \
                                    const int* slot, KV* q16, int nq16, int hq, int hkv, int d, int logC,     \
                                    float eps) {                                                              \
        csm::qkv_post_reg<KV, NPL>(qkv, bias, qn, kn, cosT, sinT, kc, vc, chunk, slot, q16, nq16, hq, hkv, logC, eps); \
    }
CS_QKV_POST_REG(cs_qkv_post_reg_f32_d64, float, 2)
CS_QKV_POST_REG(cs_qkv_post_reg_f16_d64, __half, 2)
CS_QKV_POST_REG(cs_qkv_post_reg_bf16_d64, __nv_bfloat16, 2)
CS_QKV_POST_REG(cs_qkv_post_reg_f32_d128, float, 4)
CS_QKV_POST_REG(cs_qkv_post_reg_f16_d128, __half, 4)
CS_QKV_POST_REG(cs_qkv_post_reg_bf16_d128, __nv_bfloat16, 4)

#define CS_ATTN(NAME, KV, A, D)                                                                              \
    extern "C" __global__ void __launch_bounds__(csm::AttnShape<D>::THREADS, 2)                              \
    NAME(const float* qkv, const KV* kc, const KV* vc, const int* units, const int* tables, A* out, int hq,  \
         int hkv, int logC, float scaleLog2) {                                                               \
        csm::attn_prefill<KV, A, D>(qkv, kc, vc, units, tables, out, hq, hkv, logC, scaleLog2);             \
    }
#define CS_ATTN_D(D)                                                     \
    CS_ATTN(cs_attn_prefill_f32_f32_d##D, float, float, D)               \
    CS_ATTN(cs_attn_prefill_f16_f32_d##D, __half, float, D)              \
    CS_ATTN(cs_attn_prefill_bf16_f32_d##D, __nv_bfloat16, float, D)      \
    CS_ATTN(cs_attn_prefill_f32_bf16_d##D, float, __nv_bfloat16, D)      \
    CS_ATTN(cs_attn_prefill_f16_bf16_d##D, __half, __nv_bfloat16, D)     \
    CS_ATTN(cs_attn_prefill_bf16_bf16_d##D, __nv_bfloat16, __nv_bfloat16, D)
CS_ATTN_D(16)
CS_ATTN_D(32)
CS_ATTN_D(64)
CS_ATTN_D(128)

#define CS_ATTN_TC(NAME, KV, D)                                                                              \
    extern "C" __global__ void __launch_bounds__(128)                                                         \
    NAME(const float* qkv, const KV* kc, const KV* vc, const int* units, const int* tables, __nv_bfloat16* out, \
         int hq, int hkv, int logC, float scaleLog2) {                                                        \
        csm::attn_prefill_tc<KV, D>(qkv, kc, vc, units, tables, out, hq, hkv, logC, scaleLog2);             \
    }
CS_ATTN_TC(cs_attn_prefill_tc_f16_d64, __half, 64)
CS_ATTN_TC(cs_attn_prefill_tc_bf16_d64, __nv_bfloat16, 64)
CS_ATTN_TC(cs_attn_prefill_tc_f16_d128, __half, 128)
CS_ATTN_TC(cs_attn_prefill_tc_bf16_d128, __nv_bfloat16, 128)

#define CS_SILU(NAME, A)                                                                                      \
    extern "C" __global__ void NAME(const float* gu, A* out, long long n, int inter, int interleaved) {         \
        csm::silu_mul<A>(gu, out, n, inter, interleaved);                                                     \
    }
CS_SILU(cs_silu_mul_f32, float)
CS_SILU(cs_silu_mul_bf16, __nv_bfloat16)

#define CS_CONVERT(NAME, S, A) \
    extern "C" __global__ void NAME(const S* in, A* out, long long n) { csm::convert<S, A>(in, out, n); }
CS_CONVERT(cs_convert_f16_f32, __half, float)
CS_CONVERT(cs_convert_bf16_f32, __nv_bfloat16, float)
CS_CONVERT(cs_convert_f16_bf16, __half, __nv_bfloat16)

// Per row of logits (vocab fp32): the lowest index of the maximum (greedy), or -1 when the maximum is not a
// finite number (NaN or ±inf anywhere that wins: the host sampler's sanitising rules then decide). Grid: rows.
extern "C" __global__ void __launch_bounds__(1024) cs_argmax(const float* logits, int vocab, int* out) {
    __shared__ float bv[32];
    __shared__ int bi[32];
    __shared__ int bad;
    const float* row = logits + (size_t)blockIdx.x * vocab;
    if (threadIdx.x == 0) bad = 0;
    __syncthreads();
    float best = -INFINITY;
    int idx = 0x7fffffff;
    bool nonfinite = false;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (!isfinite(v)) nonfinite = true;
        if (v > best || (v == best && i < idx)) { best = v; idx = i; }
    }
    if (nonfinite) bad = 1;
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, best, o);
        int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) { bv[w] = best; bi[w] = idx; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x >> 5); ++k) {
            if (bv[k] > best || (bv[k] == best && bi[k] < idx)) { best = bv[k]; idx = bi[k]; }
        }
        // a NaN or +inf among the logits: leave the row to the host sampler's sanitising rules
        out[blockIdx.x] = (bad || !(best > -INFINITY)) ? -1 : idx;
    }
}

// Uniform values in [-scale, scale) from a hash of (seed, index), as bf16: random weights made on the device.
extern "C" __global__ void cs_fill_bf16(__nv_bfloat16* p, long long n, unsigned int seed, float scale) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float u = cs::hash_uniform(i, seed);
        p[i] = __float2bfloat16_rn(u * scale);
    }
}


// Skinny GEMM for decode-sized token counts: y[t, r] (+)= Σ_k W[r, k] · x[t, k] for t < T ≤ NT, W (n, k) bf16
// row-major, x (T, k) bf16 row-major, y (T, n) fp32 row-major. Block = WARPS warps over 16·MT·WARPS rows of W
// (16·MT each) × NT tokens × one k-slice of kSlice (a multiple of 64); 64-wide k tiles stream through STAGES
// shared-memory stages by cp.async (the weights are the traffic: each byte read once), tensor cores (mma.sync
// m16n8k16, fp32 accumulation). A warp's x fragments serve its MT row tiles, so shared-memory reads of x per weight
// byte fall as 1/MT (MT = 1 was bound by them at NT = 64). The first stages' weights are requested before
// pdl_wait (they do not depend on the kernel before), x after it. mode 0: y = result (one k-slice), 1: y += result
// (one k-slice, the block owns its outputs), 2: atomicAdd into y (several k-slices; y zeroed first unless
// accumulating), 4: several k-slices, each block's partial tile into ws for cs_splitk_reduce, which sums them in slice
// order into y (flags & 1 and n % 4 == 0 only: the same bits every run, no zeroed y), 3: SiLU·mul epilogue (one k-slice; W's rows are gate|up interleaved in blocks of 8, see
// silu_mul): y is then the bf16 activation (T, n/2), act[t, 8q + i] = silu(row 16q + i) · row 16q + 8 + i, which
// one thread holds both of (accumulator rows lane/4 and lane/4 + 8). flags & 1 (modes 0-2, n % 4 == 0): the
// block's sums go through shared memory first and out as (token, 4 consecutive rows) pieces, consecutive threads
// on consecutive pieces: 16-byte stores / read-modify-writes, and on sm_90 16-byte red.global.add.v4.f32 for the
// atomic mode (else 4 fp32 atomics) — the per-fragment epilogue issues one 4-byte atomic an element, 32 bytes a
// row piece per warp instruction. Grid: (⌈n / rows⌉, slices).
namespace csm {
constexpr int GK = 64;


// WG (session 21): the tensor-core step as Hopper warpgroup MMAs (wgmma.mma_async, sm_90a) straight from the
// shared-memory stages — one m64n64k16 a k-step for a warpgroup's 64 weight rows, x read once a warpgroup instead of
// once a warp through ldmatrix, no register-staged fragments (the ldmatrix → mma latency chains session 17's Nsight
// profile found the small-T GEMMs stalled on). MT = 1, NT = 8 / 16 / 32 / 64 / 128, WARPS a multiple of 4; the accumulator fragment is
// the mma.sync one, so the epilogues are shared. Built without sm_90a (other GPUs, PTX) the same variants run the
// mma.sync step. DEFER: each k-tile's MMAs are waited for one tile later (wgmma.wait_group 1), overlapping them with
// the next tile's barrier, and the stages are refilled one tile later (STAGES - 2 tiles in flight, not STAGES - 1).
// TL (diagnostics only, session 24; the _tl instances): block b's timeline in cs_gemm_tl[6b ..] — globaltimer (ns) at its
// start, after pdl_wait, at its end (the kernel's exit, after a barrier), clock64 after the wait and at the end, and
// smid | 2 << 9 (a GEMM block) | row block << 16 | k-slice << 32 — as attention.cu's cs_attn_tl, read by SkinnyGemm.timeline().
constexpr int GEMM_TL_MAX = 8192;
}  // namespace csm
__device__ unsigned long long cs_gemm_tl[6 * csm::GEMM_TL_MAX];   // global scope: found by name (cuModuleGetGlobal)
namespace csm {

template <int NT, int MT, int WARPS, int STAGES, bool WG = false, bool DEFER = false, bool TL = false>
__device__ void gemm_skinny(const __nv_bfloat16* __restrict__ w, const __nv_bfloat16* __restrict__ x, float* __restrict__ y,
                            int T, int n, int k, int kSlice, int mode, int flags, float* __restrict__ ws, unsigned char* smem) {
    using namespace cs;
    static_assert(!WG || (MT == 1 && (NT == 8 || NT == 16 || NT == 32 || NT == 64 || NT == 128) && WARPS % 4 == 0),
                  "warpgroup variants: MT 1, NT 8/16/32/64/128, whole warpgroups");
    constexpr int BR = 16 * MT * WARPS, THREADS = 32 * WARPS;
    constexpr int WT = BR * GK, XT = NT * GK, STAGE = WT + XT;   // elements
    constexpr int LOOK = WG && DEFER && CS_WGMMA ? STAGES - 2 : STAGES - 1;   // k-tiles requested ahead
    static_assert(LOOK >= 1, "stages");
    const unsigned long long tlBegin = TL ? gtimer() : 0ull;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int r0 = blockIdx.x * BR, k0 = blockIdx.y * kSlice;
    const int nk = min(kSlice, k - k0) / GK;
    if constexpr (WG) smem += (1024u - (smem_u32(smem) & 1023u)) & 1023u;   // the swizzle atoms' alignment (+1 KiB asked)
    __nv_bfloat16* st = reinterpret_cast<__nv_bfloat16*>(smem);
    pdl_trigger();
    auto loadW = [&](int kt, int s) {
        __nv_bfloat16* ws = st + s * STAGE;
        const int kk = k0 + kt * GK;
        #pragma unroll
        for (int it = 0; it < BR * 8 / THREADS; ++it) {
            int p = tid + it * THREADS, r = p >> 3, c = p & 7;
            bool v = r0 + r < n;
            cp_async16(smem_u32(ws + swz<GK>(r, c)), w + (size_t)(v ? r0 + r : 0) * k + kk + c * 8, v);
        }
    };
    auto loadX = [&](int kt, int s) {
        __nv_bfloat16* xs = st + s * STAGE + WT;
        const int kk = k0 + kt * GK;
        #pragma unroll
        for (int it = 0; it < (NT * 8 + THREADS - 1) / THREADS; ++it) {
            int p = tid + it * THREADS, r = p >> 3, c = p & 7;
            if (r < NT) {
                bool v = r < T;
                cp_async16(smem_u32(xs + swz<GK>(r, c)), x + (size_t)(v ? r : 0) * k + kk + c * 8, v);
            }
        }
    };
    #pragma unroll
    for (int s = 0; s < LOOK; ++s) {
        if (s < nk) loadW(s, s);
    }
    pdl_wait();
    if constexpr (TL) {
        const unsigned b = blockIdx.y * gridDim.x + blockIdx.x;
        if (tid == 0 && b < GEMM_TL_MAX) {
            tl_start(cs_gemm_tl + 6 * b, tlBegin, smid() | (2u << 9) | ((unsigned)min((int)blockIdx.x, 255) << 16) | ((unsigned long long)blockIdx.y << 32));
        }
    }
    #pragma unroll
    for (int s = 0; s < LOOK; ++s) {
        if (s < nk) loadX(s, s);
        cp_async_commit();
    }
    float acc[MT][NT / 8][4];
    #pragma unroll
    for (int m = 0; m < MT; ++m)
        #pragma unroll
        for (int i = 0; i < NT / 8; ++i) acc[m][i][0] = acc[m][i][1] = acc[m][i][2] = acc[m][i][3] = 0.f;
    for (int i = 0; i < nk; ++i) {
        cp_async_wait<LOOK - 1>();
#if CS_WGMMA
        if constexpr (WG) fence_proxy_async();   // this thread's cp.async writes, before the async proxy reads them
#endif
        __syncthreads();
        if (i + LOOK < nk) {
            loadW(i + LOOK, (i + LOOK) % STAGES);
            loadX(i + LOOK, (i + LOOK) % STAGES);
        }
        cp_async_commit();
        const __nv_bfloat16* ws = st + (i % STAGES) * STAGE;
        const __nv_bfloat16* xs = ws + WT;
#if CS_WGMMA
        if constexpr (WG) {
            // this warpgroup's 64 rows × the NT tokens, four k-steps of 16 (32 bytes into the swizzled rows); done
            // before the next iteration's barrier, after which this stage is refilled
            const uint32_t wa = smem_u32(ws + (warp >> 2) * 64 * GK), xa = smem_u32(xs);
            wg_fence();
            #pragma unroll
            for (int kk = 0; kk < GK / 16; ++kk) wgmma_64xn(acc[0], wg_desc(wa + 32 * kk), wg_desc(xa + 32 * kk));
            wg_commit();
            if constexpr (DEFER) wg_wait<1>();   // the tile before this one's: its stage is refilled next iteration
            else wg_wait<0>();
        } else
#endif
        {
        if constexpr (NT < 16) __trap();   // the t8 warpgroup variants have no mma.sync step (sm_90a only)
        #pragma unroll
        for (int kk = 0; kk < GK / 16; ++kk) {
            uint32_t a[MT][4];
            const int mat = lane >> 3;
            #pragma unroll
            for (int m = 0; m < MT; ++m) {
                int row = (warp * MT + m) * 16 + (lane & 7) + ((mat & 1) << 3);
                ldsm_x4(a[m][0], a[m][1], a[m][2], a[m][3], smem_u32(ws + swz<GK>(row, kk * 2 + (mat >> 1))));
            }
            #pragma unroll
            for (int nb = 0; nb < NT / 16; ++nb) {
                uint32_t b0, b1, b2, b3;
                int xr = nb * 16 + (lane & 7) + ((lane >> 4) << 3);
                ldsm_x4(b0, b1, b2, b3, smem_u32(xs + swz<GK>(xr, kk * 2 + ((lane >> 3) & 1))));
                #pragma unroll
                for (int m = 0; m < MT; ++m) {
                    Elem<__nv_bfloat16>::mma(acc[m][2 * nb], a[m], b0, b1);
                    Elem<__nv_bfloat16>::mma(acc[m][2 * nb + 1], a[m], b2, b3);
                }
            }
        }
        }
    }
#if CS_WGMMA
    if constexpr (WG) {
        if constexpr (DEFER) wg_wait<0>();
        // the accumulators are final only after the wait: pinned here, so that no epilogue read is scheduled before it
        wg_fence_regs(acc[0]);
    }
#endif
    cp_async_wait<0>();
    // acc[m][nt][e]: W row r0 + (warp·MT + m)·16 + lane/4 (+8 for e ≥ 2), token nt·8 + 2·(lane%4) + (e & 1)
    if (mode == 3) {
        __nv_bfloat16* act = reinterpret_cast<__nv_bfloat16*>(y);
        const int inter = n >> 1;
        #pragma unroll
        for (int m = 0; m < MT; ++m) {
            const int rA = r0 + (warp * MT + m) * 16 + (lane >> 2), j = ((rA >> 4) << 3) + (lane >> 2);
            #pragma unroll
            for (int nt = 0; nt < NT / 8; ++nt) {
                #pragma unroll
                for (int e = 0; e < 2; ++e) {
                    int t = nt * 8 + 2 * (lane & 3) + e;
                    if (t < T && rA < n) {
                        float g = acc[m][nt][e], u = acc[m][nt][e + 2];
                        act[(size_t)t * inter + j] = __float2bfloat16_rn(g / (1.f + expf(-g)) * u);
                    }
                }
            }
        }
        return;
    }
    if ((flags & 1) && (n & 3) == 0) {
        // the block's sums into shared memory, token-major (row stride BR + 4: the fragment stores hit 32 banks),
        // then (token, 4 rows) pieces out: 16-byte stores / read-modify-writes / vector atomics
        constexpr int RS = BR + 4;
        static_assert(NT * RS * 4 <= STAGES * STAGE * 2, "epilogue buffer exceeds the stages");
        float* red = reinterpret_cast<float*>(smem);
        __syncthreads();   // every warp is done with the stages
        #pragma unroll
        for (int m = 0; m < MT; ++m) {
            const int rowA = (warp * MT + m) * 16 + (lane >> 2);
            #pragma unroll
            for (int nt = 0; nt < NT / 8; ++nt) {
                #pragma unroll
                for (int e = 0; e < 4; ++e) red[(nt * 8 + 2 * (lane & 3) + (e & 1)) * RS + rowA + (e < 2 ? 0 : 8)] = acc[m][nt][e];
            }
        }
        __syncthreads();
        if (mode >= 4) {
            // ordered split-k: this block's partial tile (token-major, row stride BR) into ws, slice-major; the sums in
            // slice order are cs_splitk_reduce's, launched after this grid
            float* part = ws + ((size_t)blockIdx.y * gridDim.x + blockIdx.x) * (NT * BR);
            for (int q = tid; q < T * (BR / 4); q += THREADS) {
                const int t = q / (BR / 4), c = (q - t * (BR / 4)) * 4;
                *reinterpret_cast<float4*>(part + t * BR + c) = *reinterpret_cast<const float4*>(red + t * RS + c);
            }
            return;
        }
        for (int q = tid; q < T * (BR / 4); q += THREADS) {
            const int t = q / (BR / 4), c = (q - t * (BR / 4)) * 4, row = r0 + c;
            if (row >= n) continue;   // n % 4 == 0: a piece is all in or all out
            const float4 v = *reinterpret_cast<const float4*>(red + t * RS + c);
            float* dst = y + (size_t)t * n + row;
            if (mode == 0) {
                *reinterpret_cast<float4*>(dst) = v;
            } else if (mode == 1) {
                float4 o = *reinterpret_cast<float4*>(dst);
                o.x += v.x; o.y += v.y; o.z += v.z; o.w += v.w;
                *reinterpret_cast<float4*>(dst) = o;
            } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
                asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(dst), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w) : "memory");
#else
                atomicAdd(dst, v.x); atomicAdd(dst + 1, v.y); atomicAdd(dst + 2, v.z); atomicAdd(dst + 3, v.w);
#endif
            }
        }
        return;
    }
    #pragma unroll
    for (int m = 0; m < MT; ++m) {
        const int rA = r0 + (warp * MT + m) * 16 + (lane >> 2), rB = rA + 8;
        #pragma unroll
        for (int nt = 0; nt < NT / 8; ++nt) {
            #pragma unroll
            for (int e = 0; e < 4; ++e) {
                int t = nt * 8 + 2 * (lane & 3) + (e & 1), r = e < 2 ? rA : rB;
                if (t < T && r < n) {
                    float* dst = y + (size_t)t * n + r;
                    if (mode == 0) *dst = acc[m][nt][e];
                    else if (mode == 1) *dst += acc[m][nt][e];
                    else atomicAdd(dst, acc[m][nt][e]);
                }
            }
        }
    }
}

}  // namespace csm

#define CS_GEMM_WG(NAME, NT, MT, WARPS, STAGES, WG, DEFER)                                                   \
    extern "C" __global__ void __launch_bounds__(32 * WARPS)                                                 \
    NAME(const __nv_bfloat16* w, const __nv_bfloat16* x, float* y, int T, int n, int k, int kSlice, int mode, int flags, \
         float* ws) {                                                                                        \
        extern __shared__ __align__(128) unsigned char smem[];                                               \
        csm::gemm_skinny<NT, MT, WARPS, STAGES, WG, DEFER>(w, x, y, T, n, k, kSlice, mode, flags, ws, smem); \
    }
// the timeline twin of a variant (TL above; CudaServeBench --attn-ab …:6 records the launch after the timed partials')
#define CS_GEMM_TL(NAME, NT, MT, WARPS, STAGES, WG, DEFER)                                                   \
    extern "C" __global__ void __launch_bounds__(32 * WARPS)                                                 \
    NAME(const __nv_bfloat16* w, const __nv_bfloat16* x, float* y, int T, int n, int k, int kSlice, int mode, int flags, \
         float* ws) {                                                                                        \
        extern __shared__ __align__(128) unsigned char smem[];                                               \
        const unsigned b = blockIdx.y * gridDim.x + blockIdx.x;                                              \
        csm::gemm_skinny<NT, MT, WARPS, STAGES, WG, DEFER, true>(w, x, y, T, n, k, kSlice, mode, flags, ws, smem); \
        __syncthreads();                                                                                     \
        if (threadIdx.x == 0 && b < csm::GEMM_TL_MAX) {                                                      \
            cs_gemm_tl[6 * b + 2] = cs::gtimer();                                                            \
            cs_gemm_tl[6 * b + 4] = (unsigned long long)clock64();                                           \
        }                                                                                                    \
    }
#define CS_GEMM(NAME, NT, MT, WARPS, STAGES) CS_GEMM_WG(NAME, NT, MT, WARPS, STAGES, false, false)
// the T ≤ 32 / 128 kernels of sessions 2-3 (one 16-row tile a warp, 4 warps, 4 stages)
CS_GEMM(cs_gemm_skinny_t16, 16, 1, 4, 4)
CS_GEMM(cs_gemm_skinny_t32, 32, 1, 4, 4)
CS_GEMM(cs_gemm_skinny_t64, 64, 1, 4, 4)
CS_GEMM(cs_gemm_skinny_t128, 128, 1, 4, 4)
// T ≤ 64 with several row tiles a warp (name: t<NT>_m<MT>w<WARPS>s<STAGES>)
CS_GEMM(cs_gemm_skinny_t64_m2w4s4, 64, 2, 4, 4)
CS_GEMM(cs_gemm_skinny_t64_m2w4s3, 64, 2, 4, 3)
CS_GEMM(cs_gemm_skinny_t64_m4w4s4, 64, 4, 4, 4)
CS_GEMM(cs_gemm_skinny_t64_m2w8s4, 64, 2, 8, 4)
CS_GEMM(cs_gemm_skinny_t32_m2w4s4, 32, 2, 4, 4)
CS_GEMM(cs_gemm_skinny_t64_m2w7s4, 64, 2, 7, 4)
// session 7: 64-row blocks with 6 stages (2 blocks an SM: 80 KiB of weights in flight an SM instead of 48): the 1B
// fused gate|up
CS_GEMM(cs_gemm_skinny_t64_m1w4s6, 64, 1, 4, 6)
// session 21: warpgroup MMAs (name: t64_wg<warpgroups>s<STAGES>[d: DEFER]; 1 KiB more shared memory for the alignment)
CS_GEMM_WG(cs_gemm_skinny_t64_wg1s4, 64, 1, 4, 4, true, false)
CS_GEMM_WG(cs_gemm_skinny_t64_wg1s6, 64, 1, 4, 6, true, false)
CS_GEMM_WG(cs_gemm_skinny_t64_wg1s8, 64, 1, 4, 8, true, false)
CS_GEMM_WG(cs_gemm_skinny_t64_wg2s4, 64, 1, 8, 4, true, false)
CS_GEMM_WG(cs_gemm_skinny_t64_wg2s6, 64, 1, 8, 6, true, false)
CS_GEMM_WG(cs_gemm_skinny_t64_wg3s4, 64, 1, 12, 4, true, false)
CS_GEMM_WG(cs_gemm_skinny_t64_wg4s4, 64, 1, 16, 4, true, false)
CS_GEMM_WG(cs_gemm_skinny_t64_wg1s5d, 64, 1, 4, 5, true, true)
CS_GEMM_WG(cs_gemm_skinny_t64_wg2s5d, 64, 1, 8, 5, true, true)
// diagnostics: the timeline twins of the 1B (t64_wg2s5d) and 8B (t64_wg2s4) o projection's variants
CS_GEMM_TL(cs_gemm_skinny_t64_wg2s5d_tl, 64, 1, 8, 5, true, true)
CS_GEMM_TL(cs_gemm_skinny_t64_wg2s4_tl, 64, 1, 8, 4, true, false)
// the same for 16 < T ≤ 32 and 64 < T ≤ 128
CS_GEMM_WG(cs_gemm_skinny_t32_wg1s4, 32, 1, 4, 4, true, false)
CS_GEMM_WG(cs_gemm_skinny_t32_wg1s6, 32, 1, 4, 6, true, false)
CS_GEMM_WG(cs_gemm_skinny_t32_wg2s4, 32, 1, 8, 4, true, false)
CS_GEMM_WG(cs_gemm_skinny_t128_wg1s4, 128, 1, 4, 4, true, false)
CS_GEMM_WG(cs_gemm_skinny_t128_wg2s3, 128, 1, 8, 3, true, false)
CS_GEMM_WG(cs_gemm_skinny_t128_wg2s4, 128, 1, 8, 4, true, false)
CS_GEMM_WG(cs_gemm_skinny_t128_wg1s6, 128, 1, 4, 6, true, false)
// and T ≤ 8, 8 < T ≤ 16 (m64n8k16 / m64n16k16)
CS_GEMM_WG(cs_gemm_skinny_t8_wg1s8, 8, 1, 4, 8, true, false)
CS_GEMM_WG(cs_gemm_skinny_t8_wg1s12, 8, 1, 4, 12, true, false)
CS_GEMM_WG(cs_gemm_skinny_t8_wg2s6, 8, 1, 8, 6, true, false)
CS_GEMM_WG(cs_gemm_skinny_t16_wg1s6, 16, 1, 4, 6, true, false)
CS_GEMM_WG(cs_gemm_skinny_t16_wg1s8, 16, 1, 4, 8, true, false)
CS_GEMM_WG(cs_gemm_skinny_t16_wg2s6, 16, 1, 8, 6, true, false)

// The ordered split-k's sums (SkinnyGemm, splitk=ordered): y[t, r..r+3] (+)= Σ_j ws tile (j, r / br) [t][r % br ..], j
// = 0, 1, ..., S-1 in that order — the same bits every run, whatever order the GEMM's blocks finished in. One thread a
// (token, 4 rows) piece; loads eight slices ahead, adds in slice order. A dependent launch after the GEMM.
extern "C" __global__ void __launch_bounds__(256) cs_splitk_reduce(const float* __restrict__ ws, float* __restrict__ y, int T, int n,
                                                                   int S, int br, int nt, int rowBlocks, int accumulate) {
    csm::pdl_wait();
    csm::pdl_trigger();
    const int q = blockIdx.x * blockDim.x + threadIdx.x, per = n >> 2;
    if (q >= T * per) return;
    const int t = q / per, r = (q - t * per) * 4, rb = r / br;
    const float* p0 = ws + (size_t)rb * nt * br + (size_t)t * br + (r - rb * br);
    const size_t stride = (size_t)rowBlocks * nt * br;
    float4 v = *reinterpret_cast<const float4*>(p0);
    int j = 1;
    for (; j + 8 <= S; j += 8) {
        float4 u[8];
        #pragma unroll
        for (int i = 0; i < 8; ++i) u[i] = *reinterpret_cast<const float4*>(p0 + (j + i) * stride);
        #pragma unroll
        for (int i = 0; i < 8; ++i) { v.x += u[i].x; v.y += u[i].y; v.z += u[i].z; v.w += u[i].w; }
    }
    for (; j < S; ++j) {
        const float4 u = *reinterpret_cast<const float4*>(p0 + j * stride);
        v.x += u.x; v.y += u.y; v.z += u.z; v.w += u.w;
    }
    float* dst = y + (size_t)t * n + r;
    if (accumulate) {
        const float4 o = *reinterpret_cast<const float4*>(dst);
        v.x = o.x + v.x; v.y = o.y + v.y; v.z = o.z + v.z; v.w = o.w + v.w;
    }
    *reinterpret_cast<float4*>(dst) = v;
}

// ---------------------------------------------------------------------------------------------- sampling on the device
// One block per row of logits: temperature, top_k, min_p, top_p and an inverse-CDF draw at the row's u, the host
// sampler's distribution (io.chunkserve.sampling): candidates are ordered by (logit desc, id asc); top_k keeps the
// first k of that order, min_p keeps exp((l - max)/T) >= min_p, top_p keeps the shortest prefix of that order whose
// mass reaches top_p of the kept mass; the draw walks the kept tokens in id order to u·mass. A row whose maximum is
// not finite gets -1 (the host sampler's sanitising rules decide). Each thread owns a contiguous id range, so the
// ordered steps (ties cut by id, the draw) are one block scan each.
// params per row (8 ints): 1/T (float bits), top_k (0: off), top_p (float bits), min_p (float bits), u (double
// bits, low word first), the row's index in logits, unused.
namespace cssample {
constexpr int T = 512, W = T / 32;   // each warp has its own histograms (no cross-warp atomics)

__device__ __forceinline__ unsigned key_of(float l) {   // order-preserving: larger logit, larger key
    unsigned b = __float_as_uint(l + 0.0f);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Block-wide exclusive scan of one value per thread; returns the thread's exclusive prefix, *total the sum.
template <typename V>
__device__ V block_exclusive_scan(V v, V* sh, V* total) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    V x = v;
    #pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        V y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= o) x += y;
    }
    if (lane == 31) sh[w] = x;
    __syncthreads();
    if (w == 0) {
        V s = lane < W ? sh[lane] : V(0);
        #pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            V y = __shfl_up_sync(0xffffffffu, s, o);
            if (lane >= o) s += y;
        }
        sh[lane] = s;   // inclusive prefix of warp sums
    }
    __syncthreads();
    V before = (w == 0 ? V(0) : sh[w - 1]) + x - v;
    *total = sh[W - 1];
    __syncthreads();
    return before;
}
}  // namespace cssample

extern "C" __global__ void __launch_bounds__(512) cs_sample(const float* logits, int vocab, const int* params, int* out) {
    using namespace cssample;
    __shared__ unsigned cnt[256];
    __shared__ double mass[256];
    __shared__ unsigned cntW[W][256];
    __shared__ float massW[W][256];
    __shared__ double shd[32];
    __shared__ int shi[32];
    __shared__ float shf[32];
    __shared__ unsigned selKey;
    __shared__ int selRemain, selFlag, selCut;
    __shared__ double selAbove;
    const int* pr = params + 8 * blockIdx.x;
    const float invT = __int_as_float(pr[0]);
    const int topK = pr[1];
    const float topP = __int_as_float(pr[2]), minP = __int_as_float(pr[3]);
    const double u = __hiloint2double(pr[5], pr[4]);
    const float* row = logits + (size_t)pr[6] * vocab;
    const int per = (vocab + T - 1) / T, lo = min(vocab, (int)threadIdx.x * per), hi = min(vocab, lo + per);
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;

    // 1. the maximum, and whether any logit is not finite
    float m = -INFINITY;
    int bad = 0;
    for (int i = lo; i < hi; i++) {
        float v = row[i];
        if (!isfinite(v)) bad = 1;
        m = fmaxf(m, v);
    }
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        bad |= __shfl_xor_sync(0xffffffffu, bad, o);
    }
    if (lane == 0) { shf[w] = m; shi[w] = bad; }
    __syncthreads();
    if (threadIdx.x == 0) {
        float mm = shf[0];
        int bb = shi[0];
        for (int k = 1; k < W; k++) { mm = fmaxf(mm, shf[k]); bb |= shi[k]; }
        shf[0] = mm;
        selFlag = bb || !(mm > -INFINITY);
    }
    __syncthreads();
    m = shf[0];
    if (selFlag) {
        if (threadIdx.x == 0) out[blockIdx.x] = -1;
        return;
    }
    __syncthreads();

    // 2. top_k: the k-th key of the (logit desc, id asc) order by a radix select, then the id cut among its ties
    unsigned kKey = 0;      // keys above kKey are in; at kKey, ids <= kCut
    int kCut = vocab;
    if (topK > 0 && topK < vocab) {
        unsigned prefix = 0, pmask = 0;
        int remain = topK;
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int b = threadIdx.x; b < W * 256; b += T) (&cntW[0][0])[b] = 0;
            __syncthreads();
            for (int i = lo; i < hi; i++) {
                unsigned k = key_of(row[i]);
                if ((k & pmask) == prefix) atomicAdd(&cntW[w][(k >> shift) & 255], 1u);
            }
            __syncthreads();
            for (int b = threadIdx.x; b < 256; b += T) {
                unsigned c = 0;
                for (int q = 0; q < W; q++) c += cntW[q][b];
                cnt[b] = c;
            }
            __syncthreads();
            if (threadIdx.x == 0) {
                int r = remain, b = 255;
                for (; b > 0; b--) {
                    if ((int)cnt[b] >= r) break;
                    r -= cnt[b];
                }
                selKey = prefix | ((unsigned)b << shift);
                selRemain = r;
            }
            __syncthreads();
            prefix = selKey;
            pmask |= 255u << shift;
            remain = selRemain;
            __syncthreads();
        }
        kKey = prefix;
        // the remain-th tie (id order) is the last one in
        int ties = 0;
        for (int i = lo; i < hi; i++) ties += key_of(row[i]) == kKey;
        if (threadIdx.x == 0) selCut = vocab;
        int total;
        int before = block_exclusive_scan<int>(ties, shi, &total);
        if (remain > before && remain <= before + ties) {
            int c = before;
            for (int i = lo; i < hi; i++) {
                if (key_of(row[i]) == kKey && ++c == remain) { selCut = i; break; }
            }
        }
        __syncthreads();
        kCut = selCut;
        __syncthreads();
    }
    auto inTopK = [&](unsigned k, int i) { return topK <= 0 || topK >= vocab || k > kKey || (k == kKey && i <= kCut); };
    // the weight of token i (logit l, key k) after top_k and min_p, else 0 (the host: the double exp rounded to float)
    auto candidate = [&](float l, unsigned k, int i) -> float {
        if (!inTopK(k, i)) return 0.f;
        float e = expf((l - m) * invT);
        return e > 0.f && e >= minP ? e : 0.f;
    };

    // 3. the kept mass after top_k and min_p
    double s = 0;
    for (int i = lo; i < hi; i++) {
        float l = row[i];
        s += candidate(l, key_of(l), i);
    }
    double S;
    block_exclusive_scan<double>(s, shd, &S);

    // 4. top_p: the boundary key of the nucleus by a mass-guided radix select, then the id cut among its ties
    unsigned pKey = 0;
    int pCut = vocab;
    bool useP = topP < 1.f;
    if (useP) {
        double target = (double)topP * S, above = 0;
        unsigned prefix = 0, pmask = 0;
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int b = threadIdx.x; b < W * 256; b += T) (&massW[0][0])[b] = 0.f;
            __syncthreads();
            for (int i = lo; i < hi; i++) {
                float l = row[i];
                unsigned k = key_of(l);
                if ((k & pmask) != prefix) continue;
                float e = candidate(l, k, i);
                if (e > 0.f) atomicAdd(&massW[w][(k >> shift) & 255], e);
            }
            __syncthreads();
            for (int b = threadIdx.x; b < 256; b += T) {
                double c = 0;
                for (int q = 0; q < W; q++) c += massW[q][b];
                mass[b] = c;
            }
            __syncthreads();
            if (threadIdx.x == 0) {
                double a = above;
                int b = 255;
                for (; b > 0; b--) {
                    if (a + mass[b] >= target) break;
                    a += mass[b];
                }
                selKey = prefix | ((unsigned)b << shift);
                selAbove = a;
            }
            __syncthreads();
            prefix = selKey;
            pmask |= 255u << shift;
            above = selAbove;
            __syncthreads();
        }
        pKey = prefix;
        // ties at pKey in id order until the mass reaches the target
        double tm = 0;
        for (int i = lo; i < hi; i++) {
            float l = row[i];
            unsigned k = key_of(l);
            if (k == pKey) tm += candidate(l, k, i);
        }
        if (threadIdx.x == 0) selCut = vocab;
        double tot;
        double before = block_exclusive_scan<double>(tm, shd, &tot);
        double need = target - above;
        if (tm > 0 && above + before + tm >= target && above + before < target) {
            double c = before;
            for (int i = lo; i < hi; i++) {
                float l = row[i];
                unsigned k = key_of(l);
                float e = k == pKey ? candidate(l, k, i) : 0.f;
                if (e == 0.f) continue;
                c += e;
                if (c >= need) { selCut = i; break; }
            }
        }
        __syncthreads();
        pCut = selCut;
        __syncthreads();
    }

    // 5. the draw: inverse CDF over the kept tokens in id order at u · their mass
    auto kept = [&](int i) -> float {   // the weight of token i after top_k, min_p and top_p, else 0
        float l = row[i];
        unsigned k = key_of(l);
        return useP && !(k > pKey || (k == pKey && i <= pCut)) ? 0.f : candidate(l, k, i);
    };
    double ms = 0;
    int last = -1;
    for (int i = lo; i < hi; i++) {
        float e = kept(i);
        if (e > 0.f) { ms += e; last = i; }
    }
    double M;
    double before = block_exclusive_scan<double>(ms, shd, &M);
    // the last kept token, for a walk that rounding leaves short
    int lm = last;
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) lm = max(lm, __shfl_xor_sync(0xffffffffu, lm, o));
    if (lane == 0) shi[w] = lm;
    if (threadIdx.x == 0) selRemain = -1;
    __syncthreads();
    if (threadIdx.x == 0) {
        int mx = shi[0];
        for (int k = 1; k < W; k++) mx = max(mx, shi[k]);
        selFlag = mx;
    }
    __syncthreads();
    double x = u * M;
    if (ms > 0 && x >= before && x < before + ms) {
        double c = before;
        for (int i = lo; i < hi; i++) {
            float e = kept(i);
            if (e == 0.f) continue;
            c += e;
            if (x < c) { selRemain = i; break; }
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) out[blockIdx.x] = selRemain >= 0 ? selRemain : selFlag;
}

// ---------------------------------------------------------------------------------------------- penalties on the device
// One block per penalized row, before its argmax or draw, in place: the host Sampler's penalties
// (io.chunkserve.sampling.PenaltyList) from a compact list of entries (token id, output count) — the distinct prompt
// tokens when the repetition penalty is on, then the generated ones — plus, for a row that runs on the token the step
// before picked on the device (prev[pick]), that token, which the list does not count yet: one more count if it is
// listed, else a new entry generated once. Per token, as the host: the repetition penalty (l > 0 ? l / r : l · r),
// then, for a generated token, l − frequency · count − presence; +inf clamped to FLT_MAX after each. Round-to-nearest
// intrinsics throughout (no contraction into fma), so the result is the host's bit for bit. Each touched logit's old
// value is saved as (id, bits) pairs (n + 1 slots a row: the entries', then the extra token's, id -1 when unused), so
// that a row left to the host sampler (a non-finite logit) can be restored to its raw logits.
// hdr per row (8 ints): first entry, entries n, the pick's index in prev (-1: none), repetition, presence, frequency
// (float bits), the row's index in logits, its first saved slot.
__device__ __forceinline__ float cs_penalize_one(float v, int count, float rep, float pres, float freq) {
    if (rep != 1.f) {
        v = v > 0.f ? __fdiv_rn(v, rep) : __fmul_rn(v, rep);
        if (v == INFINITY) v = __int_as_float(0x7f7fffff);   // FLT_MAX
    }
    if ((pres != 0.f || freq != 0.f) && count > 0) {
        v = __fsub_rn(__fsub_rn(v, __fmul_rn(freq, __int2float_rn(count))), pres);
        if (v == INFINITY) v = __int_as_float(0x7f7fffff);   // FLT_MAX
    }
    return v;
}

extern "C" __global__ void __launch_bounds__(256) cs_penalize(float* logits, int vocab, const int* hdr, const int* entries,
                                                              const int* prev, int* saved) {
    __shared__ int found;
    const int* h = hdr + 8 * blockIdx.x;
    const int first = h[0], n = h[1], pick = h[2];
    const float rep = __int_as_float(h[3]), pres = __int_as_float(h[4]), freq = __int_as_float(h[5]);
    float* row = logits + (size_t)h[6] * vocab;
    int* sv = saved + 2 * h[7];
    int extra = pick >= 0 ? prev[pick] : -1;
    if (extra >= vocab) extra = -1;
    if (threadIdx.x == 0) found = 0;
    __syncthreads();
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        int id = entries[2 * (first + j)], c = entries[2 * (first + j) + 1];
        if (id == extra) { c++; found = 1; }
        if (id < 0 || id >= vocab) { sv[2 * j] = -1; continue; }
        float v = row[id];
        sv[2 * j] = id;
        sv[2 * j + 1] = __float_as_int(v);
        row[id] = cs_penalize_one(v, c, rep, pres, freq);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        if (extra >= 0 && !found) {
            float v = row[extra];
            sv[2 * n] = extra;
            sv[2 * n + 1] = __float_as_int(v);
            row[extra] = cs_penalize_one(v, 1, rep, pres, freq);
        } else {
            sv[2 * n] = -1;
        }
    }
}

// One block per row with a logit_bias (OpenAI's), before cs_penalize, in place: each listed token's logit plus its bias,
// as the host Sampler does (io.chunkserve.sampling.Sampler#biasAndPenalize: round-to-nearest float add, +inf clamped
// to FLT_MAX), the penalties then applying to the biased value. Ids are distinct within a row. Each touched logit's old
// value is saved as an (id, bits) pair (one slot an entry; id -1 for an id outside the vocabulary, left as it is), so
// that the raw logits can be restored (cs_logprobs, or a row left to the host sampler) after cs_penalize's pairs.
// hdr per row (4 ints): first entry, entries n, the row's index in logits, its first saved slot.
// entries: (id, bias float bits) pairs.
extern "C" __global__ void __launch_bounds__(256) cs_bias(float* logits, int vocab, const int* hdr, const int* entries, int* saved) {
    const int* h = hdr + 4 * blockIdx.x;
    const int first = h[0], n = h[1];
    float* row = logits + (size_t)h[2] * vocab;
    int* sv = saved + 2 * h[3];
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        int id = entries[2 * (first + j)];
        if (id < 0 || id >= vocab) { sv[2 * j] = -1; continue; }
        float v = row[id];
        sv[2 * j] = id;
        sv[2 * j + 1] = __float_as_int(v);
        v = __fadd_rn(v, __int_as_float(entries[2 * (first + j) + 1]));
        if (v == INFINITY) v = __int_as_float(0x7f7fffff);   // FLT_MAX
        row[id] = v;
    }
}

// The device-resident penalty lists (CudaModelRunner / PenaltyArena): a step's changed entries, n (arena position, id,
// count) triples, written into the arena of (id, count) pairs before cs_penalize reads it (a plain launch: it follows
// every kernel queued before, so no step still reading a reused region is overtaken).
extern "C" __global__ void __launch_bounds__(256) cs_pen_scatter(int* arena, const int* deltas, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int pos = deltas[3 * i];
    arena[2 * pos] = deltas[3 * i + 1];
    arena[2 * pos + 1] = deltas[3 * i + 2];
}

// ---------------------------------------------------------------------------------------------- log-probabilities on the device
// One block per row whose pick also reports log-probabilities (after cs_penalize and the argmax / draw), as the host
// sampler does (io.chunkserve.sampling.Logprobs, vLLM's raw_logprobs): the log-softmax of the raw logits — a
// penalized or biased row is first restored from cs_penalize's saved pairs, then cs_bias's — for the picked token and the K (<= 20) largest,
// ordered by (logit desc, id asc). One pass over the row (float4 loads, 512 threads): each thread keeps a running
// (max, Σ expf(l − max)) in double, merged across the block (the host sums expf(l − max) with the global max: the same
// to ~1e-7), and its own sorted K best; then K rounds of a block-wide pick among the threads' heads.
// lse = max + log(Σ), each logprob (float)(l − lse).
// hdr per row (8 ints): the row's index in logits, its pick's index in picks, its first saved slot (-1: not
// penalized), saved slots, K, its first slot in bsaved (-1: no logit_bias), bsaved slots. out per row (CS_LP_STRIDE ints): the pick's logprob (float bits; -1: no pick, the host
// decides), the count k found, then k (id, logprob bits) pairs.
#define CS_LP_K 20
#define CS_LP_STRIDE (2 + 2 * CS_LP_K)
__device__ __forceinline__ bool cs_lp_better(float v, int i, float w, int j) { return v > w || (v == w && i < j); }

// (m, s) ← the log-sum-exp pair of both: s · e^m + os · e^om = S · e^M
__device__ __forceinline__ void cs_lse_merge(float& m, double& s, float om, double os) {
    if (om == -INFINITY) return;
    if (m == -INFINITY) { m = om; s = os; return; }
    if (om > m) { s = s * (double)expf(m - om) + os; m = om; }
    else s += os * (double)expf(om - m);
}

extern "C" __global__ void __launch_bounds__(512) cs_logprobs(float* logits, int vocab, const int* hdr, const int* picks,
                                                              const int* saved, const int* bsaved, int* out) {
    constexpr int NT = 512, NW = NT / 32;
    __shared__ float sf[NW];
    __shared__ double sd[NW];
    __shared__ int si[NW], st[NW], swin;
    const int* h = hdr + 8 * blockIdx.x;
    float* row = logits + (size_t)h[0] * vocab;
    const int token = picks[h[1]], slot = h[2], nSaved = h[3], K = min(h[4], CS_LP_K);
    int* o = out + CS_LP_STRIDE * blockIdx.x;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (token < 0 || token >= vocab) {   // (the whole block returns)
        if (threadIdx.x == 0) { o[0] = -1; o[1] = 0; }
        return;
    }
    if (slot >= 0) {   // back to the raw logits: the penalties' pairs (biased values), then the bias's (raw ones)
        for (int j = threadIdx.x; j < nSaved; j += NT) {
            int id = saved[2 * (slot + j)];
            if (id >= 0 && id < vocab) row[id] = __int_as_float(saved[2 * (slot + j) + 1]);
        }
        __syncthreads();
    }
    if (h[5] >= 0) {
        for (int j = threadIdx.x, b = h[5], nb = h[6]; j < nb; j += NT) {
            int id = bsaved[2 * (b + j)];
            if (id >= 0 && id < vocab) row[id] = __int_as_float(bsaved[2 * (b + j) + 1]);
        }
        __syncthreads();
    }
    // one pass: a running (max, Σ exp(l − max)) and the thread's K best, sorted by (logit desc, id asc)
    float m = -INFINITY;
    double s = 0;
    // (value-initialised only for nvcc's flow analysis, which cannot see that visit reads below cnt only)
    float tv[CS_LP_K] = {};
    int ti[CS_LP_K] = {};
    int cnt = 0;
    float thv = -INFINITY;
    int thi = 0x7fffffff;
    auto visit = [&](float v, int i) {
        if (v > m) { s = s * (double)expf(m - v) + 1.0; m = v; }
        else s += (double)expf(v - m);
        if (K == 0 || (cnt == K && !cs_lp_better(v, i, thv, thi))) return;
        int pos = cnt < K ? cnt : K - 1;
        while (pos > 0 && cs_lp_better(v, i, tv[pos - 1], ti[pos - 1])) {
            tv[pos] = tv[pos - 1];
            ti[pos] = ti[pos - 1];
            pos--;
        }
        tv[pos] = v;
        ti[pos] = i;
        if (cnt < K) cnt++;
        if (cnt == K) { thv = tv[K - 1]; thi = ti[K - 1]; }
    };
    if ((vocab & 3) == 0 && (reinterpret_cast<size_t>(row) & 15) == 0) {
        const float4* r4 = reinterpret_cast<const float4*>(row);
        for (int q = threadIdx.x; q < (vocab >> 2); q += NT) {
            float4 x = r4[q];
            visit(x.x, 4 * q);
            visit(x.y, 4 * q + 1);
            visit(x.z, 4 * q + 2);
            visit(x.w, 4 * q + 3);
        }
    } else {
        for (int i = threadIdx.x; i < vocab; i += NT) visit(row[i], i);
    }
    #pragma unroll
    for (int d = 16; d > 0; d >>= 1) {
        float om = __shfl_xor_sync(0xffffffffu, m, d);
        double os = __shfl_xor_sync(0xffffffffu, s, d);
        cs_lse_merge(m, s, om, os);
    }
    if (lane == 0) { sf[w] = m; sd[w] = s; }
    __syncthreads();
    float M = sf[0];
    double S = sd[0];
    for (int q = 1; q < NW; q++) cs_lse_merge(M, S, sf[q], sd[q]);
    const double lse = (double)M + log(S);
    __syncthreads();   // (sf, sd are reused below)
    if (threadIdx.x == 0) {
        o[0] = __float_as_int((float)((double)row[token] - lse));
        o[1] = 0;
    }
    if (K <= 0) return;
    // K rounds of a block-wide pick among the threads' heads
    int head = 0;
    for (int r = 0; r < K; r++) {
        float hv = head < cnt ? tv[head] : -INFINITY;
        int hi = head < cnt ? ti[head] : 0x7fffffff, ht = threadIdx.x;
        #pragma unroll
        for (int d = 16; d > 0; d >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, hv, d);
            int oi = __shfl_xor_sync(0xffffffffu, hi, d), ot = __shfl_xor_sync(0xffffffffu, ht, d);
            if (cs_lp_better(ov, oi, hv, hi)) { hv = ov; hi = oi; ht = ot; }
        }
        if (lane == 0) { sf[w] = hv; si[w] = hi; st[w] = ht; }
        __syncthreads();
        if (threadIdx.x == 0) {
            float bv = sf[0];
            int bi = si[0], bt = st[0];
            for (int q = 1; q < NW; q++) {
                if (cs_lp_better(sf[q], si[q], bv, bi)) { bv = sf[q]; bi = si[q]; bt = st[q]; }
            }
            if (bi < vocab) {
                o[2 + 2 * r] = bi;
                o[3 + 2 * r] = __float_as_int((float)((double)bv - lse));
                o[1] = r + 1;
                swin = bt;
            } else {
                swin = -1;   // fewer than K tokens
            }
        }
        __syncthreads();
        if (swin < 0) break;
        if (threadIdx.x == swin) head++;
        __syncthreads();
    }
}
