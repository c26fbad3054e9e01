// Expressions over size symbols, template constants and scalar parameters become SymExprs: shapes,
// grids and launch-time asserts. Anything else (block indices, loop variables, tiles) is not symbolic.

import { evalSym } from '../ir/sym.ts';
import type { SymExpr, SymOp } from '../ir/tile_ir.ts';
import type * as A from './ast.ts';
import { type Context, lookup } from './context.ts';

const OPS: Partial<Record<A.BinaryOp, SymOp>> = {
  '+': '+', '-': '-', '*': '*', '/': '/', '%': '%', '==': '==', '!=': '!=', '<': '<', '<=': '<=',
  '>': '>', '>=': '>=', '&&': '&&', '||': '||',
};

/** The SymExpr of `e`, or null when `e` reads anything that is not known at launch. */
export function toSym(cx: Context, e: A.Expr): SymExpr | null {
  switch (e.kind) {
    case 'number':
      return e.isFloat || !Number.isInteger(e.value) ? null : { kind: 'const', value: e.value };
    case 'bool':
      return { kind: 'const', value: e.value ? 1 : 0 };
    case 'name': {
      const b = lookup(cx.scope, e.name);
      if (b?.kind === 'symbol') return { kind: 'symbol', name: e.name };
      if (b?.kind === 'scalar_param' && b.dtype !== 'f32') return { kind: 'param', name: e.name };
      if (b?.kind === 'value' && b.value.kind === 'const' && b.value.dtype !== 'f32') return { kind: 'const', value: b.value.value };
      return null;
    }
    case 'unary': {
      const x = toSym(cx, e.operand);
      return x && { kind: 'unary', op: e.op, operand: x };
    }
    case 'binary': {
      const op = OPS[e.op];
      const [l, r] = [toSym(cx, e.left), toSym(cx, e.right)];
      return op && l && r ? { kind: 'binary', op, left: l, right: r } : null;
    }
    case 'cond': {
      const [c, t, f] = [toSym(cx, e.cond), toSym(cx, e.then), toSym(cx, e.else)];
      return c && t && f ? { kind: 'select', cond: c, then: t, else: f } : null;
    }
    case 'call': {
      if (!['cdiv', 'min', 'max'].includes(e.callee) || e.args.length !== 2 || e.args.some((a) => a.kind !== 'positional')) return null;
      const [l, r] = e.args.map((a) => toSym(cx, (a as { value: A.Expr }).value));
      return l && r ? { kind: 'binary', op: e.callee as SymOp, left: l, right: r } : null;
    }
    default:
      return null;
  }
}

/** The value of a SymExpr with no symbols or parameters, else null. */
export function constantSym(e: SymExpr): number | null {
  try {
    return evalConst(e);
  } catch {
    return null;
  }
}

const evalConst = (e: SymExpr): number => evalSym(e, { symbols: new Map(), params: new Map() });
