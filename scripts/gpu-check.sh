#!/usr/bin/env bash
# Checks the GPU backends on a machine with an NVIDIA GPU: builds the bundle that scripts/gpu-bundle.ts
# wrote (on a machine with Node.js: npx tsx scripts/gpu-bundle.ts .gpu/bundle), runs every case as CUDA
# and compares with the VM's outputs (one table), then, where Node.js and the `webgpu` package are
# there (source .gpu/env.sh from ../shared/gpu/pack-webgpu.sh first), the same cases as WGSL (a second
# table). CUDA needs nvcc, Python 3 and NumPy.
#
# Usage: bash scripts/gpu-check.sh [BUNDLE_DIR]    (default .gpu/bundle; CUDA_ARCH, default native;
# SKIP_BUILD=1 uses the harness already built there; WEBGPU_TIMEOUT seconds for the WGSL run, default 300;
# HOST=1: no GPU needed, the CUDA C runs on the CPU, built with g++ and backends/cuda/host/tilebit_host.h)
set -uo pipefail
dir="${1:-.gpu/bundle}"
cd "$dir" || exit 1
status=0
echo "== CUDA"
if [ "${HOST:-0}" = 1 ]; then
  build() { g++ -std=c++17 -O1 -ffp-contract=off -DTILEBIT_HOST -I. -w -x c++ -o harness harness.cu kernels.cu; }
else
  build() { nvcc -O3 -arch="${CUDA_ARCH:-native}" -o harness harness.cu kernels.cu; }
fi
if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x harness ] || build; then
  python3 check.py || status=1
else
  echo "the build failed"; status=1
fi
echo "== WebGPU"
if command -v node >/dev/null && node -e "import('webgpu')" 2>/dev/null; then
  timeout "${WEBGPU_TIMEOUT:-300}" node webgpu-runner.mjs || status=1
else
  echo "skipped: no node with the webgpu package here (source .gpu/env.sh first)"
fi
exit $status
