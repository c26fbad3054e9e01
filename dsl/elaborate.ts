// Elaboration: a parsed program and template arguments in, one Kernel of Tile IR out. Names are
// resolved, template parameters and constant expressions folded, shapes and types checked; every
// independent error is collected and reported together.

import { dtype as parseDType, isDType } from '../ir/dtype.ts';
import { ACCUMULATE_DTYPES, type Kernel, type LaunchCheck, type Param, type SymExpr, type Type, scalarType } from '../ir/tile_ir.ts';
import type * as A from './ast.ts';
import { type Context, type EVal, bind, describeType, emit, inBlock, isScalarLike, lookup, newContext, report, rootScope } from './context.ts';
import { DiagnosticError } from './diagnostics.ts';
import { constInt, elabExpr, elabIndex, resolveDType, scalarOperand } from './elaborate_expr.ts';
import { parse } from './parse.ts';
import { constantSym, toSym } from './symbolic.ts';

export interface ElaborateOptions {
  /** Which kernel, when the file has several. */
  readonly kernel?: string;
  /** Template arguments as text: `BM=64`, `W=u3`. */
  readonly set?: ReadonlyMap<string, string>;
  readonly file?: string;
}

/** Parses and elaborates one kernel of a source file; throws DiagnosticError. */
export function compileSource(source: string, options: ElaborateOptions = {}): Kernel {
  const file = options.file ?? '<input>';
  return elaborate(parse(source, file), source, options);
}

export function elaborate(program: A.Program, source: string, options: ElaborateOptions = {}): Kernel {
  const file = options.file ?? '<input>';
  const fail = (span: A.Span, message: string): never => {
    throw new DiagnosticError([{ span, message }], source, file);
  };
  if (program.kernels.length === 0) fail({ start: 0, end: 0 }, 'the file has no kernel');
  let decl = program.kernels[0]!;
  if (options.kernel) {
    decl = program.kernels.find((k) => k.name === options.kernel) ?? fail({ start: 0, end: 0 }, `no kernel named '${options.kernel}'; the file has ${program.kernels.map((k) => k.name).join(', ')}`);
  } else if (program.kernels.length > 1) {
    fail(program.kernels[1]!.span, `the file has ${program.kernels.length} kernels (${program.kernels.map((k) => k.name).join(', ')}); choose one with --kernel`);
  }
  const globals = rootScope();
  const cx = newContext(globals);
  cx.scope = globals;
  for (const l of program.layouts) bind(cx, l.name, { kind: 'layout', node: l.value, scope: globals }, l.span);
  const kernel = elaborateKernel(cx, decl, options.set ?? new Map());
  if (cx.diagnostics.length) {
    const sorted = [...cx.diagnostics].sort((a, b) => a.span.start - b.span.start);
    throw new DiagnosticError(sorted, source, file);
  }
  return kernel;
}

/** Every kernel of a file, with default template arguments: what `tilebit check` runs. */
export function checkSource(source: string, file = '<input>', set: ReadonlyMap<string, string> = new Map()): Kernel[] {
  const program = parse(source, file);
  return program.kernels.map((k) => elaborate(program, source, { kernel: k.name, set, file }));
}

