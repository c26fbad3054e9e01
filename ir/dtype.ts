// Data types: every name of DESIGN.md, parsed once into a description that the codecs, the VM, the
// compiler and the tests all read. Values live in ir/codec.ts; bit streams in ir/bitstream.ts.

/** What the bits of a code mean. */
export type DTypeKind =
  | 'int' //      two's complement
  | 'uint' //     plain binary
  | 'float' //    sign, biased exponent, mantissa; subnormals at exponent field 0
  | 'exponent'; // e8m0: an unsigned power of two, no sign and no mantissa

/** How a float format spends its top exponent field. */
export type FloatSpecials =
  | 'ieee' //     all-ones exponent: infinity (mantissa 0) or NaN (f16, bf16, f32, f8e5m2)
  | 'fn' //       no infinity; NaN only at S.1...1.1...1 (OCP E4M3FN)
  | 'finite'; //  every code is a number (OCP MX style minifloats)

export interface DType {
  readonly name: string;
  readonly kind: DTypeKind;
  /** Storage width in bits. */
  readonly bits: number;
  /** Float fields (0 for integers; e8m0 has 8 exponent bits and no mantissa). */
  readonly exponentBits: number;
  readonly mantissaBits: number;
  readonly bias: number;
  readonly specials: FloatSpecials | null;
  readonly hasInf: boolean;
  readonly hasNaN: boolean;
  /** Least and greatest finite values. */
  readonly min: number;
  readonly max: number;
  /** Smallest positive normal and subnormal value; for integers both are 1, for e8m0 both 2^-127. */
  readonly minNormal: number;
  readonly minSubnormal: number;
}

const FORMS =
  'i1..i8, u1..u8, i16, u16, i32, u32, f16, bf16, f32, e8m0, and minifloats f<N>e<E>m<M> ' +
  'with N = 1 + E + M, 3 <= N <= 8 and E >= 1 (for example f8e4m3, f6e3m2, f4e2m1)';

/** A name that is not a data type. The message lists the forms that exist. */
export class DTypeError extends Error {
  constructor(name: string, why?: string) {
    super(`'${name}' is not a data type${why ? ` (${why})` : ''}; the types are ${FORMS}`);
    this.name = 'DTypeError';
  }
}

function integer(name: string, signed: boolean, bits: number): DType {
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return {
    name, kind: signed ? 'int' : 'uint', bits, exponentBits: 0, mantissaBits: 0, bias: 0,
    specials: null, hasInf: false, hasNaN: false, min, max, minNormal: 1, minSubnormal: 1,
  };
}

function float(name: string, e: number, m: number, specials: FloatSpecials): DType {
  const bias = 2 ** (e - 1) - 1;
  const topField = 2 ** e - 1;
  // The largest finite code: IEEE loses the whole top exponent field, FN only its all-ones mantissa.
  const maxField = specials === 'ieee' ? topField - 1 : topField;
  const maxMant = specials === 'fn' ? 2 ** m - 2 : 2 ** m - 1;
  const max = (1 + maxMant / 2 ** m) * 2 ** (maxField - bias);
  return {
    name, kind: 'float', bits: 1 + e + m, exponentBits: e, mantissaBits: m, bias, specials,
    hasInf: specials === 'ieee', hasNaN: specials !== 'finite', min: -max, max,
    minNormal: 2 ** (1 - bias), minSubnormal: 2 ** (1 - bias - m),
  };
}

const E8M0: DType = {
  name: 'e8m0', kind: 'exponent', bits: 8, exponentBits: 8, mantissaBits: 0, bias: 127,
  specials: null, hasInf: false, hasNaN: true, min: 2 ** -127, max: 2 ** 127,
  minNormal: 2 ** -127, minSubnormal: 2 ** -127,
};

const cache = new Map<string, DType>();

/** Parses a data-type name; throws DTypeError listing the valid forms. */
export function dtype(name: string): DType {
  const hit = cache.get(name);
  if (hit) return hit;
  const t = build(name);
  cache.set(name, t);
  return t;
}

function build(name: string): DType {
  let m = /^([iu])(\d+)$/.exec(name);
  if (m) {
    const bits = Number(m[2]);
    if ((bits >= 1 && bits <= 8) || bits === 16 || bits === 32) return integer(name, m[1] === 'i', bits);
    throw new DTypeError(name, 'integers are 1 to 8, 16 or 32 bits wide');
  }
  if (name === 'f16') return float(name, 5, 10, 'ieee');
  if (name === 'bf16') return float(name, 8, 7, 'ieee');
  if (name === 'f32') return float(name, 8, 23, 'ieee');
  if (name === 'e8m0') return E8M0;
  m = /^f(\d+)e(\d+)m(\d+)$/.exec(name);
  if (m) {
    const [n, e, mant] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (n !== 1 + e + mant) throw new DTypeError(name, `N must be 1 + E + M = ${1 + e + mant}`);
    if (n < 3 || n > 8) throw new DTypeError(name, 'minifloats are 3 to 8 bits wide');
    if (e < 1) throw new DTypeError(name, 'a minifloat needs at least one exponent bit');
    const specials: FloatSpecials = name === 'f8e5m2' ? 'ieee' : name === 'f8e4m3' ? 'fn' : 'finite';
    return float(name, e, mant, specials);
  }
  throw new DTypeError(name);
}

/** Whether `name` parses as a data type. */
export function isDType(name: string): boolean {
  try {
    dtype(name);
    return true;
  } catch {
    return false;
  }
}

/** Every type of 8 bits or fewer, in a stable order: integers, then minifloats by width, then e8m0. */
export function narrowTypes(): DType[] {
  const names: string[] = [];
  for (let b = 1; b <= 8; b++) names.push(`i${b}`, `u${b}`);
  for (let n = 3; n <= 8; n++) for (let e = 1; e <= n - 1; e++) names.push(`f${n}e${e}m${n - 1 - e}`);
  names.push('e8m0');
  return names.map(dtype);
}

/** Every type of DESIGN.md. */
export function allTypes(): DType[] {
  return [...narrowTypes(), ...['i16', 'u16', 'i32', 'u32', 'f16', 'bf16', 'f32'].map(dtype)];
}

export const isFloat = (t: DType): boolean => t.kind === 'float' || t.kind === 'exponent';
export const isInteger = (t: DType): boolean => t.kind === 'int' || t.kind === 'uint';
