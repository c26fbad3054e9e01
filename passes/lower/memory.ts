// Memory access patterns shared by the CPU and GPU lowerings: sub-byte stores that never clobber a
// neighbour's bits, and element offsets in shared layouts.

import { type Expr, type Stmt, add, get, i32, ifThen, mul, op, set } from '../../ir/loop_ir.ts';
import type { SharedLayout, Swizzle } from '../../ir/shared_layout.ts';

/**
 * A store of a `bits`-wide field (bits < 8, or any width at a bit offset) at element `linear` of the
 * bit stream at byte address `base` of `mem` (setBits). `fresh` makes i32 temporaries.
 */
export function subByteStore(mem: string | undefined, base: Expr, linear: Expr, code: Expr, bits: number, fresh: (prefix: string) => string): Stmt[] {
  const p = fresh('p');
  const c = fresh('c');
  const sh = op('i32.and', get(p), i32(31));
  const word = add(base, op('i32.shl', op('i32.shr_u', get(p), i32(5)), i32(2)));
  return [set(p, mul(linear, i32(bits))), set(c, code), ...setBits(mem, word, sh, get(c), i32(bits), i32((1 << bits) - 1))];
}

/**
 * Clears then sets `width` bits (1 to 32; `mask` has its low `width` bits set, and `value` no bit
 * outside it) at bit `sh` (0 to 31) of the 32-bit word at byte address `word` of `mem`, those past the
 * word's end in the next word, with atomic and/or, so that stores of neighbouring bits from any thread,
 * block or worker never clobber each other.
 */
export function setBits(mem: string | undefined, word: Expr, sh: Expr, value: Expr, width: Expr, mask: Expr): Stmt[] {
  const atomic = (o: 'and' | 'or', addr: Expr, v: Expr): Stmt => (mem ? { k: 'atomic', op: o, addr, value: v, mem } : { k: 'atomic', op: o, addr, value: v });
  const low: Stmt[] = [
    atomic('and', word, op('i32.xor', op('i32.shl', mask, sh), i32(-1))),
    atomic('or', word, op('i32.shl', value, sh)),
  ];
  // Bits past the word boundary go to the next word.
  const spill = op('i32.sub', op('i32.add', sh, width), i32(32));
  const high: Stmt[] = [
    atomic('and', add(word, i32(4)), op('i32.xor', op('i32.sub', op('i32.shl', i32(1), spill), i32(1)), i32(-1))),
    atomic('or', add(word, i32(4)), op('i32.shr_u', value, op('i32.sub', width, spill))),
  ];
  return [...low, ifThen(op('i32.gt_s', spill, i32(0)), high)];
}

/** The element offset of `coords` in a shared layout: strides, then the XOR swizzle. */
export function sharedElementOffset(l: SharedLayout, coords: readonly Expr[]): Expr {
  const o = coords.reduce<Expr>((acc, c, d) => add(acc, mul(c, i32(l.strides[d]!))), i32(0));
  return l.swizzle ? swizzled(l.swizzle, o) : o;
}

/** The swizzle of an element offset (shared_layout's swizzleOffset as an expression). */
export function swizzled(s: Swizzle, o: Expr): Expr {
  return op('i32.xor', o, op('i32.shl', op('i32.and', op('i32.shr_u', o, i32(s.base + s.shift)), i32((1 << s.bits) - 1)), i32(s.base)));
}
