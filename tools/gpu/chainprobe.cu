// chainprobe: what the kernel boundaries of a decode step cost on this GPU, and what one persistent kernel would
// save. A synthetic stand-in for the Llama-3.2-1B B = 64 step of issue 7: per layer the ops norm, q|k|v, epilogue,
// attention, merge, o, norm, gate|up, down (each reading the bytes that op reads: weights or private K/V from DRAM,
// activations from L2) and the LM head, 16 layers — ~3.1 GB a step, the roofline's bytes. Each op is a streaming
// "GEMM-like" kernel: its weight bytes split evenly over the blocks, a block's first stages requested before it
// waits for the op before (its input), then 16 KiB cp.async stages four deep, a checksum of every byte, a result
// the next op reads. No tensor-core math: this measures the memory and the boundaries alone.
//
// Schemes, each over the whole step, median of rounds:
//   plain     one launch an op, stream order
//   pdl       one launch an op with programmatic stream serialization (griddepcontrol: the next op's blocks start and
//             request their first stages while the op before finishes), captured into a CUDA graph — the shipped runner's scheme
//   persist   one persistent kernel (2 blocks an SM, all resident): op after op, a block requests its first stages of op i
//             and then spins until every block has finished op i − 1 (a counter an op, release/acquire)
//   persist-fine  the same with the dependencies a tile-level dataflow kernel would have: the merge needs only its own
//             block's attention part, the o projection's and down's k-slices (eighths) only the eighth of the op before
//             that holds their inputs; everything else (the norms, q|k|v, the epilogue, the attention, gate|up) a barrier
//   ringR[xS][-fine]  persistent, warp-specialised: one producer warp streams every DRAM op's bytes (weights, private
//             K/V: they do not depend on the step's activations) into a ring of R shared-memory slots of S bytes with
//             cp.async.bulk, across op boundaries and without waiting for anything but a free slot; eight consumer warps
//             wait for each op's inputs (as persist, or as persist-fine with -fine) and fold the slots
//   ring6-nodep / ring6-stream  the ring without waits / also without the per-op input read and block reduction
//   pdl-dyn   the PDL graph with each op's DRAM bytes cut into 16 KiB chunks that blocks claim from a per-op counter
//             (fast blocks take more: an op ends when its bytes are read, not when its slowest block's share is)
//   ring6-dyn the ring with the producer claiming chunks the same way, waiting for whole ops (the two dyn schemes
//             fold each op into one sum and must agree: check dref / dok)
//   nodep     persistent, no waits at all (the streaming floor of these bytes in this kernel)
//   flat      one read of as many contiguous bytes
// Build and run on the GPU machine:  nvcc -O3 -arch=sm_90a -o chainprobe tools/gpu/chainprobe.cu && ./chainprobe
// Options: --real 1 (each GEMM-like op also reads its x tiles from L2 after the wait and ends with its split-k
// reductions, as the 1B step's GEMMs do), --layers 16 --rounds 10 --scale 1.0 (weight bytes scaled, e.g. 4.0 for the 8B-sized ops), --skips
// none,norm,qkv,post,attn,merge,o,gu,down,head (the PDL graph again with each op kind left out, as CudaServeBench
// --skip-ab does to the real step). Last line RESULT {json}.
#include <cuda_runtime.h>

#include "../../kernels/src/main/cuda/common.cuh"
#include "probe_bulk.cuh"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); exit(1); } } while (0)

constexpr int THREADS = 256, STAGE = 16384, NST = 4;   // 16 KiB stages, four in flight
constexpr int SMEM = NST * STAGE;

// dep: what a block's part of this op waits for in the fine-grained persistent scheme — 0 every block of the op
// before (a barrier), 1 nothing (its own part of the op before: program order), 2 the eighth of the op before whose
// parts hold this part's inputs (the o projection's k-slice: its heads' merged attention; down's k-slice: its
// gate|up rows)
// With --real: xq, the x words (16 B, L2-resident activations) a block reads after the wait for every 4 weight words
// (the x tiles beside the weight tiles: 4 at 64-row blocks, 2 at 128-row ones, 0 none), and aw, the 16-byte
// red.global.add.v4.f32 a block issues at its end into a fp32 output shared by `slices` blocks (a split-k epilogue).
// pre: the op's bytes do not depend on this step's activations (weights, the private K/V), so a producer may request
// them before the op's inputs exist (the ring schemes); the L2-resident ops' bytes are activations (read after the wait)
struct Op { const uint4* w; size_t bytes; int dep; int xq; int aw; int slices; int pre; };   // bytes: a multiple of 16 · blocks

// the kernels' own cp.async helpers (kernels/src/main/cuda/common.cuh)
using cs::smem_u32;
__device__ __forceinline__ void cp16(uint32_t dst, const void* src) { cs::cp_async16(dst, src, true); }
__device__ __forceinline__ void commit() { cs::cp_async_commit(); }
template <int N> __device__ __forceinline__ void waitg() { cs::cp_async_wait<N>(); }
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_trigger() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }

