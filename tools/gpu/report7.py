#!/usr/bin/env python3
"""Joins CudaServeBench's and torch_decode_bench.py's RESULT lines into the BENCHMARKS.md table and one final
RESULT line (targets: at B=64, decode steps >= 70% of the roofline and faster than the PyTorch forward)."""
import json, sys

def result(path):
    try:
        for line in open(path):
            if line.startswith("RESULT "):
                return json.loads(line[7:])
    except OSError:
        pass
    return {}

def main():
    ours, torch = result(sys.argv[1]), result(sys.argv[2])
    gpu = open(sys.argv[3]).read().strip().splitlines()[0] if len(sys.argv) > 3 else ""
    print(f"card: {gpu}; device copy {ours.get('copy_GBps')} GB/s (read + write)\n")
    print("| shape | B | ours tok/s | step ms | GPU ms/step | host enqueue ms | roofline tok/s | ours / roofline | GPU / roofline | device period / roofline | PyTorch eager tok/s | PyTorch graph tok/s | ours / best PyTorch |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    out = {"device": ours.get("device"), "copy_GBps": ours.get("copy_GBps")}
    met = True
    for shape, r in ours.items():
        if not isinstance(r, dict):
            continue
        t = torch.get(shape, {})
        out[shape] = {"ttft_ms_prefix_hit": r.get("ttft_ms_prefix_hit"), "ttft_ms_no_hit": r.get("ttft_ms_no_hit")}
        for k, b in r.items():
            if not (isinstance(b, dict) and k[:1] == "b" and k[1:].isdigit()):   # b1, b64, ... (not bias_ab_b64)
                continue
            tb = t.get(k, {})
            best = max([v for v in (tb.get("eager_tok_s"), tb.get("graph_tok_s")) if isinstance(v, (int, float)) and v == v] or [float("nan")])
            ratio = b["decode_tok_s"] / best if best == best and best > 0 else float("nan")
            print(f"| {shape} | {k[1:]} | {b['decode_tok_s']:.0f} | {b['step_ms']:.2f} | {b.get('gpu_ms_per_decode_step', float('nan')):.2f} | "
                  f"{b.get('host_enqueue_ms_per_decode_step', float('nan')):.2f} | {b['roofline_tok_s']:.0f} | {100 * b['fraction_of_roofline']:.0f}% | "
                  f"{100 * b.get('gpu_fraction_of_roofline', float('nan')):.0f}% | {100 * (b.get('period_fraction_of_roofline') or float('nan')):.1f}% | {tb.get('eager_tok_s', float('nan'))} | {tb.get('graph_tok_s', float('nan'))} | {ratio:.2f}x |")
            out[shape][k] = {"tok_s": b["decode_tok_s"], "fraction_of_roofline": b["fraction_of_roofline"],
                             "gpu_fraction_of_roofline": b.get("gpu_fraction_of_roofline"),
                             "period_fraction_of_roofline": b.get("period_fraction_of_roofline"), "torch_eager_tok_s": tb.get("eager_tok_s"),
                             "torch_graph_tok_s": tb.get("graph_tok_s"), "vs_best_torch": round(ratio, 2)}
            if k == "b64":
                ok = b["fraction_of_roofline"] >= 0.7 and ratio > 1
                out[shape]["target_b64_met"] = ok
                met &= ok
        print(f"\n{shape}: TTFT {r.get('ttft_ms_prefix_hit')} ms with the prefix cached, {r.get('ttft_ms_no_hit')} ms without")
    out["target_b64_met_all"] = met
    print("\nRESULT " + json.dumps(out))

if __name__ == "__main__":
    main()
