// Instruction selection: rewrites Loop IR expressions with a target's rule table, bottom-up, until no
// rule applies. A rule is a row: a name, and a function from an expression to its replacement (or
// null). Targets own their tables (backends/*/rules.ts) and hand them to this pass.

import type { Expr, LFunction, LModule, Stmt } from '../ir/loop_ir.ts';

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

function stmt(s: Stmt, rules: readonly Rule[]): Stmt {
  switch (s.k) {
    case 'set':
      return { ...s, value: expr(s.value, rules) };
    case 'store':
      return { ...s, addr: expr(s.addr, rules), value: expr(s.value, rules) };
    case 'atomic':
      return { ...s, addr: expr(s.addr, rules), value: expr(s.value, rules) };
    case 'aset':
      return { ...s, index: expr(s.index, rules), value: expr(s.value, rules) };
    case 'loadwords':
      return { ...s, addr: expr(s.addr, rules) };
    case 'copywords':
      return { ...s, addr: expr(s.addr, rules), sharedAddr: expr(s.sharedAddr, rules) };
    case 'storewords':
      return { ...s, addr: expr(s.addr, rules), values: s.values.map((v) => expr(v, rules)) };
    case 'for':
      return { ...s, start: expr(s.start, rules), end: expr(s.end, rules), step: expr(s.step, rules), body: s.body.map((b) => stmt(b, rules)) };
    case 'if':
      return { ...s, cond: expr(s.cond, rules), then: s.then.map((b) => stmt(b, rules)), else: s.else.map((b) => stmt(b, rules)) };
    case 'return':
      return { ...s, value: expr(s.value, rules) };
    default:
      return s;
  }
}

export function selectInstructions(m: LModule, rules: readonly Rule[]): LModule {
  const fn = (f: LFunction): LFunction => ({ ...f, body: f.body.map((s) => stmt(s, rules)) });
  return { ...m, functions: m.functions.map(fn) };
}
