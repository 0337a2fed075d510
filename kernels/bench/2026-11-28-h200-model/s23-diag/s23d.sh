#!/usr/bin/env bash
# session 23, call 5: SASS of HEAD's attention kernels vs this tree's (the diag changes must not touch the shipped
# kernels); CudaAttentionCheck; 1B B = 64 timelines of f64w8h: full / K/V loads alone / tile math alone (diag 6, 8, 9)
set -uo pipefail
D="$(cd "$(dirname "$0")" && pwd)"
O="${OUT:-$PWD/gpu-out}"
CUOBJ="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
xz -dkf "$D/att_old.cubin.xz" "$D/att_new.cubin.xz"
"$CUOBJ" -sass "$D/att_old.cubin" > "$O/sass_old.txt" 2>&1; "$CUOBJ" -sass "$D/att_new.cubin" > "$O/sass_new.txt" 2>&1
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
print("sass functions of HEAD identical:", same, "differ:", diff, "; new functions:", sorted(set(b) - set(a)))
PY
rm -f "$O/sass_old.txt" "$O/sass_new.txt"
OUT=$O/c bash "$D/run7.sh" attn 2>&1 | grep -E "passed|exit|FAIL" | cut -c1-300
mkdir -p "$O/tl"
AB=auto:0:auto:0,auto:0:auto:6,auto:0:auto:8,auto:0:auto:9,auto:0:auto:6,auto:0:auto:8,auto:0:auto:9
OUT=$O/tl JEXTRA="-Dchunkserve.cuda.timelineDir=$O/tl" bash "$D/run7.sh" bench -- --shapes llama-3.2-1b --batches 64 --attn-ab $AB > /dev/null 2>&1
grep -E "attn-ab|^timeline (warp|item|launch)|Exception" "$O/tl/bench.log" | cut -c1-600
cd "$O" && tar czf logs.tgz $(find . -name "*.log" -o -name "gpu.txt" -o -name "*.csv" -o -name "sass_diff.txt" | sed 's|^\./||') && find . -name "*.log" -delete && find . -name "*.csv" -delete
