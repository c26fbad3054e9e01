// Elements in Loop IR: how each data type is held in a tile slot (f32 for float compute types, i32 for
// integer compute types, bool and the codes of storage-only types), how codes in memory become held
// values and back, and every cast, exactly as ir/cast.ts defines it. Casts from types of 8 bits or fewer
// are tables computed by ir/cast.ts itself; casts to minifloats search a table of rounding thresholds.

import { castElement, heldAsCode } from '../../ir/cast.ts';
import { decode } from '../../ir/codec.ts';
import { type DType, dtype as parseDType } from '../../ir/dtype.ts';
import { type DataSegment, type Expr, type LFunction, type Stmt, f32, get, i32, ifThen, op, set } from '../../ir/loop_ir.ts';
import { roundBF16, roundF16 } from './float_bits.ts';

export type Held = 'f32' | 'i32';

/** How a tile of this element type holds its elements. */
export const heldOf = (dtype: string): Held => (dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' ? 'f32' : 'i32');

/** Constant tables placed in memory, deduplicated by name. */
export class Tables {
  readonly segments: DataSegment[] = [];
  readonly functions: LFunction[] = [];
  private readonly offsets = new Map<string, number>();
  private top = 64; // address 0 stays unused

  constructor(private readonly functionNames = new Set<string>()) {}

  /** The address of a table of 32-bit words, built on first use. */
  words(name: string, build: () => { values: ArrayLike<number>; float: boolean }): number {
    const hit = this.offsets.get(name);
    if (hit !== undefined) return hit;
    const { values, float } = build();
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) {
      if (float) view.setFloat32(i * 4, values[i]!, true);
      else view.setUint32(i * 4, values[i]! >>> 0, true);
    }
    const offset = this.top;
    this.segments.push({ offset, bytes });
    this.offsets.set(name, offset);
    this.top += Math.ceil(bytes.length / 16) * 16;
    return offset;
  }

  /** Adds a helper function once. */
  helper(f: LFunction): string {
    if (!this.functionNames.has(f.name)) {
      this.functionNames.add(f.name);
      this.functions.push(f);
    }
    return f.name;
  }

  get bytes(): number {
    return this.top;
  }
}

const call = (fn: string, type: Held, ...args: Expr[]): Expr => ({ k: 'call', fn, type, args });

/** A held value from the code read from memory (i32 for every width). */
export function heldFromCode(dtype: string, code: Expr): Expr {
  switch (dtype) {
    case 'f32':
      return op('f32.from_bits', code);
    case 'f16':
      return call('f16_value', 'f32', code);
    case 'bf16':
      return op('f32.from_bits', op('i32.shl', code, i32(16)));
    default:
      return code; // i32, u32 and storage-only codes
  }
}

/** The code to write to memory for a held value. */
export function codeFromHeld(dtype: string, v: Expr): Expr {
  switch (dtype) {
    case 'f32':
      return op('i32.bits_of', v);
    case 'f16':
      return call('f16_bits', 'i32', v);
    case 'bf16':
      return op('i32.shr_u', op('i32.bits_of', v), i32(16));
    default:
      return v;
  }
}

/** The held zero of a type: what masked loads produce. */
export function heldZero(dtype: string): Expr {
  const z = dtype === 'bool' ? 0 : castElement('i32', dtype, 0);
  return heldOf(dtype) === 'f32' ? f32(z) : i32(z);
}

