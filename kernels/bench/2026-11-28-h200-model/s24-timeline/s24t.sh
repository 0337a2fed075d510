#!/usr/bin/env bash
# session 24: the partials launch with its merge and o projection on one clock (--attn-ab …:6), 1B and 8B at B = 64;
# checks of the rebuilt kernels (the shipped ones unchanged; new: the _tl twins)
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
mkdir -p "$O/tl"
OUT=$O/c bash "$D/run7.sh" check,attn 2>&1 | grep -E "CHECK SUMMARY|passed|exit|FAIL" | cut -c1-300
A=auto:0:auto:0,auto:0:auto:6,auto:0:auto:6,auto:0:auto:0
JEXTRA="-Dchunkserve.cuda.timelineDir=$O/tl" OUT=$O/b bash "$D/run7.sh" bench -- --shapes llama-3.2-1b,llama-3-8b --batches 64 --attn-ab $A > /dev/null 2>&1
grep -E "attn-ab|^timeline (launch|then|item|warp)|Exception|exit" "$O/b/bench.log" | cut -c1-330
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" -o -name "*.csv" | sed 's|^\./||') && find . -name "*.log" -delete && find . -name "*.csv" -delete
