// Memory access patterns shared by the CPU and GPU lowerings: where a field of a bit stream lies, sub-
// byte stores that never clobber a neighbour's bits, and element offsets in shared layouts.

import { type Expr, type Stmt, add, get, i32, ifThen, mul, op, set } from '../../ir/loop_ir.ts';
import type { SharedLayout, Swizzle } from '../../ir/shared_layout.ts';

// Where field `linear` of a stream of `bits`-wide fields lies, from its element index: the index is
// taken as unsigned (below 2^32), and the field's word and byte are never taken from its bit offset,
// linear * bits, which wraps at 2^32 bits (512 MiB) where byte offsets reach 4 GiB (its low bits, which
// say where in a word or byte the field starts, are right all the same). A field of 2^k bits is one
// shift and one mask of the index; other widths split the index into blocks of 32 fields (`bits` words
// each) and the field within its block.

const log2 = (n: number): number => Math.log2(n);
export const isPow2 = (n: number): boolean => n > 0 && Number.isInteger(log2(n));

/** The index of the 32-bit word where field `linear` starts. */
export function fieldWord(linear: Expr, bits: number): Expr {
  if (isPow2(bits)) return bits === 32 ? linear : op('i32.shr_u', linear, i32(log2(32 / bits)));
  return add(mul(op('i32.shr_u', linear, i32(5)), i32(bits)), op('i32.shr_u', mul(op('i32.and', linear, i32(31)), i32(bits)), i32(5)));
}

/** The bit (0 to 31) of its word where field `linear` starts. */
export function fieldBit(linear: Expr, bits: number): Expr {
  if (isPow2(bits)) return bits === 32 ? i32(0) : op('i32.shl', op('i32.and', linear, i32(32 / bits - 1)), i32(log2(bits)));
  return op('i32.and', mul(op('i32.and', linear, i32(31)), i32(bits)), i32(31));
}

/** The byte where field `linear` starts (its first bit's byte). */
export function fieldByte(linear: Expr, bits: number): Expr {
  if (isPow2(bits)) return bits >= 8 ? mul(linear, i32(bits / 8)) : op('i32.shr_u', linear, i32(log2(8 / bits)));
  return add(mul(op('i32.shr_u', linear, i32(3)), i32(bits)), op('i32.shr_u', mul(op('i32.and', linear, i32(7)), i32(bits)), i32(3)));
}

/** The bit (0 to 7) of its first byte where field `linear` starts. */
export function fieldBitInByte(linear: Expr, bits: number): Expr {
  if (isPow2(bits)) return bits >= 8 ? i32(0) : op('i32.shl', op('i32.and', linear, i32(8 / bits - 1)), i32(log2(bits)));
  return op('i32.and', mul(op('i32.and', linear, i32(7)), i32(bits)), i32(7));
}

/**
 * Field `linear` as a field of a short block: the block's first byte and the field's index in it (a
 * byte of 2^k-bit fields; 8 fields, `bits` bytes, otherwise), for bit-field reads (Loop IR `bits`),
 * whose backends form index * width: small here, where linear * bits wraps past 512 MiB.
 */
export function fieldBlock(linear: Expr, bits: number): { readonly byte: Expr; readonly index: Expr } {
  if (isPow2(bits) && bits < 8) return { byte: op('i32.shr_u', linear, i32(log2(8 / bits))), index: op('i32.and', linear, i32(8 / bits - 1)) };
  return { byte: mul(op('i32.shr_u', linear, i32(3)), i32(bits)), index: op('i32.and', linear, i32(7)) };
}

/** align / gcd(bits, align) for align a power of two: the fields per aligned unit. */
function alignUnit(bits: number, align: number): number {
  let g = 1;
  while (g < align && bits % (2 * g) === 0) g *= 2;
  return align / g;
}

/**
 * The byte where field `linear` starts, where that field is known to start on a multiple of `align`
 * bits (a power of two; whether it does, (linear * bits) % align, can be read from the low bits of the
 * offset in bits, which wrap with it only past 2^32): for widths other than powers of two, whole units
 * of align / gcd(bits, align) fields, one shift and one multiplication.
 */
export function alignedFieldByte(linear: Expr, bits: number, align: number): Expr {
  const unit = alignUnit(bits, align);
  if (isPow2(bits) || (unit * bits) % 8 !== 0) return fieldByte(linear, bits);
  return mul(op('i32.shr_u', linear, i32(log2(unit))), i32((unit * bits) / 8));
}

/**
 * A store of a `bits`-wide field (bits < 8, or any width at a bit offset) at element `linear` of the
 * bit stream at byte address `base` (4-byte aligned) of `mem` (setBits). `fresh` makes i32 temporaries.
 * In shared memory, which is small, from the field's bit offset; elsewhere by fieldWord and fieldBit.
 */
export function subByteStore(mem: string | undefined, base: Expr, linear: Expr, code: Expr, bits: number, fresh: (prefix: string) => string): Stmt[] {
  const [p, c] = [fresh('p'), fresh('c')];
  const small = mem === 'shared';
  const word = add(base, op('i32.shl', small ? op('i32.shr_u', get(p), i32(5)) : fieldWord(get(p), bits), i32(2)));
  const sh = small ? op('i32.and', get(p), i32(31)) : fieldBit(get(p), bits);
  return [set(p, small ? mul(linear, i32(bits)) : linear), set(c, code), ...setBits(mem, word, sh, get(c), i32(bits), i32((1 << bits) - 1))];
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