/** A cast of a held value from one element type to another. */
export function castHeld(from: string, to: string, v: Expr, tables: Tables, options: CastOptions = {}): Expr {
  if (from === to) return v;
  const ft = parseDType(from);
  if ((ft.kind === 'int' || ft.kind === 'uint') && ft.bits <= 8 && heldOf(to) === 'f32' && to !== 'bool') {
    // Integers of 8 bits or fewer are exact in f16, bf16 and f32: convert the value, no table.
    const value = ft.kind === 'int' ? op('i32.shr_s', op('i32.shl', v, i32(32 - ft.bits)), i32(32 - ft.bits)) : v;
    return op('f32.from_i32_s', value);
  }
  if (options.minifloatArithmetic && ft.kind === 'float' && ft.bits <= 8 && (ft.bits > 4 || options.narrowMinifloatArithmetic) && heldOf(to) === 'f32' && to !== 'bool' && minifloatIsExact(from, to)) {
    return minifloatValue(ft, v, canonicalNaN(to));
  }
  if (heldAsCode(from) && parseDType(from).bits <= 8) {
    // Every code's result, computed by the VM's own cast.
    const bits = parseDType(from).bits;
    const table = tables.words(`cast:${from}:${to}`, () => ({
      values: Array.from({ length: 2 ** bits }, (_, c) => castElement(from, to, c)),
      float: heldOf(to) === 'f32' && to !== 'bool',
    }));
    const addr = op('i32.add', op('i32.shl', v, i32(2)), i32(table));
    return { k: 'load', type: heldOf(to) === 'f32' && to !== 'bool' ? 'f32' : 'i32', bits: 32, signed: false, addr, offset: 0 };
  }
  if (heldAsCode(from)) {
    // i16, u16: decode arithmetically, then cast the value.
    const t = parseDType(from);
    const value = t.kind === 'int' ? op('i32.shr_s', op('i32.shl', v, i32(16)), i32(16)) : v;
    return castHeld('i32', to, value, tables);
  }
  const src = from === 'bool' ? 'i32' : from;
  if (src === to) return v;
  if (to === 'bool') return heldOf(src) === 'f32' ? op('f32.ne', v, f32(0)) : op('i32.ne', v, i32(0));
  if (heldOf(src) === 'f32') return castFromFloat(to, v, tables);
  return castFromInt(src === 'u32' ? 'u32' : 'i32', to, v, tables);
}

export interface CastOptions {
  /**
   * Decode minifloats of 5 to 8 bits by arithmetic (minifloatValue) rather than a table, where that
   * gives exactly the cast's bits for every code (every finite-only type; f8e4m3 to f32): a loop of
   * such casts vectorizes, where a table of more than 16 entries is a gather per element. (Codes of 4
   * bits or fewer keep their table, which the vectorizer turns into byte swizzles.)
   */
  readonly minifloatArithmetic?: boolean;
  /**
   * With minifloatArithmetic, codes of 4 bits or fewer by arithmetic too: where a table is a read per
   * element from memory that serves a warp's different addresses one after another (CUDA's constant
   * memory: up to 16 reads for a warp's f4e2m1 codes, against about five full-rate operations).
   */
  readonly narrowMinifloatArithmetic?: boolean;
}

/**
 * The f32 value of a minifloat code without a table: its exponent and mantissa fields moved to f32's
 * places make the value times 2^(bias - 127) (an f32 subnormal for a subnormal code), one
 * multiplication by 2^(127 - bias) rescales it exactly, and the sign bit moves to f32's. Special codes
 * take their bits through masks (no branch: the expression vectorizes): NaN at all-ones magnitude
 * ('fn': f8e4m3) becomes the quiet NaN 0x7fc00000, an all-ones exponent ('ieee': f8e5m2) infinity,
 * or the quiet NaN with a mantissa. minifloatIsExact checks every code against the cast
 * (minifloatBits mirrors this expression).
 */
