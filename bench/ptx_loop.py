"""The instructions of a kernel's innermost loop in PTX, for bench/gemv_ptx.sh and bench/tiles_ptx.sh.

Usage: python3 bench/ptx_loop.py FILE.ptx HOT [NEEDS...]
The loop: the shortest one (a backward branch to a label) whose body holds HOT and every NEEDS; its
compute stretch: of the parts its barriers (bar.sync) cut it into, the one with the most HOT. Prints
the loop's instructions, its HOT instructions and its compute stretch's instructions (every instruction
line, the inline PTX blocks `{ ... }` included), then the stretch's instructions without movs and 16-bit
truncations (which ptxas folds).
"""
import re
import sys


def instructions(lines):
    return [re.sub(r'^\s*\{\s*', '\t', l) for l in lines if re.match(r'^[a-z@]', l.strip().lstrip('{').strip())]


def main(path, hot, needs):
    lines = open(path).read().split('\n')
    labels = {m.group(1): i for i, l in enumerate(lines) if (m := re.match(r'^(\$L__BB\d+_\d+):', l))}
    loop = None
    for i, l in enumerate(lines):
        m = re.search(r'bra(?:\.uni)?\s+(\$L__BB\d+_\d+);', l)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            body = lines[labels[m.group(1)]:i + 1]
            if all(any(n in b for b in body) for n in [hot, *needs]) and (loop is None or len(body) < len(loop)):
                loop = body
    stretches, cur = [], []
    for l in loop:
        if 'bar.sync' in l:
            stretches.append(cur)
            cur = []
        else:
            cur.append(l)
    stretches.append(cur)
    compute = instructions(max(stretches, key=lambda s: sum(hot in l for l in s)))
    folded = [l for l in compute if not re.match(r'^\s+(mov|cvt\.u16\.u32)', l)]
    print(len(instructions(loop)), sum(hot in l for l in loop), len(compute), len(folded))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
