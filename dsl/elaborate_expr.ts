// Expressions: name resolution, constant folding, the typing and broadcasting rules of DSL.md, and the
// Tile IR they become.

import * as arith from '../ir/arith.ts';
import { castElement } from '../ir/cast.ts';
import { DTypeError, dtype as parseDType } from '../ir/dtype.ts';
import {
  type BinaryFn, type IndexEntry, type ScalarDType, type TileType, type UnaryFn, type ValueId,
  broadcastShapes, isComputeType, isFloatType, scalarType, tileType,
} from '../ir/tile_ir.ts';
import type * as A from './ast.ts';
import { type Context, type EVal, ERROR, describeType, emit, isScalarLike, lookup, report } from './context.ts';
import { checkTileLayout, registerLayout, sharedLayout } from './elaborate_layout.ts';

const BINARY: Record<A.BinaryOp, BinaryFn> = {
  '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod', '&': 'and', '|': 'or', '^': 'xor',
  '<<': 'shl', '>>': 'shr', '==': 'eq', '!=': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge',
  '&&': 'land', '||': 'lor',
};
const SYMBOL: Record<BinaryFn, string> = Object.fromEntries(Object.entries(BINARY).map(([k, v]) => [v, k])) as Record<BinaryFn, string>;
SYMBOL.max = 'max';
SYMBOL.min = 'min';

const UNARY_CALLS: ReadonlySet<string> = new Set(['exp', 'exp2', 'log', 'log2', 'sqrt', 'rsqrt', 'abs']);
const FUNCTIONS = 'exp, exp2, log, log2, sqrt, rsqrt, abs, max, min, sum, where, fma, dot, cdiv, transpose, permute, unsqueeze, broadcast, reshape';

