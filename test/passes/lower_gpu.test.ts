// The GPU lowering's choices that the WebGPU tests cannot see (they check results): how wide the
// global-to-shared copies move data. Results: test/backends/webgpu.test.ts, cases copies_* and matmul.

import { describe, expect, it } from 'vitest';
import type { Stmt } from '../../ir/loop_ir.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { compile } from '../../src/api.ts';
import { gpuCases } from '../support/gpu_cases.ts';

/** Words per global-to-shared `copywords`, in order. */
function wordLoads(body: readonly Stmt[]): number[] {
  const out: number[] = [];
  for (const s of body) {
    if (s.k === 'copywords') out.push(s.words);
    if (s.k === 'for') out.push(...wordLoads(s.body));
    if (s.k === 'if') out.push(...wordLoads(s.then), ...wordLoads(s.else));
  }
  return out;
}

const lowered = (source: string, set: Record<string, string | number> = {}): readonly Stmt[] =>
  lowerForGpu(compile(source, { set: new Map(Object.entries(set).map(([k, v]) => [k, String(v)])) })).module.functions.find((f) => f.name === 'block')!.body;

describe('global-to-shared copies', () => {
  it('move the widest runs the shared layout keeps aligned and whole', () => {
    const widths = Object.fromEntries(gpuCases.filter((c) => c.name.startsWith('copies_')).map((c) => [c.name, wordLoads(lowered(c.source, c.set))]));
    expect(widths).toEqual({
      'copies_f16_0_row_major_swizzle_2_3_3_': [4], // a swizzle that moves 8 f16 together: 16 bytes
      copies_u4_0_row_major: [4], // 32 u4 per run
      'copies_f16_3_strided_40_1_': [4], // padded rows of 40 f16 keep 16-byte alignment
      'copies_u8_4_row_major_swizzle_1_2_4_': [1], // a swizzle that moves 4 bytes together: words
    });
  });

  it('go element by element when no run fits (3-bit elements)', () => {
    const source = gpuCases.find((c) => c.name === 'copies_u4_0_row_major')!;
    expect(wordLoads(lowered(source.source, { ...source.set, T: 'u3' }))).toEqual([]);
  });
});
