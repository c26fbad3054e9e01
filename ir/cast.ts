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

/** The code of an element, for memory and for `view`. */
export function codeOf(dtype: string, held: number): number {
  if (dtype === 'bool') throw new Error('bool has no storage code');
  return heldAsCode(dtype) ? held : encode(parseDType(dtype), held);
}

/** The element a code holds. */
export function fromCode(dtype: string, code: number): number {
  return heldAsCode(dtype) ? code : decode(parseDType(dtype), code);
}
