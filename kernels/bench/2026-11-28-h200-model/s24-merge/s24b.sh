#!/usr/bin/env bash
# session 24: the merge with its first records' loads together ("prel") and the skinny GEMMs' L2 prefetch (pf=on):
# checks (default and prel), memcheck over the attention with prel, in-process A/Bs at B = 64, and prel's timeline
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
mkdir -p "$O"
OUT=$O/c bash "$D/run7.sh" check,attn 2>&1 | grep -E "CHECK SUMMARY|passed|exit|FAIL" | cut -c1-300
JEXTRA="-Dchunkserve.cuda.mergeVariant=prel -Dchunkserve.cuda.gemmOptions=vec:splitk=auto:pf=on" OUT=$O/cp bash "$D/run7.sh" check,attn 2>&1 | grep -E "CHECK SUMMARY|passed|exit|FAIL" | cut -c1-300
JEXTRA="-Dchunkserve.cuda.mergeVariant=prel -Dchunkserve.cuda.gemmOptions=vec:splitk=auto:pf=on" MEMCHECK="attn model" OUT=$O/m bash "$D/run7.sh" memcheck 2>&1 | tail -6
S=vec:splitk=auto
OUT=$O/b bash "$D/run7.sh" bench -- --shapes llama-3.2-1b,llama-3-8b --batches 64 --merge-ab pre,prel:3 --gemm-ab "$S,$S:pf=on,$S,$S:pf=on,$S,$S:pf=on" > /dev/null 2>&1
grep -E "merge (pre|prel)|gemm-ab|Exception|exit" "$O/b/bench.log" | cut -c1-230
JEXTRA="-Dchunkserve.cuda.mergeVariant=prel" OUT=$O/t bash "$D/run7.sh" bench -- --shapes llama-3.2-1b --batches 64 --attn-ab auto:0:auto:6,auto:0:auto:6 > /dev/null 2>&1
grep -E "attn-ab|^timeline (launch|then)|Exception|exit" "$O/t/bench.log" | cut -c1-300
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" | sed 's|^\./||') && find . -name "*.log" -delete
