#!/usr/bin/env bash
# Builds one fatbin per src/main/cuda/*.cu (attention.fatbin, model.fatbin; sm_80 + sm_90a machine code + compute_90 PTX) from src/main/cuda with nvcc, when nvcc
# exists; otherwise says so and succeeds (the CPU path is the default, the resource is then absent).
#   build-fatbin.sh SRC_DIR OUT_DIR
set -euo pipefail
src="$1"; out="$2"
nvcc_bin="$(command -v nvcc || true)"
for c in "${CUDA_HOME:-}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
  [ -z "$nvcc_bin" ] && [ -x "$c" ] && nvcc_bin="$c"
done
if [ -z "$nvcc_bin" ]; then
  echo "[kernels] nvcc not found (PATH, \$CUDA_HOME/bin, /usr/local/cuda/bin): attention.fatbin not built; CUDA attention unavailable, CPU path only"
  exit 0
fi
mkdir -p "$out"
# one fatbin per top-level .cu file (attention.cu -> attention.fatbin, model.cu -> model.fatbin)
for cu in "$src"/*.cu; do
  name="$(basename "$cu" .cu)"
  fatbin="$out/$name.fatbin"
  # stale when the .cu or any shared header changed since
  if [ -f "$fatbin" ] && [ -z "$(find "$cu" "$src"/*.cuh -newer "$fatbin" -type f -print -quit 2>/dev/null)" ]; then
    echo "[kernels] $name.fatbin up to date"
    continue
  fi
  echo "[kernels] $("$nvcc_bin" --version | tail -n 2 | head -n 1): building $name.fatbin (sm_80, sm_90a, compute_90)"
  "$nvcc_bin" -O3 -std=c++17 -fatbin -o "$fatbin.tmp" \
    -gencode=arch=compute_80,code=sm_80 \
    -gencode=arch=compute_90a,code=sm_90a \
    -gencode=arch=compute_90,code=compute_90 \
    "$cu"
  mv "$fatbin.tmp" "$fatbin"
done
