#!/usr/bin/env bash
# GPU-machine side of issue 7 (the CUDA model backend), everything in one device-tool call:
#   1. unpack the jlink runtime + jars (chunkserve-gpu7.tar.xz (or .tar.gz) from build_dist7.sh), find libcublas
#   2. CudaModelCheck: fixtures exact and bf16 vs the CPU backend, random d64/d128 batches with shared prefixes,
#      the real engine CPU vs CUDA (check.log)
#   3. CudaServeBench: 1B and 8B shapes through the engine (bench.log)
#   4. the plain PyTorch decode forward on the same shapes (torch.log)
#   5. (attn) CudaAttentionCheck, 150 cases of the two-phase kernels alone (attncheck.log)
#   6. (nooverlap) CudaServeBench at B = 64 and 128 with the engine's host work not overlapped (-Dchunkserve.cuda.overlap=false),
#      for the A/B beside stage 3 (bench-nooverlap.log)
# Usage: bash run7.sh [check|wcheck|bench|base|ab|avars|memcheck|wide|opts|gemm|torch|attn|nooverlap|ncu|all ...] [-- extra CudaServeBench args]; logs in $OUT
# (or ./gpu-out). JEXTRA: extra JVM options for every Java stage.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
STAGES="${1:-all}"
T0=$(date +%s)
stamp() { echo "[run7 +$(( $(date +%s) - T0 ))s] $*"; }
W=/tmp/chunkserve-gpu7
# the dist is chunkserve-gpu7.tar.xz (build_dist7.sh since session 13: ~3 MB under gzip's, to stay inside the device tool's
# 64 MiB beside the tracked files) or an older .tar.gz; GNU tar detects the compression itself
DIST="$(ls "$HERE"/chunkserve-gpu7.tar.xz "$HERE"/chunkserve-gpu7.tar.gz 2>/dev/null | head -1)"
rm -rf "$W" && mkdir -p "$W" && tar -C "$W" -xf "$DIST" || { echo "RESULT {\"error\":\"unpack failed\"}"; exit 1; }
CUBLAS="$(ls /usr/local/cuda/lib64/libcublas.so.13* /usr/local/cuda*/lib64/libcublas.so.1[23]* /opt/torch/.venv/lib/python3*/site-packages/nvidia/cu13/lib/libcublas.so.13* /opt/torch/.venv/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.1[23]* 2>/dev/null | head -1)"
[ -z "$CUBLAS" ] && CUBLAS="$(find / -xdev -name 'libcublas.so.1[23]*' 2>/dev/null | grep -v Lt | head -1)"
export LD_LIBRARY_PATH="$(dirname "${CUBLAS:-/x/x}"):${LD_LIBRARY_PATH:-}"
J="$W/cs/jre/bin/java"
JOPTS=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xmx48g
       -Djava.io.tmpdir="$W" -Dchunkserve.cublas="$CUBLAS" -cp "$W/cs/lib/*" ${JEXTRA:-})
stamp "unpacked; $("$J" -version 2>&1 | head -1); cublas: $CUBLAS"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv,noheader | tee "$OUT/gpu.txt"
if [[ "$STAGES" == *check* || "$STAGES" == all ]]; then
  stamp "CudaModelCheck"
  timeout 240 "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaModelCheck --fixtures fixtures > "$OUT/check.log" 2>&1
  echo "check exit $?" >> "$OUT/check.log"
  grep -E "^FAIL|CHECK SUMMARY|exit|Exception" "$OUT/check.log" | head -40
  grep -cE "^ok" "$OUT/check.log"
fi
if [[ "$STAGES" == *wcheck* ]]; then
  # CudaModelCheck with every attention item of <= 16 rows run one a warp (its random batches are too small for auto)
  stamp "CudaModelCheck, -Dchunkserve.cuda.warpItems=always"
  timeout 240 "$J" "${JOPTS[@]}" -Dchunkserve.cuda.warpItems=always io.chunkserve.runtime.cuda.CudaModelCheck --fixtures fixtures > "$OUT/check-warp.log" 2>&1
  echo "check exit $?" >> "$OUT/check-warp.log"
  grep -E "^FAIL|CHECK SUMMARY|exit|Exception" "$OUT/check-warp.log" | head -40