export function minifloatValue(t: DType, code: Expr, positiveNaN = false): Expr {
  const magnitudeBits = t.exponentBits + t.mantissaBits;
  const em = op('i32.and', code, i32((1 << magnitudeBits) - 1));
  const placed = op('i32.shl', em, i32(23 - t.mantissaBits));
  const magnitude = op('f32.mul', op('f32.from_bits', placed), f32(2 ** (127 - t.bias)));
  let bits = op('i32.bits_of', magnitude);
  // All ones where the magnitude field is at least `from` (adding 2^magnitudeBits - from carries out of
  // it), else zero; such lanes take `value`'s bits.
  const over = (from: number, value: number): void => {
    const mask = op('i32.sub', i32(0), op('i32.shr_u', op('i32.add', em, i32((1 << magnitudeBits) - from)), i32(magnitudeBits)));
    bits = op('i32.or', op('i32.and', bits, op('i32.xor', mask, i32(-1))), op('i32.and', mask, i32(value)));
  };
  // 'ieee' (f8e5m2): an all-ones exponent is infinity, NaN with a mantissa; 'fn' (f8e4m3): NaN at all ones.
  if (t.specials === 'ieee') over(((1 << t.exponentBits) - 1) << t.mantissaBits, 0x7f800000);
  if (t.specials === 'ieee') over((((1 << t.exponentBits) - 1) << t.mantissaBits) + 1, 0x7fc00000);
  if (t.specials === 'fn') over((1 << magnitudeBits) - 1, 0x7fc00000);
  if (t.bits > magnitudeBits) bits = op('i32.or', bits, op('i32.shl', op('i32.and', code, i32(1 << magnitudeBits)), i32(31 - magnitudeBits)));
  // Casts to f16 and bf16 give the positive quiet NaN (the VM rounds through them): NaN lanes again,
  // after the sign.
  if (positiveNaN) nanLanes(t, over);
  return op('f32.from_bits', bits);
}

/** The NaN codes of a minifloat, as `over` calls (see minifloatValue). */
function nanLanes(t: DType, over: (from: number, value: number) => void): void {
  const magnitudeBits = t.exponentBits + t.mantissaBits;
  if (t.specials === 'ieee') over((((1 << t.exponentBits) - 1) << t.mantissaBits) + 1, 0x7fc00000);
  if (t.specials === 'fn') over((1 << magnitudeBits) - 1, 0x7fc00000);
}

/** Whether casts to `to` make every NaN the positive quiet NaN (f16 and bf16 do, f32 keeps the sign). */
const canonicalNaN = (to: string): boolean => to === 'f16' || to === 'bf16';

/** The f32 bits minifloatValue computes for a code (the same steps on numbers). */
function minifloatBits(t: DType, c: number, positiveNaN = false): number {
  const magnitudeBits = t.exponentBits + t.mantissaBits;
  const em = c & ((1 << magnitudeBits) - 1);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  u[0] = em << (23 - t.mantissaBits);
  f[0] = f[0]! * 2 ** (127 - t.bias); // exact: a power of two times an f32, within f32's range
  let bits = u[0]!;
  const over = (from: number, value: number): void => {
    const mask = -((em + (1 << magnitudeBits) - from) >>> magnitudeBits) | 0;
    bits = (bits & ~mask) | (mask & value);
  };
  if (t.specials === 'ieee') over(((1 << t.exponentBits) - 1) << t.mantissaBits, 0x7f800000);
  if (t.specials === 'ieee') over((((1 << t.exponentBits) - 1) << t.mantissaBits) + 1, 0x7fc00000);
  if (t.specials === 'fn') over((1 << magnitudeBits) - 1, 0x7fc00000);
  if (t.bits > magnitudeBits) bits |= (c & (1 << magnitudeBits)) << (31 - magnitudeBits);
  if (positiveNaN) nanLanes(t, over);
  return bits >>> 0;
}

/**
 * Whether minifloatValue gives, for every code, the bits of the cast from `from` to `to` as its table
 * would hold them (signed zeros and the sign of NaN included).
 */
function minifloatIsExact(from: string, to: string): boolean {
  const t = parseDType(from);
  if (t.bias < 0 || t.bits > 8) return false;
  const view = new DataView(new ArrayBuffer(4));
  for (let c = 0; c < 2 ** t.bits; c++) {
    view.setFloat32(0, castElement(from, to, c), true);
    if (view.getUint32(0, true) !== minifloatBits(t, c, canonicalNaN(to))) return false;
  }
  return true;
}

