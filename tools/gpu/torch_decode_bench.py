#!/usr/bin/env python3
"""Plain PyTorch decode forward (eager, bf16) of the Llama-3.2-1B and Llama-3-8B shapes: the baseline of
CudaServeBench. Random weights made on the GPU; per sequence a KV cache of ctx tokens (prefix + unique, no
prefix sharing: every sequence holds its own copy), preallocated (B, Hkv, L, D) per layer; one step = embedding,
per layer RMSNorm, fused qkv matmul, RoPE, KV write, SDPA (GQA) over the cache, o matmul, residual, RMSNorm,
fused gate|up matmul, SiLU*mul, down matmul, residual; final norm, LM head, argmax (fed back). Times `steps`
steps with CUDA events after 3 warm-ups, eager and replayed as one CUDA graph (static shapes: the position in a
device tensor, attention over the whole preallocated cache under a mask); prints one TSV line per (shape, B) and
a RESULT json line."""
import argparse, json, math, sys, time
import torch
import torch.nn.functional as F

SHAPES = {
    "llama-3.2-1b": dict(h=2048, inter=8192, L=16, hq=32, hkv=8, d=64, vocab=128256, tied=True),
    "llama-3-8b": dict(h=4096, inter=14336, L=32, hq=32, hkv=8, d=128, vocab=128256, tied=False),
}

def rope_freqs(d, theta=500000.0, factor=32.0, low=1.0, high=4.0, orig=8192):
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    low_w, high_w = orig / low, orig / high
    out = []
    for f in inv.tolist():
        wl = 2 * math.pi / f
        if wl < high_w: out.append(f)
        elif wl > low_w: out.append(f / factor)
        else:
            sm = (orig / wl - low) / (high - low)
            out.append((1 - sm) * f / factor + sm * f)
    return torch.tensor(out, dtype=torch.float32)

def rmsnorm(x, w, eps=1e-5):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w

