#!/usr/bin/env bash
# session 22, call 1: the warpgroup-MMA attention variants (f64w8g: QK, f64w8h: QK + PV) checked and timed
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
X="-Dchunkserve.cuda.w8Always=true"
JEXTRA="-Dchunkserve.cuda.attnVariant=f64w8h $X" OUT=$O/h bash "$D/run7.sh" check,attn 2>&1 | grep -vE "^\s*$" | tail -12
W=/tmp/chunkserve-gpu7; J="$W/cs/jre/bin/java"
JO=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xmx16g -cp "$W/cs/lib/*")
for v in f64w8h f64w8g f64w8; do
  timeout 200 "$J" "${JO[@]}" -Dchunkserve.cuda.attnVariant=$v $X io.chunkserve.runtime.cuda.CudaAttentionCheck --large --cases 48 --seed 22 > "$O/large-$v.log" 2>&1
  echo "large $v exit $?: $(grep -E 'passed|worst' "$O/large-$v.log" | tr '\n' ' ')"
  grep -E "^FAILED|ERROR" "$O/large-$v.log" | head -3
done
JEXTRA="-Dchunkserve.cuda.attnVariant=f64w8h" OUT=$O/b bash "$D/run7.sh" bench -- --shapes llama-3.2-1b --batches 64 \
  --attn-ab auto:0:auto:0,auto:0:auto:5,auto:0:auto:6,auto:0:auto:0,auto:0:auto:5,auto:0:auto:6 2>&1 | grep -E "attn-ab|llama|exit" | head -20
timeout 200 compute-sanitizer --tool memcheck --error-exitcode 7 "$J" "${JO[@]}" -Dchunkserve.cuda.attnVariant=f64w8h $X \
  io.chunkserve.runtime.cuda.CudaAttentionCheck --large --cases 3 --seed 5 > "$O/memcheck-h.log" 2>&1
echo "memcheck h exit $?: $(grep -E 'ERROR SUMMARY|passed' "$O/memcheck-h.log" | tr '\n' ' ')"
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" | sed 's|^\./||') && find . -name "*.log" -delete
