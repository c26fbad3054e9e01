#!/usr/bin/env bash
# The GPU dequant-GEMM tiles' cost per K tile without a GPU: for each weight type, M (16 or 4096) and
# weight order (rows, or fragment order), ptxas's registers for sm_90a and the blocks per SM they allow,
# and the PTX instructions of the innermost loop that holds the MMAs (one K tile: nvcc -O3 -ptx; every
# instruction line, the inline PTX blocks `{ ... }` included, rare paths such as misaligned copies
# counted too, as they are in the loop's body), with its MMAs. Static counts, not timings.
#
# Usage: bash bench/tiles_ptx.sh [REPO]   (REPO: a checkout to measure, default this one; needs nvcc, python3)
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/loop.py" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split('\n')
labels = {m.group(1): i for i, l in enumerate(lines) if (m := re.match(r'^(\$L__BB\d+_\d+):', l))}
best = None
for i, l in enumerate(lines):
    m = re.search(r'bra(?:\.uni)?\s+(\$L__BB\d+_\d+);', l)
    if m and m.group(1) in labels and labels[m.group(1)] < i:
        body = lines[labels[m.group(1)]:i + 1]
        mma = sum('mma.sync' in b for b in body)
        if mma and (best is None or len(body) < best[0]):
            n = sum(1 for b in body if re.match(r'^[a-z@]', b.strip().lstrip('{').strip()))
            best = (len(body), n, mma)
print(best[1], best[2])
PY
echo "| weight | M | weight order | registers | blocks/SM | K-tile PTX | MMAs |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for w in u4 i4 u8 f4e2m1 u3; do
  for m in 16 4096; do
    for order in rows fragments; do
      f="$work/${w}_${m}_$order"
      node "$repo/bin/tilebit.js" gen dequant-gemm --weight "$w" --group 128 --m "$m" --target cuda --weight-order "$order" > "$f.tile" 2>/dev/null || { echo "| $w | $m | $order | (not generated) |"; continue; }
      res=$(node "$repo/bin/tilebit.js" compile "$f.tile" --target cuda -o "$f.cu" --resources 2>&1)
      regs=$(grep -oE "[0-9]+ registers per thread" <<< "$res" | cut -d' ' -f1)
      blocks=$(grep -oE "[0-9]+ blocks \(" <<< "$res" | cut -d' ' -f1)
      nvcc -O3 -arch=sm_90a -ptx "$f.cu" -o "$f.ptx"
      read -r n mma < <(python3 "$work/loop.py" "$f.ptx")
      echo "| $w | $m | $order | $regs | $blocks | $n | $mma |"
    done
  done
done
