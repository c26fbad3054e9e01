// Instruction selection: rewrites Loop IR expressions with a target's rule table, bottom-up, until no
// rule applies. A rule is a row: a name, and a function from an expression to its replacement (or
// null). Targets own their tables (backends/*/rules.ts) and hand them to this pass.

import { type Expr, type LFunction, type LModule, mapExprsInStmts, mapSubExprs } from '../ir/loop_ir.ts';

export interface Rule {
  readonly name: string;
  readonly rewrite: (e: Expr) => Expr | null;
}

function expr(e: Expr, rules: readonly Rule[]): Expr {
  const out = mapSubExprs(e, (a) => expr(a, rules));
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
