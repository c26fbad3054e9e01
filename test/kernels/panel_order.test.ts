// Weights in panels (src/kernels/panel_order.ts): the order itself, and what it changes in the GPU
// GEMV: each K tile of weights copied as one run in 16-byte chunks, and nothing else (no exchange
// between threads, the same barriers).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Stmt, forEachStmt } from '../../ir/loop_ir.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { compile } from '../../src/api.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { fromPanelOrder, panelShape, toPanelOrder } from '../../src/kernels/panel_order.ts';

describe('panel order', () => {
  it('is undone by fromPanelOrder, and pads the last panel with code 0', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 16 }), (K, N, width) => {
      const codes = Array.from({ length: K * N }, (_, i) => (i * 7 + 3) % 256);
      const ordered = toPanelOrder(codes, K, N, width);
      const [panels, row] = panelShape(K, N, width);
      expect(ordered.length).toBe(panels * row);
      expect(Array.from(fromPanelOrder(ordered, K, N, width))).toEqual(codes);
      // Panel p, row k, column j: W[k, p * width + j].
      const last = panels - 1;
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < width; j++) {
          const n = last * width + j;
          expect(ordered[(last * K + k) * width + j]).toBe(n < N ? codes[k * N + n] : 0);
        }
      }
    }));
  });
});

/** The weight copies (memory `w`) of a lowered GEMV by words per copy, and its barriers. */
function copiesAndBarriers(source: string): { copies: Record<number, number>; barriers: number } {
  const copies: Record<number, number> = {};
  let barriers = 0;
  for (const f of lowerForGpu(compile(source)).module.functions) {
    forEachStmt(f.body, (s: Stmt) => {
      if (s.k === 'copywords' && s.mem === 'g:w') copies[s.words] = (copies[s.words] ?? 0) + 1;
      if (s.k === 'barrier') barriers++;
    });
  }
  return { copies, barriers };
}

describe('the GPU GEMV with weights in panels', () => {
  it.each([
    ['u3', 1], ['u3', 8], ['u2', 1], ['f6e3m2', 1], ['u5', 8],
  ] as const)('%s weights, %i rows per thread: 16-byte weight copies where rows take narrower ones, the same barriers', (weight, rows) => {
    const o = { weight, groupSize: 128, activation: 'f16', m: 1, target: 'gpu', rowsPerThread: rows } as const;
    const inRows = copiesAndBarriers(dequantGemm(o).source);
    const inPanels = copiesAndBarriers(dequantGemm({ ...o, weightOrder: 'panels' }).source);
    // The widest copy of each (a copy also has 4-byte chunks for runs its rows leave misaligned at run time).
    const widest = (copies: Record<number, number>): number => Math.max(...Object.keys(copies).map(Number));
    expect(widest(inRows.copies)).toBeLessThan(4);
    expect(widest(inPanels.copies)).toBe(4);
    expect(inPanels.barriers).toBe(inRows.barriers);
  });

  it('says where panels do not apply', () => {
    expect(() => dequantGemm({ weight: 'u4', groupSize: 128, m: 1, target: 'gpu', blockN: 64, weightOrder: 'panels' })).toThrow('weights in panels need the GPU GEMV\'s N tile to be one run of each thread, 32 columns; got 64');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 128, m: 1, target: 'gpu', rowsPerThread: 8, blockN: 128, weightOrder: 'panels' })).toThrow('weights in panels need the GPU GEMV\'s N tile to be one run of each thread, 64 columns; got 128');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 32, m: 16, target: 'gpu', weightOrder: 'columns' as 'rows' })).toThrow('the weight order is rows, fragments or panels; got columns');
  });
});