// One block's part of one op: [lo, hi) 16-byte words of op.w. WAIT: 0 none, 1 griddepcontrol.wait, 2 spin on
// counter[i - 1] reaching the grid's block count, 3 as op.dep says (counters: per op one whole-op count, then 8
// eighth counts). in: the op before's per-block results (read after the wait: in the eighth / own part it waited for).
__device__ unsigned char* g_l2;   // 8 MB: activations at 0 (2 MB used), split-k outputs at 4 MB

// spin (acquire) until *c reaches want
__device__ __forceinline__ void spin_until(const unsigned* c, unsigned want) {
    unsigned v;
    do { asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(c) : "memory"); } while (v < want);
}
// op i's wait for op i - 1 in the counter schemes: dep 0 every block of it, 2 the eighth of it that holds this part's inputs
__device__ __forceinline__ void wait_dep(const unsigned* counters, int i, int dep, int eighth, int G) {
    spin_until(counters + (size_t)(i - 1) * 9 + (dep == 2 ? 1 + eighth : 0), dep == 2 ? (unsigned)(G / 8) : (unsigned)G);
}

template <int WAIT>
__device__ __forceinline__ void run_op(const Op op, int i, const unsigned* in, unsigned* out, unsigned* counters, uint4* st) {
    const int tid = threadIdx.x, G = gridDim.x, b = blockIdx.x;
    const size_t words = op.bytes / 16, per = words / G, lo = per * b;
    constexpr int SW = STAGE / 16;                       // words a stage
    const int nS = (int)((per + SW - 1) / SW);
    auto load = [&](int j) {
        const size_t w0 = lo + (size_t)j * SW;
        uint4* s = st + (j % NST) * SW;
        #pragma unroll
        for (int q = 0; q < SW / THREADS; ++q) {
            size_t w = w0 + tid + q * THREADS;
            if (w < lo + per) cp16(smem_u32(s + tid + q * THREADS), op.w + w);
        }
    };
    for (int j = 0; j < NST - 1; ++j) { if (j < nS) load(j); commit(); }   // before the wait: the weights do not depend on it
    if (WAIT == 1) pdl_wait();
    const int dep = WAIT == 3 ? op.dep : 0, eighth = b / (G / 8);
    if ((WAIT == 2 || WAIT == 3) && i > 0 && dep != 1) {
        if (tid == 0) wait_dep(counters, i, dep, eighth, G);
        __syncthreads();
    }
    // the op's input: a result of the op before — another block's, of the part(s) it waited for
    // (the same part in every scheme, so that their checksums agree; the other schemes waited for the whole op)
    const int src = op.dep == 1 ? b : op.dep == 2 ? eighth * (G / 8) + (b * 7 + tid) % (G / 8) : (b * 7 + tid) % G;
    unsigned x = in ? __ldcg(in + src) : 1u;
    unsigned acc = 0;
    const uint4* xs = reinterpret_cast<const uint4*>(g_l2);   // the activations (L2-resident)
    for (int j = 0; j < nS; ++j) {
        waitg<NST - 2>();
        __syncthreads();
        const uint4* s = st + (j % NST) * SW;
        const size_t w0 = lo + (size_t)j * SW;
        #pragma unroll
        for (int q = 0; q < SW / THREADS; ++q)
            if (w0 + tid + q * THREADS < lo + per) { uint4 v = s[tid + q * THREADS]; acc += (v.x + v.y + v.z + v.w) * x; }
        // the x tiles beside this stage's weights: xq words for every 4 weight words, from L2, after the wait
        for (int q = 0; q < op.xq * (SW / THREADS) / 4; ++q) {
            uint4 v = __ldcg(xs + ((size_t)(j * SW / 4 * op.xq + q * THREADS + tid) & ((1u << 17) - 1)));
            acc += v.x ^ v.z;
        }
        __syncthreads();
        if (j + NST - 1 < nS) load(j + NST - 1);
        commit();
    }
    waitg<0>();
    // a split-k epilogue: aw 16-byte fp32 reductions a block into an output that `slices` blocks share
    if (op.aw > 0) {
        float* y = reinterpret_cast<float*>(g_l2 + (4u << 20));
        const size_t base = (size_t)(b % (G / op.slices)) * op.aw * 4;
        for (int q = tid; q < op.aw; q += THREADS) {
            float* a = y + base + 4 * (size_t)q;
            float f = (float)(acc & 1);
            asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(a), "f"(f), "f"(f), "f"(f), "f"(f) : "memory");
        }
    }
    // block sum → out[b]
    __shared__ unsigned red[THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if ((tid & 31) == 0) red[tid >> 5] = acc;
    __syncthreads();
    if (tid == 0) {
        unsigned s = 0;
        for (int w = 0; w < THREADS / 32; ++w) s += red[w];
        out[b] = s;
        if (WAIT == 2 || WAIT == 3) {
            __threadfence();
            asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counters + (size_t)i * 9) : "memory");
            asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counters + (size_t)i * 9 + 1 + eighth) : "memory");
        }
    }
    __syncthreads();
}

template <int WAIT>
__global__ void __launch_bounds__(THREADS) k_op(Op op, int i, const unsigned* in, unsigned* out) {
    extern __shared__ __align__(128) unsigned char sm[];
    if (WAIT == 1) pdl_trigger();
    run_op<WAIT>(op, i, in, out, nullptr, reinterpret_cast<uint4*>(sm));
}

