// What each element-wise operation computes, on values held as JavaScript numbers. The VM, constant
// folding and launch checks all call these, so a program means the same thing at every stage.
//
// i32 and u32 wrap; integer / and % truncate toward zero, and give 0 for a zero divisor; shift amounts
// are taken modulo 32; >> is arithmetic on i32 and logical on u32. f32 operations round once to f32;
// an f16 or bf16 operation is the f32 operation rounded once more to the type (DESIGN.md). max and min
// propagate NaN. bool is 0 or 1.

import { roundF32ToBF16, roundF32ToF16 } from './half.ts';
import type { BinaryFn, UnaryFn } from './tile_ir.ts';

/** Rounds an exact result to a compute type. */
export function roundTo(dtype: string, x: number): number {
  switch (dtype) {
    case 'i32':
      return x | 0;
    case 'u32':
      return x >>> 0;
    case 'f32':
      return Math.fround(x);
    case 'f16':
      return roundF32ToF16(Math.fround(x));
    case 'bf16':
      return roundF32ToBF16(Math.fround(x));
    case 'bool':
      return x ? 1 : 0;
    default:
      throw new Error(`roundTo: ${dtype} is not a compute type`);
  }
}

const isInt = (dtype: string): boolean => dtype === 'i32' || dtype === 'u32';

function intDiv(a: number, b: number): number {
  return b === 0 ? 0 : Math.trunc(a / b);
}

function intMod(a: number, b: number): number {
  return b === 0 ? 0 : a % b;
}

/** A binary operation on two values of `dtype` (comparisons and land/lor return 0 or 1). */
export function binary(fn: BinaryFn, dtype: string, a: number, b: number): number {
  switch (fn) {
    case 'add':
      return roundTo(dtype, a + b);
    case 'sub':
      return roundTo(dtype, a - b);
    case 'mul':
      // i32 products exceed 2^53: Math.imul wraps exactly.
      return isInt(dtype) ? roundTo(dtype, Math.imul(a, b)) : roundTo(dtype, a * b);
    case 'div':
      return isInt(dtype) ? roundTo(dtype, intDiv(a, b)) : roundTo(dtype, a / b);
    case 'mod':
      return isInt(dtype) ? roundTo(dtype, intMod(a, b)) : roundTo(dtype, a % b);
    case 'max':
      return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
    case 'min':
      return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b);
    case 'and':
      return roundTo(dtype, a & b);
    case 'or':
      return roundTo(dtype, a | b);
    case 'xor':
      return roundTo(dtype, a ^ b);
    case 'shl':
      return roundTo(dtype, a << (b & 31));
    case 'shr':
      return dtype === 'u32' ? a >>> (b & 31) : a >> (b & 31);
    case 'eq':
      return a === b ? 1 : 0;
    case 'ne':
      return a !== b ? 1 : 0;
    case 'lt':
      return a < b ? 1 : 0;
    case 'le':
      return a <= b ? 1 : 0;
    case 'gt':
      return a > b ? 1 : 0;
    case 'ge':
      return a >= b ? 1 : 0;
    case 'land':
      return a && b ? 1 : 0;
    case 'lor':
      return a || b ? 1 : 0;
  }
}

/** A unary operation on a value of `dtype`. */
export function unary(fn: UnaryFn, dtype: string, x: number): number {
  switch (fn) {
    case 'neg':
      return roundTo(dtype, -x);
    case 'not':
      return x ? 0 : 1;
    case 'abs':
      return roundTo(dtype, Math.abs(x));
    case 'exp':
      return roundTo(dtype, Math.exp(x));
    case 'exp2':
      return roundTo(dtype, 2 ** x);
    case 'log':
      return roundTo(dtype, Math.log(x));
    case 'log2':
      return roundTo(dtype, Math.log2(x));
    case 'sqrt':
      return roundTo(dtype, Math.sqrt(x));
    case 'rsqrt':
      return roundTo(dtype, 1 / Math.sqrt(x));
  }
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
