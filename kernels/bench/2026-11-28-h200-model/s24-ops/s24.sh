#!/usr/bin/env bash
# session 24: the real step op by op (--skip-ab, B = 64, 1B and 8B) beside the zero-math chain op by op (chainprobe --skips)
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
mkdir -p "$O"
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv,noheader > "$O/gpu.txt"
nvcc -O3 -std=c++17 -arch=sm_90a -o /tmp/cp tools/gpu/chainprobe.cu || exit 1
SK=none,norm,qkv,post,attn,merge,o,gu,down,head
/tmp/cp --rounds 10 --skips $SK > "$O/chain-1b.log" 2>&1
/tmp/cp --rounds 5 --scale 3.7 --layers 32 --skips $SK > "$O/chain-8b.log" 2>&1
grep -A14 "pdl graph, skip" "$O/chain-1b.log"; grep -A14 "pdl graph, skip" "$O/chain-8b.log"
OUT=$O/b bash "$D/run7.sh" bench -- --shapes llama-3.2-1b,llama-3-8b --batches 64 --skip-ab $SK,$SK > /dev/null 2>&1
grep -E "skip-ab|Exception|exit" "$O/b/bench.log" | cut -c1-200
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" | sed 's|^\./||') && find . -name "*.log" -delete