fi
if [[ "$STAGES" == *attn* || "$STAGES" == all ]]; then
  stamp "CudaAttentionCheck (150 cases)"
  timeout 180 "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaAttentionCheck --cases 150 > "$OUT/attncheck.log" 2>&1
  echo "attncheck exit $?" >> "$OUT/attncheck.log"
  grep -E "^FAIL|passed|exit|Exception" "$OUT/attncheck.log" | head -20
fi
if [[ "$STAGES" == *ncu* ]]; then
  # Nsight Compute on kernels of the decode-only B = 64 steps (the bench brackets that run with cuProfilerStart/Stop):
  # NCU_KERNEL (regex), NCU_SKIP / NCU_COUNT (matching launches inside the range), NCU_SHAPE, NCU_SET (ncu options)
  NCU="$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)"
  stamp "ncu ($NCU): ${NCU_KERNEL:-cs_attn_partials}, ${NCU_SHAPE:-llama-3.2-1b} B = 64"
  timeout 420 "$NCU" --profile-from-start off --target-processes all -k "regex:${NCU_KERNEL:-cs_attn_partials}" \
    --launch-skip "${NCU_SKIP:-160}" --launch-count "${NCU_COUNT:-2}" ${NCU_SET:---set full} \
    "$J" "${JOPTS[@]}" -Dchunkserve.cuda.profileB=64 io.chunkserve.runtime.cuda.CudaServeBench --shapes "${NCU_SHAPE:-llama-3.2-1b}" \
    --batches 64 --gen 16 > "$OUT/ncu.log" 2>&1
  echo "ncu exit $?" >> "$OUT/ncu.log"
  grep -E "^  [a-z_]+.*\(|Duration|exit" "$OUT/ncu.log" | head -20
fi
shift || true
[ "${1:-}" = "--" ] && shift
if [[ "$STAGES" == *bench* || "$STAGES" == all ]]; then
  stamp "CudaServeBench $*"
  timeout 300 "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaServeBench "$@" > "$OUT/bench.log" 2>&1
  echo "bench exit $?" >> "$OUT/bench.log"
  grep -vE "^\s+at |SLF4J" "$OUT/bench.log" | tail -20
fi
if [[ "$STAGES" == *base* ]]; then
  # session 3's configuration in the same call: cuBLAS at 32 < T <= 64, no programmatic dependent launches
  stamp "CudaServeBench, baseline (-Dchunkserve.cuda.skinnyWide=off -Dchunkserve.cuda.pdl=false) $*"
  timeout 300 "$J" "${JOPTS[@]}" -Dchunkserve.cuda.skinnyWide=off -Dchunkserve.cuda.pdl=false io.chunkserve.runtime.cuda.CudaServeBench "$@" > "$OUT/bench-base.log" 2>&1
  echo "bench exit $?" >> "$OUT/bench-base.log"
  grep -vE "^\s+at |SLF4J" "$OUT/bench-base.log" | tail -12