def rot(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

def bench(shape, B, ctx, steps):
    s = SHAPES[shape]
    dev, dt = "cuda", torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(0)
    def W(o, i):
        return ((torch.rand(o, i, device=dev, dtype=torch.float32, generator=g) * 2 - 1) * math.sqrt(3.0 / i)).to(dt)
    h, d, hq, hkv = s["h"], s["d"], s["hq"], s["hkv"]
    layers = [dict(wqkv=W((hq + 2 * hkv) * d, h), wo=W(h, hq * d), wgu=W(2 * s["inter"], h), wd=W(h, s["inter"]),
                   n1=torch.ones(h, device=dev, dtype=dt), n2=torch.ones(h, device=dev, dtype=dt)) for _ in range(s["L"])]
    embed = (torch.rand(s["vocab"], h, device=dev, generator=g) * 2 - 1).to(dt)
    head = embed if s["tied"] else W(s["vocab"], h)
    norm = torch.ones(h, device=dev, dtype=dt)
    cap = ctx + steps + 8
    K = [torch.randn(B, hkv, cap, d, device=dev, dtype=dt) for _ in range(s["L"])]
    V = [torch.randn(B, hkv, cap, d, device=dev, dtype=dt) for _ in range(s["L"])]
    inv = rope_freqs(d).to(dev)
    wbytes = sum(l["wqkv"].numel() + l["wo"].numel() + l["wgu"].numel() + l["wd"].numel() for l in layers) * 2 + head.numel() * 2

    @torch.inference_mode()
    def step(tok, pos):
        x = embed[tok]                                    # (B, h)
        ang = inv * pos
        cos, sin = torch.cos(ang).to(dt), torch.sin(ang).to(dt)
        for li, l in enumerate(layers):
            hn = rmsnorm(x, l["n1"])
            qkv = hn @ l["wqkv"].T
            q, k, v = qkv.split([hq * d, hkv * d, hkv * d], dim=-1)
            q = rot(q.view(B, hq, 1, d), cos, sin)
            k = rot(k.view(B, hkv, 1, d), cos, sin)
            K[li][:, :, pos:pos + 1] = k
            V[li][:, :, pos:pos + 1] = v.view(B, hkv, 1, d)
            o = F.scaled_dot_product_attention(q, K[li][:, :, :pos + 1], V[li][:, :, :pos + 1], enable_gqa=True)
            x = x + o.reshape(B, hq * d) @ l["wo"].T
            hn = rmsnorm(x, l["n2"])
            gg, uu = (hn @ l["wgu"].T).chunk(2, dim=-1)
            x = x + (F.silu(gg) * uu) @ l["wd"].T
        logits = rmsnorm(x, norm) @ head.T
        return logits.argmax(-1)

    # the same step with the position in a device tensor and a mask over the whole cache (static shapes), so
    # that one CUDA graph replays it: no launch overhead, the attention reads cap instead of pos + 1 tokens
    pos_t = torch.zeros(1, dtype=torch.long, device=dev)
    tok_t = torch.zeros(B, dtype=torch.long, device=dev)
    ar = torch.arange(cap, device=dev)

    @torch.inference_mode()
    def step_static():
        x = embed[tok_t]
        ang = inv * pos_t.float()
        cos, sin = torch.cos(ang).to(dt), torch.sin(ang).to(dt)
        mask = (ar <= pos_t).view(1, 1, 1, cap)
        for li, l in enumerate(layers):
            hn = rmsnorm(x, l["n1"])
            q, k, v = (hn @ l["wqkv"].T).split([hq * d, hkv * d, hkv * d], dim=-1)
            q = rot(q.view(B, hq, 1, d), cos, sin)
            k = rot(k.view(B, hkv, 1, d), cos, sin)
            K[li].index_copy_(2, pos_t, k)
            V[li].index_copy_(2, pos_t, v.view(B, hkv, 1, d))
            o = F.scaled_dot_product_attention(q, K[li], V[li], attn_mask=mask, enable_gqa=True)
            x = x + o.reshape(B, hq * d) @ l["wo"].T
            hn = rmsnorm(x, l["n2"])
            gg, uu = (hn @ l["wgu"].T).chunk(2, dim=-1)
            x = x + (F.silu(gg) * uu) @ l["wd"].T
        tok_t.copy_((rmsnorm(x, norm) @ head.T).argmax(-1))
        pos_t.add_(1)

    def timed(fn, n):
        torch.cuda.synchronize()
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        for _ in range(n):
            fn()
        e1.record()
        torch.cuda.synchronize()
        return e0.elapsed_time(e1) / n

    tok = torch.randint(0, s["vocab"], (B,), device=dev)
    state = {"tok": tok, "pos": ctx}
    def eager():
        state["tok"] = step(state["tok"], state["pos"]); state["pos"] += 1
    for _ in range(3):
        eager()
    ms = timed(eager, steps)
    ms_graph = float("nan")
    try:
        tok_t.copy_(tok); pos_t.fill_(ctx)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                step_static()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step_static()
        pos_t.fill_(ctx)
        graph.replay()
        ms_graph = timed(graph.replay, steps)
    except Exception as e:   # report, keep the eager figure
        print(f"# graph capture failed for {shape} B={B}: {type(e).__name__}: {e}", flush=True)
    kvbytes = 2 * s["L"] * hkv * d * 2 * B * (ctx + steps / 2)
    del K, V, layers
    torch.cuda.empty_cache()
    return ms, ms_graph, wbytes, kvbytes

GEMMS = [("1b.qkv", 3072, 2048), ("1b.o", 2048, 2048), ("1b.gate_up", 16384, 2048), ("1b.down", 2048, 8192), ("1b.lm_head", 128256, 2048),
         ("8b.qkv", 6144, 4096), ("8b.o", 4096, 4096), ("8b.gate_up", 28672, 4096), ("8b.down", 4096, 14336), ("8b.lm_head", 128256, 4096)]

def gemm_bench():
    """torch.matmul(x, w.T) in bf16 on the shapes CudaGemmBench times, the same way (median of 20, rotating weights)."""
    print("gemm\tshape\tT\tout\tus\tGBps\tTFLOPs", flush=True)
    for name, n, k in GEMMS:
        copies = max(1, min(8, (256 << 20) // (2 * n * k) + 1))
        ws = [torch.rand(n, k, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
        x = torch.rand(2304, k, device="cuda", dtype=torch.bfloat16)
        for T in (1, 16, 64, 128, 2304):
            xs = x[:T]
            ts = []
            for it in range(23):
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                w = ws[it % copies]
                e0.record(); y = torch.matmul(xs, w.T); e1.record()
                torch.cuda.synchronize()
                if it >= 3: ts.append(e0.elapsed_time(e1) * 1e3)
            ts.sort(); t = ts[len(ts) // 2]
            b = 2 * n * k + 2 * T * k + 2 * T * n
            print(f"gemm\t{name}\t{T}\tbf16(torch)\t{t:.1f}\t{b / (t * 1e3):.0f}\t{2 * T * n * k / (t * 1e6):.1f}", flush=True)
        del ws, x
        torch.cuda.empty_cache()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="llama-3.2-1b,llama-3-8b")
    ap.add_argument("--batches", default="1,32,64,128")
    ap.add_argument("--ctx", type=int, default=2048 + 256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--gemm", action="store_true", help="only the torch.matmul shapes")
    a = ap.parse_args()
    print("torch", torch.__version__, torch.cuda.get_device_name(0), flush=True)
    if a.gemm:
        gemm_bench()
        return
    res = {}
    print("shape\tB\teager_ms\teager_tok_s\tgraph_ms\tgraph_tok_s\tweight_GB\tkv_GB", flush=True)
    for shape in a.shapes.split(","):
        res[shape] = {}
        for B in [int(b) for b in a.batches.split(",")]:
            try:
                ms, msg, wb, kb = bench(shape, B, a.ctx, a.steps)
            except torch.cuda.OutOfMemoryError as e:
                print(f"{shape}\t{B}\tOOM", flush=True); torch.cuda.empty_cache(); continue
            res[shape][f"b{B}"] = dict(eager_step_ms=round(ms, 3), eager_tok_s=round(B / ms * 1e3, 1),
                                       graph_step_ms=round(msg, 3), graph_tok_s=round(B / msg * 1e3, 1))
            print(f"{shape}\t{B}\t{ms:.3f}\t{B / ms * 1e3:.1f}\t{msg:.3f}\t{B / msg * 1e3:.1f}\t{wb / 1e9:.2f}\t{kb / 1e9:.2f}", flush=True)
    print("RESULT " + json.dumps(res), flush=True)

if __name__ == "__main__":
    main()
