#!/usr/bin/env bash
# GPU-machine side of the CUDA attention checks and benchmarks (one device-tool call does everything):
#   1. unpack the jlink runtime + jars (chunkserve-gpu.tar.gz, made by build_dist.sh)
#   2. correctness through Java/JCuda: random trees vs float64, fresh inputs, NaN-poisoned outputs (check.log)
#   3. SASS summary of the fatbin, our kernel vs sharing off on the paper grid (bench.log, ours.tsv)
#   4. torch SDPA (flash) on the same shapes (sdpa.tsv)
#   5. compute-sanitizer memcheck and racecheck wrapping the java launcher on small cases (sanitizer.log)
#   6. the joined table, targets and the RESULT line (report.md)
# Logs go to $OUT (the device tool's folder) or ./gpu-out. Usage: bash run_all.sh [--cases N] [--skip-sanitizer]
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
CASES=150; SANITIZE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) CASES="$2"; shift ;;
    --skip-sanitizer) SANITIZE=0 ;;
  esac
  shift
done
T0=$(date +%s)
stamp() { echo "[run_all +$(( $(date +%s) - T0 ))s] $*"; }
W=/tmp/chunkserve-gpu
rm -rf "$W" && mkdir -p "$W" && tar -C "$W" -xzf "$HERE/chunkserve-gpu.tar.gz" || { echo "RESULT {\"error\":\"unpack failed\"}"; exit 1; }
J="$W/cs/jre/bin/java"
JOPTS=(--enable-native-access=ALL-UNNAMED -Xmx24g -Djava.io.tmpdir="$W" -cp "$W/cs/lib/*")
stamp "unpacked; $("$J" -version 2>&1 | head -1)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv,noheader | tee "$OUT/gpu.txt"
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,utilization.gpu --format=csv,noheader >> "$OUT/gpu.txt"

stamp "correctness ($CASES cases)"
timeout 180 "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaAttentionCheck --cases "$CASES" > "$OUT/check.log" 2>&1
echo "check exit $?" >> "$OUT/check.log"
grep -E "FAIL|ERROR|worst|passed|exit" "$OUT/check.log" | tail -15

stamp "SASS summary + our kernels"
{ FB="$HERE/attention.fatbin"
  cuobjdump -res-usage "$FB" 2>&1 | grep -A1 "Function cs_attn_partials" | grep -B1 -A0 "REG" | head -16
  for f in cs_attn_partials_f16_d128 cs_attn_partials_bf16_d64 cs_attn_merge_f16_d128; do
    echo "$f (sm_90 SASS): $(cuobjdump -sass -fun "$f" -arch sm_90 "$FB" 2>/dev/null \
      | grep -oE "\b(HMMA[.0-9A-Z]*|LDSM[.0-9A-Z]*|LDGSTS[.0-9A-Z]*|LDL|STL|MUFU\.EX2)\b" | sort | uniq -c | tr -s ' \n' ' ')"
  done
  timeout 240 "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaAttentionBench --out "$OUT/ours.tsv" 2>&1
  echo "bench exit $?"
  stamp "torch SDPA"
  PYTHONUNBUFFERED=1 timeout 150 python3 "$HERE/sdpa_bench.py" --out "$OUT/sdpa.tsv" 2>&1
  echo "sdpa exit $?"; } > "$OUT/bench.log" 2>&1
grep -E "exit|Exception|Error|device|sweep|SASS|REG|floor" "$OUT/bench.log" | head -30
if [ "$SANITIZE" = 1 ] && [ $(( $(date +%s) - T0 )) -lt 420 ]; then
  stamp "compute-sanitizer memcheck (java launcher, small cases)"
  { timeout 90 compute-sanitizer --tool memcheck --target-processes all --error-exitcode 7 \
      "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaAttentionCheck --small --cases 8 --seed 7 2>&1
    echo "memcheck exit $?"
    stamp "compute-sanitizer racecheck (java launcher, small cases)"
    timeout 60 compute-sanitizer --tool racecheck --target-processes all --error-exitcode 7 \
      "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaAttentionCheck --small --cases 3 --seed 8 2>&1
    echo "racecheck exit $?"; } > "$OUT/sanitizer.log" 2>&1
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed|exit" "$OUT/sanitizer.log" | tail -8
fi

stamp "report"
python3 "$HERE/report.py" --ours "$OUT/ours.tsv" --sdpa "$OUT/sdpa.tsv" --gpu "$OUT/gpu.txt" --check "$OUT/check.log" \
  --sanitizer "$OUT/sanitizer.log" > "$OUT/report.md" 2>&1
cat "$OUT/report.md"
