#!/usr/bin/env bash
# session 23, final call: this session's code — run7 check, attn, bench (1, 32, 64, 128), torch; the large attention
# check and its memcheck; f64w8hw's checks once more
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
OUT=$O/f bash "$D/run7.sh" check,attn,bench,torch -- --batches 1,32,64,128 2>&1 | grep -E "CHECK SUMMARY|passed|exit|^\| llama|RESULT" | cut -c1-400
W=/tmp/chunkserve-gpu7; J="$W/cs/jre/bin/java"
JO=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xmx16g -cp "$W/cs/lib/*")
timeout 200 "$J" "${JO[@]}" -Dchunkserve.cuda.w8Always=true io.chunkserve.runtime.cuda.CudaAttentionCheck --large --cases 64 --seed 41 > "$O/large.log" 2>&1
echo "large exit $?: $(grep -E 'passed|worst' "$O/large.log" | tr '\n' ' ' | cut -c1-300)"
timeout 200 compute-sanitizer --tool memcheck --error-exitcode 7 "$J" "${JO[@]}" -Dchunkserve.cuda.w8Always=true \
  io.chunkserve.runtime.cuda.CudaAttentionCheck --large --cases 3 --seed 7 > "$O/memcheck-large.log" 2>&1
echo "memcheck large exit $?: $(grep -E 'ERROR SUMMARY|passed' "$O/memcheck-large.log" | tr '\n' ' ')"
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" -o -name "report.md" | sed 's|^\./||') && find . -name "*.log" -delete