template <int WAIT>
__global__ void __launch_bounds__(THREADS) k_persist(const Op* ops, int n, unsigned* res, unsigned* counters) {
    extern __shared__ __align__(128) unsigned char sm[];
    const int G = gridDim.x;
    for (int i = 0; i < n; ++i) run_op<WAIT>(ops[i], i, i > 0 ? res + (size_t)(i - 1) * G : nullptr, res + (size_t)i * G, counters, reinterpret_cast<uint4*>(sm));
}

// ---- the ring schemes: a persistent kernel whose producer warp streams every op's weight bytes (pre ops) into a ring
// of RN shared-memory slots (cp.async.bulk completing on each slot's full barrier) as far ahead as the ring allows,
// across op boundaries and without waiting for any dependency; eight consumer warps wait for each op's inputs (the
// counters, as persist / persist-fine) and then fold the slots (the stand-in for the math), releasing each slot on its
// empty barrier. The ops' activations (non-pre ops, x tiles) are read by the consumers after the wait, as before.
constexpr int CW = 8, RTHREADS = 32 + CW * 32;   // one producer warp, eight consumer warps (256 threads, as the other schemes)
__device__ __forceinline__ void cbar() { asm volatile("bar.sync 1, %0;" ::"n"(CW * 32) : "memory"); }   // the consumers only

// MODE: 0 every op waits for the whole op before, 1 the op's own dependencies (op.dep), 2 no waits, 3 no waits and
// no per-op reduction or input read (the ring's own streaming floor)
// the ring's barriers: full (the producer's arrival + the slot's bytes), empty (one arrival a consumer warp)
template <int RN>
__device__ __forceinline__ void ring_init(uint64_t* full, uint64_t* empty, int tid) {
    if (tid == 0) {
        for (int s = 0; s < RN; ++s) { mbar_init(smem_u32(full + s), 1); mbar_init(smem_u32(empty + s), CW); }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
    __syncthreads();
}

template <int RN, int SLOT, int MODE>
__global__ void __launch_bounds__(RTHREADS) k_ring(const Op* ops, int n, unsigned* res, unsigned* counters) {
    extern __shared__ __align__(128) unsigned char sm[];
    uint64_t* full = reinterpret_cast<uint64_t*>(sm);
    uint64_t* empty = full + RN;
    unsigned char* ring = sm + 128 * ((16 * RN + 127) / 128);
    const int tid = threadIdx.x, G = gridDim.x, b = blockIdx.x;
    constexpr int SW = SLOT / 16;
    ring_init<RN>(full, empty, tid);
    if (tid < 32) {   // the producer: every pre op's share of this block, slot after slot, ahead of every wait
        if (tid != 0) return;
        unsigned k = 0;
        for (int i = 0; i < n; ++i) {
            const Op op = ops[i];
            if (!op.pre) continue;
            const size_t per = op.bytes / 16 / G, lo = per * b;
            for (size_t w = 0; w < per; w += SW, ++k) {
                const int s = k % RN;
                mbar_wait(smem_u32(empty + s), ((k / RN) & 1) ^ 1);
                const int bytes = (int)(min((size_t)SW, per - w) * 16);
                mbar_expect(smem_u32(full + s), bytes);
                bulk(smem_u32(ring + (size_t)s * SLOT), op.w + lo + w, bytes, smem_u32(full + s));
            }
        }
        return;
    }
    const int ct = tid - 32, lane = tid & 31;
    __shared__ unsigned red[CW];
    const uint4* xs = reinterpret_cast<const uint4*>(g_l2);
    unsigned k = 0;
    for (int i = 0; i < n; ++i) {
        const Op op = ops[i];
        const size_t words = op.bytes / 16, per = words / G, lo = per * b;
        const int dep = MODE == 1 ? op.dep : 0, eighth = b / (G / 8);
        if (MODE < 2 && i > 0 && dep != 1) {
            if (ct == 0) wait_dep(counters, i, dep, eighth, G);
            cbar();
        }
        const unsigned* in = i > 0 ? res + (size_t)(i - 1) * G : nullptr;
        const int src = op.dep == 1 ? b : op.dep == 2 ? eighth * (G / 8) + (b * 7 + ct) % (G / 8) : (b * 7 + ct) % G;
        unsigned x = in && MODE < 3 ? __ldcg(in + src) : 1u;
        unsigned acc = 0;
        if (op.pre) {
            int j = 0;
            for (size_t w = 0; w < per; w += SW, ++k, ++j) {
                const int s = k % RN;
                mbar_wait(smem_u32(full + s), (k / RN) & 1);
                const uint4* st = reinterpret_cast<const uint4*>(ring + (size_t)s * SLOT);
                const int nw = (int)min((size_t)SW, per - w);
                for (int q = ct; q < nw; q += CW * 32) { uint4 v = st[q]; acc += (v.x + v.y + v.z + v.w) * x; }
                __syncwarp();
                if (lane == 0) mbar_arrive(smem_u32(empty + s));
                // the x tiles beside this slot's weights (the same words as the other schemes read for their stage j)
                constexpr int R = 16384 / SLOT;   // slots a 16 KiB stage of the other schemes
                if (j % R == R - 1 || w + SW >= per)
                    for (int q = 0; q < op.xq * (1024 / (CW * 32)) / 4; ++q) {
                        uint4 v = __ldcg(xs + ((size_t)((j / R) * 1024 / 4 * op.xq + q * CW * 32 + ct) & ((1u << 17) - 1)));
                        acc += v.x ^ v.z;
                    }
            }
        } else {
            for (size_t w = lo + ct; w < lo + per; w += CW * 32) { uint4 v = __ldcg(op.w + w); acc += (v.x + v.y + v.z + v.w) * x; }
        }
        if (op.aw > 0) {
            float* y = reinterpret_cast<float*>(g_l2 + (4u << 20));
            const size_t base = (size_t)(b % (G / op.slices)) * op.aw * 4;
            for (int q = ct; q < op.aw; q += CW * 32) {
                float f = (float)(acc & 1);
                asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(y + base + 4 * (size_t)q), "f"(f), "f"(f), "f"(f), "f"(f) : "memory");
            }
        }
        if (MODE == 3) { if (acc == 0x12345678u) res[b] = acc; continue; }
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) red[ct >> 5] = acc;
        cbar();
        if (ct == 0) {
            unsigned s = 0;
            for (int w = 0; w < CW; ++w) s += red[w];
            res[(size_t)i * G + b] = s;
            __threadfence();
            asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counters + (size_t)i * 9) : "memory");
            asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counters + (size_t)i * 9 + 1 + eighth) : "memory");
        }
        cbar();
    }
}
template <int RN, int SLOT> constexpr int ring_smem() { return 128 * ((16 * RN + 127) / 128) + RN * SLOT; }

