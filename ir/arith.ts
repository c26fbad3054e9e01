// What each element-wise operation computes, on values held as JavaScript numbers. The VM, constant
// folding and launch checks all call these, so a program means the same thing at every stage.
//
// i32 and u32 wrap; integer / and % truncate toward zero, and give 0 for a zero divisor; shift amounts
// are taken modulo 32; >> is arithmetic on i32 and logical on u32. f32 operations round once to f32;
// an f16 or bf16 operation is the f32 operation rounded once more to the type (DESIGN.md). max and min
// propagate NaN. bool is 0 or 1.

import { roundF32ToBF16, roundF32ToF16 } from './half.ts';
import type { BinaryFn, UnaryFn } from './tile_ir.ts';

/** How an exact result rounds to each compute type. */
const ROUNDERS: Readonly<Record<string, (x: number) => number>> = {
  i32: (x) => x | 0,
  u32: (x) => x >>> 0,
  f32: Math.fround,
  f16: (x) => roundF32ToF16(Math.fround(x)),
  bf16: (x) => roundF32ToBF16(Math.fround(x)),
  bool: (x) => (x ? 1 : 0),
};

/** The rounding of exact results to a compute type (throws, when called, for any other type). */
export function rounder(dtype: string): (x: number) => number {
  return ROUNDERS[dtype] ?? (() => {
    throw new Error(`roundTo: ${dtype} is not a compute type`);
  });
}

/** Rounds an exact result to a compute type. */
export function roundTo(dtype: string, x: number): number {
  return rounder(dtype)(x);
}

const isInt = (dtype: string): boolean => dtype === 'i32' || dtype === 'u32';

/** The float types `fma` takes. */
export const FMA_TYPES: ReadonlySet<string> = new Set(['f32', 'f16', 'bf16']);

const F64 = new Float64Array(1);
const BITS = new BigInt64Array(F64.buffer);

/**
 * a * b + c of f32 values, exact but for a rounding to odd at f64's 53 bits: the product is exact in
 * f64 (48 bits), and where the sum is not, its rounding error (exact by TwoSum) takes it one step away
 * from an even last bit towards the exact sum. Rounding that to nearest at 24 bits or fewer is rounding
 * the exact value to nearest once (Boldo and Melquiond, 2008). Infinities as IEEE gives them; a NaN
 * result is the positive quiet NaN.
 */
export function fmaToOdd(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  // A NaN as a constant: positive and quiet, whatever sign the arithmetic gave it.
  if (!Number.isFinite(s)) return Number.isNaN(s) ? NaN : s;
  const v = s - p;
  const e = (p - (s - v)) + (c - v);
  if (e === 0) return s;
  F64[0] = s;
  if ((BITS[0]! & 1n) === 0n) BITS[0] = BITS[0]! + ((s > 0) === (e > 0) ? 1n : -1n);
  return F64[0]!;
}

/**
 * fma(a, b, c): a * b + c rounded once to f32 (IEEE fusedMultiplyAdd); for f16 and bf16 that f32
 * operation rounded once more to the type, as every f16 and bf16 operation is.
 */
export function fma(dtype: string, a: number, b: number, c: number): number {
  return rounder(dtype)(fmaToOdd(a, b, c));
}

function intDiv(a: number, b: number): number {
  return b === 0 ? 0 : Math.trunc(a / b);
}

function intMod(a: number, b: number): number {
  return b === 0 ? 0 : a % b;
}

/**
 * A binary operation on two values of `dtype` (comparisons and land/lor return 0 or 1), resolved once:
 * the VM applies one to every element of a tile.
 */