fi
if [[ "$STAGES" == *ab* ]]; then
  # the bench under other configurations in the same call (AB: names in run order; default "pdl small base2")
  for cfg in ${AB:-pdl small base2}; do
    case "$cfg" in
      base*) props=(-Dchunkserve.cuda.skinnyWide=off -Dchunkserve.cuda.pdl=false) ;;   # session 3: cuBLAS at 32 < T <= 64, plain launches
      pdl*) props=(-Dchunkserve.cuda.skinnyWide=off) ;;                                # cuBLAS at 32 < T <= 64, dependent launches
      small*) props=(-Dchunkserve.cuda.widePolicy=small) ;;                            # wide kernel on the small shapes and LM heads only
      nopdl*) props=(-Dchunkserve.cuda.pdl=false) ;;                                   # wide kernel everywhere, plain launches
      nofuse*) props=(-Dchunkserve.cuda.fuseSilu=false) ;;                             # gate|up GEMM to fp32, then the SiLU·mul kernel
      noattnpdl*) props=(-Dchunkserve.cuda.dependentPartials=false) ;;                 # attention partials launched plainly
      av0*) props=(-Dchunkserve.cuda.attnVariant=v0) ;;                               # session-3 partials kernel (64-token stages)
      af64*) props=(-Dchunkserve.cuda.attnVariant=f64) ;;                             # 64-token stages, cheaper loads, rescale skip
      at32*) props=(-Dchunkserve.cuda.attnVariant=t32) ;;                             # 32-token stages (more blocks an SM)
      new*) props=() ;;                                                                 # the defaults
      warpoff*) props=(-Dchunkserve.cuda.warpItems=off) ;;                             # attention: every item a block (session 4)
      warpall*) props=(-Dchunkserve.cuda.warpItems=always) ;;                          # attention: every item of <= 16 rows a warp
      split*) props=(-Dchunkserve.cuda.privateSplit=auto) ;;                           # attention: private lists cut into warp items where the one-wave plan gets shorter
      postloop*) props=(-Dchunkserve.cuda.postReg=false) ;;                            # q/k/v epilogue: the loop kernel (session 4)
      norm512*) props=(-Dchunkserve.cuda.normThreads=512) ;;                           # RMSNorm with 512 threads a block
      direct*) props=(-Dchunkserve.cuda.gemmOptions=direct) ;;                         # skinny GEMM epilogue as in session 5
      *) echo "unknown AB config $cfg"; continue ;;
    esac
    stamp "CudaServeBench [$cfg: ${props[*]}] $*"
    timeout 300 "$J" "${JOPTS[@]}" "${props[@]}" io.chunkserve.runtime.cuda.CudaServeBench "$@" > "$OUT/bench-$cfg.log" 2>&1
    echo "bench exit $?" >> "$OUT/bench-$cfg.log"
    grep -E "^llama.* (64|128) |exit" "$OUT/bench-$cfg.log"
  done
fi
if [[ "$STAGES" == *avars* ]]; then
  # the partials kernel variants (AVARS, default "v0 f64 t32"): CudaAttentionCheck (150 cases) and the attention
  # alone at the 8B shape (CudaAttentionBench --only 8,64,2048,256), each in its own process (AVCHECK=0: bench only)
  for v in ${AVARS:-v0 f64 t32}; do
    stamp "variant $v: CudaAttentionCheck, CudaAttentionBench --only 8,64,2048,256"
    if [ "${AVCHECK:-1}" != 0 ]; then
      timeout 180 "$J" "${JOPTS[@]}" -Dchunkserve.cuda.attnVariant=$v io.chunkserve.runtime.cuda.CudaAttentionCheck --cases 150 > "$OUT/attncheck-$v.log" 2>&1
      echo "attncheck exit $?" >> "$OUT/attncheck-$v.log"
      grep -E "^FAIL|passed|exit|Exception" "$OUT/attncheck-$v.log" | head -5
    fi
    timeout 120 "$J" "${JOPTS[@]}" -Dchunkserve.cuda.attnVariant=$v io.chunkserve.runtime.cuda.CudaAttentionBench --only 8,64,2048,256 --out "$OUT/attnbench-$v.tsv" > "$OUT/attnbench-$v.log" 2>&1
    echo "attnbench exit $?" >> "$OUT/attnbench-$v.log"
    grep -vE "^\s+at |SLF4J" "$OUT/attnbench-$v.log" | tail -4
  done
fi
if [[ "$STAGES" == *memcheck* ]]; then
  # MEMCHECK: which runs (default "attn model engine"); engine = CudaModelCheck's engine part alone (session 9): its
  # penalized waves run cs_pen_scatter on the device-resident penalty lists
  MC="${MEMCHECK:-attn model engine}"
  stamp "compute-sanitizer memcheck: $MC"
  SAN=(compute-sanitizer --tool memcheck --target-processes all --error-exitcode 7)
  { if [[ "$MC" == *attn* ]]; then
      timeout 120 "${SAN[@]}" "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaAttentionCheck --small --cases 8 --seed 7 2>&1
      echo "memcheck attn exit $?"
    fi
    if [[ "$MC" == *model* ]]; then
      timeout 150 "${SAN[@]}" "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaModelCheck --fixtures fixtures --skip-engine 2>&1
      echo "memcheck model exit $?"
    fi
    if [[ "$MC" == *engine* ]]; then
      timeout 240 "${SAN[@]}" "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaModelCheck --fixtures fixtures --engine-only 2>&1
      echo "memcheck engine exit $?"
    fi; } > "$OUT/memcheck.log" 2>&1
  grep -E "ERROR SUMMARY|CHECK SUMMARY|passed|resident penalty|exit" "$OUT/memcheck.log" | tail -12