// ---- the dynamic schemes: an op's DRAM bytes cut into 16 KiB chunks that blocks claim from a per-op counter
// (dyn[4 i]) as they go, so that fast blocks take more of the op and an op ends when its bytes are read, not when its
// slowest block's fixed share is. Each op's result is one sum (dyn[4 i + 2], atomically added) that the next op folds
// in; dyn[4 i + 1] counts the op's finished units (chunks, or blocks for the L2-resident ops) for the ring's waits.
// The final sum does not depend on who claimed what: ring-dyn and pdl-dyn must agree.
constexpr int CH = 16384;
__device__ __forceinline__ unsigned block_sum(unsigned acc, unsigned* red, int nw, int lane, int w, bool consumersOnly) {
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) red[w] = acc;
    if (consumersOnly) cbar(); else __syncthreads();
    unsigned s = 0;
    for (int q = 0; q < nw; ++q) s += red[q];
    return s;
}

// one op a launch, PDL: claims (and requests) its first NST - 1 chunks before the wait
__global__ void __launch_bounds__(THREADS) k_op_dyn(Op op, int i, unsigned* dyn) {
    extern __shared__ __align__(128) unsigned char sm[];
    pdl_trigger();
    uint4* st = reinterpret_cast<uint4*>(sm);
    __shared__ int chunk[NST];
    __shared__ unsigned red[THREADS / 32];
    const int tid = threadIdx.x, G = gridDim.x, b = blockIdx.x;
    constexpr int SW = CH / 16;
    const size_t words = op.bytes / 16;
    const int nch = (int)((words + SW - 1) / SW);
    unsigned acc = 0;
    if (op.pre) {
        auto load = [&](int j) {   // claim a chunk for stage j % NST and request it
            if (tid == 0) chunk[j % NST] = (int)atomicAdd(dyn + 4 * i, 1u);
            __syncthreads();
            const int c = chunk[j % NST];
            if (c < nch) {
                uint4* sst = st + (j % NST) * SW;
                #pragma unroll
                for (int q = 0; q < SW / THREADS; ++q) {
                    size_t w = (size_t)c * SW + tid + q * THREADS;
                    if (w < words) cp16(smem_u32(sst + tid + q * THREADS), op.w + w);
                }
            }
            commit();
        };
        for (int j = 0; j < NST - 1; ++j) load(j);
        pdl_wait();
        const unsigned x = i > 0 ? __ldcg(dyn + 4 * (i - 1) + 2) : 1u;
        for (int j = 0;; ++j) {
            waitg<NST - 2>();
            __syncthreads();
            const int c = chunk[j % NST];
            if (c >= nch) break;   // claims only grow: every later stage of this block is past the end too
            const uint4* sst = st + (j % NST) * SW;
            #pragma unroll
            for (int q = 0; q < SW / THREADS; ++q) {
                size_t w = (size_t)c * SW + tid + q * THREADS;
                if (w < words) { uint4 v = sst[tid + q * THREADS]; acc += (v.x + v.y + v.z + v.w) * x; }
            }
            __syncthreads();
            load(j + NST - 1);
        }
        waitg<0>();
    } else {
        pdl_wait();
        const unsigned x = i > 0 ? __ldcg(dyn + 4 * (i - 1) + 2) : 1u;
        const size_t per = words / G, lo = per * b;
        for (size_t w = lo + tid; w < lo + per; w += THREADS) { uint4 v = __ldcg(op.w + w); acc += (v.x + v.y + v.z + v.w) * x; }
    }
    const unsigned s = block_sum(acc, red, THREADS / 32, tid & 31, tid >> 5, false);
    if (tid == 0) atomicAdd(dyn + 4 * i + 2, s);
}