function makeBinary(fn: BinaryFn, dtype: string): (a: number, b: number) => number {
  const r = rounder(dtype);
  switch (fn) {
    case 'add':
      return (a, b) => r(a + b);
    case 'sub':
      return (a, b) => r(a - b);
    case 'mul':
      // i32 products exceed 2^53: Math.imul wraps exactly.
      return isInt(dtype) ? (a, b) => r(Math.imul(a, b)) : (a, b) => r(a * b);
    case 'div':
      return isInt(dtype) ? (a, b) => r(intDiv(a, b)) : (a, b) => r(a / b);
    case 'mod':
      return isInt(dtype) ? (a, b) => r(intMod(a, b)) : (a, b) => r(a % b);
    case 'max':
      return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
    case 'min':
      return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
    case 'and':
      return (a, b) => r(a & b);
    case 'or':
      return (a, b) => r(a | b);
    case 'xor':
      return (a, b) => r(a ^ b);
    case 'shl':
      return (a, b) => r(a << (b & 31));
    case 'shr':
      return dtype === 'u32' ? (a, b) => a >>> (b & 31) : (a, b) => a >> (b & 31);
    case 'eq':
      return (a, b) => (a === b ? 1 : 0);
    case 'ne':
      return (a, b) => (a !== b ? 1 : 0);
    case 'lt':
      return (a, b) => (a < b ? 1 : 0);
    case 'le':
      return (a, b) => (a <= b ? 1 : 0);
    case 'gt':
      return (a, b) => (a > b ? 1 : 0);
    case 'ge':
      return (a, b) => (a >= b ? 1 : 0);
    case 'land':
      return (a, b) => (a && b ? 1 : 0);
    case 'lor':
      return (a, b) => (a || b ? 1 : 0);
  }
}

const binaries = new Map<string, (a: number, b: number) => number>();

/** The function `binary(fn, dtype, ., .)`, made once per operation and type. */
export function binaryFn(fn: BinaryFn, dtype: string): (a: number, b: number) => number {
  const key = `${fn} ${dtype}`;
  let f = binaries.get(key);
  if (!f) binaries.set(key, (f = makeBinary(fn, dtype)));
  return f;
}

/** A binary operation on two values of `dtype` (comparisons and land/lor return 0 or 1). */
export function binary(fn: BinaryFn, dtype: string, a: number, b: number): number {
  return binaryFn(fn, dtype)(a, b);
}

/** A unary operation on a value of `dtype`, resolved once (the VM applies one to every element of a tile). */
function makeUnary(fn: UnaryFn, dtype: string): (x: number) => number {
  const r = rounder(dtype);
  switch (fn) {
    case 'neg':
      return (x) => r(-x);
    case 'not':
      return (x) => (x ? 0 : 1);
    case 'abs':
      return (x) => r(Math.abs(x));
    case 'exp':
      return (x) => r(Math.exp(x));
    case 'exp2':
      return (x) => r(2 ** x);
    case 'log':
      return (x) => r(Math.log(x));
    case 'log2':
      return (x) => r(Math.log2(x));
    case 'sqrt':
      return (x) => r(Math.sqrt(x));
    case 'rsqrt':
      return (x) => r(1 / Math.sqrt(x));
  }
}

const unaries = new Map<string, (x: number) => number>();

/** The function `unary(fn, dtype, .)`, made once per operation and type. */
export function unaryFn(fn: UnaryFn, dtype: string): (x: number) => number {
  const key = `${fn} ${dtype}`;
  let f = unaries.get(key);
  if (!f) unaries.set(key, (f = makeUnary(fn, dtype)));
  return f;
}

/** A unary operation on a value of `dtype`. */
export function unary(fn: UnaryFn, dtype: string, x: number): number {
  return unaryFn(fn, dtype)(x);
}

/** Which unary functions a type admits. */
export function unaryAllowed(fn: UnaryFn, dtype: string): boolean {
  if (fn === 'not') return dtype === 'bool';
  if (fn === 'neg' || fn === 'abs') return dtype !== 'bool';
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
}

/** Which binary functions a type admits. */
export function binaryAllowed(fn: BinaryFn, dtype: string): boolean {
  if (fn === 'land' || fn === 'lor') return dtype === 'bool';
  if (dtype === 'bool') return fn === 'eq' || fn === 'ne';
  if (fn === 'and' || fn === 'or' || fn === 'xor' || fn === 'shl' || fn === 'shr') return isInt(dtype);
  return true;
}
