import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Expr } from '../../ir/loop_ir.ts';
import { simplifyExpr, simplifyLoops } from '../../passes/simplify_loops.ts';

const OPS = ['i32.add', 'i32.sub', 'i32.mul', 'i32.and', 'i32.or', 'i32.xor', 'i32.shl', 'i32.shr_s', 'i32.shr_u', 'i32.eq', 'i32.lt_s', 'i32.lt_u'] as const;

/** i32 semantics written out here, as wasm defines them. */
function evaluate(e: Expr, x: number): number {
  switch (e.k) {
    case 'const':
      return e.value;
    case 'get':
      return x;
    case 'select':
      return evaluate(e.cond, x) ? evaluate(e.a, x) : evaluate(e.b, x);
    case 'op': {
      const [a, b] = e.args.map((y) => evaluate(y, x)) as [number, number];
      const table: Record<string, number> = {
        'i32.add': (a + b) | 0, 'i32.sub': (a - b) | 0, 'i32.mul': Math.imul(a, b), 'i32.and': a & b, 'i32.or': a | b, 'i32.xor': a ^ b,
        'i32.shl': a << (b & 31), 'i32.shr_s': a >> (b & 31), 'i32.shr_u': (a >>> (b & 31)) | 0, 'i32.eq': +(a === b), 'i32.lt_s': +(a < b), 'i32.lt_u': +(a >>> 0 < b >>> 0),
      };
      return table[e.op]!;
    }
    default:
      throw new Error(e.k);
  }
}

const expr: fc.Arbitrary<Expr> = fc.letrec<{ e: Expr }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(0, 1, -1, 2, 7, 31, -2147483648).map((value): Expr => ({ k: 'const', type: 'i32', value })),
    fc.constant<Expr>({ k: 'get', name: 'x' }),
    fc.record({ op: fc.constantFrom(...OPS), a: tie('e'), b: tie('e') }).map(({ op, a, b }): Expr => ({ k: 'op', op, args: [a, b] })),
    fc.record({ c: tie('e'), a: tie('e'), b: tie('e') }).map(({ c, a, b }): Expr => ({ k: 'select', cond: c, a, b })),
  ),
})).e;

describe('Loop IR simplification', () => {
  it('keeps the value of every i32 expression', () => {
    fc.assert(fc.property(expr, fc.integer(), (e, x) => evaluate(simplifyExpr(e), x) === evaluate(e, x)), { numRuns: 3000 });
  });
  it('folds constants and identities', () => {
    const x: Expr = { k: 'get', name: 'x' };
    const c = (value: number): Expr => ({ k: 'const', type: 'i32', value });
    expect(simplifyExpr({ k: 'op', op: 'i32.add', args: [{ k: 'op', op: 'i32.mul', args: [x, c(1)] }, { k: 'op', op: 'i32.mul', args: [c(3), c(4)] }] })).toEqual({ k: 'op', op: 'i32.add', args: [x, c(12)] });
    // Register-array indices too (a GPU compiler keeps an array it cannot index by constants in memory).
    expect(simplifyExpr({ k: 'aget', array: 'r', index: { k: 'op', op: 'i32.rem_u', args: [{ k: 'op', op: 'i32.div_u', args: [c(9), c(4)] }, c(8)] } })).toEqual({ k: 'aget', array: 'r', index: c(2) });
  });
  it('drops branches and loops that constants decide', () => {
    const m = simplifyLoops({
      functions: [{ name: 'block', result: null, params: [], locals: [{ name: 'i', type: 'i32' }], body: [
        { k: 'if', cond: { k: 'const', type: 'i32', value: 0 }, then: [{ k: 'barrier' }], else: [] },
        { k: 'for', var: 'i', start: { k: 'const', type: 'i32', value: 4 }, end: { k: 'const', type: 'i32', value: 4 }, step: { k: 'const', type: 'i32', value: 1 }, body: [{ k: 'barrier' }] },
        { k: 'if', cond: { k: 'const', type: 'i32', value: 1 }, then: [{ k: 'barrier' }], else: [] },
      ] }],
      traps: [], data: [], dataBytes: 64, scratchBytes: 16,
    });
    expect(m.functions[0]!.body).toEqual([{ k: 'barrier' }]);
  });
});
