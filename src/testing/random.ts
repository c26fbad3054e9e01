// Deterministic random inputs: a seeded generator and tensors of any data type drawn from it.

import { castElement } from '../../ir/cast.ts';
import { decode } from '../../ir/codec.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { type Tensor, elementCount, tensorFrom } from '../vm/memory.ts';

/** mulberry32: small, fast, and the same stream on every machine. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A tensor of random elements: floats of 16 bits or more uniform in [-1, 1), i32/u32 in [-100, 100)
 * and [0, 200), e8m0 scales between 2^-7 and 2^7, and every other type of 8 bits or fewer (and i16/u16)
 * uniform over its finite codes.
 */
export function randomTensor(dtype: string, shape: readonly number[], next: () => number): Tensor {
  const t = parseDType(dtype);
  const n = elementCount(shape);
  const held = new Float64Array(n);
  if (dtype === 'f32' || dtype === 'f16' || dtype === 'bf16') {
    for (let i = 0; i < n; i++) held[i] = castElement('f32', dtype, Math.fround(next() * 2 - 1));
  } else if (dtype === 'i32' || dtype === 'u32') {
    for (let i = 0; i < n; i++) held[i] = Math.floor(next() * 200) - (dtype === 'i32' ? 100 : 0);
  } else if (dtype === 'e8m0') {
    // Scales of 2^-7 .. 2^7: the full 2^+-127 range would overflow every product.
    for (let i = 0; i < n; i++) held[i] = 120 + Math.floor(next() * 15);
  } else {
    const codes = Array.from({ length: 2 ** t.bits }, (_, c) => c).filter((c) => Number.isFinite(decode(t, c)));
    for (let i = 0; i < n; i++) held[i] = codes[Math.floor(next() * codes.length)]!;
  }
  return tensorFrom(dtype, shape, held);
}
