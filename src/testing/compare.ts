// Comparing a target's output with the VM's: bit for bit for integer and storage types, within a
// dtype-aware tolerance for float types, where the order of accumulation may differ.

import { valueOf } from '../../ir/cast.ts';
import { type Tensor, tensorElements } from '../vm/memory.ts';

/** Relative tolerance, against the largest magnitude in the reference tensor, per output type. */
export const TOLERANCE: Readonly<Record<string, number>> = { f32: 2 ** -16, f16: 2 ** -8, bf16: 2 ** -5 };

export interface Comparison {
  readonly mismatches: number;
  readonly maxError: number;
  readonly tolerance: number;
  readonly ok: boolean;
  /** The first element beyond the tolerance, if any. */
  readonly first: { readonly index: number; readonly got: number; readonly want: number } | null;
}

export function compareTensors(got: Tensor, want: Tensor): Comparison {
  const g = Array.from(tensorElements(got), (h) => valueOf(got.dtype, h));
  const w = Array.from(tensorElements(want), (h) => valueOf(want.dtype, h));
  const scale = w.reduce((m, x) => (Number.isFinite(x) ? Math.max(m, Math.abs(x)) : m), 0);
  const tolerance = (TOLERANCE[want.dtype] ?? 0) * scale;
  let mismatches = 0;
  let maxError = 0;
  let first: Comparison['first'] = null;
  for (let i = 0; i < w.length; i++) {
    const [a, b] = [g[i]!, w[i]!];
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
    const err = Math.abs(a - b);
    maxError = Math.max(maxError, Number.isNaN(err) ? Infinity : err);
    if (!(err <= tolerance)) {
      mismatches++;
      first ??= { index: i, got: a, want: b };
    }
  }
  return { mismatches, maxError, tolerance, ok: mismatches === 0, first };
}
