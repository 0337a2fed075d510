#!/usr/bin/env bash
# session 22, call 3: the lean d64 softmax (all variants) checked; f64w8 / g / h timed at 1B and 8B B = 64; instruction counts
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
OUT=$O/c bash "$D/run7.sh" check,attn 2>&1 | grep -E "CHECK SUMMARY|passed|exit" | head
W=/tmp/chunkserve-gpu7; J="$W/cs/jre/bin/java"
JO=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xmx16g -cp "$W/cs/lib/*")
for v in f64w8 f64w8h; do
  timeout 200 "$J" "${JO[@]}" -Dchunkserve.cuda.attnVariant=$v -Dchunkserve.cuda.w8Always=true io.chunkserve.runtime.cuda.CudaAttentionCheck --large --cases 48 --seed 23 > "$O/large-$v.log" 2>&1
  echo "large $v exit $?: $(grep -E 'passed|worst' "$O/large-$v.log" | tr '\n' ' ')"
done
AB=auto:0:auto:0,auto:0:auto:5,auto:0:auto:6,auto:0:auto:0,auto:0:auto:5,auto:0:auto:6
JEXTRA="-Dchunkserve.cuda.attnVariant=f64w8h" OUT=$O/b bash "$D/run7.sh" bench -- --shapes llama-3.2-1b,llama-3-8b --batches 64 --attn-ab $AB 2>&1 | grep -E "attn-ab|  64 |op \(" | cut -c1-230
for v in f64w8h f64w8; do JEXTRA="-Dchunkserve.cuda.attnVariant=$v" NCU_COUNT=1 NCU_SET="--section SpeedOfLight --metrics smsp__inst_executed.sum" OUT=$O/n$v bash "$D/run7.sh" ncu > /dev/null 2>&1
  echo "ncu $v: $(grep -E "inst_executed|Duration" $O/n$v/ncu.log | awk '{$1=$1};1' | tr '\n' ' ')"; done
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" | sed 's|^\./||') && find . -name "*.log" -delete
