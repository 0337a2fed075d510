#!/usr/bin/env python3
"""Prefix-unaware baseline: torch scaled_dot_product_attention (flash backend) for one decode query per
sequence over its own contiguous K/V copy (B, H_kv, P+S, 128), fp16, on the paper grid with 32 and 8 KV heads.
Each timed call starts with L2 flushed (a read of 4x the L2), is bracketed by CUDA events; median of 30.
Writes a TSV: hkv B P S sdpa_us sdpa_min_us backend."""
import argparse
import statistics

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="sdpa.tsv")
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args()
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 64 << 20)
    # flush L2 by reading 4x its size: reads leave clean lines (a memset would leave dirty ones whose write-back
    # lands inside the timed call)
    flush = torch.ones(max(256 << 20, 4 * l2) // 4, dtype=torch.float32, device=dev)
    print(f"device: {props.name}, torch {torch.__version__}, L2 {l2 >> 20} MiB", flush=True)
    rows = ["hkv\tB\tP\tS\tsdpa_us\tsdpa_min_us\tbackend"]
    hq, d = 32, 128
    for hkv in (32, 8):
        for b in (32, 64):
            for p in (1024, 2048, 4096):
                for s in (0, 256, 512, 1024):
                    t = p + s
                    q = torch.randn(b, hq, 1, d, dtype=torch.float16, device=dev)
                    k = torch.randn(b, hkv, t, d, dtype=torch.float16, device=dev)
                    v = torch.randn(b, hkv, t, d, dtype=torch.float16, device=dev)
                    backend = None
                    for name, be in (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
                        try:
                            with sdpa_kernel(be):
                                F.scaled_dot_product_attention(q, k, v, enable_gqa=hkv != hq)
                            torch.cuda.synchronize()
                            backend = (name, be)
                            break
                        except RuntimeError as e:
                            print(f"hkv={hkv} B={b} P={p} S={s}: {name} backend refused ({str(e).splitlines()[0]})", flush=True)
                    if backend is None:
                        raise SystemExit("no SDPA backend ran")
                    times = []
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    with sdpa_kernel(backend[1]):
                        for i in range(-3, args.iters):
                            flush.sum()
                            e0.record()
                            F.scaled_dot_product_attention(q, k, v, enable_gqa=hkv != hq)
                            e1.record()
                            e1.synchronize()
                            if i >= 0:
                                times.append(e0.elapsed_time(e1) * 1e3)
                    med = statistics.median(times)
                    print(f"hkv={hkv:2d} B={b:2d} P={p:4d} S={s:4d}: SDPA {med:8.1f} us ({backend[0]})", flush=True)
                    rows.append(f"{hkv}\t{b}\t{p}\t{s}\t{med:.2f}\t{min(times):.2f}\t{backend[0]}")
                    del q, k, v
    with open(args.out, "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
