// Layout expressions: `local(2, 1) * spatial(8, 4)`, `L.spatial(2, 2)`, named layouts, and shared
// layouts `row_major`, `column_major`, `strided(...)` with an optional `.swizzle(bits, base, shift)`.

import {
  type RegisterLayout, LayoutError, columnLocal, columnSpatial, local, multiply, replicated, spatial, threadCount,
} from '../ir/layout.ts';
import { printLayout } from '../ir/layout_print.ts';
import { type SharedLayout, SharedLayoutError, columnMajor, rowMajor, strided, withSwizzle } from '../ir/shared_layout.ts';
import type * as A from './ast.ts';
import { type Context, lookup, report } from './context.ts';
import { constInt } from './elaborate_expr.ts';

const ATOMS: Record<string, (...extents: number[]) => RegisterLayout> = {
  local, spatial, column_local: columnLocal, column_spatial: columnSpatial,
};

/** A register layout, or null after reporting why not. */
export function registerLayout(cx: Context, node: A.LayoutNode): RegisterLayout | null {
  try {
    return evalRegister(cx, node);
  } catch (e) {
    if (e instanceof LayoutError) {
      report(cx, node.span, `invalid layout: ${e.message}`);
      return null;
    }
    throw e;
  }
}

function atom(cx: Context, name: string, args: readonly A.Expr[], span: A.Span): RegisterLayout | null {
  const values = args.map((a) => constInt(cx, a, `an argument of ${name}(...)`));
  if (values.some((v) => v === null)) return null;
  const n = values as number[];
  if (name === 'replicated') {
    if (n.length !== 1) return void report(cx, span, `replicated(...) takes one factor, got ${n.length}`), null;
    return replicated(n[0]!);
  }
  const make = ATOMS[name];
  if (!make) {
    report(cx, span, `unknown layout '${name}'; the layout atoms are local, spatial, column_local, column_spatial and replicated`);
    return null;
  }
  return make(...n);
}

function evalRegister(cx: Context, node: A.LayoutNode): RegisterLayout | null {
  switch (node.kind) {
    case 'atom':
      return atom(cx, node.name, node.args, node.span);
    case 'named': {
      const b = lookup(cx.scope, node.name);
      if (!b) return void report(cx, node.span, `unknown layout '${node.name}'`), null;
      if (b.kind !== 'layout') return void report(cx, node.span, `'${node.name}' is not a layout`), null;
      if (b.resolved === undefined) {
        const saved = cx.scope;
        cx.scope = b.scope;
        try {
          b.resolved = registerLayout(cx, b.node);
        } finally {
          cx.scope = saved;
        }
      }
      if (b.resolved && !('modes' in b.resolved)) return void report(cx, node.span, `'${node.name}' is a shared-memory layout, not a register layout`), null;
      return b.resolved;
    }
    case 'product': {
      const l = evalRegister(cx, node.left);
      const r = evalRegister(cx, node.right);
      return l && r ? multiply(l, r) : null;
    }
    case 'chain': {
      const base = evalRegister(cx, node.base);
      const right = atom(cx, node.name, node.args, node.span);
      return base && right ? multiply(base, right) : null;
    }
  }
}

/** Checks that a layout attached to a tile covers it and fits the block. */
export function checkTileLayout(cx: Context, layout: RegisterLayout, shape: readonly number[], span: A.Span): boolean {
  const same = layout.shape.length === shape.length && layout.shape.every((s, i) => s === shape[i]);
  if (!same) {
    report(cx, span, `layout ${printLayout(layout)} covers [${layout.shape.join(', ')}], but the tile is [${shape.join(', ')}]`);
    return false;
  }
  const t = threadCount(layout);
  if (cx.threads % t !== 0) {
    report(cx, span, `layout ${printLayout(layout)} spreads over ${t} threads, which does not divide the block's ${cx.threads}`);
    return false;
  }
  return true;
}

/** A shared layout for an allocation of `shape` (row-major when none is given). */
export function sharedLayout(cx: Context, node: A.LayoutNode | null, shape: readonly number[]): SharedLayout | null {
  if (!node) return rowMajor(shape);
  try {
    return evalShared(cx, node, shape);
  } catch (e) {
    if (e instanceof SharedLayoutError) return void report(cx, node.span, `invalid shared layout: ${e.message}`), null;
    throw e;
  }
}

function evalShared(cx: Context, node: A.LayoutNode, shape: readonly number[]): SharedLayout | null {
  const ints = (args: readonly A.Expr[], what: string): number[] | null => {
    const v = args.map((a) => constInt(cx, a, what));
    return v.some((x) => x === null) ? null : (v as number[]);
  };
  switch (node.kind) {
    case 'named': {
      if (node.name === 'row_major') return rowMajor(shape);
      if (node.name === 'column_major') return columnMajor(shape);
      const b = lookup(cx.scope, node.name);
      if (b?.kind === 'layout') {
        const saved = cx.scope;
        cx.scope = b.scope;
        try {
          return evalShared(cx, b.node, shape);
        } finally {
          cx.scope = saved;
        }
      }
      report(cx, node.span, `unknown shared layout '${node.name}'; use row_major, column_major or strided(...)`);
      return null;
    }
    case 'atom': {
      if (node.name !== 'strided') {
        report(cx, node.span, `'${node.name}(...)' is a register layout; shared memory takes row_major, column_major or strided(...)`);
        return null;
      }
      const s = ints(node.args, 'a stride');
      return s && strided(shape, s);
    }
    case 'chain': {
      if (node.name !== 'swizzle') return void report(cx, node.span, `a shared layout can only be followed by .swizzle(bits, base, shift)`), null;
      const base = evalShared(cx, node.base, shape);
      const a = ints(node.args, 'a swizzle parameter');
      if (!base || !a) return null;
      if (a.length !== 3) return void report(cx, node.span, `.swizzle takes (bits, base, shift), got ${a.length} values`), null;
      return withSwizzle(base, a[0]!, a[1]!, a[2]!);
    }
    case 'product':
      report(cx, node.span, 'shared layouts do not multiply; use strided(...) for a custom layout');
      return null;
  }
}
