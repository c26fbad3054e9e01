#!/usr/bin/env bash
# The GPU dequant-GEMM tiles' cost per K tile without a GPU: for each weight type, M (16 or 4096) and
# weight order (rows, or fragment order), ptxas's registers for sm_90a and the blocks per SM they allow,
# and the PTX instructions of the innermost loop that holds the MMAs (one K tile: nvcc -O3 -ptx; every
# instruction line, the inline PTX blocks `{ ... }` included, rare paths such as misaligned copies
# counted too, as they are in the loop's body), with its MMAs, and of its compute alone (the stretch
# between two barriers that holds the MMAs: the K tile's fragment reads, conversions and MMAs, without
# the copies of the next tiles). Static counts, not timings.
#
# Usage: bash bench/tiles_ptx.sh [REPO]   (REPO: a checkout to measure, default this one; needs nvcc, python3)
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| weight | M | weight order | registers | blocks/SM | K-tile PTX | compute PTX | MMAs |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for w in u4 i4 u8 f4e2m1 u3; do
  for m in 16 4096; do
    for order in rows fragments; do
      f="$work/${w}_${m}_$order"
      node "$repo/bin/tilebit.js" gen dequant-gemm --weight "$w" --group 128 --m "$m" --target cuda --weight-order "$order" > "$f.tile" 2>/dev/null || { echo "| $w | $m | $order | (not generated) |"; continue; }
      res=$(node "$repo/bin/tilebit.js" compile "$f.tile" --target cuda -o "$f.cu" --resources 2>&1)
      regs=$(grep -oE "[0-9]+ registers per thread" <<< "$res" | cut -d' ' -f1)
      blocks=$(grep -oE "[0-9]+ blocks \(" <<< "$res" | cut -d' ' -f1)
      nvcc -O3 -arch=sm_90a -ptx "$f.cu" -o "$f.ptx"
      read -r n mma compute _ < <(python3 "$here/ptx_loop.py" "$f.ptx" mma.sync)
      echo "| $w | $m | $order | $regs | $blocks | $n | $compute | $mma |"
    done
  done
done