const isComparison = (fn: BinaryFn): boolean => ['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(fn);

/** A data type named in the source: a type name or a dtype template parameter. */
export function resolveDType(cx: Context, name: string, span: A.Span): string | null {
  const b = lookup(cx.scope, name);
  if (b?.kind === 'dtype') return b.dtype;
  try {
    return parseDType(name).name;
  } catch (e) {
    if (e instanceof DTypeError) return void report(cx, span, e.message), null;
    throw e;
  }
}

/** A compile-time integer, or null after reporting that it is not one. */
export function constInt(cx: Context, e: A.Expr, what: string): number | null {
  const v = elabExpr(cx, e);
  if (v.kind === 'error') return null;
  if (v.kind !== 'const' || (v.dtype !== 'i32' && v.dtype !== 'u32')) {
    report(cx, e.span, `${what} must be a compile-time integer constant; got ${v.kind === 'const' ? describeType(v) : `a runtime ${describeType(v)}`}`);
    return null;
  }
  return v.value;
}

/** The scalar type two scalars meet in: f32 if either is, then u32, then i32. */
function joinScalar(a: ScalarDType, b: ScalarDType): ScalarDType {
  if (a === b) return a;
  if (a === 'bool' || b === 'bool') return 'bool';
  if (a === 'f32' || b === 'f32') return 'f32';
  return 'u32';
}

/** A scalar as an operand of type `to`: constants are emitted, runtime scalars converted. */
export function scalarOperand(cx: Context, v: Extract<EVal, { kind: 'const' | 'scalar' }>, to: ScalarDType = v.dtype): ValueId {
  if (v.kind === 'const') return emit(cx, { op: 'const', value: castElement(v.dtype, to, v.value) }, scalarType(to));
  if (v.dtype === to) return v.id;
  return emit(cx, { op: 'cast', x: v.id }, scalarType(to));
}

/** A scalar as a rank-0 tile of `dtype`, for element-wise operations with tiles. */
function scalarAsTile(cx: Context, v: Extract<EVal, { kind: 'const' | 'scalar' }>, dtype: string, span: A.Span): EVal {
  if (v.dtype === 'f32' && (dtype === 'i32' || dtype === 'u32')) {
    return report(cx, span, `a float scalar cannot become an integer ${dtype}; cast it`);
  }
  if ((v.dtype === 'bool') !== (dtype === 'bool')) {
    return report(cx, span, `cannot combine a ${describeType(v)} with a ${dtype} tile`);
  }
  const value = scalarOperand(cx, v);
  return { kind: 'tile', id: emit(cx, { op: 'full', value }, tileType(dtype, [])), type: tileType(dtype, []) };
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

function checkCompute(cx: Context, what: string, dtype: string, span: A.Span): boolean {
  if (dtype === 'bool' || isComputeType(dtype)) return true;
  report(cx, span, `${what} needs a compute type (i32, u32, f32, f16, bf16); ${dtype} is storage only: cast it first`);
  return false;
}

/** An element-wise binary operation on any mix of constants, scalars and tiles. */
export function elabBinary(cx: Context, fn: BinaryFn, l: EVal, r: EVal, span: A.Span): EVal {
  if (l.kind === 'error' || r.kind === 'error') return ERROR;
  if (l.kind === 'shared' || r.kind === 'shared') return report(cx, span, 'shared memory must be read with `load` before arithmetic');
  const op = SYMBOL[fn];
  // Logical operators with a constant side fold away (CAUSAL == 0 || cols <= rows).
  if ((fn === 'land' || fn === 'lor') && (l.kind === 'const' || r.kind === 'const')) {
    const [c, other] = l.kind === 'const' ? [l, r] : [r as Extract<EVal, { kind: 'const' }>, l];
    const otherType = other.kind === 'tile' ? other.type.dtype : other.dtype;
    if (c.dtype !== 'bool' || otherType !== 'bool') return report(cx, span, `\`${op}\` takes bool operands; got ${describeType(l)} and ${describeType(r)}`);
    if (other.kind !== 'const') return (fn === 'land') === (c.value === 1) ? other : c;
  }
  if (isScalarLike(l) && isScalarLike(r)) {
    const t = joinScalar(l.dtype, r.dtype);
    if (!arith.binaryAllowed(fn, t)) return report(cx, span, `\`${op}\` does not apply to ${t}; got ${describeType(l)} and ${describeType(r)}`);
    const resultType: ScalarDType = isComparison(fn) || fn === 'land' || fn === 'lor' ? 'bool' : t;
    if (l.kind === 'const' && r.kind === 'const') {
      return { kind: 'const', dtype: resultType, value: arith.binary(fn, t, castElement(l.dtype, t, l.value), castElement(r.dtype, t, r.value)) };
    }
    const id = emit(cx, { op: 'binary', fn, a: scalarOperand(cx, l, t), b: scalarOperand(cx, r, t) }, scalarType(resultType));
    return { kind: 'scalar', id, dtype: resultType };
  }
  const elem = l.kind === 'tile' ? l.type.dtype : (r as Extract<EVal, { kind: 'tile' }>).type.dtype;
  const a = isScalarLike(l) ? scalarAsTile(cx, l, elem, span) : l;
  const b = isScalarLike(r) ? scalarAsTile(cx, r, elem, span) : r;
  if (a.kind !== 'tile' || b.kind !== 'tile') return ERROR;
  if (a.type.dtype !== b.type.dtype) {
    return report(cx, span, `operands of \`${op}\` have different types ${describeType(a)} and ${describeType(b)}; cast one of them`);
  }
  if (!checkCompute(cx, `\`${op}\``, elem, span)) return ERROR;
  if (!arith.binaryAllowed(fn, elem)) return report(cx, span, `\`${op}\` does not apply to ${elem} tiles`);
  const shape = broadcastShapes(a.type.shape, b.type.shape);
  if (!shape) return report(cx, span, `cannot broadcast ${describeType(a)} with ${describeType(b)} for \`${op}\``);
  const type = tileType(isComparison(fn) || fn === 'land' || fn === 'lor' ? 'bool' : elem, shape);
  return { kind: 'tile', id: emit(cx, { op: 'binary', fn, a: a.id, b: b.id }, type), type };
}

function elabUnary(cx: Context, fn: UnaryFn, v: EVal, span: A.Span, name: string): EVal {
  if (v.kind === 'error') return ERROR;
  if (v.kind === 'shared') return report(cx, span, 'shared memory must be read with `load` before arithmetic');
  const t = v.kind === 'tile' ? v.type.dtype : v.dtype;
  if (v.kind === 'tile' && !checkCompute(cx, `\`${name}\``, t, span)) return ERROR;
  if (!arith.unaryAllowed(fn, t)) {
    const need = fn === 'not' ? 'a bool' : fn === 'neg' || fn === 'abs' ? 'a number' : 'a float (f32, f16, bf16)';
    return report(cx, span, `\`${name}\` needs ${need}; got ${describeType(v)}`);
  }
  if (v.kind === 'const') return { kind: 'const', dtype: v.dtype, value: arith.unary(fn, v.dtype, v.value) };
  if (v.kind === 'scalar') return { kind: 'scalar', id: emit(cx, { op: 'unary', fn, x: v.id }, scalarType(v.dtype)), dtype: v.dtype };
  return { kind: 'tile', id: emit(cx, { op: 'unary', fn, x: v.id }, v.type), type: v.type };
}

/** A name used as a value. */
function elabName(cx: Context, name: string, span: A.Span): EVal {
  const b = lookup(cx.scope, name);
  if (!b) return report(cx, span, `unknown name '${name}'`);
  switch (b.kind) {
    case 'value':
      return b.value;
    case 'var': {
      const id = emit(cx, { op: 'var_get', var: b.var }, b.type);
      if (b.type.kind === 'tile') return { kind: 'tile', id, type: b.type };
      if (b.type.kind === 'scalar') return { kind: 'scalar', id, dtype: b.type.dtype };
      return ERROR;
    }
    case 'symbol':
      return { kind: 'scalar', id: emit(cx, { op: 'symbol', name }, scalarType('i32')), dtype: 'i32' };
    case 'scalar_param':
      return { kind: 'scalar', id: emit(cx, { op: 'param', name }, scalarType(b.dtype)), dtype: b.dtype };
    case 'dtype':
      return report(cx, span, `'${name}' is a data type, not a value`);
    case 'tensor':
      return report(cx, span, `'${name}' is a global tensor: read it with \`load ${name}[...]\``);
    case 'layout':
      return report(cx, span, `'${name}' is a layout, not a value; attach it with \`@ ${name}\``);
  }
}

/** An index into a tensor or shared allocation of rank `rank`. */
export function elabIndex(cx: Context, index: readonly A.IndexEntry[], rank: number, what: string, span: A.Span): { entries: IndexEntry[]; shape: number[] } | null {
  if (index.length !== rank) {
    report(cx, span, `${what} has ${rank} dimension${rank === 1 ? '' : 's'}; the index has ${index.length} entr${index.length === 1 ? 'y' : 'ies'}`);
    return null;
  }
  const entries: IndexEntry[] = [];
  const shape: number[] = [];
  let ok = true;
  for (const e of index) {
    const start = elabExpr(cx, e.start);
    let extent: number | null = null;
    if (e.extent) {
      extent = constInt(cx, e.extent, 'a slice extent');
      if (extent === null) ok = false;
      else if (extent < 1) {
        report(cx, e.extent.span, `a slice extent must be at least 1; got ${extent}`);
        ok = false;
      } else shape.push(extent);
    }
    if (start.kind === 'error') ok = false;
    else if (!isScalarLike(start) || (start.dtype !== 'i32' && start.dtype !== 'u32')) {
      report(cx, e.start.span, `an index must be an integer scalar; got ${describeType(start)}`);
      ok = false;
    } else if (ok) entries.push({ offset: scalarOperand(cx, start, 'i32'), extent });
  }
  return ok ? { entries, shape } : null;
}

function elabLoad(cx: Context, e: Extract<A.Expr, { kind: 'load' }>): EVal {
  const b = lookup(cx.scope, e.source);
  const shared = b?.kind === 'value' && b.value.kind === 'shared' ? b.value : null;
  if (!shared && b?.kind !== 'tensor') {
    return report(cx, e.span, b ? `\`load\` reads a global tensor or a shared allocation; '${e.source}' is neither` : `unknown tensor '${e.source}'`);
  }
  const dtype = shared ? shared.type.dtype : (b as Extract<typeof b, { kind: 'tensor' }>).dtype;
  const rank = shared ? shared.type.shape.length : (b as Extract<typeof b, { kind: 'tensor' }>).rank;
  const idx = elabIndex(cx, e.index, rank, `'${e.source}'`, e.span);
  if (!idx) return ERROR;
  const layout = e.layout ? registerLayout(cx, e.layout) : null;
  if (e.layout && (!layout || !checkTileLayout(cx, layout, idx.shape, e.layout.span))) return ERROR;
  const type = tileType(dtype, idx.shape, layout);
  const inst = shared ? { op: 'load_shared' as const, shared: shared.id, index: idx.entries } : { op: 'load' as const, tensor: e.source, index: idx.entries };
  return { kind: 'tile', id: emit(cx, inst, type), type };
}

function elabShape(cx: Context, shape: readonly A.Expr[]): number[] | null {
  const out = shape.map((s) => {
    const n = constInt(cx, s, 'a tile extent');
    if (n !== null && n < 1) return void report(cx, s.span, `a tile extent must be at least 1; got ${n}`), null;
    return n;
  });
  return out.some((n) => n === null) ? null : (out as number[]);
}

function elabCreate(cx: Context, e: Extract<A.Expr, { kind: 'create' }>): EVal {
  const dtype = resolveDType(cx, e.dtype, e.span);
  const shape = elabShape(cx, e.shape);
  if (!dtype || !shape) return ERROR;
  if (dtype === 'e8m0') return report(cx, e.span, `${e.op}<e8m0> has no zero to start from; create another type and cast`);
  const layout = e.layout ? registerLayout(cx, e.layout) : null;
  if (e.layout && (!layout || !checkTileLayout(cx, layout, shape, e.layout.span))) return ERROR;
  const type = tileType(dtype, shape, layout);
  if (e.op === 'iota') {
    const axis = constInt(cx, e.arg!, 'the axis of iota');
    if (axis === null) return ERROR;
    if (axis < 0 || axis >= shape.length) return report(cx, e.arg!.span, `iota's axis ${axis} is outside a tile of rank ${shape.length}`);
    if (!isComputeType(dtype)) return report(cx, e.span, `iota needs a compute type (i32, u32, f32, f16, bf16); got ${dtype}`);
    return { kind: 'tile', id: emit(cx, { op: 'iota', axis }, type), type };
  }
  const v: EVal = e.op === 'zeros' ? { kind: 'const', dtype: 'i32', value: 0 } : elabExpr(cx, e.arg!);
  if (v.kind === 'error') return ERROR;
  if (!isScalarLike(v)) return report(cx, e.arg!.span, `full(...) takes a scalar value; got ${describeType(v)}`);
  if (v.dtype === 'f32' && !isFloatType(dtype) && isComputeType(dtype)) return report(cx, e.arg!.span, `a float value cannot fill an integer ${dtype} tile`);
  return { kind: 'tile', id: emit(cx, { op: 'full', value: scalarOperand(cx, v) }, type), type };
}

function elabConvert(cx: Context, e: Extract<A.Expr, { kind: 'convert' }>): EVal {
  const to = resolveDType(cx, e.dtype, e.span);
  const v = elabExpr(cx, e.operand);
  if (!to || v.kind === 'error') return ERROR;
  if (v.kind === 'shared') return report(cx, e.span, `${e.op} needs a tile or a scalar; read shared memory with \`load\` first`);
  if (e.op === 'cast') {
    if (v.kind === 'tile') {
      if (v.type.dtype === to) return v;
      const type = tileType(to, v.type.shape);
      return { kind: 'tile', id: emit(cx, { op: 'cast', x: v.id }, type), type };
    }
    if (to !== 'i32' && to !== 'u32' && to !== 'f32' && to !== 'bool') {
      return report(cx, e.span, `a scalar can be cast to i32, u32, f32 or bool; ${to} is a tile element type`);
    }
    if (v.kind === 'const') return { kind: 'const', dtype: to, value: castElement(v.dtype, to, v.value) };
    return { kind: 'scalar', id: scalarOperand(cx, v, to), dtype: to };
  }
  if (v.kind !== 'tile') return report(cx, e.span, `view<${to}> reinterprets a tile's bits; got ${describeType(v)}`);
  if (v.type.dtype === 'bool') return report(cx, e.span, 'bool tiles have no bits to view; cast them first');
  const from = parseDType(v.type.dtype).bits;
  const bits = parseDType(to).bits;
  const shape = [...v.type.shape];
  const last = shape.length - 1;
  if (last < 0) return report(cx, e.span, `view<${to}> needs a tile of rank 1 or more`);
  if ((shape[last]! * from) % bits !== 0) {
    return report(cx, e.span, `view<${to}> of ${describeType(v)}: the last dimension holds ${shape[last]! * from} bits, which is not a multiple of ${bits}`);
  }
  shape[last] = (shape[last]! * from) / bits;
  const type = tileType(to, shape);
  return { kind: 'tile', id: emit(cx, { op: 'view', x: v.id }, type), type };
}

export function elabExpr(cx: Context, e: A.Expr): EVal {
  switch (e.kind) {
    case 'number':
      if (e.isFloat) return { kind: 'const', dtype: 'f32', value: Math.fround(e.value) };
      if (e.value > 0xffffffff) return report(cx, e.span, `${e.value} does not fit in 32 bits`);
      return e.value > 0x7fffffff ? { kind: 'const', dtype: 'u32', value: e.value } : { kind: 'const', dtype: 'i32', value: e.value };
    case 'bool':
      return { kind: 'const', dtype: 'bool', value: e.value ? 1 : 0 };
    case 'name':
      return elabName(cx, e.name, e.span);
    case 'block_index': {
      const axis = ['x', 'y', 'z'].indexOf(e.axis);
      if (axis < 0) return report(cx, e.span, `block.${e.axis} does not exist; use block.x, block.y or block.z`);
      return { kind: 'scalar', id: emit(cx, { op: 'block_index', axis: axis as 0 | 1 | 2 }, scalarType('i32')), dtype: 'i32' };
    }
    case 'unary':
      return elabUnary(cx, e.op === '-' ? 'neg' : 'not', elabExpr(cx, e.operand), e.span, e.op);
    case 'binary':
      return elabBinary(cx, BINARY[e.op], elabExpr(cx, e.left), elabExpr(cx, e.right), e.span);
    case 'cond':
      return elabCond(cx, e);
    case 'call':
      return elabCall(cx, e);
    case 'load':
      return elabLoad(cx, e);
    case 'create':
      return elabCreate(cx, e);
    case 'shared': {
      const dtype = resolveDType(cx, e.dtype, e.span);
      const shape = elabShape(cx, e.shape);
      if (!dtype || !shape) return ERROR;
      const layout = sharedLayout(cx, e.layout, shape);
      if (!layout) return ERROR;
      const type = { kind: 'shared' as const, dtype, shape, layout, layoutGiven: e.layout !== null };
      return { kind: 'shared', id: emit(cx, { op: 'alloc_shared' }, type), type };
    }
    case 'convert':
      return elabConvert(cx, e);
  }
}

function elabCond(cx: Context, e: Extract<A.Expr, { kind: 'cond' }>): EVal {
  const c = elabExpr(cx, e.cond);
  if (c.kind === 'error') return ERROR;
  if (!isScalarLike(c) || c.dtype !== 'bool') return report(cx, e.cond.span, `the condition of \`? :\` must be a bool scalar; got ${describeType(c)} (use where(...) for tiles)`);
  if (c.kind === 'const') {
    // Both sides are checked; only the chosen one is kept.
    const [a, b] = [elabExpr(cx, e.then), elabExpr(cx, e.else)];
    return c.value ? a : b;
  }
  const a = elabExpr(cx, e.then);
  const b = elabExpr(cx, e.else);
  if (a.kind === 'error' || b.kind === 'error') return ERROR;
  if (!isScalarLike(a) || !isScalarLike(b)) return report(cx, e.span, `\`? :\` chooses between scalars; use where(...) for tiles`);
  const t = joinScalar(a.dtype, b.dtype);
  const id = emit(cx, { op: 'select', cond: c.id, a: scalarOperand(cx, a, t), b: scalarOperand(cx, b, t) }, scalarType(t));
  return { kind: 'scalar', id, dtype: t };
}

function positional(cx: Context, e: Extract<A.Expr, { kind: 'call' }>, count: number | [number, number]): A.Expr[] | null {
  const [lo, hi] = typeof count === 'number' ? [count, count] : count;
  const pos = e.args.filter((a) => a.kind === 'positional').map((a) => (a as { value: A.Expr }).value);
  if (pos.length < lo || pos.length > hi) {
    const want = lo === hi ? `${lo}` : `${lo} or ${hi}`;
    report(cx, e.span, `${e.callee}(...) takes ${want} argument${hi === 1 ? '' : 's'}; got ${pos.length}`);
    return null;
  }
  return pos;
}

function keyword(e: Extract<A.Expr, { kind: 'call' }>, name: string): A.Expr | null {
  const k = e.args.find((a) => a.kind === 'keyword' && a.name === name);
  return k && k.kind === 'keyword' ? k.value : null;
}

function listArg(cx: Context, e: Extract<A.Expr, { kind: 'call' }>): number[] | null {
  const l = e.args.find((a) => a.kind === 'list');
  if (!l || l.kind !== 'list') return void report(cx, e.span, `${e.callee}(t, [shape]) needs a shape in brackets`), null;
  return elabShape(cx, l.items);
}

function tileArg(cx: Context, e: A.Expr, what: string): Extract<EVal, { kind: 'tile' }> | null {
  const v = elabExpr(cx, e);
  if (v.kind === 'error') return null;
  if (v.kind !== 'tile') return void report(cx, e.span, `${what} needs a tile; got ${describeType(v)}`), null;
  return v;
}

function elabCall(cx: Context, e: Extract<A.Expr, { kind: 'call' }>): EVal {
  const name = e.callee;
  const unknownKeyword = e.args.find((a) => a.kind === 'keyword' && !(a.name === 'axis' && ['sum', 'max', 'min'].includes(name)));
  if (unknownKeyword && unknownKeyword.kind === 'keyword') return report(cx, unknownKeyword.span, `${name}(...) takes no keyword '${unknownKeyword.name}'`);
  if (UNARY_CALLS.has(name)) {
    const args = positional(cx, e, 1);
    return args ? elabUnary(cx, name as UnaryFn, elabExpr(cx, args[0]!), e.span, name) : ERROR;
  }
  switch (name) {
    case 'sum':
    case 'max':
    case 'min': {
      const axisExpr = keyword(e, 'axis');
      if (!axisExpr) {
        if (name === 'sum') return report(cx, e.span, 'sum(t, axis=k) needs the axis= keyword');
        const args = positional(cx, e, 2);
        return args ? elabBinary(cx, name, elabExpr(cx, args[0]!), elabExpr(cx, args[1]!), e.span) : ERROR;
      }
      const args = positional(cx, e, 1);
      const t = args && tileArg(cx, args[0]!, `${name}(..., axis=k)`);
      const axis = constInt(cx, axisExpr, 'the axis');
      if (!t || axis === null) return ERROR;
      if (axis < 0 || axis >= t.type.shape.length) return report(cx, axisExpr.span, `axis ${axis} is outside a tile of rank ${t.type.shape.length}`);
      if (!checkCompute(cx, `${name}(...)`, t.type.dtype, e.span) || t.type.dtype === 'bool') return t.type.dtype === 'bool' ? report(cx, e.span, `${name}(...) does not reduce bool tiles`) : ERROR;
      const type = tileType(t.type.dtype, t.type.shape.filter((_, i) => i !== axis));
      return { kind: 'tile', id: emit(cx, { op: 'reduce', fn: name, x: t.id, axis }, type), type };
    }
    case 'where':
      return elabWhere(cx, e);
    case 'fma':
      return elabFma(cx, e);
    case 'dot':
      return elabDot(cx, e);
    case 'cdiv': {
      const args = positional(cx, e, 2);
      if (!args) return ERROR;
      const [a, b] = [elabExpr(cx, args[0]!), elabExpr(cx, args[1]!)];
      if (a.kind === 'error' || b.kind === 'error') return ERROR;
      if (!isScalarLike(a) || !isScalarLike(b) || a.dtype === 'f32' || b.dtype === 'f32' || a.dtype === 'bool' || b.dtype === 'bool') {
        return report(cx, e.span, `cdiv(a, b) takes integer scalars; got ${describeType(a)} and ${describeType(b)}`);
      }
      const one: EVal = { kind: 'const', dtype: 'i32', value: 1 };
      return elabBinary(cx, 'div', elabBinary(cx, 'sub', elabBinary(cx, 'add', a, b, e.span), one, e.span), b, e.span);
    }
    case 'transpose': {
      const args = positional(cx, e, 1);
      const t = args && tileArg(cx, args[0]!, 'transpose(...)');
      if (!t) return ERROR;
      if (t.type.shape.length !== 2) return report(cx, e.span, `transpose(...) needs a rank-2 tile; got ${describeType(t)}`);
      const type = tileType(t.type.dtype, [t.type.shape[1]!, t.type.shape[0]!]);
      return { kind: 'tile', id: emit(cx, { op: 'permute', x: t.id, perm: [1, 0] }, type), type };
    }
    case 'permute': {
      // permute(t, [p0, p1, ...]): dimension d of the result is dimension p_d of t.
      const args = positional(cx, e, 1);
      const t = args && tileArg(cx, args[0]!, 'permute(...)');
      const l = e.args.find((a) => a.kind === 'list');
      if (!t) return ERROR;
      if (!l || l.kind !== 'list') return report(cx, e.span, 'permute(t, [dims]) needs the order of the dimensions in brackets');
      const perm = l.items.map((x) => constInt(cx, x, 'a dimension of permute'));
      if (perm.some((p) => p === null)) return ERROR;
      const rank = t.type.shape.length;
      const sorted = [...(perm as number[])].sort((a, b) => a - b);
      if (perm.length !== rank || sorted.some((p, i) => p !== i)) {
        return report(cx, l.span, `permute(...) of ${describeType(t)} needs each of the dimensions 0..${rank - 1} once; got [${perm.join(', ')}]`);
      }
      const type = tileType(t.type.dtype, (perm as number[]).map((p) => t.type.shape[p]!));
      return { kind: 'tile', id: emit(cx, { op: 'permute', x: t.id, perm: perm as number[] }, type), type };
    }
    case 'unsqueeze': {
      const args = positional(cx, e, 2);
      const t = args && tileArg(cx, args[0]!, 'unsqueeze(...)');
      const axis = args && constInt(cx, args[1]!, 'the axis of unsqueeze');
      if (!t || axis === null || axis === undefined) return ERROR;
      if (axis < 0 || axis > t.type.shape.length) return report(cx, args![1]!.span, `unsqueeze axis ${axis} is outside 0..${t.type.shape.length}`);
      const shape = [...t.type.shape];
      shape.splice(axis, 0, 1);
      const type = tileType(t.type.dtype, shape);
      return { kind: 'tile', id: emit(cx, { op: 'reshape', x: t.id }, type), type };
    }
    case 'broadcast':
    case 'reshape': {
      const args = positional(cx, e, 1);
      const t = args && tileArg(cx, args[0]!, `${name}(...)`);
      const shape = listArg(cx, e);
      if (!t || !shape) return ERROR;
      if (name === 'reshape' && shape.reduce((a, b) => a * b, 1) !== t.type.shape.reduce((a, b) => a * b, 1)) {
        return report(cx, e.span, `reshape(...) keeps the number of elements: ${describeType(t)} has ${t.type.shape.reduce((a, b) => a * b, 1)}, ${shapeText(shape)} has ${shape.reduce((a, b) => a * b, 1)}`);
      }
      if (name === 'broadcast') {
        const b = broadcastShapes(t.type.shape, shape);
        if (!b || b.length !== shape.length || b.some((x, i) => x !== shape[i])) return report(cx, e.span, `cannot broadcast ${describeType(t)} to ${shapeText(shape)}`);
      }
      const type = tileType(t.type.dtype, shape);
      return { kind: 'tile', id: emit(cx, { op: name, x: t.id }, type), type };
    }
    default:
      return report(cx, e.span, `unknown function '${name}'; the functions are ${FUNCTIONS}`);
  }
}

function elabWhere(cx: Context, e: Extract<A.Expr, { kind: 'call' }>): EVal {
  const args = positional(cx, e, 3);
  if (!args) return ERROR;
  const [c, a, b] = args.map((x) => elabExpr(cx, x)) as [EVal, EVal, EVal];
  if (c.kind === 'error' || a.kind === 'error' || b.kind === 'error') return ERROR;
  const cType = c.kind === 'tile' ? c.type.dtype : c.kind === 'shared' ? 'shared' : c.dtype;
  if (cType !== 'bool') return report(cx, args[0]!.span, `where(...) needs a bool condition; got ${describeType(c)}`);
  if (a.kind === 'shared' || b.kind === 'shared') return report(cx, e.span, 'shared memory must be read with `load` first');
  const tiles = [a, b].filter((x): x is Extract<EVal, { kind: 'tile' }> => x.kind === 'tile');
  if (tiles.length === 0 && c.kind !== 'tile') return report(cx, e.span, 'where(...) works on tiles; use `c ? a : b` for scalars');
  const elem = tiles[0]?.type.dtype ?? joinScalar((a as { dtype: ScalarDType }).dtype, (b as { dtype: ScalarDType }).dtype);
  const asTile = (v: EVal, span: A.Span, dtype: string): EVal => (isScalarLike(v) ? scalarAsTile(cx, v, dtype, span) : v);
  const [ct, at, bt] = [asTile(c, args[0]!.span, 'bool'), asTile(a, args[1]!.span, elem), asTile(b, args[2]!.span, elem)];
  if (ct.kind !== 'tile' || at.kind !== 'tile' || bt.kind !== 'tile') return ERROR;
  if (at.type.dtype !== bt.type.dtype) return report(cx, e.span, `where(...) needs two values of one type; got ${describeType(at)} and ${describeType(bt)}`);
  const shape = broadcastShapes(ct.type.shape, at.type.shape);
  const full = shape && broadcastShapes(shape, bt.type.shape);
  if (!full) return report(cx, e.span, `cannot broadcast ${describeType(ct)}, ${describeType(at)} and ${describeType(bt)} together`);
  const type = tileType(elem, full);
  return { kind: 'tile', id: emit(cx, { op: 'select', cond: ct.id, a: at.id, b: bt.id }, type), type };
}

/**
 * fma(a, b, c): a * b + c rounded once, element-wise with broadcasting, on f32, f16 or bf16 tiles (the
 * scalars among the operands take the tiles' type) or on f32 scalars.
 */
function elabFma(cx: Context, e: Extract<A.Expr, { kind: 'call' }>): EVal {
  const args = positional(cx, e, 3);
  if (!args) return ERROR;
  const vals = args.map((x) => elabExpr(cx, x));
  if (vals.some((v) => v.kind === 'error')) return ERROR;
  if (vals.some((v) => v.kind === 'shared')) return report(cx, e.span, 'shared memory must be read with `load` first');
  const tiles = vals.filter((x): x is Extract<EVal, { kind: 'tile' }> => x.kind === 'tile');
  const elem = tiles[0]?.type.dtype ?? 'f32';
  const bad = vals.some((v) => (v.kind === 'tile' ? v.type.dtype !== elem : isScalarLike(v) && v.dtype === 'bool'));
  if (!arith.FMA_TYPES.has(elem) || bad) {
    return report(cx, e.span, `fma(a, b, c) takes f32, f16 or bf16 values of one type (scalars take the tiles' type); got ${vals.map(describeType).join(', ')}`);
  }
  const scalars = vals as Extract<EVal, { kind: 'const' | 'scalar' }>[];
  if (tiles.length === 0) {
    if (scalars.every((v) => v.kind === 'const')) return { kind: 'const', dtype: 'f32', value: arith.fma('f32', ...scalars.map((v) => castElement(v.dtype, 'f32', (v as { value: number }).value)) as [number, number, number]) };
    const [a, b, c] = scalars.map((v) => scalarOperand(cx, v, 'f32')) as [ValueId, ValueId, ValueId];
    return { kind: 'scalar', id: emit(cx, { op: 'fma', a, b, c }, scalarType('f32')), dtype: 'f32' };
  }
  const asTile = vals.map((v, i) => (isScalarLike(v) ? scalarAsTile(cx, v, elem, args[i]!.span) : v));
  if (asTile.some((v) => v.kind !== 'tile')) return ERROR;
  const [at, bt, ct] = asTile as Extract<EVal, { kind: 'tile' }>[];
  const s1 = broadcastShapes(at!.type.shape, bt!.type.shape);
  const full = s1 && broadcastShapes(s1, ct!.type.shape);
  if (!full) return report(cx, e.span, `cannot broadcast ${describeType(at!)}, ${describeType(bt!)} and ${describeType(ct!)} together`);
  const type = tileType(elem, full);
  return { kind: 'tile', id: emit(cx, { op: 'fma', a: at!.id, b: bt!.id, c: ct!.id }, type), type };
}

const DOT_INPUTS: ReadonlySet<string> = new Set(['f16', 'bf16', 'f32', 'i8', 'u8']);

function elabDot(cx: Context, e: Extract<A.Expr, { kind: 'call' }>): EVal {
  const args = positional(cx, e, [2, 3]);
  if (!args) return ERROR;
  const a = tileArg(cx, args[0]!, 'dot(...)');
  const b = tileArg(cx, args[1]!, 'dot(...)');
  const c = args[2] ? tileArg(cx, args[2], 'dot(...)') : null;
  if (!a || !b || (args[2] && !c)) return ERROR;
  const [as, bs] = [a.type.shape, b.type.shape];
  if (as.length !== 2 || bs.length !== 2 || as[1] !== bs[0]) {
    return report(cx, e.span, `\`dot\` needs a[M, K] and b[K, N]; got ${describeType(a)} and ${describeType(b)}`);
  }
  if (a.type.dtype !== b.type.dtype) return report(cx, e.span, `\`dot\` needs a and b of one type; got ${describeType(a)} and ${describeType(b)}; cast one of them`);
  if (!DOT_INPUTS.has(a.type.dtype)) return report(cx, e.span, `\`dot\` takes f16, bf16, f32, i8 or u8 inputs; got ${a.type.dtype} (cast it first)`);
  const isInt = a.type.dtype === 'i8' || a.type.dtype === 'u8';
  const acc = c ? c.type.dtype : isInt ? 'i32' : 'f32';
  const accOk = isInt ? acc === 'i32' : isFloatType(acc);
  if (!accOk) return report(cx, args[2]!.span, `\`dot\` of ${a.type.dtype} accumulates in ${isInt ? 'i32' : 'f32, f16 or bf16'}; got ${describeType(c!)}`);
  const shape = [as[0]!, bs[1]!];
  if (c && (c.type.shape.length !== 2 || c.type.shape[0] !== shape[0] || c.type.shape[1] !== shape[1])) {
    return report(cx, args[2]!.span, `\`dot\`'s accumulator must be ${acc}${shapeText(shape)}; got ${describeType(c)}`);
  }
  const type: TileType = tileType(acc, shape);
  return { kind: 'tile', id: emit(cx, { op: 'dot', a: a.id, b: b.id, c: c ? c.id : null }, type), type };
}
