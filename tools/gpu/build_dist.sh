#!/usr/bin/env bash
# Builds, on the CPU machine, what the GPU machine needs to check and time the CUDA attention through Java:
# a jlink runtime + the GPU-only classpath (gpu-worker, kernels with attention.fatbin, jcuda, a JCuda natives jar
# slimmed to the driver binding) in one tar.gz, next to run_all.sh and the Python scripts.
#   tools/gpu/build_dist.sh [DEST]      (default DEST: .dist/cuda in the repository root)
# Then, with the device tool: run `bash DEST/run_all.sh` with DEST in carry (it must be a git-ignored folder).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="${1:-$ROOT/.dist/cuda}"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || { echo "build_dist: nvcc is needed to build attention.fatbin" >&2; exit 1; }
(cd "$ROOT" && mvn -B -q -o -Dstyle.color=never -pl kernels,gpu-worker -am package -DskipTests)
unzip -l "$ROOT/kernels/target/kernels-0.1.0-SNAPSHOT.jar" | grep attention.fatbin >/dev/null || { echo "build_dist: kernels jar has no fatbin" >&2; exit 1; }
M2="${M2_REPO:-$HOME/.m2/repository}"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/cs/lib"
cp "$ROOT/gpu-worker/target/gpu-worker-0.1.0-SNAPSHOT.jar" "$ROOT/kernels/target/kernels-0.1.0-SNAPSHOT.jar" \
   "$M2/org/jcuda/jcuda/12.6.0/jcuda-12.6.0.jar" "$STAGE/cs/lib/"
# JCuda's natives jar also carries NVRTC/PTX-compiler bindings (24 MB) that need CUDA 12 libraries; keep the driver one
mkdir -p "$STAGE/natives" && (cd "$STAGE/natives" && unzip -q "$M2/org/jcuda/jcuda-natives/12.6.0/jcuda-natives-12.6.0-linux-x86_64.jar" \
   && rm -f lib/libJNvPTXCompiler-* lib/libJNvrtc-* lib/libJCudaRuntime-* && jar --create --file "$STAGE/cs/lib/jcuda-natives-driver-12.6.0-linux-x86_64.jar" -C . lib)
jlink --add-modules java.base,java.logging,jdk.unsupported --strip-debug --no-header-files --no-man-pages \
  --compress=zip-6 --output "$STAGE/cs/jre"
mkdir -p "$DEST"
tar -C "$STAGE" -czf "$DEST/chunkserve-gpu.tar.gz" cs
cp "$ROOT/kernels/target/classes/io/chunkserve/kernels/attention.fatbin" "$DEST/"
cp "$ROOT"/tools/gpu/run_all.sh "$ROOT"/tools/gpu/sdpa_bench.py "$ROOT"/tools/gpu/report.py "$DEST/"
du -sh "$DEST"/*
