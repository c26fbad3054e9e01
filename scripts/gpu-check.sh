#!/usr/bin/env bash
# Checks the CUDA backend on a machine with an NVIDIA GPU: builds the bundle that scripts/gpu-bundle.ts
# wrote (on a machine with Node.js: npx tsx scripts/gpu-bundle.ts .gpu/bundle), runs every case and
# compares with the VM's outputs, printing one table. Needs nvcc, Python 3 and NumPy.
#
# Usage: bash scripts/gpu-check.sh [BUNDLE_DIR]    (default .gpu/bundle; CUDA_ARCH, default native)
set -euo pipefail
dir="${1:-.gpu/bundle}"
cd "$dir"
nvcc -O3 -arch="${CUDA_ARCH:-native}" -o harness harness.cu kernels.cu
python3 check.py
