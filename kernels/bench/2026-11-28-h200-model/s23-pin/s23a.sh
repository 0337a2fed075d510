#!/usr/bin/env bash
# session 23, call 1: the skinny GEMM's accumulators pinned after the last wgmma wait (SASS before/after, CudaGemmBench
# option checks at T = 64 and 1, CudaModelCheck), CudaAttentionCheck (+ --large), and the partials timeline (diag 6)
# at B = 64 for both shapes
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
CUOBJ="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
"$CUOBJ" -sass "$D/model_old.cubin" > "$O/sass_old.txt" 2>&1; "$CUOBJ" -sass "$D/model_new.cubin" > "$O/sass_new.txt" 2>&1
python3 - "$O/sass_old.txt" "$O/sass_new.txt" <<'PY' | tee "$O/sass_diff.txt"
import re, sys
def funcs(p):
    f = {}; cur = None
    for line in open(p):
        m = re.match(r"\s*Function : (\S+)", line)
        if m: cur = m.group(1); f[cur] = []; continue
        m = re.match(r"\s*/\*[0-9a-f]{4,}\*/\s+(.*?);", line)
        if m and cur: f[cur].append(re.sub(r"\s+", " ", m.group(1)).strip())
    return f
a, b = funcs(sys.argv[1]), funcs(sys.argv[2])
same = diff = 0
for k in sorted(a):
    if a[k] == b.get(k): same += 1
    else:
        diff += 1
        print("differs:", k, len(a[k]), "->", len(b.get(k, [])), "instructions")
print("sass functions identical:", same, "differ:", diff)
PY
OUT=$O/c OPTS_T=64 ROUNDS=1 bash "$D/run7.sh" check,attn,opts 2>&1 | grep -E "CHECK SUMMARY|passed|exit|FAIL|^# mean" | cut -c1-300
OUT=$O/c1 OPTS_T=1 ROUNDS=1 bash "$D/run7.sh" opts 2>&1 | grep -E "exit|FAIL|^# mean" | cut -c1-300
W=/tmp/chunkserve-gpu7; J="$W/cs/jre/bin/java"
JO=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xmx16g -cp "$W/cs/lib/*")
timeout 200 "$J" "${JO[@]}" -Dchunkserve.cuda.w8Always=true io.chunkserve.runtime.cuda.CudaAttentionCheck --large --cases 48 --seed 31 > "$O/large.log" 2>&1
echo "large exit $?: $(grep -E 'passed|worst|variant' "$O/large.log" | tr '\n' ' ' | cut -c1-300)"
mkdir -p "$O/tl"
AB=auto:0:auto:0,auto:0:auto:6,auto:0:auto:0,auto:0:auto:6
OUT=$O/tl JEXTRA="-Dchunkserve.cuda.timelineDir=$O/tl" bash "$D/run7.sh" bench -- --shapes llama-3.2-1b,llama-3-8b --batches 64 --attn-ab $AB > /dev/null 2>&1
grep -E "attn-ab|^timeline" "$O/tl/bench.log" | cut -c1-900
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" -o -name "*.txt" -o -name "*.csv" | sed 's|^\./||') && find . -name "*.log" -delete
