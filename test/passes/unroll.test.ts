// Unrolling of marked loops (used by the WGSL emitter): constant trip counts only, up to a limit; the
// loop variable becomes each iteration's value and simplification folds the indices it reaches.

import { describe, expect, it } from 'vitest';
import { type LModule, type Stmt, add, forEachExpr, get, i32, mul } from '../../ir/loop_ir.ts';
import { printModule } from '../../ir/loop_print.ts';
import { unrollLoops } from '../../passes/unroll_loops.ts';

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
