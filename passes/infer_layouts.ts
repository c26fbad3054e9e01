// Layout inference for GPU targets: every register tile gets the layout that distributes it over the
// block's threads. A layout written in the source is kept (and checked against the block's thread
// count); an element-wise result takes the layout of its first operand of the same shape, so chains of
// element-wise work never move data between threads; a reshape, its source's layout reshaped where
// that exists (it then moves nothing); a var keeps its initializer's layout, and
// assignments are converted to it by the lowering. Everything else gets the default layout below.
//
// Then consumers teach producers: a tile that an element-wise instruction broadcasts (a row or column
// against a matrix) is best laid out as the projection of the instruction's layout (ir/layout.ts
// projectLayout), where each thread already holds the elements it broadcasts, so the lowering moves no
// data between threads; an operand of the instruction's own shape, as the instruction's layout. That layout is a hint, passed back through the value's producers of the same
// shape (element-wise instructions, reshapes whose layout reshapes back, permutes (their source laid out
// as the permuted layout), a var's initializer through the var's reads); a hint replaces only an inferred layout, never one written in the source.
// Inference runs again with the hints until they settle.
//
// Where the target multiplies on warp-wide MMAs (options.mma), the result of an f16 or bf16 dot is hinted
// to be a grid of m16n8k16 accumulator fragments spread over the warps (mmaLayout), and so is its
// accumulator operand (through a var, its initializer), and its operands as the matching A and B
// fragments (ir/layout_ops.ts mmaOperandLayouts, back through their producers to the loads): the dot
// then runs on the instruction with its operands already in place, and the loop-carried accumulator
// never moves between threads.

import { dtype as parseDType } from '../ir/dtype.ts';
import { type RegisterLayout, LayoutError, compose, gcd, layoutEquals, local, makeLayout, replicated, spatial, threadCount } from '../ir/layout.ts';
import { MMA_M16N8K16, mmaOperandLayouts, permute, projectLayout, tryReshape } from '../ir/layout_ops.ts';
import { printLayout } from '../ir/layout_print.ts';
import type { Inst, Kernel, Stmt, TileType, Type, ValueId } from '../ir/tile_ir.ts';

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Bits an element occupies in memory: what a vectorized access moves per element. */
const elementBits = (dtype: string): number => (dtype === 'bool' ? 32 : parseDType(dtype).bits);

/**
 * The default layout of a tile: each thread holds runs of up to 128 bits along the last dimension
 * (while every thread still gets work), threads spread over the dimensions from the innermost outward,
 * the rest of each dimension is local, outermost; threads left over replicate the tile.
 */
export function defaultLayout(shape: readonly number[], dtype: string, threads: number): RegisterLayout {
  const n = product(shape);
  const rank = shape.length;
  if (rank === 0) return makeLayout([], [], threads > 1 ? [-threads] : [], []);
  const last = shape[rank - 1]!;
  const maxRun = Math.max(1, Math.floor(128 / elementBits(dtype)));
  let run = 1;
  while (run * 2 <= maxRun && last % (run * 2) === 0 && n / (run * 2) >= threads) run *= 2;
  const rest = shape.map((s, d) => (d === rank - 1 ? s / run : s));
  const across = new Array<number>(rank).fill(1);
  let left = threads;
  for (let d = rank - 1; d >= 0; d--) {
    across[d] = gcd(rest[d]!, left);
    rest[d] = rest[d]! / across[d]!;
    left /= across[d]!;
  }
  // Modes per dimension, outermost first: local rest, spatial, (last dimension) the run.
  const modes: { dim: number; extent: number }[] = [];
  const spatial: number[] = left > 1 ? [-left] : [];
  const outerLocal: number[] = [];
  let runMode = -1;
  for (let d = 0; d < rank; d++) {
    outerLocal.push(modes.length);
    modes.push({ dim: d, extent: rest[d]! });
    spatial.push(modes.length);
    modes.push({ dim: d, extent: across[d]! });
    if (d === rank - 1) {
      runMode = modes.length;
      modes.push({ dim: d, extent: run });
    }
  }
  return makeLayout(shape, modes, spatial, [...outerLocal, runMode]);
}

/**
 * The layout of an M x N dot result as m16n8k16 accumulator fragments: the (M/16) x (N/8) atoms split
 * over as many of the block's warps as divide them and the warp count (the other warps replicate the
 * tile), each warp
 * holding a block of atoms; among the splits that use the most warps, the one whose warps load the
 * fewest fragment words per 16 of K (4 per atom row, 2 per atom column). `rowsOnly` splits only the
 * rows, so that each warp holds whole rows (see collectHints). Null when the shape is not whole atoms
 * or the block not whole warps.
 */
