// Simplification of Loop IR: folds i32 operations on constants, drops identities (x + 0, x * 1,
// x * 0, shifts by 0, x / 1, x % 1, x | 0, x & 0), resolves selects and ifs on constant conditions, and removes loops that run
// zero times. Lowering emits index arithmetic generically; this leaves the code the next passes read.

import { type Expr, type LFunction, type LModule, type Stmt, mapOwnExprs } from '../ir/loop_ir.ts';

const FOLD: Readonly<Record<string, (a: number, b: number) => number>> = {
  'i32.add': (a, b) => (a + b) | 0,
  'i32.sub': (a, b) => (a - b) | 0,
  'i32.mul': (a, b) => Math.imul(a, b),
  'i32.and': (a, b) => a & b,
  'i32.or': (a, b) => a | b,
  'i32.xor': (a, b) => a ^ b,
  'i32.shl': (a, b) => a << (b & 31),
  'i32.shr_s': (a, b) => a >> (b & 31),
  'i32.shr_u': (a, b) => (a >>> (b & 31)) | 0,
  'i32.eq': (a, b) => +(a === b),
  'i32.ne': (a, b) => +(a !== b),
  'i32.lt_s': (a, b) => +(a < b),
  'i32.le_s': (a, b) => +(a <= b),
  'i32.gt_s': (a, b) => +(a > b),
  'i32.ge_s': (a, b) => +(a >= b),
  'i32.lt_u': (a, b) => +(a >>> 0 < b >>> 0),
  'i32.ge_u': (a, b) => +(a >>> 0 >= b >>> 0),
  'i32.le_u': (a, b) => +(a >>> 0 <= b >>> 0),
  'i32.gt_u': (a, b) => +(a >>> 0 > b >>> 0),
};

/** Unsigned division and remainder fold only for a nonzero divisor (the op is undefined at zero). */
const FOLD_DIV: Readonly<Record<string, (a: number, b: number) => number>> = {
  'i32.div_u': (a, b) => Math.floor((a >>> 0) / (b >>> 0)) | 0,
  'i32.rem_u': (a, b) => ((a >>> 0) % (b >>> 0)) | 0,
};

const isConst = (e: Expr, value?: number): e is Extract<Expr, { k: 'const' }> => e.k === 'const' && e.type === 'i32' && (value === undefined || e.value === value);

export function simplifyExpr(e: Expr): Expr {
  switch (e.k) {
    case 'load':
      return { ...e, addr: simplifyExpr(e.addr) };
    case 'bits':
      return { ...e, base: simplifyExpr(e.base), index: simplifyExpr(e.index) };
    case 'aget':
      return { ...e, index: simplifyExpr(e.index) };
    case 'select': {
      const [cond, a, b] = [simplifyExpr(e.cond), simplifyExpr(e.a), simplifyExpr(e.b)];
      if (isConst(cond)) return cond.value ? a : b;
      return { ...e, cond, a, b };
    }
    case 'math':
    case 'call':
    case 'intrinsic':
      return { ...e, args: e.args.map(simplifyExpr) } as Expr;
    case 'op': {
      const args = e.args.map(simplifyExpr);
      const [a, b] = args;
      const fold = FOLD[e.op];
      if (fold && a && b && isConst(a) && isConst(b)) return { k: 'const', type: 'i32', value: fold(a.value, b.value) };
      if (e.op === 'i32.add' && isConst(b!, 0)) return a!;
      if (e.op === 'i32.add' && isConst(a!, 0)) return b!;
      if (e.op === 'i32.sub' && isConst(b!, 0)) return a!;
      if (e.op === 'i32.mul' && isConst(b!, 1)) return a!;
      if (e.op === 'i32.mul' && isConst(a!, 1)) return b!;
      if (e.op === 'i32.mul' && (isConst(a!, 0) || isConst(b!, 0))) return { k: 'const', type: 'i32', value: 0 };
      if ((e.op === 'i32.shl' || e.op === 'i32.shr_u' || e.op === 'i32.shr_s') && isConst(b!, 0)) return a!;
      if (FOLD_DIV[e.op] && isConst(b!) && b.value !== 0) {
        if (isConst(a!)) return { k: 'const', type: 'i32', value: FOLD_DIV[e.op]!(a.value, b.value) };
        if (isConst(b, 1)) return e.op === 'i32.div_u' ? a! : { k: 'const', type: 'i32', value: 0 };
      }
      if ((e.op === 'i32.or' || e.op === 'i32.xor') && isConst(b!, 0)) return a!;
      if (e.op === 'i32.and' && (isConst(a!, 0) || isConst(b!, 0))) return { k: 'const', type: 'i32', value: 0 };
      if (e.op === 'i32.eqz' && isConst(a!)) return { k: 'const', type: 'i32', value: +(a.value === 0) };
      return { ...e, args };
    }
    default:
      return e;
  }
}

function simplifyStmts(body: readonly Stmt[]): Stmt[] {
  return body.flatMap((s): Stmt[] => {
    switch (s.k) {
      case 'if': {
        const cond = simplifyExpr(s.cond);
        if (isConst(cond)) return simplifyStmts(cond.value ? s.then : s.else);
        return [{ ...s, cond, then: simplifyStmts(s.then), else: simplifyStmts(s.else) }];
      }
      case 'for': {
        const [start, end, step] = [simplifyExpr(s.start), simplifyExpr(s.end), simplifyExpr(s.step)];
        if (isConst(start) && isConst(end) && start.value >= end.value) return [];
        return [{ ...s, start, end, step, body: simplifyStmts(s.body) }];
      }
      default:
        return [mapOwnExprs(s, simplifyExpr)];
    }
  });
}

export function simplifyLoops(m: LModule): LModule {
  const fn = (f: LFunction): LFunction => ({ ...f, body: simplifyStmts(f.body) });
  return { ...m, functions: m.functions.map(fn) };
}
