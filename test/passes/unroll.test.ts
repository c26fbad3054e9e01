// Unrolling of marked loops (used by the WGSL emitter): constant trip counts only, up to a limit; the
// loop variable becomes each iteration's value and simplification folds the indices it reaches (array
// indices included). And the generated GPU kernels, unrolled, index their register arrays by constants.

import { describe, expect, it } from 'vitest';
import { type Expr, type LModule, type Stmt, add, forEachExpr, forEachStmt, get, i32, mul } from '../../ir/loop_ir.ts';
import { printModule } from '../../ir/loop_print.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { unrollLoops } from '../../passes/unroll_loops.ts';
import { compile } from '../../src/api.ts';
import { decodeAttention, flashAttention } from '../../src/kernels/attention.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';

const module = (body: Stmt[]): LModule => ({
  functions: [{
    name: 'block', result: null, params: [{ name: 'n', type: 'i32' }],
    locals: ['j', 'k', 'x'].map((name) => ({ name, type: 'i32' as const })), arrays: [{ name: 'r', type: 'i32', length: 8 }], body,
  }],
  traps: [], data: [], dataBytes: 0, scratchBytes: 0,
});

const marked = (v: string, end: number | string, body: Stmt[], step = 1): Stmt =>
  ({ k: 'for', var: v, start: i32(0), end: typeof end === 'number' ? i32(end) : get(end), step: i32(step), body, unroll: true });

describe('unrollLoops', () => {
  it('replaces a marked constant loop by its iterations, with constant array indices', () => {
    const body = [marked('j', 4, [{ k: 'aset', array: 'r', index: add(mul(get('j'), i32(2)), i32(1)), value: get('j') }], 1)];
    const out = unrollLoops(module(body)).functions[0]!.body;
    expect(out).toEqual([0, 1, 2, 3].map((c) => ({ k: 'aset', array: 'r', index: i32(2 * c + 1), value: i32(c) })));
  });

  it('keeps loops that are unmarked, too long, or of runtime length, and unrolls marked loops inside them', () => {
    const inner = marked('k', 2, [{ k: 'aset', array: 'r', index: get('k'), value: get('x') }]);
    const body: Stmt[] = [
      { k: 'for', var: 'x', start: i32(0), end: get('n'), step: i32(1), body: [inner] },
      marked('j', 100, [{ k: 'set', name: 'x', value: get('j') }]),
      marked('j', 'n', [{ k: 'set', name: 'x', value: get('j') }]),
    ];
    const out = unrollLoops(module(body)).functions[0]!.body;
    expect(out.map((s) => s.k)).toEqual(['for', 'for', 'for']);
    const first = out[0] as Extract<Stmt, { k: 'for' }>;
    expect(first.body).toEqual([0, 1].map((c) => ({ k: 'aset', array: 'r', index: i32(c), value: get('x') })));
    let reads = 0;
    forEachExpr(out.slice(1), (e) => void (reads += e.k === 'get' && e.name === 'j' ? 1 : 0));
    expect(reads).toBe(2);
  });

  it('steps by the loop step and drops empty loops', () => {
    const out = unrollLoops(module([marked('j', 7, [{ k: 'aset', array: 'r', index: get('j'), value: i32(0) }], 3), marked('k', 0, [{ k: 'set', name: 'x', value: i32(1) }])]));
    expect(printModule(out)).toContain('r[0] = 0');
    expect(out.functions[0]!.body.map((s) => (s.k === 'aset' && s.index.k === 'const' ? s.index.value : null))).toEqual([0, 3, 6]);
  });
});

describe('the GPU lowering of the generated kernels, unrolled', () => {
  // A register array indexed by a variable anywhere in a kernel is kept in memory by a GPU compiler that
  // cannot unroll the loop (WGSL has no unroll directive). With the marked loops unrolled, every index
  // of every register array must be a constant: the edge paths of word-run loads and stores read and
  // write words at their bit positions rather than element by element in a loop.
  const kernels: Record<string, string> = {
    'GEMV (staged)': dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', m: 1, target: 'gpu' }).source,
    'GEMV (direct)': dequantGemm({ weight: 'u3', groupSize: 128, activation: 'f16', m: 1, target: 'gpu', asyncCopies: false }).source,
    'GEMV, 8 rows per thread (direct)': dequantGemm({ weight: 'f6e3m2', groupSize: 128, activation: 'f16', m: 1, target: 'gpu', rowsPerThread: 8, asyncCopies: false }).source,
    'GEMV split along K, zero points': dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', m: 1, target: 'gpu', splitK: 4, zeroPoint: 'u4', asyncCopies: false }).source,
    'GEMV, 8 rows per thread, M = 4': dequantGemm({ weight: 'i4', groupSize: 64, activation: 'bf16', m: 4, target: 'gpu', rowsPerThread: 8 }).source,
    'M = 16 tiles': dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', m: 16, target: 'gpu' }).source,
    'M = 16 tiles, weights in fragment order, scales on the weights': dequantGemm({ weight: 'u3', groupSize: 64, activation: 'f16', m: 16, target: 'gpu', weightOrder: 'fragments', applyScales: 'weights' }).source,
    'M = 4096 tiles, f32 activations': dequantGemm({ weight: 'f6e3m2', groupSize: 64, activation: 'f32', m: 4096, target: 'gpu' }).source,
    'flash attention': flashAttention({ headDim: 64, causal: true, dtype: 'f16', target: 'gpu', asyncCopies: false }).source,
    'decode attention (u4 cache)': decodeAttention({ headDim: 64, cache: 'u4', dtype: 'f16' }).source,
  };
  // Split decode attention: two kernels in one source.
  const split = decodeAttention({ headDim: 64, cache: 'u3', scales: 'channel', dtype: 'bf16', splitKV: 4 });
  const cases: [string, string, string | undefined][] = [
    ...Object.entries(kernels).map(([name, source]): [string, string, undefined] => [name, source, undefined]),
    ...['partial', 'combine'].map((part): [string, string, string] => [`split decode attention (u3 cache, scales per channel), ${part}`, split.source, `decode_attention_u3_d64_channel_${part}`]),
  ];
  it.each(cases)('%s', (_, source, kernel) => {
    const m = unrollLoops(lowerForGpu(compile(source, { kernel })).module, 64);
    const variable: string[] = [];
    let indexed = 0;
    const check = (array: string, index: Expr): void => {
      indexed++;
      if (index.k !== 'const') variable.push(array);
    };
    for (const f of m.functions) {
      forEachStmt(f.body, (s) => void (s.k === 'aset' && check(s.array, s.index)));
      forEachExpr(f.body, (e) => void (e.k === 'aget' && check(e.array, e.index)));
    }
    expect(indexed).toBeGreaterThan(20);
    expect(variable).toEqual([]);
  });
});
