// How far a register layout's locals run contiguously through memory: the question vectorization asks.

import { type RegisterLayout, localSize, logicalIndex, threadCount } from './layout.ts';

export interface ContiguityOptions {
  /** Also require each run to start at an offset that is a multiple of its length. */
  readonly aligned?: boolean;
}

/**
 * The largest power of two v dividing the local size such that, for every thread, each group of v
 * consecutive locals starting at a multiple of v lands on v consecutive offsets of `offset`.
 */
export function contiguity(
  layout: RegisterLayout,
  offset: (index: readonly number[]) => number,
  options: ContiguityOptions = {},
): number {
  const n = localSize(layout);
  const threads = threadCount(layout);
  const offsets: number[][] = [];
  for (let t = 0; t < threads; t++) {
    const row: number[] = [];
    for (let i = 0; i < n; i++) row.push(offset(logicalIndex(layout, t, i)));
    offsets.push(row);
  }
  let best = 1;
  for (let v = 2; v <= n && n % v === 0; v *= 2) {
    const ok = offsets.every((row) => {
      for (let g = 0; g < n; g += v) {
        if (options.aligned && row[g]! % v !== 0) return false;
        for (let i = 1; i < v; i++) if (row[g + i] !== row[g]! + i) return false;
      }
      return true;
    });
    if (!ok) break;
    best = v;
  }
  return best;
}

/** The widest access, in elements, for runs of `contiguity` elements of `bits` each, at most `maxBits`. */
export function vectorElements(run: number, bits: number, maxBits = 128): number {
  let v = run;
  while (v > 1 && v * bits > maxBits) v /= 2;
  return v;
}
