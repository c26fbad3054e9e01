// Instruction selection: rewrites Loop IR expressions with a target's rule table, bottom-up, until no
// rule applies. A rule is a row: a name, and a function from an expression to its replacement (or
// null). Targets own their tables (backends/*/rules.ts) and hand them to this pass.

import { type Expr, type LFunction, type LModule, mapExprsInStmts } from '../ir/loop_ir.ts';

export interface Rule {
  readonly name: string;
  readonly rewrite: (e: Expr) => Expr | null;
}

function expr(e: Expr, rules: readonly Rule[]): Expr {
  let out: Expr;
  switch (e.k) {
    case 'load':
      out = { ...e, addr: expr(e.addr, rules) };
      break;
    case 'bits':
      out = { ...e, base: expr(e.base, rules), index: expr(e.index, rules) };
      break;
    case 'aget':
      out = { ...e, index: expr(e.index, rules) };
      break;
    case 'op':
    case 'math':
    case 'call':
    case 'intrinsic':
      out = { ...e, args: e.args.map((a) => expr(a, rules)) } as Expr;
      break;
    case 'select':
      out = { ...e, cond: expr(e.cond, rules), a: expr(e.a, rules), b: expr(e.b, rules) };
      break;
    default:
      out = e;
  }
  for (const r of rules) {
    const next = r.rewrite(out);
    if (next) return expr(next, rules);
  }
  return out;
}

export function selectInstructions(m: LModule, rules: readonly Rule[]): LModule {
  const fn = (f: LFunction): LFunction => ({ ...f, body: mapExprsInStmts(f.body, (e) => expr(e, rules)) });
  return { ...m, functions: m.functions.map(fn) };
}