// persistent, the producer claiming chunks ahead of the consumers (the claimed chunk's index travels with its slot)
template <int RN>
__global__ void __launch_bounds__(RTHREADS) k_ring_dyn(const Op* ops, int n, unsigned* dyn) {
    extern __shared__ __align__(128) unsigned char sm[];
    uint64_t* full = reinterpret_cast<uint64_t*>(sm);
    uint64_t* empty = full + RN;
    unsigned char* ring = sm + 128 * ((16 * RN + 127) / 128);
    __shared__ int meta[RN];
    __shared__ unsigned red[CW];
    const int tid = threadIdx.x, G = gridDim.x, b = blockIdx.x;
    constexpr int SW = CH / 16;
    ring_init<RN>(full, empty, tid);
    if (tid < 32) {
        if (tid != 0) return;
        unsigned k = 0;
        for (int i = 0; i < n; ++i) {
            const Op op = ops[i];
            if (!op.pre) continue;
            const size_t words = op.bytes / 16;
            const int nch = (int)((words + SW - 1) / SW);
            for (;; ++k) {
                const int s = k % RN;
                mbar_wait(smem_u32(empty + s), ((k / RN) & 1) ^ 1);
                const int c = (int)atomicAdd(dyn + 4 * i, 1u);
                meta[s] = c;
                if (c >= nch) { mbar_arrive(smem_u32(full + s)); ++k; break; }   // this block's end of op i
                const int bytes = (int)(min((size_t)SW, words - (size_t)c * SW) * 16);
                mbar_expect(smem_u32(full + s), bytes);
                bulk(smem_u32(ring + (size_t)s * CH), op.w + (size_t)c * SW, bytes, smem_u32(full + s));
            }
        }
        return;
    }
    const int ct = tid - 32, lane = tid & 31;
    unsigned k = 0;
    int prevUnits = 0;
    for (int i = 0; i < n; ++i) {
        const Op op = ops[i];
        const size_t words = op.bytes / 16;
        const int nch = (int)((words + SW - 1) / SW);
        if (i > 0) {
            if (ct == 0) {
                spin_until(dyn + 4 * (i - 1) + 1, (unsigned)prevUnits);
            }
            cbar();
        }
        const unsigned x = i > 0 ? __ldcg(dyn + 4 * (i - 1) + 2) : 1u;
        unsigned acc = 0, units = 0;
        if (op.pre) {
            for (;; ++k) {
                const int s = k % RN;
                mbar_wait(smem_u32(full + s), (k / RN) & 1);
                const int c = meta[s];
                if (c < nch) {
                    const uint4* st = reinterpret_cast<const uint4*>(ring + (size_t)s * CH);
                    const int nw = (int)min((size_t)SW, words - (size_t)c * SW);
                    for (int q = ct; q < nw; q += CW * 32) { uint4 v = st[q]; acc += (v.x + v.y + v.z + v.w) * x; }
                }
                __syncwarp();
                if (lane == 0) mbar_arrive(smem_u32(empty + s));
                if (c >= nch) { ++k; break; }
                ++units;
            }
            prevUnits = nch;
        } else {
            const size_t per = words / G, lo = per * b;
            for (size_t w = lo + ct; w < lo + per; w += CW * 32) { uint4 v = __ldcg(op.w + w); acc += (v.x + v.y + v.z + v.w) * x; }
            units = 1;
            prevUnits = G;
        }
        const unsigned s = block_sum(acc, red, CW, lane, ct >> 5, true);
        if (ct == 0) {
            atomicAdd(dyn + 4 * i + 2, s);
            asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(dyn + 4 * i + 1), "r"(units) : "memory");
        }
        cbar();
    }
}

__global__ void k_fill(uint32_t* p, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = (uint32_t)(i * 2654435761u) ^ seed;
}

static double argd(int argc, char** argv, const char* name, double def) {
    for (int i = 1; i + 1 < argc; ++i) if (!strcmp(argv[i], name)) return atof(argv[i + 1]);
    return def;
}