export function mmaLayout(M: number, N: number, threads: number, rowsOnly = false): RegisterLayout | null {
  if (M % 16 !== 0 || N % 8 !== 0 || threads % 32 !== 0) return null;
  const [rows, cols, warps] = [M / 16, N / 8, threads / 32];
  let best: { wm: number; wn: number; cost: number } | null = null;
  for (let wm = 1; wm <= Math.min(rows, warps); wm++) {
    for (let wn = 1; wm * wn <= warps && wn <= (rowsOnly ? 1 : cols); wn++) {
      if (rows % wm !== 0 || cols % wn !== 0 || warps % (wm * wn) !== 0) continue;
      const cost = 4 * (rows / wm) + 2 * (cols / wn);
      if (!best || wm * wn > best.wm * best.wn || (wm * wn === best.wm * best.wn && cost < best.cost)) best = { wm, wn, cost };
    }
  }
  const { wm, wn } = best!;
  const parts = [spatial(wm, wn), local(rows / wm, cols / wn), MMA_M16N8K16.c];
  return compose(...(warps > wm * wn ? [replicated(warps / (wm * wn)), ...parts] : parts));
}

/** Whether a dot's inputs suit m16n8k16 MMAs: both f16 or both bf16, K a multiple of 16. */
export function mmaInputs(a: TileType, b: TileType): boolean {
  return a.dtype === b.dtype && (a.dtype === 'f16' || a.dtype === 'bf16') && a.shape[1]! % 16 === 0;
}

export interface InferOptions {
  /** Lay f16/bf16 dot results out as MMA fragments (see the file comment). */
  readonly mma?: boolean;
}

