// Symbolic integers: shapes, grids and launch checks over size symbols and scalar parameters.

import * as arith from './arith.ts';
import type { SymExpr, SymOp } from './tile_ir.ts';

const FN: Partial<Record<SymOp, Parameters<typeof arith.binary>[0]>> = {
  '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod', min: 'min', max: 'max',
  '==': 'eq', '!=': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '&&': 'land', '||': 'lor',
};

/** Evaluates with i32 semantics (comparisons give 0 or 1); throws on an unbound name. */
export function evalSym(e: SymExpr, env: { symbols: ReadonlyMap<string, number>; params: ReadonlyMap<string, number> }): number {
  switch (e.kind) {
    case 'const':
      return e.value;
    case 'symbol':
    case 'param': {
      const v = (e.kind === 'symbol' ? env.symbols : env.params).get(e.name);
      if (v === undefined) throw new Error(`${e.kind === 'symbol' ? 'size symbol' : 'parameter'} '${e.name}' has no value`);
      return v;
    }
    case 'unary': {
      const x = evalSym(e.operand, env);
      return e.op === '-' ? arith.unary('neg', 'i32', x) : x ? 0 : 1;
    }
    case 'binary': {
      const [a, b] = [evalSym(e.left, env), evalSym(e.right, env)];
      if (e.op === 'cdiv') return b === 0 ? 0 : arith.binary('div', 'i32', a + b - 1, b);
      return arith.binary(FN[e.op]!, 'i32', a, b);
    }
    case 'select':
      return evalSym(e.cond, env) ? evalSym(e.then, env) : evalSym(e.else, env);
  }
}

/** Prints in the DSL's syntax. */
export function printSym(e: SymExpr): string {
  switch (e.kind) {
    case 'const':
      return String(e.value);
    case 'symbol':
    case 'param':
      return e.name;
    case 'unary':
      return `${e.op}${wrap(e.operand)}`;
    case 'binary':
      return e.op === 'cdiv' || e.op === 'min' || e.op === 'max' ? `${e.op}(${printSym(e.left)}, ${printSym(e.right)})` : `${wrap(e.left)} ${e.op} ${wrap(e.right)}`;
    case 'select':
      return `${wrap(e.cond)} ? ${wrap(e.then)} : ${wrap(e.else)}`;
  }
}

const wrap = (e: SymExpr): string => (e.kind === 'binary' && !['cdiv', 'min', 'max'].includes(e.op)) || e.kind === 'select' ? `(${printSym(e)})` : printSym(e);

/** Names of the size symbols an expression reads. */
export function symbolsOf(e: SymExpr, out: Set<string> = new Set()): Set<string> {
  if (e.kind === 'symbol') out.add(e.name);
  else if (e.kind === 'unary') symbolsOf(e.operand, out);
  else if (e.kind === 'binary') [e.left, e.right].forEach((x) => symbolsOf(x, out));
  else if (e.kind === 'select') [e.cond, e.then, e.else].forEach((x) => symbolsOf(x, out));
  return out;
}