function elaborateKernel(cx: Context, k: A.KernelDecl, set: ReadonlyMap<string, string>): Kernel {
  cx.scope = { parent: cx.scope, names: new Map() };
  const template: Record<string, number | string> = {};
  for (const t of k.template) {
    const given = set.get(t.name);
    if (t.kind === 'dtype') {
      const name = given ?? t.default;
      if (name === null) report(cx, t.span, `template parameter ${t.name} has no default; give it with --set ${t.name}=TYPE`);
      else if (!isDType(name)) report(cx, t.span, given !== undefined ? `--set ${t.name}=${name}: ${safeTypeError(name)}` : safeTypeError(name));
      else {
        template[t.name] = name;
        bind(cx, t.name, { kind: 'dtype', dtype: name }, t.span);
      }
      continue;
    }
    let value: number | null = null;
    if (given !== undefined) {
      if (!/^-?(\d+|0x[0-9a-fA-F]+)$/.test(given)) report(cx, t.span, `--set ${t.name}=${given}: ${t.name} is an integer parameter`);
      else value = Number(given);
    } else if (t.default) value = constInt(cx, t.default, `the default of ${t.name}`);
    else report(cx, t.span, `template parameter ${t.name} has no default; give it with --set ${t.name}=VALUE`);
    if (value !== null) {
      template[t.name] = value;
      bind(cx, t.name, { kind: 'value', value: { kind: 'const', dtype: 'i32', value } }, t.span);
    }
  }
  const params = elaborateParams(cx, k.params);
  const grid = k.grid.map((g) => symbolicOrReport(cx, g, 'a grid dimension'));
  if (k.grid.length < 1 || k.grid.length > 3) report(cx, k.span, `grid(...) takes one to three dimensions; got ${k.grid.length}`);
  cx.gridRank = k.grid.length;
  const count = constInt(cx, k.threads.count, k.threads.unit === 'threads' ? 'threads(...)' : 'warps(...)');
  const threads = count === null ? 1 : k.threads.unit === 'warps' ? count * 32 : count;
  if (count !== null && (threads < 1 || threads > 1024)) report(cx, k.threads.count.span, `a block has 1 to 1024 threads; got ${threads}`);
  cx.threads = threads;
  const checks: LaunchCheck[] = [];
  const body = inBlock(cx, () => elabStmts(cx, k.body, checks));
  return { name: k.name, template, params, grid: grid.map((g) => g ?? { kind: 'const', value: 1 }), threads, checks, body };
}

