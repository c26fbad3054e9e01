// Unrolling of the loops the lowering marks `unroll` (a GPU thread's loops over its locals) when their
// bounds are constant: the body once per iteration with the loop variable replaced by its value, so that
// simplification folds the index arithmetic and register arrays are indexed by constants. For targets
// without an unroll directive (WGSL; CUDA C has `#pragma unroll`): a driver that meets a register array
// indexed by a loop variable may keep it in memory, and SwiftShader's compiler slows down sharply on it.

import { type LFunction, type LModule, type Stmt, i32, substituteInStmts } from '../ir/loop_ir.ts';
import { simplifyLoops } from './simplify_loops.ts';

function unrollStmts(body: readonly Stmt[], maxTrip: number): Stmt[] {
  return body.flatMap((s): Stmt[] => {
    if (s.k === 'if') return [{ ...s, then: unrollStmts(s.then, maxTrip), else: unrollStmts(s.else, maxTrip) }];
    if (s.k !== 'for') return [s];
    const inner = unrollStmts(s.body, maxTrip);
    const constant = s.start.k === 'const' && s.end.k === 'const' && s.step.k === 'const' && s.step.value > 0;
    if (!s.unroll || !constant) return [{ ...s, body: inner }];
    const values: number[] = [];
    for (let i = s.start.value; i < s.end.value; i += s.step.value) values.push(i);
    if (values.length > maxTrip) return [{ ...s, body: inner }];
    return values.flatMap((c) => substituteInStmts(inner, s.var, i32(c)));
  });
}

/** Unrolls every marked loop of at most `maxTrip` iterations, then simplifies. */
export function unrollLoops(m: LModule, maxTrip = 64): LModule {
  const fn = (f: LFunction): LFunction => ({ ...f, body: unrollStmts(f.body, maxTrip) });
  return simplifyLoops({ ...m, functions: m.functions.map(fn) });
}