function castFromFloat(to: string, v: Expr, tables: Tables): Expr {
  switch (to) {
    case 'f32':
      return v;
    case 'f16':
      return call(tables.helper(roundF16), 'f32', v);
    case 'bf16':
      return call(tables.helper(roundBF16), 'f32', v);
    case 'i32':
      return op('i32.from_f32_sat_s', op('f32.nearest', v));
    case 'u32':
      return op('i32.from_f32_sat_u', op('f32.nearest', v));
  }
  const t = parseDType(to);
  if (t.kind === 'int' || t.kind === 'uint') {
    // Round, clamp in f32 (NaN survives the clamp and converts to 0), keep the low bits.
    const clamped = op('f32.max', op('f32.min', op('f32.nearest', v), f32(t.max)), f32(t.min));
    return op('i32.and', op('i32.from_f32_sat_s', clamped), i32(2 ** t.bits - 1));
  }
  return call(tables.helper(encodeFunction(t, tables)), 'i32', v);
}

function castFromInt(from: 'i32' | 'u32', to: string, v: Expr, tables: Tables): Expr {
  const lt = from === 'u32' ? 'i32.lt_u' : 'i32.lt_s';
  const gt = from === 'u32' ? 'i32.gt_u' : 'i32.gt_s';
  switch (to) {
    case 'f32':
    case 'f16':
      // Exact below 2^24; f16 overflows long before, so one rounding either way.
      return castFromFloat(to, op(from === 'u32' ? 'f32.from_i32_u' : 'f32.from_i32_s', v), tables);
    case 'bf16':
      return castFromFloat(to, integerToF32RoundToOdd(from, v), tables);
    case 'i32': // from u32: values above 2^31 - 1 saturate
      return { k: 'select', cond: op('i32.lt_s', v, i32(0)), a: i32(0x7fffffff), b: v };
    case 'u32': // from i32: negatives saturate to 0
      return { k: 'select', cond: op('i32.lt_s', v, i32(0)), a: i32(0), b: v };
  }
  const t = parseDType(to);
  if (t.kind === 'int' || t.kind === 'uint') {
    // A u32 source is never below an integer type's minimum (which is at most 0).
    const lo: Expr = from === 'u32' ? v : { k: 'select', cond: op(lt, v, i32(t.min)), a: i32(t.min), b: v };
    const clamped: Expr = { k: 'select', cond: op(gt, lo, i32(t.max)), a: i32(t.max), b: lo };
    // A u32 source above 2^31 compares as unsigned; negative i32 sources never reach a uint's max.
    const fixed = from === 'i32' && t.kind === 'uint' ? { k: 'select' as const, cond: op('i32.lt_s', v, i32(0)), a: i32(0), b: clamped } : clamped;
    return op('i32.and', fixed, i32(2 ** t.bits - 1));
  }
  // Minifloats and e8m0 keep at most 7 significant bits, but some reach past 2^24 (f7e6m0, f8e7m0):
  // round to odd at 24 bits first, as for bf16.
  return castFromFloat(to, integerToF32RoundToOdd(from, v), tables);
}

/**
 * An integer as an f32 rounded to odd: bits below the 24 kept are dropped, and the lowest kept bit is
 * set when any of them was not zero. Rounding that once more to a type of at most 22 significant bits
 * (bf16, minifloats) gives the correctly rounded result, where rounding to nearest twice would not.
 */
