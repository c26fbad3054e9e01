#!/usr/bin/env bash
# Everything the GPU machine does in one call (issues 5 and 9): the check of both GPU targets against the
# VM (scripts/gpu-check.sh) and the benchmark (bench/gpu_peers.py: CUDA C, WGSL and the peers, one
# table). Prepare on a machine with Node.js:
#   npx tsx scripts/gpu-bundle.ts .gpu/bundle && npx tsx bench/gpu_bundle.ts .gpu/bench && ../shared/gpu/pack-webgpu.sh
# then on the GPU machine, with .gpu carried: bash scripts/gpu-all.sh [LOG_DIR]   (default $OUT or .gpu/out)
# Each step has a time limit, and its log is written to LOG_DIR as it runs, so a step that hangs costs
# only its own results. BENCH_ONLY=REGEX times only the benchmark entries whose names it finds (and the
# main kernels of their shapes, with the peers), for a session with little device time.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log=$(mkdir -p "${1:-${OUT:-$root/.gpu/out}}" && cd "${1:-${OUT:-$root/.gpu/out}}" && pwd)
step() { echo "== $1 ($(date -u +%T))"; }
step device
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1 | tee "$log/device.txt"
step "build (both bundles, in parallel)"
(cd "$root/.gpu/bundle" && nvcc -O3 -arch="${CUDA_ARCH:-native}" -o harness harness.cu kernels.cu) > "$log/build-check.log" 2>&1 &
(cd "$root/.gpu/bench" && nvcc -O3 -arch="${CUDA_ARCH:-native}" -Xptxas -v -o harness harness.cu kernels.cu) > "$log/build-bench.log" 2>&1 &
wait
tail -3 "$log/build-check.log"
grep -E "error" "$log/build-bench.log" | head -5
if [ -f "$root/.gpu/env.sh" ]; then
  step "WebGPU set-up"
  # shellcheck disable=SC1091
  source "$root/.gpu/env.sh" > "$log/webgpu-setup.log" 2>&1 || echo "WebGPU set-up failed"
fi
step "check: CUDA C and WGSL against the VM"
SKIP_BUILD=1 WEBGPU_TIMEOUT=${WEBGPU_TIMEOUT:-180} timeout "${CHECK_TIMEOUT:-300}" bash "$root/scripts/gpu-check.sh" "$root/.gpu/bundle" 2>&1 | tee "$log/check.log"
step "benchmark"
(cd "$root/.gpu/bench" && PYTHONUNBUFFERED=1 WGSL_TIMEOUT=${WGSL_TIMEOUT:-200} timeout "${BENCH_TIMEOUT:-420}" python3 gpu_peers.py) 2>&1 | tee "$log/bench.log"
step done
