// The one codec of every data type: code <-> value, exactly, with the rounding, saturation and NaN
// rules of DESIGN.md. Codes are unsigned integers below 2^bits (for i32 and u32, below 2^32).

import type { DType } from './dtype.ts';
import { roundF32ToBF16, roundF32ToF16 } from './half.ts';

/** 2^e for any integer e that a double can hold exactly (a table: this is the codec's inner loop). */
const POW2 = Float64Array.from({ length: 2200 }, (_, i) => 2 ** (i - 1100));
const pow2 = (e: number): number => POW2[e + 1100]!;

/** floor(log2(a)) for a finite a > 0, exact (Math.log2 may be off by one next to powers of two). */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (pow2(e) > a) e--;
  else if (pow2(e + 1) <= a) e++;
  return e;
}

/** Rounds x >= 0 to the nearest integer, ties to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The value of a code. NaN codes give NaN; the sign of zero is kept. */
export function decode(t: DType, code: number): number {
  switch (t.kind) {
    case 'uint':
      return code;
    case 'int':
      return code >= pow2(t.bits - 1) ? code - pow2(t.bits) : code;
    case 'exponent':
      return code === 255 ? NaN : pow2(code - t.bias);
    case 'float':
      return decodeFloat(t, code);
  }
}

function decodeFloat(t: DType, code: number): number {
  const m = t.mantissaBits;
  const e = t.exponentBits;
  const negative = Math.floor(code / pow2(e + m)) % 2 === 1;
  const field = Math.floor(code / pow2(m)) % pow2(e);
  const mant = code % pow2(m);
  const topField = pow2(e) - 1;
  let a: number;
  if (t.specials === 'ieee' && field === topField) a = mant === 0 ? Infinity : NaN;
  else if (t.specials === 'fn' && field === topField && mant === pow2(m) - 1) a = NaN;
  else if (field === 0) a = mant * pow2(1 - t.bias - m);
  else a = (pow2(m) + mant) * pow2(field - t.bias - m);
  return negative ? -a : a;
}

/** The code of x under the cast rules of DESIGN.md. */
export function encode(t: DType, x: number): number {
  switch (t.kind) {
    case 'int':
    case 'uint': {
      if (Number.isNaN(x)) return 0;
      const v = Math.min(t.max, Math.max(t.min, x === Infinity || x === -Infinity ? x : roundSigned(x)));
      return v < 0 ? v + pow2(t.bits) : v + 0; // + 0 turns -0 into the code 0
    }
    case 'exponent':
      return encodeE8m0(t, x);
    case 'float':
      return encodeFloat(t, x);
  }
}

const roundSigned = (x: number): number => (x < 0 ? -roundHalfEven(-x) : roundHalfEven(x));

/** e8m0 holds 2^-127 .. 2^127 and NaN: nearest power of two (ties to the even code), saturating. */
function encodeE8m0(t: DType, x: number): number {
  if (Number.isNaN(x)) return 255;
  if (!(x > 0)) return 0; // zero and negatives have no code: the smallest scale
  if (x >= t.max) return 254;
  if (x <= t.min) return 0;
  const e = exponentOf(x);
  const lo = pow2(e);
  const mid = lo * 1.5;
  const up = x > mid || (x === mid && (e + t.bias) % 2 === 1);
  return e + t.bias + (up ? 1 : 0);
}

function encodeFloat(t: DType, x: number): number {
  const m = t.mantissaBits;
  const e = t.exponentBits;
  const signBit = pow2(e + m);
  const negative = x < 0 || Object.is(x, -0);
  const sign = negative ? signBit : 0;
  if (Number.isNaN(x)) {
    if (t.specials === 'ieee') return (pow2(e) - 1) * pow2(m) + pow2(m - 1); // +quiet NaN
    if (t.specials === 'fn') return signBit - 1; // S.1111.111 with S = 0
    return maxCode(t); // no NaN: +max
  }
  const a = Math.abs(x);
  if (a === Infinity) return sign + (t.hasInf ? infCode(t) : maxCode(t));
  if (a === 0) return sign;
  const minExp = 1 - t.bias;
  const q = pow2((a < pow2(minExp) ? minExp : exponentOf(a)) - m);
  const units = Math.floor(a / q); // exact: dividing by a power of two
  const frac = a / q - units;
  const lo = units * q;
  const hi = lo + q;
  // Nearest, and at a midpoint the even code (also for mantissa-less formats, where the
  // parity of the significand says nothing).
  const r = frac > 0.5 || (frac === 0.5 && (hi > t.max || magnitudeCode(t, lo) % 2 === 1)) ? hi : lo;
  if (r > t.max) {
    // Minifloats saturate any finite overflow; IEEE f16/bf16/f32 round to infinity.
    return sign + (t.bits > 8 ? infCode(t) : maxCode(t));
  }
  return sign + magnitudeCode(t, r);
}

/** The code (without sign) of a representable magnitude v >= 0. */
function magnitudeCode(t: DType, v: number): number {
  const m = t.mantissaBits;
  const minExp = 1 - t.bias;
  if (v < pow2(minExp)) return v / pow2(minExp - m);
  const e = exponentOf(v);
  return (e + t.bias) * pow2(m) + (v / pow2(e - m) - pow2(m));
}

const maxCode = (t: DType): number => magnitudeCode(t, t.max);

const infCode = (t: DType): number => (pow2(t.exponentBits) - 1) * pow2(t.mantissaBits);

/** x rounded to t and back: the value a store of x into t keeps. */
export function quantize(t: DType, x: number): number {
  if (t.name === 'f32') return Math.fround(x);
  if (Math.fround(x) === x && t.name === 'f16') return roundF32ToF16(x);
  if (Math.fround(x) === x && t.name === 'bf16') return roundF32ToBF16(x);
  return decode(t, encode(t, x));
}

/** Number of codes of a type of 8 bits or fewer (or 16). */
export const codeCount = (t: DType): number => pow2(t.bits);

/** Whether a code is a NaN of its type. */
export const isNaNCode = (t: DType, code: number): boolean => Number.isNaN(decode(t, code));

/** A decode table for types of 16 bits or fewer, built once per type. */
const tables = new Map<string, Float64Array>();
export function decodeTable(t: DType): Float64Array {
  let tab = tables.get(t.name);
  if (!tab) {
    if (t.bits > 16) throw new Error(`decodeTable: ${t.name} is wider than 16 bits`);
    tab = new Float64Array(pow2(t.bits));
    for (let c = 0; c < tab.length; c++) tab[c] = decode(t, c);
    tables.set(t.name, tab);
  }
  return tab;
}
