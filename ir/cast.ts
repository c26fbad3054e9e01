// The cast rules of DESIGN.md on the VM's value representation: compute types (i32, u32, f32, f16,
// bf16) and bool are held as values, storage-only types as codes.

import { decode, encode, quantize } from './codec.ts';
import { dtype as parseDType } from './dtype.ts';
import { isComputeType } from './tile_ir.ts';

/** Whether the VM holds elements of this type as codes (storage-only types) or as values. */
export const heldAsCode = (dtype: string): boolean => dtype !== 'bool' && !isComputeType(dtype);

/** The number an element stands for. */
export function valueOf(dtype: string, held: number): number {
  return heldAsCode(dtype) ? decode(parseDType(dtype), held) : held;
}

/** Converts one element from `from` to `to` by the cast rules. */
export function castElement(from: string, to: string, held: number): number {
  const x = valueOf(from, held);
  if (to === 'bool') return x !== 0 ? 1 : 0;
  const t = parseDType(to);
  return heldAsCode(to) ? encode(t, x) : quantize(t, x);
}

const casts = new Map<string, (held: number) => number>();

/**
 * The function `castElement(from, to, .)`, made once per pair of types: a table over every code where
 * `from` is a storage type of 8 bits or fewer (what the VM's dequantizing casts read), else the cast
 * with its types resolved.
 */
export function castFn(from: string, to: string): (held: number) => number {
  const key = `${from} ${to}`;
  let f = casts.get(key);
  if (f) return f;
  if (heldAsCode(from) && parseDType(from).bits <= 8) {
    const table = Float64Array.from({ length: 2 ** parseDType(from).bits }, (_, code) => castElement(from, to, code));
    f = (held) => table[held] ?? castElement(from, to, held);
  } else if (heldAsCode(from) || to === 'bool') {
    f = (held) => castElement(from, to, held);
  } else {
    const t = parseDType(to);
    f = heldAsCode(to) ? (x) => encode(t, x) : (x) => quantize(t, x);
  }
  casts.set(key, f);
  return f;
}

/** The code of an element, for memory and for `view`. */
export function codeOf(dtype: string, held: number): number {
  if (dtype === 'bool') throw new Error('bool has no storage code');
  return heldAsCode(dtype) ? held : encode(parseDType(dtype), held);
}

/** The element a code holds. */
export function fromCode(dtype: string, code: number): number {
  return heldAsCode(dtype) ? code : decode(parseDType(dtype), code);
}