int main(int argc, char** argv) {
    const int layers = (int)argd(argc, argv, "--layers", 16), rounds = (int)argd(argc, argv, "--rounds", 10);
    const double scale = argd(argc, argv, "--scale", 1.0);
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    const int G = 2 * prop.multiProcessorCount;
    // the 1B B = 64 step's ops: bytes each reads (MB); the L2-resident ones (activations) re-read one small buffer
    // xq / aw / slices (with --real): the 1B step's split-k GEMMs on 128-row blocks (x tiles half the weight bytes;
    // q|k|v 5 k-slices, o and down 8, ~4 MB of fp32 reductions each a layer: aw = 4 MB / 16 B / 264 blocks ≈ 990),
    // gate|up on 64-row blocks (x tiles as many bytes as the weights, no reductions), the head as the split-k ones' x
    const bool real = argd(argc, argv, "--real", 0) != 0;
    struct Spec { const char* name; double mb; bool dram; int dep; int xq, aw, slices; };
    const std::vector<Spec> layer = {{"norm", 0.5, false, 0, 0, 0, 1}, {"qkv", 12.58, true, 0, 2, 990, 5}, {"post", 0.4, false, 0, 0, 0, 1},
                                     {"attn", 41.9, true, 0, 0, 0, 1}, {"merge", 1.6, false, 1, 0, 0, 1}, {"o", 8.39, true, 2, 2, 990, 8},
                                     {"norm", 0.5, false, 0, 0, 0, 1}, {"gate|up", 67.11, true, 0, 4, 0, 1}, {"down", 33.55, true, 2, 2, 990, 8}};
    std::vector<Op> ops;
    std::vector<std::string> kinds;   // each op's kind: the Spec name, "head"
    std::vector<void*> bufs;
    size_t dram = 0;
    const size_t quantum = (size_t)16 * G;
    void* l2buf;
    CK(cudaMalloc(&l2buf, 8 << 20));
    k_fill<<<256, 256>>>((uint32_t*)l2buf, (2 << 20) / 4, 7u);
    CK(cudaMemset((char*)l2buf + (4 << 20), 0, 4 << 20));
    CK(cudaMemcpyToSymbol(g_l2, &l2buf, sizeof(void*)));
    auto add = [&](double mb, bool isDram, int dep, int xq, int aw, int slices) {
        size_t bytes = (size_t)(mb * (isDram ? scale : 1.0) * 1e6) / quantum * quantum;
        if (!real) xq = aw = 0;
        if (!isDram) { ops.push_back({(const uint4*)l2buf, bytes, dep, xq, aw, slices, 0}); return; }
        void* p;
        CK(cudaMalloc(&p, bytes));
        k_fill<<<1024, 256>>>((uint32_t*)p, bytes / 4, (uint32_t)ops.size());
        bufs.push_back(p);
        ops.push_back({(const uint4*)p, bytes, dep, xq, aw, slices, 1});
        dram += bytes;
    };
    for (int l = 0; l < layers; ++l) for (auto& s : layer) { add(s.mb, s.dram, s.dep, s.xq, s.aw, s.slices); kinds.push_back(s.name); }
    add(525.3, true, 0, 2, 0, 1);
    kinds.push_back("head");   // the LM head (tied embedding, 128256 × 2048 bf16)
    const int n = (int)ops.size();
    Op* dOps;
    CK(cudaMalloc(&dOps, n * sizeof(Op)));
    CK(cudaMemcpy(dOps, ops.data(), n * sizeof(Op), cudaMemcpyHostToDevice));
    unsigned *res, *counters;
    CK(cudaMalloc(&res, (size_t)n * G * 4));
    CK(cudaMalloc(&counters, (size_t)n * 9 * 4));
    void* flat;
    CK(cudaMalloc(&flat, dram));
    CK(cudaFuncSetAttribute(k_op<0>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM));
    CK(cudaFuncSetAttribute(k_op<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM));
    CK(cudaFuncSetAttribute(k_persist<0>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM));
    CK(cudaFuncSetAttribute(k_persist<2>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM));
    CK(cudaFuncSetAttribute(k_persist<3>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM));
    int occ;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, k_persist<2>, THREADS, SMEM));
    if (occ < 2) { fprintf(stderr, "persistent kernel: %d blocks an SM fit, 2 needed\n", occ); return 1; }
    // the ring kernels: 2 blocks an SM must fit (all resident: consumers spin on other blocks' counters)
    auto ringFit = [&](auto kern, int smem) {
        CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        int o;
        CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&o, kern, RTHREADS, smem));
        if (o < 2) { fprintf(stderr, "ring kernel: %d blocks an SM fit, 2 needed\n", o); exit(1); }
    };
    ringFit(k_ring<4, 16384, 0>, ring_smem<4, 16384>());
    ringFit(k_ring<6, 16384, 0>, ring_smem<6, 16384>());
    ringFit(k_ring<6, 16384, 1>, ring_smem<6, 16384>());
    ringFit(k_ring<12, 8192, 1>, ring_smem<12, 8192>());
    ringFit(k_ring<6, 16384, 2>, ring_smem<6, 16384>());
    ringFit(k_ring_dyn<6>, ring_smem<6, CH>());
    CK(cudaFuncSetAttribute(k_op_dyn, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM));
    unsigned* dyn;
    CK(cudaMalloc(&dyn, (size_t)n * 16));
    ringFit(k_ring<6, 16384, 3>, ring_smem<6, 16384>());
    ringFit(k_ring<2, 16384, 1>, ring_smem<2, 16384>());
    ringFit(k_ring<4, 8192, 1>, ring_smem<4, 8192>());
    ringFit(k_ring<3, 8192, 1>, ring_smem<3, 8192>());
    ringFit(k_ring<4, 4096, 1>, ring_smem<4, 4096>());
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    CK(cudaDeviceSynchronize());

    auto plain = [&]() { for (int i = 0; i < n; ++i) k_op<0><<<G, THREADS, SMEM, st>>>(ops[i], i, i ? res + (size_t)(i - 1) * G : nullptr, res + (size_t)i * G); };
    // the PDL chain over the ops whose kind is not in `skip` ("+"-joined kinds; "gu" = gate|up, "attn" = the
    // attention and its merge, as CudaServeBench --skip-ab leaves them out), each reading the result of the op before it
    auto skipped = [&](const std::string& skip, int i) {
        std::string k = kinds[i] == "gate|up" ? "gu" : kinds[i];
        std::string sk = "+" + skip + "+";
        return sk.find("+" + k + "+") != std::string::npos || (k == "merge" && sk.find("+attn+") != std::string::npos);
    };
    // one op's launch on st: G blocks, SMEM bytes, with programmatic stream serialization when pdl (its blocks start
    // while the launch before finishes; they wait for it in griddepcontrol.wait)
    auto pdlLaunch = [&](auto kern, bool pdl, auto... args) {
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = G; cfg.blockDim = THREADS; cfg.dynamicSmemBytes = SMEM; cfg.stream = st;
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = at; cfg.numAttrs = pdl ? 1 : 0;
        CK(cudaLaunchKernelEx(&cfg, kern, args...));
    };
    auto pdlChain = [&](const std::string& skip) {
        int prev = -1;
        for (int i = 0; i < n; ++i) {
            if (skipped(skip, i)) continue;
            pdlLaunch(k_op<1>, true, ops[i], i, (const unsigned*)(prev >= 0 ? res + (size_t)prev * G : nullptr), res + (size_t)i * G);
            prev = i;
        }
    };
    auto pdlLaunches = [&]() { pdlChain(""); };
    // a CUDA graph of what fn launches on st
    auto capture = [&](auto&& fn) {
        cudaGraph_t g;
        cudaGraphExec_t ge;
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        fn();
        CK(cudaStreamEndCapture(st, &g));
        CK(cudaGraphInstantiate(&ge, g, 0));
        return ge;
    };
    cudaGraphExec_t exec = capture(pdlLaunches), execPlain = capture(plain);
    auto persist = [&](int wait) {
        CK(cudaMemsetAsync(counters, 0, (size_t)n * 9 * 4, st));
        if (wait == 2) k_persist<2><<<G, THREADS, SMEM, st>>>(dOps, n, res, counters);
        else if (wait == 3) k_persist<3><<<G, THREADS, SMEM, st>>>(dOps, n, res, counters);
        else k_persist<0><<<G, THREADS, SMEM, st>>>(dOps, n, res, counters);
    };
    auto ringRun = [&](auto kern, int smem) {
        CK(cudaMemsetAsync(counters, 0, (size_t)n * 9 * 4, st));
        kern<<<G, RTHREADS, smem, st>>>(dOps, n, res, counters);
    };
    auto pdlDyn = [&]() {
        CK(cudaMemsetAsync(dyn, 0, (size_t)n * 16, st));
        for (int i = 0; i < n; ++i) {
            pdlLaunch(k_op_dyn, i > 0, ops[i], i, dyn);
        }
    };
    cudaGraphExec_t execDyn = capture(pdlDyn);
    auto flatRead = [&]() {
        Op f{(const uint4*)flat, dram / quantum * quantum};
        k_op<0><<<G, THREADS, SMEM, st>>>(f, 0, nullptr, res);
    };
    std::vector<std::pair<std::string, std::function<void()>>> schemes = {
        {"plain (stream)", plain},
        {"plain (graph)", [&]() { CK(cudaGraphLaunch(execPlain, st)); }},
        {"pdl (stream)", pdlLaunches},
        {"pdl (graph)", [&]() { CK(cudaGraphLaunch(exec, st)); }},
        {"persist", [&]() { persist(2); }},
        {"persist-fine", [&]() { persist(3); }},
        {"ring4", [&]() { ringRun(k_ring<4, 16384, 0>, ring_smem<4, 16384>()); }},
        {"ring6", [&]() { ringRun(k_ring<6, 16384, 0>, ring_smem<6, 16384>()); }},
        {"ring6-fine", [&]() { ringRun(k_ring<6, 16384, 1>, ring_smem<6, 16384>()); }},
        {"ring12x8k-fine", [&]() { ringRun(k_ring<12, 8192, 1>, ring_smem<12, 8192>()); }},
        {"ring2x16k-fine", [&]() { ringRun(k_ring<2, 16384, 1>, ring_smem<2, 16384>()); }},
        {"ring4x8k-fine", [&]() { ringRun(k_ring<4, 8192, 1>, ring_smem<4, 8192>()); }},
        {"ring3x8k-fine", [&]() { ringRun(k_ring<3, 8192, 1>, ring_smem<3, 8192>()); }},
        {"ring4x4k-fine", [&]() { ringRun(k_ring<4, 4096, 1>, ring_smem<4, 4096>()); }},
        {"pdl-dyn (graph)", [&]() { CK(cudaGraphLaunch(execDyn, st)); }},
        {"ring6-dyn", [&]() { CK(cudaMemsetAsync(dyn, 0, (size_t)n * 16, st)); k_ring_dyn<6><<<G, RTHREADS, ring_smem<6, CH>(), st>>>(dOps, n, dyn); }},
        {"ring6-nodep", [&]() { ringRun(k_ring<6, 16384, 2>, ring_smem<6, 16384>()); }},
        {"ring6-stream", [&]() { ringRun(k_ring<6, 16384, 3>, ring_smem<6, 16384>()); }},
        {"nodep", [&]() { persist(0); }},
        {"flat", flatRead}};
    // checks: the last op's results equal across the dependent schemes
    std::vector<unsigned> ref(G), got(G);
    printf("device: %s, %d SMs; %d ops (%d layers + head), %.1f MB from DRAM a step, %d blocks of %d threads, %d KiB stages x %d\n",
           prop.name, prop.multiProcessorCount, n, layers, dram / 1e6, G, THREADS, STAGE / 1024, NST);
    printf("%-16s %10s %10s %12s %10s %8s\n", "scheme", "median_us", "best_us", "us_a_layer", "GB/s", "check");
    std::string json = std::string("{\"device\":\"") + prop.name + "\",\"dram_bytes\":" + std::to_string(dram) + ",\"ops\":" + std::to_string(n) + ",\"schemes\":{";
    for (size_t si = 0; si < schemes.size(); ++si) {
        auto& s = schemes[si];
        std::vector<float> t;
        for (int r = 0; r < rounds + 2; ++r) {
            CK(cudaEventRecord(e0, st));
            s.second();
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            float ms; CK(cudaEventElapsedTime(&ms, e0, e1));
            if (r >= 2) t.push_back(ms * 1000.f);
        }
        CK(cudaGetLastError());
        std::sort(t.begin(), t.end());
        const char* check = "-";
        if (s.first.find("dyn") != std::string::npos) {
            unsigned v;
            CK(cudaMemcpy(&v, dyn + 4 * (n - 1) + 2, 4, cudaMemcpyDeviceToHost));
            static unsigned dref = 0;
            static bool have = false;
            if (!have) { dref = v; have = true; check = "dref"; } else check = v == dref ? "dok" : "DDIFF";
        } else if (si + 5 <= schemes.size()) {
            CK(cudaMemcpy(got.data(), res + (size_t)(n - 1) * G, G * 4, cudaMemcpyDeviceToHost));
            if (si == 0) { ref = got; check = "ref"; } else check = got == ref ? "ok" : "DIFF";
        }
        double bytes = si == schemes.size() - 1 ? (double)(dram / quantum * quantum) : (double)dram;
        printf("%-16s %10.1f %10.1f %12.2f %10.0f %8s\n", s.first.c_str(), t[t.size() / 2], t[0], t[t.size() / 2] / layers,
               bytes / (t[t.size() / 2] * 1e3), check);
        json += std::string(si ? "," : "") + "\"" + s.first + "\":{\"median_us\":" + std::to_string(t[t.size() / 2]) + ",\"gb_s\":" +
                std::to_string(bytes / (t[t.size() / 2] * 1e3)) + ",\"check\":\"" + check + "\"}";
    }
    json += "}";
    // --skips none,norm,...: the PDL graph with each op kind left out (what each kind adds to the chain, as
    // CudaServeBench --skip-ab measures the real step)
    std::string skips;
    for (int i = 1; i + 1 < argc; ++i) if (!strcmp(argv[i], "--skips")) skips = argv[i + 1];
    if (!skips.empty()) {
        printf("\n%-16s %10s %12s\n", "pdl graph, skip", "median_us", "adds_us");
        json += ",\"skip_pdl_graph_us\":{";
        double base = 0;
        size_t p0 = 0;
        bool firstSkip = true;
        while (p0 <= skips.size()) {
            size_t p1 = skips.find(',', p0);
            std::string sk = skips.substr(p0, p1 == std::string::npos ? std::string::npos : p1 - p0);
            p0 = p1 == std::string::npos ? skips.size() + 1 : p1 + 1;
            cudaGraphExec_t ge = capture([&]() { pdlChain(sk); });
            std::vector<float> t;
            for (int r = 0; r < rounds + 2; ++r) {
                CK(cudaEventRecord(e0, st));
                CK(cudaGraphLaunch(ge, st));
                CK(cudaEventRecord(e1, st));
                CK(cudaEventSynchronize(e1));
                float ms; CK(cudaEventElapsedTime(&ms, e0, e1));
                if (r >= 2) t.push_back(ms * 1000.f);
            }
            std::sort(t.begin(), t.end());
            double med = t[t.size() / 2];
            if (sk == "none") base = med;
            printf("%-16s %10.1f %12.1f\n", sk.c_str(), med, base > 0 && sk != "none" ? base - med : 0.0);
            json += std::string(firstSkip ? "" : ",") + "\"" + sk + "\":" + std::to_string(med);
            firstSkip = false;
            CK(cudaGraphExecDestroy(ge));
        }
        json += "}";
    }
    printf("RESULT %s}\n", json.c_str());
    return 0;
}