/** Fills in the layout of every tile value and tile var; checks the layouts written in the source. */
export function inferLayouts(k: Kernel, options: InferOptions = {}): Kernel {
  const hints = new Map<ValueId, RegisterLayout>();
  const written = writtenLayouts(k);
  let out = assignLayouts(k, hints);
  // Each round can only add hints (the first one for a value stays), so this ends; a few rounds suffice.
  for (let round = 0; round < 8; round++) {
    if (!collectHints(out, hints, written, options)) break;
    out = assignLayouts(k, hints);
  }
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((s, i) => s === b[i]);

/** The values and vars whose layouts the source writes. */
function writtenLayouts(k: Kernel): { values: Set<ValueId>; vars: Set<number> } {
  const out = { values: new Set<ValueId>(), vars: new Set<number>() };
  const walk = (body: readonly Stmt[]): void => {
    for (const s of body) {
      if (s.kind === 'def' && s.result.type.kind === 'tile' && s.result.type.layout) out.values.add(s.result.id);
      if (s.kind === 'var' && s.type.kind === 'tile' && s.type.layout) out.vars.add(s.var);
      if (s.kind === 'for') walk(s.body);
      if (s.kind === 'if') [s.then, s.else].forEach(walk);
    }
  };
  walk(k.body);
  return out;
}

/**
 * Adds the hints that the laid-out kernel `k` implies (see the file comment); whether any was new.
 */
function collectHints(k: Kernel, hints: Map<ValueId, RegisterLayout>, written: { values: Set<ValueId>; vars: Set<number> }, options: InferOptions): boolean {
  const types = new Map<ValueId, TileType>();
  const defs = new Map<ValueId, Inst>();
  const varInit = new Map<number, ValueId>();
  // Values assigned to tile vars, and the reads of each var.
  const assignedTo = new Map<ValueId, number[]>();
  const reads = new Map<number, ValueId[]>();
  const walk = (body: readonly Stmt[]): void => {
    for (const s of body) {
      if (s.kind === 'def' && s.result.type.kind === 'tile') {
        types.set(s.result.id, s.result.type);
        defs.set(s.result.id, s.inst);
        if (s.inst.op === 'var_get') reads.set(s.inst.var, [...(reads.get(s.inst.var) ?? []), s.result.id]);
      }
      if (s.kind === 'assign') assignedTo.set(s.value, [...(assignedTo.get(s.value) ?? []), s.var]);
      if (s.kind === 'var' && s.type.kind === 'tile' && !written.vars.has(s.var)) varInit.set(s.var, s.init);
      if (s.kind === 'for') walk(s.body);
      if (s.kind === 'if') [s.then, s.else].forEach(walk);
    }
  };
  walk(k.body);
  let added = false;
  const hint = (id: ValueId, l: RegisterLayout): void => {
    const t = types.get(id);
    if (!t || hints.has(id) || written.values.has(id) || !sameShape(t.shape, l.shape)) return;
    hints.set(id, l);
    added = true;
    // Back through producers that would take this layout anyway.
    const inst = defs.get(id)!;
    const operands = elementOperands(inst);
    if (operands) operands.forEach((o) => hint(o, l));
    else if (inst.op === 'reshape') {
      // Where the layout reshapes back, the reshape keeps every element where it is (lower_gpu).
      const from = types.get(inst.x);
      const back = from && tryReshape(l, from.shape);
      if (back) hint(inst.x, back);
    } else if (inst.op === 'permute') {
      // The source laid out so that permuting its layout gives this one: the permute moves nothing.
      const inverse = inst.perm.map((_, i) => inst.perm.indexOf(i));
      hint(inst.x, permute(l, inverse));
    } else if (inst.op === 'var_get') {
      const init = varInit.get(inst.var);
      if (init !== undefined) hint(init, l);
    }
  };
  const onMma = (inst: Inst): boolean => {
    if (inst.op !== 'dot') return false;
    const [a, b] = [types.get(inst.a), types.get(inst.b)];
    return !!a && !!b && mmaInputs(a, b);
  };
  // Dots chained through element-wise work, one's result becoming the next one's A operand (flash
  // attention's S, P and P . V): both split only rows over the warps, so that the first's accumulator
  // fragments are the A fragments of the same rows in the same threads (a conversion in registers).
  const chained = new Set<ValueId>();
  if (options.mma) {
    for (const [result, inst] of defs) {
      if (inst.op !== 'dot' || !onMma(inst)) continue;
      const seen = new Set<ValueId>();
      const stack = [inst.a];
      while (stack.length) {
        const id = stack.pop()!;
        if (seen.has(id)) continue;
        seen.add(id);
        const def = defs.get(id);
        if (!def) continue;
        if (def.op === 'dot' && onMma(def)) {
          chained.add(id);
          chained.add(result);
        } else for (const o of elementOperands(def) ?? []) if (sameShape(types.get(o)?.shape ?? [], types.get(id)!.shape)) stack.push(o);
      }
    }
  }
  // Element-wise instructions that take a value as an operand of their own shape.
  const users = new Map<ValueId, ValueId[]>();
  for (const [result, inst] of defs) {
    for (const o of elementOperands(inst) ?? []) {
      if (sameShape(types.get(o)?.shape ?? [], types.get(result)!.shape)) users.set(o, [...(users.get(o) ?? []), result]);
    }
  }
  for (const [result, inst] of defs) {
    if (options.mma && inst.op === 'dot' && onMma(inst)) {
      const [a, out] = [types.get(inst.a)!, types.get(result)!];
      const l = mmaLayout(out.shape[0]!, out.shape[1]!, k.threads, chained.has(result));
      if (l) {
        hint(result, l);
        if (inst.c !== null) hint(inst.c, l);
        // Element-wise work on the result (an accumulator updated by hand, a scaled score) keeps its
        // layout, and so do the other operands (through a var, its initializer); also where the result
        // reaches that work through a var (a group's partial sums, scaled and added into an outer
        // accumulator once per group: without this, a conversion through shared memory each time).
        const seen = new Set<ValueId>();
        const spread = (id: ValueId): void => {
          if (seen.has(id)) return;
          seen.add(id);
          for (const u of users.get(id) ?? []) {
            hint(u, l);
            spread(u);
          }
          for (const v of assignedTo.get(id) ?? []) for (const r of reads.get(v) ?? []) spread(r);
        };
        spread(result);
        // The operands as the fragments of the result's layout (once it has one that divides), so that
        // they reach the MMAs from registers.
        const ops = mmaOperandLayouts(out.layout!, a.shape[1]!);
        if (ops) {
          hint(inst.a, ops.a);
          hint(inst.b, ops.b);
        }
      }
    }
  }
  // Projections are taken from settled layouts: not in a round that changed them for MMAs.
  if (added) return true;
  // An operand of the result's shape in another layout (a reduction's result added to a row vector):
  // its producer lays it out as the result, instead of the instruction converting it. Then, once those
  // have settled too (a projection taken earlier would stay, stale), the broadcast operands.
  for (const projections of [false, true]) {
    for (const [result, inst] of defs) {
      const operands = elementOperands(inst);
      if (!operands) continue;
      const out = types.get(result)!;
      for (const o of operands) {
        const t = types.get(o);
        if (!t || sameShape(t.shape, out.shape) === projections) continue;
        const l = projections ? projectLayout(out.layout!, t.shape) : out.layout!;
        if (!layoutEquals(l, t.layout!)) hint(o, l);
      }
    }
    if (added) return true;
  }
  return added;
}

/** The operands of an element-wise instruction; null for any other. */
function elementOperands(inst: Inst): ValueId[] | null {
  switch (inst.op) {
    case 'unary':
    case 'cast':
      return [inst.x];
    case 'binary':
      return [inst.a, inst.b];
    case 'select':
      return [inst.cond, inst.a, inst.b];
    case 'fma':
      return [inst.a, inst.b, inst.c];
    default:
      return null;
  }
}

function assignLayouts(k: Kernel, hints: ReadonlyMap<ValueId, RegisterLayout>): Kernel {
  const layouts = new Map<ValueId, RegisterLayout>();
  const varLayouts = new Map<number, RegisterLayout>();
  const types = new Map<ValueId, Type>();

  const check = (l: RegisterLayout, shape: readonly number[], what: string): RegisterLayout => {
    if (threadCount(l) !== k.threads) {
      throw new LayoutError(`the layout of ${what} (${printLayout(l)}) spreads over ${threadCount(l)} threads, but kernel ${k.name} has ${k.threads}`);
    }
    if (l.shape.length !== shape.length || l.shape.some((s, i) => s !== shape[i])) {
      throw new LayoutError(`the layout of ${what} covers [${l.shape.join(', ')}], but the tile is [${shape.join(', ')}]`);
    }
    return l;
  };

  // The first operand of the result's shape gives its layout; fma's addend first, as in c + a * b, so
  // that an accumulator updated by fma keeps its layout (the GEMV's, written in its source).
  const sameShapeOperand = (inst: Inst, shape: readonly number[]): RegisterLayout | null => {
    const ids = inst.op === 'unary' || inst.op === 'cast' ? [inst.x] : inst.op === 'binary' ? [inst.a, inst.b] : inst.op === 'select' ? [inst.a, inst.b, inst.cond] : inst.op === 'fma' ? [inst.c, inst.a, inst.b] : [];
    for (const id of ids) {
      const t = types.get(id);
      if (t?.kind === 'tile' && t.shape.length === shape.length && t.shape.every((s, i) => s === shape[i])) return layouts.get(id)!;
    }
    return null;
  };

  // A reshape whose source's layout reshapes to the new shape keeps that layout: it moves nothing.
  const reshaped = (inst: Inst, shape: readonly number[]): RegisterLayout | null => {
    if (inst.op !== 'reshape') return null;
    const from = layouts.get(inst.x);
    return from ? tryReshape(from, shape) : null;
  };

  const tileOf = (t: TileType, inst: Inst | null, what: string, id: ValueId | null): TileType => {
    let l: RegisterLayout;
    if (t.layout) l = check(t.layout, t.shape, what);
    else if (inst?.op === 'var_get') l = varLayouts.get(inst.var)!;
    else l = (id !== null ? hints.get(id) : undefined) ?? (inst && sameShapeOperand(inst, t.shape)) ?? (inst && reshaped(inst, t.shape)) ?? defaultLayout(t.shape, t.dtype, k.threads);
    return { ...t, layout: l };
  };

  const visit = (body: readonly Stmt[]): Stmt[] =>
    body.map((s): Stmt => {
      switch (s.kind) {
        case 'def': {
          if (s.result.type.kind !== 'tile') {
            types.set(s.result.id, s.result.type);
            return s;
          }
          const type = tileOf(s.result.type, s.inst, s.result.name ? `'${s.result.name}'` : `%${s.result.id}`, s.result.id);
          layouts.set(s.result.id, type.layout!);
          types.set(s.result.id, type);
          return { ...s, result: { ...s.result, type } };
        }
        case 'var': {
          if (s.type.kind !== 'tile') return s;
          const init = layouts.get(s.init)!;
          const l = s.type.layout ? check(s.type.layout, s.type.shape, `var '${s.name}'`) : init;
          varLayouts.set(s.var, l);
          return { ...s, type: { ...s.type, layout: l } };
        }
        case 'for':
          types.set(s.index.id, s.index.type);
          return { ...s, body: visit(s.body) };
        case 'if':
          return { ...s, then: visit(s.then), else: visit(s.else) };
        default:
          return s;
      }
    });
  return { ...k, body: visit(k.body) };
}
