#!/usr/bin/env bash
# session 23, call 8: f64w8h6 (6 sixteen-token stages a warp item instead of 3) — attention checks, then 1B B = 64 A/B
# against f64w8h by process, with the full timeline (diag 6) and the K/V-loads-alone timeline (diag 8) of each
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
W=/tmp/chunkserve-gpu7
V=-Dchunkserve.cuda.attnVariant=f64w8h6
OUT=$O/c JEXTRA="$V" bash "$D/run7.sh" attn 2>&1 | grep -E "passed|exit|FAIL" | cut -c1-300
J="$W/cs/jre/bin/java"
JO=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xmx16g -cp "$W/cs/lib/*")
timeout 200 "$J" "${JO[@]}" $V io.chunkserve.runtime.cuda.CudaAttentionCheck --large --cases 32 --seed 35 > "$O/large.log" 2>&1
echo "large exit $?: $(grep -E 'passed|worst' "$O/large.log" | tr '\n' ' ' | cut -c1-300)"
AB=auto:0:auto:0,auto:0:auto:6,auto:0:auto:8
i=0
for r in 1 2; do
  for arm in "h:" "h6:$V"; do
    name=${arm%%:*}; ex=${arm#*:}; i=$((i+1)); mkdir -p "$O/ab/$i-$name"
    OUT=$O/ab/$i-$name JEXTRA="$ex -Dchunkserve.cuda.timelineDir=$O/ab/$i-$name" bash "$D/run7.sh" bench -- --shapes llama-3.2-1b --batches 64 --attn-ab $AB > /dev/null 2>&1
    echo "== $i $name"; grep -E "attn-ab|^timeline (warp|item|launch)|Exception" "$O/ab/$i-$name/bench.log" | cut -c1-420
  done
done
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" -o -name "*.csv" | sed 's|^\./||') && find . -name "*.log" -delete && find . -name "*.csv" -delete