fi
if [[ "$STAGES" == *wide* ]]; then
  stamp "skinny GEMM variants vs cuBLAS at T = 64 (CudaGemmBench --wide)"
  timeout 200 "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaGemmBench --wide 64 > "$OUT/wide.log" 2>&1
  echo "wide exit $?" >> "$OUT/wide.log"
  grep -E "^# best|^# fused|checks|FAIL|exit|Exception" "$OUT/wide.log"
fi
if [[ "$STAGES" == *opts* ]]; then
  # session 6: the skinny GEMM's options (SkinnyGemm.Options: direct|vec), checked and timed alternately in
  # one process at T = 64 (CudaGemmBench --opts T SPECS ROUNDS)
  O="${OPTS:-direct,vec}"
  stamp "skinny GEMM options (CudaGemmBench --opts ${OPTS_T:-64} $O ${ROUNDS:-3})"
  timeout 240 "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaGemmBench --opts "${OPTS_T:-64}" "$O" "${ROUNDS:-3}" > "$OUT/opts.log" 2>&1
  echo "opts exit $?" >> "$OUT/opts.log"
  grep -E "^# (skinny|mean|option)|FAIL|exit|Exception" "$OUT/opts.log"
fi
if [[ "$STAGES" == *nooverlap* ]]; then
  stamp "CudaServeBench, host work not overlapped"
  timeout 200 "$J" "${JOPTS[@]}" -Dchunkserve.cuda.overlap=false io.chunkserve.runtime.cuda.CudaServeBench --batches 64,128 > "$OUT/bench-nooverlap.log" 2>&1
  echo "bench exit $?" >> "$OUT/bench-nooverlap.log"
  grep -vE "^\s+at |SLF4J" "$OUT/bench-nooverlap.log" | tail -8
fi
if [[ "$STAGES" == *gemm* || "$STAGES" == all ]]; then
  stamp "GEMM: cuBLAS through Java vs torch.matmul"
  { timeout 120 "$J" "${JOPTS[@]}" io.chunkserve.runtime.cuda.CudaGemmBench 2>&1; echo "java gemm exit $?"
    PYTHONUNBUFFERED=1 timeout 120 python3 "$HERE/torch_decode_bench.py" --gemm 2>&1; echo "torch gemm exit $?"; } > "$OUT/gemm.log"
  grep -E "^# skinny GEMM|FAIL|exit" "$OUT/gemm.log"
  python3 - "$OUT/gemm.log" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) == 7 and f[0] == "gemm" and f[1] != "shape":
        rows.setdefault((f[1], int(f[2])), {})[f[3]] = float(f[4])
print("shape\tT\tskinny_us\tcublas_f32out_us\tcublas_bf16out_us\ttorch_us")
for (s, t), v in rows.items():
    print(f"{s}\t{t}\t{v.get('skinny', float('nan')):.1f}\t{v.get('f32', float('nan')):.1f}\t{v.get('bf16', float('nan')):.1f}\t{v.get('bf16(torch)', float('nan')):.1f}")
PY
fi
if [[ "$STAGES" == *torch* || "$STAGES" == all ]]; then
  stamp "torch baseline"
  PYTHONUNBUFFERED=1 timeout 240 python3 "$HERE/torch_decode_bench.py" > "$OUT/torch.log" 2>&1
  echo "torch exit $?" >> "$OUT/torch.log"
  tail -12 "$OUT/torch.log"
fi
python3 "$HERE/report7.py" "$OUT/bench.log" "$OUT/torch.log" "$OUT/gpu.txt" > "$OUT/report.md" 2>&1
cat "$OUT/report.md"
stamp "done"
