// Helper functions in Loop IR for half-precision types held as f32: rounding to f16 and bf16 (ties to
// even, overflow to infinity, subnormals, NaN kept) and conversion between f16 bits and f32. Each is
// the codec of ir/codec.ts written with integer operations; tests compare them with it exhaustively.

import { type Expr, type LFunction, type Stmt, f32, get, i32, ifThen, op, set } from '../../ir/loop_ir.ts';

const ret = (value: Expr): Stmt => ({ k: 'return', value });
const bits = (x: Expr): Expr => op('i32.bits_of', x);
const fromBits = (x: Expr): Expr => op('f32.from_bits', x);
const and = (a: Expr, b: Expr): Expr => op('i32.and', a, b);
const or = (a: Expr, b: Expr): Expr => op('i32.or', a, b);
const shr = (a: Expr, n: number): Expr => op('i32.shr_u', a, i32(n));
const shl = (a: Expr, n: number): Expr => op('i32.shl', a, i32(n));
const gtU = (a: Expr, b: number): Expr => op('i32.gt_u', a, i32(b));
const geU = (a: Expr, b: number): Expr => op('i32.ge_u', a, i32(b));
const ltU = (a: Expr, b: number): Expr => op('i32.lt_u', a, i32(b));

const fn = (name: string, result: 'i32' | 'f32', param: 'i32' | 'f32', body: Stmt[]): LFunction => ({
  name, result, params: [{ name: 'x', type: param }], locals: [{ name: 'a', type: 'i32' }, { name: 's', type: 'i32' }], body,
});

/** x rounded to the nearest f16 value, as an f32. */
export const roundF16: LFunction = fn('round_f16', 'f32', 'f32', [
  set('a', and(bits(get('x')), i32(0x7fffffff))),
  set('s', and(bits(get('x')), i32(0x80000000))),
  ifThen(gtU(get('a'), 0x7f800000), [ret(get('x'))]), // NaN
  ifThen(geU(get('a'), 0x477ff000), [ret(fromBits(or(get('s'), i32(0x7f800000))))]), // >= 65520 rounds to inf
  // Below 2^-14 the f16 quantum is 2^-24, the f32 quantum of 0.5: adding and removing 0.5 rounds there.
  ifThen(ltU(get('a'), 0x38800000), [
    ret(op('f32.copysign', op('f32.sub', op('f32.add', fromBits(get('a')), f32(0.5)), f32(0.5)), get('x'))),
  ]),
  // Normal: round the 23-bit mantissa to 10 bits, ties to even; a carry moves into the exponent.
  set('a', op('i32.add', get('a'), op('i32.add', i32(0xfff), and(shr(get('a'), 13), i32(1))))),
  ret(fromBits(or(get('s'), and(get('a'), i32(~0x1fff))))),
]);

/** x rounded to the nearest bf16 value, as an f32. */
export const roundBF16: LFunction = fn('round_bf16', 'f32', 'f32', [
  set('a', bits(get('x'))),
  ifThen(gtU(and(get('a'), i32(0x7fffffff)), 0x7f800000), [ret(get('x'))]),
  set('a', op('i32.add', get('a'), op('i32.add', i32(0x7fff), and(shr(get('a'), 16), i32(1))))),
  ret(fromBits(and(get('a'), i32(0xffff0000)))),
]);

/** The f16 code of an f32 that holds an f16 value exactly (NaN gives the quiet NaN 0x7e00). */
export const f16Bits: LFunction = fn('f16_bits', 'i32', 'f32', [
  set('a', and(bits(get('x')), i32(0x7fffffff))),
  set('s', and(shr(bits(get('x')), 16), i32(0x8000))),
  ifThen(gtU(get('a'), 0x7f800000), [ret(i32(0x7e00))]),
  ifThen(op('i32.eq', get('a'), i32(0x7f800000)), [ret(or(get('s'), i32(0x7c00)))]),
  ifThen(geU(get('a'), 0x38800000), [ret(or(get('s'), shr(op('i32.sub', get('a'), i32(0x38000000)), 13)))]),
  ret(or(get('s'), op('i32.from_f32_sat_u', op('f32.mul', fromBits(get('a')), f32(2 ** 24))))),
]);

