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
listing="$(unzip -l "$ROOT/kernels/target/kernels-0.1.0-SNAPSHOT.jar")"
for f in attention model; do
  [[ "$listing" == *"$f.fatbin"* ]] || { echo "build_dist7: kernels jar has no $f.fatbin" >&2; exit 1; }
done
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/cs/lib"
(cd "$ROOT" && mvn -B -q -o -pl gpu-worker dependency:build-classpath -Dmdep.outputFile="$STAGE/cp.txt" >/dev/null)
cp "$ROOT/gpu-worker/target/gpu-worker-0.1.0-SNAPSHOT.jar" "$ROOT/kernels/target/kernels-0.1.0-SNAPSHOT.jar" "$STAGE/cs/lib/"
tr ':' '\n' < "$STAGE/cp.txt" | while read -r j; do
  case "$j" in
    *kernels-0.1.0-SNAPSHOT*|*junit*|*opentest4j*|*apiguardian*|*/netty-*|*/vertx-*) ;;   # Vert.x: only WorkerVerticle
    *jcuda-natives*)
      mkdir -p "$STAGE/natives" && (cd "$STAGE/natives" && unzip -q "$j" && rm -f lib/libJNvPTXCompiler-* lib/libJNvrtc-* lib/libJCudaRuntime-* \
        && jar --create --file "$STAGE/cs/lib/jcuda-natives-driver-linux-x86_64.jar" -C . lib) ;;
    *tokenizers-*.jar)
      cp "$j" "$STAGE/cs/lib/tok.jar" && zip -q -d "$STAGE/cs/lib/tok.jar" 'native/lib/win-*' 'native/lib/osx-*' 'native/lib/linux-aarch64/*' ;;
    *.jar) cp "$j" "$STAGE/cs/lib/" ;;
  esac
done
# the device tool carries at most 64 MiB with the checkout's tracked files: DIST_SM90=1 (session 8, when main's tree
# grew) swaps the kernels jar's fatbins for sm_90-only ones (no sm_80 code, no PTX; the device is an H200), ~2 MB less
if [ "${DIST_SM90:-0}" = 1 ]; then
  NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  mkdir -p "$STAGE/fb/io/chunkserve/kernels"
  for f in attention model; do
    "$NVCC" -O3 -std=c++17 -fatbin -gencode=arch=compute_90a,code=sm_90a -o "$STAGE/fb/io/chunkserve/kernels/$f.fatbin" "$ROOT/kernels/src/main/cuda/$f.cu" 2>/dev/null
  done
  jar --update --file "$STAGE/cs/lib/kernels-0.1.0-SNAPSHOT.jar" -C "$STAGE/fb" io/chunkserve/kernels/attention.fatbin -C "$STAGE/fb" io/chunkserve/kernels/model.fatbin
fi
# the modules jdeps names for these jars (java.desktop for java.beans); the device tool carries at most 64 MiB in
# all, so: no CDS archive, libjvm stripped, no AWT/font/image native libraries
jlink --add-modules java.base,java.logging,jdk.unsupported,jdk.incubator.vector,java.desktop,java.management,java.xml,java.sql,java.naming,jdk.management \
  --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output "$STAGE/cs/jre"
strip --strip-unneeded "$STAGE/cs/jre/lib/server/libjvm.so"
rm -f "$STAGE"/cs/jre/lib/server/classes*.jsa "$STAGE"/cs/jre/lib/libawt*.so "$STAGE"/cs/jre/lib/libfontmanager.so \
  "$STAGE"/cs/jre/lib/libjavajpeg.so "$STAGE"/cs/jre/lib/liblcms.so "$STAGE"/cs/jre/lib/libmlib_image.so \
  "$STAGE"/cs/jre/lib/libsplashscreen.so "$STAGE"/cs/jre/lib/libjsound.so
mkdir -p "$DEST"
rm -f "$DEST/chunkserve-gpu7.tar.gz"
tar -C "$STAGE" -cf - cs | xz -9 -T0 > "$DEST/chunkserve-gpu7.tar.xz"   # ~3 MB under gzip -9 (run7.sh takes either)
cp "$ROOT"/tools/gpu/run7.sh "$ROOT"/tools/gpu/torch_decode_bench.py "$ROOT"/tools/gpu/report7.py "$DEST/"
du -sh "$DEST"/*