function integerToF32RoundToOdd(from: 'i32' | 'u32', v: Expr): Expr {
  const negative = from === 'i32' ? op('i32.lt_s', v, i32(0)) : i32(0);
  const a: Expr = { k: 'select', cond: negative, a: op('i32.sub', i32(0), v), b: v }; // |v| as a u32
  const drop: Expr = { k: 'select', cond: op('i32.lt_u', a, i32(1 << 24)), a: i32(0), b: op('i32.sub', i32(8), op('i32.clz', a)) };
  const mask = op('i32.sub', op('i32.shl', i32(1), drop), i32(1));
  const sticky = op('i32.shl', op('i32.ne', op('i32.and', a, mask), i32(0)), drop); // into the lowest kept bit
  const odd = op('i32.or', op('i32.and', a, op('i32.xor', mask, i32(-1))), sticky);
  const magnitude = op('f32.from_i32_u', odd);
  return { k: 'select', cond: negative, a: op('f32.neg', magnitude), b: magnitude };
}

/**
 * encode_T(x): the code of an f32 under the minifloat (or e8m0) rules. Finite magnitudes in code order
 * are also in value order, so the magnitude code is the number of rounding thresholds x passes; at a
 * threshold (a midpoint) x passes when the lower code is odd, which rounds ties to the even code.
 */
function encodeFunction(t: DType, tables: Tables): LFunction {
  const isE8m0 = t.kind === 'exponent';
  const magnitudes: number[] = [];
  const count = isE8m0 ? 256 : 2 ** (t.bits - 1);
  for (let c = 0; c < count; c++) if (Number.isFinite(decode(t, c))) magnitudes.push(decode(t, c));
  const n = magnitudes.length;
  const thresholds = tables.words(`thresholds:${t.name}`, () => ({ values: magnitudes.slice(1).map((v, i) => (magnitudes[i]! + v) / 2), float: true }));
  const signShift = t.bits - 1;
  const nanCode = t.hasNaN ? (isE8m0 ? 255 : t.specials === 'fn' ? 2 ** t.bits / 2 - 1 : (2 ** t.exponentBits - 1) * 2 ** t.mantissaBits + 2 ** (t.mantissaBits - 1)) : n - 1;
  const infCode = t.hasInf ? (2 ** t.exponentBits - 1) * 2 ** t.mantissaBits : n - 1;
  const sign = (code: Expr): Expr => (isE8m0 ? code : op('i32.or', op('i32.shl', get('s'), i32(signShift)), code));
  const body: Stmt[] = [
    set('a', op('i32.and', op('i32.bits_of', get('x')), i32(0x7fffffff))),
    set('s', op('i32.shr_u', op('i32.bits_of', get('x')), i32(31))),
    ifThen(op('i32.gt_u', get('a'), i32(0x7f800000)), [{ k: 'return', value: i32(nanCode) }]),
  ];
  if (isE8m0) body.push(ifThen(op('i32.or', get('s'), op('i32.eqz', get('a'))), [{ k: 'return', value: i32(0) }]));
  body.push(ifThen(op('i32.eq', get('a'), i32(0x7f800000)), [{ k: 'return', value: sign(i32(infCode)) }]));
  body.push(set('p', i32(0)));
  for (let step = 2 ** Math.ceil(Math.log2(n)); step >= 1; step /= 2) {
    // Candidate threshold index j = p + step - 1 (lower code j): passed when |x| > T[j], or equal and j odd.
    const j = op('i32.add', get('p'), i32(step - 1));
    const t = { k: 'load' as const, type: 'f32' as const, bits: 32 as const, signed: false, addr: op('i32.shl', j, i32(2)), offset: thresholds };
    const ax = op('f32.from_bits', get('a'));
    const passes = op('i32.or', op('f32.gt', ax, t), op('i32.and', op('f32.eq', ax, t), op('i32.and', j, i32(1))));
    body.push(ifThen(op('i32.le_u', op('i32.add', get('p'), i32(step)), i32(n - 1)), [ifThen(passes, [set('p', op('i32.add', get('p'), i32(step)))])]));
  }
  body.push({ k: 'return', value: sign(get('p')) });
  return {
    name: `encode_${t.name}`, result: 'i32', params: [{ name: 'x', type: 'f32' }],
    locals: [{ name: 'a', type: 'i32' }, { name: 's', type: 'i32' }, { name: 'p', type: 'i32' }], body,
  };
}
