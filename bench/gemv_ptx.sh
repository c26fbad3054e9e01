#!/usr/bin/env bash
# The GPU GEMV's cost per weight without a GPU: for each weight type, rows per thread and weight order
# (rows, or panels of the N tile), ptxas's registers for sm_90a, the PTX instructions of one K tile's
# work per weight (nvcc -O3 -ptx; bench/ptx_loop.py: in the K loop, the stretch between two barriers
# with the most f32 fused multiply-adds, i.e. the tile's work after the wait for its copies; movs and
# 16-bit truncations left out: ptxas folds them; the f16 conversions and f16x2 operations of
# cuda_fp16.h and of the kernel's own inline PTX, written as `{ cvt.f32.f16 ...}`, counted), the
# kernel's cp.async instructions by size, and its reads of constant memory (`ld.const`: tables, which a
# warp's different addresses serialize). Static counts, not
# timings: the GEMV was bound by instruction issue on an H200 (bench/RESULTS.md).
#
# Usage: bash bench/gemv_ptx.sh [REPO]   (REPO: a checkout to measure, default this one; needs nvcc, python3)
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| weight | rows per thread | weight order | registers | blocks/SM | K-tile compute PTX | weights per thread | PTX per weight | cp.async by bytes | ld.const |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for w in u4 u3 u2 f4e2m1 f6e3m2; do
  for rk in 1 4 8; do
  for order in rows panels; do
    f="$work/${w}_${rk}_$order"
    extra=(--weight-order "$order"); [ "$rk" -gt 1 ] && extra+=(--rows-per-thread "$rk")
    node "$repo/bin/tilebit.js" gen dequant-gemm --weight "$w" --group 128 --m 1 --target cuda "${extra[@]}" > "$f.tile" 2>/dev/null || { echo "| $w | $rk | $order | (not generated) |"; continue; }
    res=$(node "$repo/bin/tilebit.js" compile "$f.tile" --target cuda -o "$f.cu" --resources 2>&1)
    regs=$(grep -oE "[0-9]+ registers per thread" <<< "$res" | cut -d' ' -f1)
    blocks=$(grep -oE "[0-9]+ blocks \(" <<< "$res" | cut -d' ' -f1)
    nvcc -O3 -arch=sm_90a -ptx "$f.cu" -o "$f.ptx"
    read -r _ _ _ n < <(python3 "$here/ptx_loop.py" "$f.ptx" fma.rn.f32 cp.async.wait_group)
    per=$([ "$rk" -gt 1 ] && echo $((rk * 8)) || echo 32)
    # Every cp.async of the kernel (weights, activations, scales), by its size in bytes: "16x10 8x6".
    copies=$(grep -oE "cp\.async\.c[ag]\.shared\.global[^;]*, [0-9]+;" "$f.ptx" | grep -oE "[0-9]+;$" | tr -d ';' | sort -n | uniq -c | awk '{ printf "%s%sx%s", sep, $2, $1; sep = " " }')
    echo "| $w | $rk | $order | $regs | $blocks | $n | $per | $(awk -v n="$n" -v p="$per" 'BEGIN { printf "%.2f", n / p }') | $copies | $(grep -c 'ld\.const' "$f.ptx" || true) |"
  done
  done
done