/** The f32 value of an f16 code. */
export const f16Value: LFunction = fn('f16_value', 'f32', 'i32', [
  set('s', shl(and(get('x'), i32(0x8000)), 16)),
  set('a', and(shr(get('x'), 10), i32(0x1f))),
  ifThen(op('i32.eq', get('a'), i32(31)), [ret(fromBits(or(or(get('s'), i32(0x7f800000)), shl(and(get('x'), i32(0x3ff)), 13))))]),
  ifThen(op('i32.eqz', get('a')), [
    ret(op('f32.copysign', op('f32.mul', op('f32.from_i32_u', and(get('x'), i32(0x3ff))), f32(2 ** -24)), fromBits(get('s')))),
  ]),
  ret(fromBits(or(get('s'), or(shl(op('i32.add', get('a'), i32(112)), 23), shl(and(get('x'), i32(0x3ff)), 13))))),
]);

export const FLOAT_HELPERS: readonly LFunction[] = [roundF16, roundBF16, f16Bits, f16Value];

// The same helpers on four lanes of a v128, without branches: every case is computed and the lane's
// case selected by masks. Each gives exactly the bits of its scalar helper in every lane (tested on
// every f16 code and on rounding's edges). The argument is read several times: pass a local.

const v = (name: string, ...args: Expr[]): Expr => op(name, ...args);
const splat = (n: number): Expr => op('i32x4.splat', i32(n));
const fsplat = (x: number): Expr => op('f32x4.splat', f32(x));
const vand = (a: Expr, n: number): Expr => v('i32x4.and', a, splat(n));
/** `a` where `mask`'s lanes are all ones, `b` where they are zero. */
const pick = (mask: Expr, a: Expr, b: Expr): Expr => v('v128.bitselect', a, b, mask);

/** round_f16 on four f32 lanes. */
export function roundF16x4(x: Expr): Expr {
  const a = vand(x, 0x7fffffff);
  const s = vand(x, 0x80000000);
  const normal = v('i32x4.or', vand(v('i32x4.add', a, v('i32x4.add', splat(0xfff), vand(v('i32x4.shr_u', a, i32(13)), 1))), ~0x1fff), s);
  const small = v('i32x4.or', v('f32x4.sub', v('f32x4.add', a, fsplat(0.5)), fsplat(0.5)), s);
  const finite = pick(v('i32x4.lt_u', a, splat(0x38800000)), small, normal);
  const big = pick(v('i32x4.ge_u', a, splat(0x477ff000)), v('i32x4.or', s, splat(0x7f800000)), finite);
  return pick(v('i32x4.gt_u', a, splat(0x7f800000)), x, big);
}

/** round_bf16 on four f32 lanes. */
export function roundBF16x4(x: Expr): Expr {
  const rounded = vand(v('i32x4.add', x, v('i32x4.add', splat(0x7fff), vand(v('i32x4.shr_u', x, i32(16)), 1))), 0xffff0000);
  return pick(v('i32x4.gt_u', vand(x, 0x7fffffff), splat(0x7f800000)), x, rounded);
}

/**
 * f16_value on four i32 lanes (their low 16 bits). Normal and subnormal codes alike: the code's
 * exponent and mantissa moved to f32's places make 2^-112 times the value (an f32 subnormal for an f16
 * subnormal), and one multiplication by 2^112 rescales it exactly; infinities and NaNs keep their
 * mantissa under an all-ones exponent.
 */
export function f16Valuex4(x: Expr): Expr {
  const em = vand(x, 0x7fff);
  const placed = v('i32x4.shl', em, i32(13));
  const finite = v('f32x4.mul', placed, fsplat(2 ** 112));
  const special = v('i32x4.or', placed, splat(0x7f800000));
  return v('i32x4.or', pick(v('i32x4.gt_u', em, splat(0x7bff)), special, finite), v('i32x4.shl', vand(x, 0x8000), i32(16)));
}

/** The four-lane forms of the helpers, by name, for the vectorizer. */
export const FLOAT_HELPERS_X4: Readonly<Record<string, (x: Expr) => Expr>> = { round_f16: roundF16x4, round_bf16: roundBF16x4, f16_value: f16Valuex4 };