function safeTypeError(name: string): string {
  try {
    parseDType(name);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

function symbolicOrReport(cx: Context, e: A.Expr, what: string): SymExpr | null {
  const s = toSym(cx, e);
  if (!s) {
    elabExpr(cx, e); // reports unknown names, if that is the problem
    if (!cx.diagnostics.some((d) => d.span.start >= e.span.start && d.span.end <= e.span.end)) {
      report(cx, e.span, `${what} must be an integer expression over sizes, template parameters and integer scalar parameters`);
    }
  }
  return s;
}

function elaborateParams(cx: Context, decls: readonly A.Param[]): Param[] {
  const params: Param[] = [];
  // Symbols are bound by the first tensor that names them alone as a dimension.
  for (const p of decls) {
    if (p.kind !== 'tensor') continue;
    for (const d of p.shape) {
      if (d.kind === 'name' && !lookup(cx.scope, d.name)) bind(cx, d.name, { kind: 'symbol' }, d.span);
    }
  }
  for (const p of decls) {
    if (p.kind === 'scalar') {
      if (p.dtype !== 'i32' && p.dtype !== 'u32' && p.dtype !== 'f32') {
        report(cx, p.span, `scalar parameter '${p.name}' is ${p.dtype}; scalar parameters are i32, u32 or f32`);
        continue;
      }
      bind(cx, p.name, { kind: 'scalar_param', dtype: p.dtype }, p.span);
      params.push({ kind: 'scalar', name: p.name, dtype: p.dtype });
      continue;
    }
    const dtype = resolveDType(cx, p.dtype, p.span);
    const shape = p.shape.map((d) => symbolicOrReport(cx, d, `a dimension of '${p.name}'`));
    if (!dtype || shape.some((s) => s === null)) continue;
    bind(cx, p.name, { kind: 'tensor', dtype, rank: shape.length }, p.span);
    params.push({ kind: 'tensor', name: p.name, dtype, shape: shape as SymExpr[] });
  }
  return params;
}


/** Names the last emitted value after the `let` that bound it, for printing. */
function nameLast(cx: Context, v: EVal, name: string): void {
  const last = cx.stmts[cx.stmts.length - 1];
  if (last?.kind === 'def' && (v.kind === 'tile' || v.kind === 'scalar' || v.kind === 'shared') && last.result.id === v.id && last.result.name === null) {
    cx.stmts[cx.stmts.length - 1] = { ...last, result: { ...last.result, name } };
  }
}

/**
 * A statement list. A run of consecutive copy_async statements is one copy group: the group is
 * committed where the run ends, at the next other statement or at the end of the block.
 */
function elabStmts(cx: Context, stmts: readonly A.Stmt[], checks: LaunchCheck[]): void {
  stmts.forEach((s, i) => {
    elabStmt(cx, s, checks);
    if (s.kind === 'copy_async' && stmts[i + 1]?.kind !== 'copy_async') cx.stmts.push({ kind: 'commit_async' });
  });
}

function elabStmt(cx: Context, s: A.Stmt, checks: LaunchCheck[]): void {
  switch (s.kind) {
    case 'layout_decl':
      bind(cx, s.name, { kind: 'layout', node: s.value, scope: cx.scope }, s.span);
      return;
    case 'let': {
      const v = elabExpr(cx, s.value);
      nameLast(cx, v, s.name);
      bind(cx, s.name, { kind: 'value', value: v }, s.span);
      return;
    }
    case 'var': {
      const v = elabExpr(cx, s.value);
      if (v.kind === 'error') return bind(cx, s.name, { kind: 'value', value: v }, s.span);
      if (v.kind === 'shared') return void report(cx, s.span, 'a shared allocation cannot be a var; bind it with let');
      const type: Type = v.kind === 'tile' ? v.type : scalarType(v.dtype);
      const init = v.kind === 'tile' ? v.id : scalarOperand(cx, v);
      const id = cx.nextVar++;
      cx.stmts.push({ kind: 'var', var: id, name: s.name, type, init });
      bind(cx, s.name, { kind: 'var', var: id, type }, s.span);
      return;
    }
    case 'assign':
      return elabAssign(cx, s);
    case 'store':
      return elabStore(cx, s);
    case 'copy_async':
      return elabCopyAsync(cx, s);
    case 'wait_async': {
      const n = constInt(cx, s.count, 'the count of wait_async');
      if (n !== null && n < 0) report(cx, s.count.span, `wait_async needs a count of 0 or more; got ${n}`);
      else if (n !== null) cx.stmts.push({ kind: 'wait_async', pending: n });
      return;
    }
    case 'sync':
      cx.stmts.push({ kind: 'sync' });
      return;
    case 'for':
      return elabFor(cx, s, checks);
    case 'if':
      return elabIf(cx, s, checks);
    case 'assert':
      return elabAssert(cx, s, checks);
  }
}

function elabAssign(cx: Context, s: Extract<A.Stmt, { kind: 'assign' }>): void {
  const b = lookup(cx.scope, s.name);
  const v = elabExpr(cx, s.value);
  if (!b) return void report(cx, s.span, `unknown name '${s.name}'; declare it with var`);
  if (b.kind !== 'var') {
    return void report(cx, s.span, b.kind === 'value' ? `'${s.name}' was declared with let and cannot be assigned; declare it with var` : `'${s.name}' cannot be assigned`);
  }
  if (v.kind === 'error') return;
  const t = b.type;
  if (t.kind === 'scalar' && isScalarLike(v)) {
    if (v.dtype === t.dtype || (v.kind === 'const' && t.dtype !== 'bool' && v.dtype !== 'bool' && !(v.dtype === 'f32' && t.dtype !== 'f32'))) {
      cx.stmts.push({ kind: 'assign', var: b.var, value: scalarOperand(cx, v, t.dtype) });
      return;
    }
  } else if (t.kind === 'tile' && v.kind === 'tile' && v.type.dtype === t.dtype && v.type.shape.length === t.shape.length && v.type.shape.every((x, i) => x === t.shape[i])) {
    cx.stmts.push({ kind: 'assign', var: b.var, value: v.id });
    return;
  }
  report(cx, s.span, `'${s.name}' is ${describeType(t)}; the value assigned is ${describeType(v)}`);
}

/** The tile a store writes: scalars fill a tile of the target's type; tiles must match exactly. */
function storedTile(cx: Context, v: EVal, dtype: string, shape: readonly number[], what: string, span: A.Span): number | null {
  if (v.kind === 'error') return null;
  if (isScalarLike(v)) {
    if (v.dtype === 'bool') return void report(cx, span, 'bool values cannot be stored; cast them first'), null;
    const type = { kind: 'tile' as const, dtype, shape: [...shape], layout: null };
    return emit(cx, { op: 'full', value: scalarOperand(cx, v) }, type);
  }
  if (v.kind !== 'tile') return void report(cx, span, `${what} needs a tile; got ${describeType(v)}`), null;
  if (v.type.dtype === 'bool') return void report(cx, span, `bool tiles cannot be stored; cast them first (cast<u8>(...))`), null;
  if (v.type.dtype !== dtype) return void report(cx, span, `${what} holds ${dtype}; the value is ${describeType(v)}: cast it`), null;
  if (v.type.shape.length !== shape.length || v.type.shape.some((x, i) => x !== shape[i])) {
    report(cx, span, `${what} needs a tile of shape [${shape.join(', ')}]; got ${describeType(v)} (use reshape or unsqueeze to match)`);
    return null;
  }
  return v.id;
}

function elabStore(cx: Context, s: Extract<A.Stmt, { kind: 'store' }>): void {
  const b = lookup(cx.scope, s.target);
  const shared = b?.kind === 'value' && b.value.kind === 'shared' ? b.value : null;
  if (!shared && b?.kind !== 'tensor') {
    const v = elabExpr(cx, s.value);
    void v;
    return void report(cx, s.targetSpan, b ? `store needs a global tensor or a shared allocation; '${s.target}' is neither` : `store to '${s.target}', which is not a parameter or a shared allocation`);
  }
  const dtype = shared ? shared.type.dtype : (b as Extract<typeof b, { kind: 'tensor' }>).dtype;
  const rank = shared ? shared.type.shape.length : (b as Extract<typeof b, { kind: 'tensor' }>).rank;
  const idx = elabIndex(cx, s.index, rank, `'${s.target}'`, s.targetSpan);
  const v = elabExpr(cx, s.value);
  if (s.accumulate && shared) return void report(cx, s.span, `store ... += accumulates into global tensors only; '${s.target}' is shared memory (load, add and store it instead)`);
  if (s.accumulate && !ACCUMULATE_DTYPES.includes(dtype)) {
    return void report(cx, s.targetSpan, `store ... += needs a tensor of ${ACCUMULATE_DTYPES.join(', ')} (GPUs add atomically in 32-bit words); '${s.target}' holds ${dtype}`);
  }
  if (!idx) return;
  const value = storedTile(cx, v, dtype, idx.shape, `'${s.target}'[...]`, s.value.span);
  if (value === null) return;
  if (shared) cx.stmts.push({ kind: 'store_shared', shared: shared.id, index: idx.entries, value });
  else cx.stmts.push({ kind: 'store', tensor: s.target, index: idx.entries, value, ...(s.accumulate ? { accumulate: true } : {}) });
}

function elabCopyAsync(cx: Context, s: Extract<A.Stmt, { kind: 'copy_async' }>): void {
  const dst = lookup(cx.scope, s.dst);
  const src = lookup(cx.scope, s.src);
  if (!(dst?.kind === 'value' && dst.value.kind === 'shared')) return void report(cx, s.span, `copy_async writes shared memory; '${s.dst}' is not a shared allocation`);
  if (src?.kind !== 'tensor') return void report(cx, s.span, `copy_async reads a global tensor; '${s.src}' is not one`);
  const sh = dst.value;
  const di = elabIndex(cx, s.dstIndex, sh.type.shape.length, `'${s.dst}'`, s.span);
  const si = elabIndex(cx, s.srcIndex, src.rank, `'${s.src}'`, s.span);
  if (!di || !si) return;
  if (sh.type.dtype !== src.dtype) return void report(cx, s.span, `copy_async copies bits unchanged: '${s.dst}' holds ${sh.type.dtype}, '${s.src}' holds ${src.dtype}`);
  if (di.shape.length !== si.shape.length || di.shape.some((x, i) => x !== si.shape[i])) {
    return void report(cx, s.span, `copy_async needs regions of one shape; got [${di.shape.join(', ')}] and [${si.shape.join(', ')}]`);
  }
  cx.stmts.push({ kind: 'copy_async', shared: sh.id, sharedIndex: di.entries, tensor: s.src, index: si.entries });
}

function loopBound(cx: Context, e: A.Expr, what: string): number | null {
  const v = elabExpr(cx, e);
  if (v.kind === 'error') return null;
  if (!isScalarLike(v) || (v.dtype !== 'i32' && v.dtype !== 'u32')) return void report(cx, e.span, `${what} must be an integer scalar; got ${describeType(v)}`), null;
  return scalarOperand(cx, v, 'i32');
}

function elabFor(cx: Context, s: Extract<A.Stmt, { kind: 'for' }>, checks: LaunchCheck[]): void {
  if (s.range.length < 1 || s.range.length > 3) return void report(cx, s.span, `range(...) takes 1 to 3 arguments; got ${s.range.length}`);
  const [startE, endE, stepE] = s.range.length === 1 ? [null, s.range[0]!, null] : [s.range[0]!, s.range[1]!, s.range[2] ?? null];
  const start = startE ? loopBound(cx, startE, 'the start of a range') : scalarOperand(cx, { kind: 'const', dtype: 'i32', value: 0 });
  const end = loopBound(cx, endE, 'the end of a range');
  let step: number | null;
  if (stepE) {
    const v = elabExpr(cx, stepE);
    if (v.kind === 'const' && v.value <= 0) {
      report(cx, stepE.span, `a range's step must be positive; got ${v.value}`);
      step = null;
    } else step = v.kind === 'error' ? null : loopBound(cx, stepE, 'the step of a range');
  } else step = scalarOperand(cx, { kind: 'const', dtype: 'i32', value: 1 });
  const unroll = s.unroll ? constInt(cx, s.unroll, 'unroll(...)') : 1;
  if (unroll !== null && unroll < 1) report(cx, s.unroll!.span, `unroll(...) needs a factor of 1 or more; got ${unroll}`);
  const index = { id: cx.nextValue++, type: scalarType('i32'), name: s.var };
  const body = inBlock(cx, () => {
    bind(cx, s.var, { kind: 'value', value: { kind: 'scalar', id: index.id, dtype: 'i32' } }, s.span);
    elabStmts(cx, s.body, checks);
  });
  if (start === null || end === null || step === null || unroll === null) return;
  cx.stmts.push({ kind: 'for', index, start, end, step, unroll, body });
}

function elabIf(cx: Context, s: Extract<A.Stmt, { kind: 'if' }>, checks: LaunchCheck[]): void {
  const c = elabExpr(cx, s.cond);
  const then = inBlock(cx, () => elabStmts(cx, s.then, checks));
  const els = s.else ? inBlock(cx, () => elabStmts(cx, s.else!, checks)) : [];
  if (c.kind === 'error') return;
  if (!isScalarLike(c) || c.dtype !== 'bool') {
    return void report(cx, s.cond.span, `\`if\` needs a bool scalar (the same for the whole block); got ${describeType(c)}`);
  }
  if (c.kind === 'const') {
    cx.stmts.push(...(c.value ? then : els)); // a constant condition keeps one branch
    return;
  }
  cx.stmts.push({ kind: 'if', cond: c.id, then, else: els });
}

function elabAssert(cx: Context, s: Extract<A.Stmt, { kind: 'assert' }>, checks: LaunchCheck[]): void {
  const message = s.message ?? 'assertion failed';
  const sym = toSym(cx, s.cond);
  if (sym) {
    const value = constantSym(sym);
    if (value === null) checks.push({ cond: sym, message });
    else if (!value) report(cx, s.span, `assertion failed: ${message}`);
    return;
  }
  const c = elabExpr(cx, s.cond);
  if (c.kind === 'error') return;
  if (!isScalarLike(c) || c.dtype !== 'bool') return void report(cx, s.cond.span, `assert needs a bool scalar; got ${describeType(c)}`);
  if (c.kind === 'const') {
    if (!c.value) report(cx, s.span, `assertion failed: ${message}`);
    return;
  }
  cx.stmts.push({ kind: 'assert', cond: c.id, message });
}
