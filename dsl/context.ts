// The elaborator's state: scopes of bindings, the statement list being filled, value numbering, and the
// diagnostics collected so far.

import type { RegisterLayout } from '../ir/layout.ts';
import type { SharedLayout } from '../ir/shared_layout.ts';
import type { Inst, ScalarDType, SharedType, Stmt, TileType, Type, ValueId } from '../ir/tile_ir.ts';
import type * as A from './ast.ts';
import type { Diagnostic } from './diagnostics.ts';

/** What an expression elaborates to. Constants stay folded until an instruction needs them. */
export type EVal =
  | { readonly kind: 'const'; readonly dtype: ScalarDType; readonly value: number }
  | { readonly kind: 'scalar'; readonly id: ValueId; readonly dtype: ScalarDType }
  | { readonly kind: 'tile'; readonly id: ValueId; readonly type: TileType }
  | { readonly kind: 'shared'; readonly id: ValueId; readonly type: SharedType }
  /** An expression that already failed; its diagnostic is reported, so nothing more is said. */
  | { readonly kind: 'error' };

export type Binding =
  | { readonly kind: 'value'; readonly value: EVal }
  | { readonly kind: 'var'; readonly var: number; readonly type: Type }
  | { readonly kind: 'dtype'; readonly dtype: string }
  | { readonly kind: 'tensor'; readonly dtype: string; readonly rank: number }
  | { readonly kind: 'symbol' }
  | { readonly kind: 'scalar_param'; readonly dtype: ScalarDType }
  | { readonly kind: 'layout'; readonly node: A.LayoutNode; readonly scope: Scope; resolved?: RegisterLayout | SharedLayout | null };

export interface Scope {
  readonly parent: Scope | null;
  readonly names: Map<string, { binding: Binding; span: A.Span | null }>;
}

export interface Context {
  readonly diagnostics: Diagnostic[];
  scope: Scope;
  /** The statement list that instructions are appended to. */
  stmts: Stmt[];
  nextValue: number;
  nextVar: number;
  threads: number;
  gridRank: number;
}

export const ERROR: EVal = { kind: 'error' };

/** A constant or a runtime scalar (not a tile, not shared memory). */
export const isScalarLike = (v: EVal): v is Extract<EVal, { kind: 'const' | 'scalar' }> => v.kind === 'const' || v.kind === 'scalar';

export function newContext(globals: Scope): Context {
  return { diagnostics: [], scope: { parent: globals, names: new Map() }, stmts: [], nextValue: 0, nextVar: 0, threads: 0, gridRank: 1 };
}

export const rootScope = (): Scope => ({ parent: null, names: new Map() });

export function lookup(scope: Scope | null, name: string): Binding | undefined {
  for (let s = scope; s; s = s.parent) {
    const hit = s.names.get(name);
    if (hit) return hit.binding;
  }
  return undefined;
}

export function report(cx: Context, span: A.Span, message: string): EVal {
  cx.diagnostics.push({ span, message });
  return ERROR;
}

/** Binds a name in the innermost scope; a name already bound in that scope is an error. */
export function bind(cx: Context, name: string, binding: Binding, span: A.Span): void {
  if (cx.scope.names.has(name)) {
    report(cx, span, `'${name}' is already defined in this block`);
    return;
  }
  cx.scope.names.set(name, { binding, span });
}

/** Appends `result = inst` and returns the result's id. */
export function emit(cx: Context, inst: Inst, type: Type, name: string | null = null): ValueId {
  const id = cx.nextValue++;
  cx.stmts.push({ kind: 'def', result: { id, type, name }, inst });
  return id;
}

/** Runs `f` with a fresh scope and statement list; returns the statements it produced. */
export function inBlock(cx: Context, f: () => void): Stmt[] {
  const [scope, stmts] = [cx.scope, cx.stmts];
  cx.scope = { parent: scope, names: new Map() };
  cx.stmts = [];
  try {
    f();
    return cx.stmts;
  } finally {
    cx.scope = scope;
    cx.stmts = stmts;
  }
}

export function describeType(t: Type | EVal): string {
  switch (t.kind) {
    case 'scalar':
    case 'const':
      return `${t.dtype} scalar`;
    case 'tile':
      return 'type' in t ? `${t.type.dtype}[${t.type.shape.join(', ')}]` : `${t.dtype}[${t.shape.join(', ')}]`;
    case 'shared':
      return 'type' in t ? `shared ${t.type.dtype}[${t.type.shape.join(', ')}]` : `shared ${t.dtype}[${t.shape.join(', ')}]`;
    case 'error':
      return 'an invalid value';
  }
}
