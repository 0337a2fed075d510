#!/usr/bin/env bash
# session 23, after the review mend (the diagnostics slots through one helper): checks, and every diagnostics slot the
# default variant registers used once (1B: 4, 5, 6, 8, 9; 8B: 4, 6)
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
OUT=$O/c bash "$D/run7.sh" check,attn 2>&1 | grep -E "CHECK SUMMARY|passed|exit|FAIL" | cut -c1-300
OUT=$O/b bash "$D/run7.sh" bench -- --shapes llama-3.2-1b --batches 64 --attn-ab auto:0:auto:0,auto:0:auto:4,auto:0:auto:5,auto:0:auto:6,auto:0:auto:8,auto:0:auto:9 > /dev/null 2>&1
grep -E "attn-ab|^timeline launch|Exception|exit" "$O/b/bench.log" | cut -c1-200
OUT=$O/b8 bash "$D/run7.sh" bench -- --shapes llama-3-8b --batches 64 --attn-ab auto:0:auto:0,auto:0:auto:4,auto:0:auto:6 > /dev/null 2>&1
grep -E "attn-ab|^timeline launch|Exception|exit" "$O/b8/bench.log" | cut -c1-200
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" | sed 's|^\./||') && find . -name "*.log" -delete
