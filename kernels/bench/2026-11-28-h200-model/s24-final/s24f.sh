#!/usr/bin/env bash
# session 24, final call: this session's code (the merge "prel" by default, the merge / o projection timeline twins) —
# run7 check, attn, bench (1, 32, 64, 128), torch; the large attention check and memcheck (attention and model) with it
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
OUT=$O/f bash "$D/run7.sh" check,attn,bench,torch -- --batches 1,32,64,128 2>&1 | grep -E "CHECK SUMMARY|passed|exit|^\| llama|RESULT" | cut -c1-400
W=/tmp/chunkserve-gpu7; J="$W/cs/jre/bin/java"
JO=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xmx16g -cp "$W/cs/lib/*")
timeout 200 "$J" "${JO[@]}" -Dchunkserve.cuda.w8Always=true io.chunkserve.runtime.cuda.CudaAttentionCheck --large --cases 64 --seed 41 > "$O/large.log" 2>&1
echo "large exit $?: $(grep -E 'passed|worst' "$O/large.log" | tr '\n' ' ' | cut -c1-300)"
MEMCHECK="attn model" OUT=$O/m bash "$D/run7.sh" memcheck > /dev/null 2>&1
grep -E "ERROR SUMMARY|CHECK SUMMARY|passed|exit" "$O/m/memcheck.log" | tail -6
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" -o -name "report.md" | sed 's|^\./||') && find . -name "*.log" -delete
