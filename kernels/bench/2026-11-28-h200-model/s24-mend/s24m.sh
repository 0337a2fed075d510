#!/usr/bin/env bash
# session 24, after the review mend (the timeline helpers shared in common.cuh, AttnTimeline.read; diagnostics only):
# the checks, and the partials / merge / o projection timeline once at each shape
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
OUT=$O/c bash "$D/run7.sh" check,attn 2>&1 | grep -E "CHECK SUMMARY|passed|exit|FAIL" | cut -c1-300
OUT=$O/b bash "$D/run7.sh" bench -- --shapes llama-3.2-1b,llama-3-8b --batches 64 --attn-ab auto:0:auto:0,auto:0:auto:6 > /dev/null 2>&1
grep -E "attn-ab|^timeline (launch|then)|Exception|exit" "$O/b/bench.log" | cut -c1-300
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" | sed 's|^\./||') && find . -name "*.log" -delete
