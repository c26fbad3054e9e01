#!/usr/bin/env bash
# The GPU dequant-GEMM tiles' cost per K tile without a GPU: for each weight type, M (1, 8, 16 or 4096),
# weight order (rows, or fragment order) and, for M of 8 or fewer, the MMA operand that holds the weights
# (a: C^T = W^T . A^T on 8-row tiles, the default there; b: 16-row tiles), ptxas's registers for sm_90a
# and the blocks per SM they allow, and the PTX instructions of the innermost loop that holds the MMAs
# (one K tile: nvcc -O3 -ptx; every instruction line, the inline PTX blocks `{ ... }` included, rare
# paths such as misaligned copies counted too, as they are in the loop's body), with its MMAs, and of its
# compute alone (the stretch between two barriers that holds the MMAs: the K tile's fragment reads,
# conversions and MMAs, without the copies of the next tiles), also per weight of the thread's share of
# the K tile (BK * BN / threads). M = 1 in rows is the GEMV (bench/gemv_ptx.sh), not listed. Static
# counts, not timings.
#
# Usage: bash bench/tiles_ptx.sh [REPO]   (REPO: a checkout to measure, default this one; needs nvcc, python3)
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| weight | M | weight order | weights as | registers | blocks/SM | K-tile PTX | compute PTX | per weight | MMAs |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for w in u4 i4 u8 f4e2m1 u3; do
  for m in 1 8 16 4096; do
    for order in rows fragments; do
      [ "$m" = 1 ] && [ "$order" = rows ] && continue
      for operand in a b; do
        [ "$m" -gt 8 ] && [ "$operand" = a ] && continue
        f="$work/${w}_${m}_${order}_$operand"
        node "$repo/bin/tilebit.js" gen dequant-gemm --weight "$w" --group 128 --m "$m" --target cuda --weight-order "$order" --weight-operand "$operand" > "$f.tile" 2>/dev/null || { echo "| $w | $m | $order | $operand | (not generated) |"; continue; }
        res=$(node "$repo/bin/tilebit.js" compile "$f.tile" --target cuda -o "$f.cu" --resources 2>&1)
        regs=$(grep -oE "[0-9]+ registers per thread" <<< "$res" | cut -d' ' -f1)
        blocks=$(grep -oE "[0-9]+ blocks \(" <<< "$res" | cut -d' ' -f1)
        nvcc -O3 -arch=sm_90a -ptx "$f.cu" -o "$f.ptx"
        # No loop with MMAs (a tile the MMA atom does not divide): dashes.
        read -r n mma compute _ < <(python3 "$here/ptx_loop.py" "$f.ptx" mma.sync 2>/dev/null || echo "- 0 - -")
        # The thread's weights per K tile, from the kernel's tile sizes and threads.
        per=$(python3 -c 'import re, sys; s = open(sys.argv[1]).read(); t = dict(re.findall(r"\b(BN|BK) = (\d+)", s)); print(int(t["BN"]) * int(t["BK"]) // int(re.search(r"threads\((\d+)\)", s).group(1)))' "$f.tile")
        echo "| $w | $m | $order | $operand | $regs | $blocks | $n | $compute | $([ "$compute" = - ] && echo - || awk -v n="$compute" -v p="$per" 'BEGIN { printf "%.2f", n / p }') | $mma |"
      done
    done
  done
done
