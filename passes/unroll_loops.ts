// Unrolling of the loops the lowering marks `unroll` (a GPU thread's loops over its locals) when their
// bounds are constant: the body once per iteration with the loop variable replaced by its value, so that
// simplification folds the index arithmetic and register arrays are indexed by constants. For targets
// without an unroll directive (WGSL; CUDA C has `#pragma unroll`): a driver that meets a register array
// indexed by a loop variable may keep it in memory, and SwiftShader's compiler slows down sharply on it.

import type { Expr, LFunction, LModule, Stmt } from '../ir/loop_ir.ts';
import { simplifyLoops } from './simplify_loops.ts';

function subst(e: Expr, v: string, c: number): Expr {
  switch (e.k) {
    case 'get':
      return e.name === v ? { k: 'const', type: 'i32', value: c } : e;
    case 'load':
      return { ...e, addr: subst(e.addr, v, c) };
    case 'bits':
      return { ...e, base: subst(e.base, v, c), index: subst(e.index, v, c) };
    case 'aget':
      return { ...e, index: subst(e.index, v, c) };
    case 'select':
      return { ...e, cond: subst(e.cond, v, c), a: subst(e.a, v, c), b: subst(e.b, v, c) };
    case 'op':
    case 'math':
    case 'call':
    case 'intrinsic':
      return { ...e, args: e.args.map((a) => subst(a, v, c)) } as Expr;
    default:
      return e;
  }
}

function substStmts(body: readonly Stmt[], v: string, c: number): Stmt[] {
  const x = (e: Expr): Expr => subst(e, v, c);
  return body.map((s): Stmt => {
    switch (s.k) {
      case 'set':
      case 'return':
        return { ...s, value: x(s.value) };
      case 'aset':
        return { ...s, index: x(s.index), value: x(s.value) };
      case 'loadwords':
        return { ...s, addr: x(s.addr) };
      case 'storewords':
        return { ...s, addr: x(s.addr), values: s.values.map(x) };
      case 'store':
      case 'atomic':
        return { ...s, addr: x(s.addr), value: x(s.value) };
      case 'for':
        return { ...s, start: x(s.start), end: x(s.end), step: x(s.step), body: substStmts(s.body, v, c) };
      case 'if':
        return { ...s, cond: x(s.cond), then: substStmts(s.then, v, c), else: substStmts(s.else, v, c) };
      default:
        return s;
    }
  });
}

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
    return values.flatMap((c) => substStmts(inner, s.var, c));
  });
}

/** Unrolls every marked loop of at most `maxTrip` iterations, then simplifies. */
export function unrollLoops(m: LModule, maxTrip = 64): LModule {
  const fn = (f: LFunction): LFunction => ({ ...f, body: unrollStmts(f.body, maxTrip) });
  return simplifyLoops({ ...m, functions: m.functions.map(fn) });
}
