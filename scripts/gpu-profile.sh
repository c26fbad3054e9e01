#!/usr/bin/env bash
# Profiles kernels of the GPU benchmark bundle (bench/gpu_bundle.ts) with Nsight Compute on the GPU
# machine: one launch of each named kernel, its speed-of-light, occupancy, scheduler and warp-stall
# sections, as text. Builds the harness first when it is not there.
#
# Usage (on the GPU machine, .gpu carried): bash scripts/gpu-profile.sh [LOG_DIR] KERNEL ...
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log=${1:-${OUT:-$root/.gpu/out}}
shift
mkdir -p "$log"
cd "$root/.gpu/bench" || exit 1
[ -x harness ] || nvcc -O3 -arch="${CUDA_ARCH:-native}" -o harness harness.cu kernels.cu || exit 1
for k in "$@"; do
  echo "== $k"
  timeout 120 ncu --clock-control none --launch-count 1 -k "regex:^$k\$" \
    --section SpeedOfLight --section Occupancy --section SchedulerStats --section WarpStateStats \
    ./harness "$k.launch" > "$log/ncu-$k.txt" 2>&1
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Issued Warp Per Scheduler|No Eligible|Warp Cycles Per Issued|Registers Per|Block Limit" "$log/ncu-$k.txt"
  grep -E "^ +(OPT|INF)|Stall" "$log/ncu-$k.txt" | head -12
done
