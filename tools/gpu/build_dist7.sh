#!/usr/bin/env bash
# Builds, on the CPU machine, what the GPU machine needs to check and benchmark the CUDA model backend through
# Java (issue 7): a jlink runtime + the gpu-worker runtime classpath (the tokenizers jar slimmed to its
# linux-x86_64 library, JCuda's natives to the driver binding) in one tar.gz, next to run7.sh and the PyTorch
# baseline script.     tools/gpu/build_dist7.sh DEST      (DEST: a git-ignored folder of the checkout the device
# tool sends, e.g. /work/main/.dist/cuda7; then run `bash DEST/run7.sh` with DEST in carry)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="${1:?DEST}"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
(cd "$ROOT" && mvn -B -q -o -Dstyle.color=never -pl gpu-worker -am package -DskipTests)
for f in attention model; do
  unzip -l "$ROOT/kernels/target/kernels-0.1.0-SNAPSHOT.jar" | grep -q "$f.fatbin" || { echo "build_dist7: kernels jar has no $f.fatbin" >&2; exit 1; }
done
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/cs/lib"
(cd "$ROOT" && mvn -B -q -o -pl gpu-worker dependency:build-classpath -Dmdep.outputFile="$STAGE/cp.txt" >/dev/null)
cp "$ROOT/gpu-worker/target/gpu-worker-0.1.0-SNAPSHOT.jar" "$ROOT/kernels/target/kernels-0.1.0-SNAPSHOT.jar" "$STAGE/cs/lib/"
tr ':' '\n' < "$STAGE/cp.txt" | while read -r j; do
  case "$j" in
    *kernels-0.1.0-SNAPSHOT*|*junit*|*opentest4j*|*apiguardian*) ;;
    *jcuda-natives*)
      mkdir -p "$STAGE/natives" && (cd "$STAGE/natives" && unzip -q "$j" && rm -f lib/libJNvPTXCompiler-* lib/libJNvrtc-* lib/libJCudaRuntime-* \
        && jar --create --file "$STAGE/cs/lib/jcuda-natives-driver-linux-x86_64.jar" -C . lib) ;;
    *tokenizers-*.jar)
      cp "$j" "$STAGE/cs/lib/tok.jar" && zip -q -d "$STAGE/cs/lib/tok.jar" 'native/lib/win-*' 'native/lib/osx-*' 'native/lib/linux-aarch64/*' ;;
    *.jar) cp "$j" "$STAGE/cs/lib/" ;;
  esac
done
jlink --add-modules java.base,java.logging,jdk.unsupported,jdk.incubator.vector,java.sql,java.naming,java.management,java.desktop,java.xml,java.scripting,jdk.crypto.ec,java.net.http \
  --strip-debug --no-header-files --no-man-pages --compress=zip-6 --output "$STAGE/cs/jre"
mkdir -p "$DEST"
tar -C "$STAGE" -czf "$DEST/chunkserve-gpu7.tar.gz" cs
cp "$ROOT/kernels/target/classes/io/chunkserve/kernels/model.fatbin" "$DEST/"
cp "$ROOT"/tools/gpu/run7.sh "$ROOT"/tools/gpu/torch_decode_bench.py "$DEST/"
du -sh "$DEST"/*
