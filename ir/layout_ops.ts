// Operators on register layouts that rewrite the mode lists: divide, reduce, permute, reshape, concat,
// the projection a broadcast needs, and the MMA fragments that instruction selection divides by.

import {
  type Mode, type RegisterLayout, LayoutError, canonical, columnLocal, columnSpatial, compose, entryExtent, layoutEquals, local, localSize,
  logicalIndex, makeLayout, multiply, spatial, threadCount,
} from './layout.ts';

/** A mutable copy of a layout's lists, for splitting modes. */
interface Work {
  modes: Mode[];
  spatial: number[];
  local: number[];
}

const work = (l: RegisterLayout): Work => ({ modes: [...l.modes], spatial: [...l.spatial], local: [...l.local] });

/** Splits mode i into an outer mode of extent/inner and an inner mode of `inner`; the map is unchanged. */
function splitMode(w: Work, i: number, inner: number): void {
  const m = w.modes[i]!;
  if (inner === 1 || inner === m.extent) return;
  w.modes.splice(i, 1, { dim: m.dim, extent: m.extent / inner }, { dim: m.dim, extent: inner });
  const fix = (list: number[]): number[] => list.flatMap((e) => (e === i ? [i, i + 1] : e > i ? [e + 1] : [e]));
  w.spatial = fix(w.spatial);
  w.local = fix(w.local);
}

/**
 * Makes `cut` (a size counted from the inner end) a boundary between the modes `ids` (outer first),
 * splitting a mode if needed. Returns false when the cut falls inside a mode at a non-divisor.
 */
function cutAt(w: Work, ids: () => number[], cut: number): boolean {
  let inner = 1;
  const list = ids();
  for (let j = list.length - 1; j >= 0; j--) {
    const ext = w.modes[list[j]!]!.extent;
    if (inner === cut) return true;
    if (inner * ext > cut) {
      if (cut % inner !== 0 || ext % (cut / inner) !== 0) return false;
      splitMode(w, list[j]!, cut / inner);
      return true;
    }
    inner *= ext;
  }
  return inner === cut;
}

const modesOfDim = (w: Work, dim: number) => (): number[] =>
  w.modes.map((m, i) => (m.dim === dim ? i : -1)).filter((i) => i >= 0);

/**
 * The quotient Q with `Q * atom == l`, or undefined when `l` is not such a product. Instruction
 * selection asks this: a tile whose layout divides by an instruction's fragment layout maps onto it.
 */
export function divide(l: RegisterLayout, atom: RegisterLayout): RegisterLayout | undefined {
  const rank = l.shape.length;
  const a = atom.shape.length === 0 ? { ...atom, shape: new Array<number>(rank).fill(1) } : canonical(atom);
  if (a.shape.length !== rank || a.shape.some((s, d) => l.shape[d]! % s !== 0)) return undefined;
  const w = work(canonical(l));
  const toL = new Map<number, number>(); // atom mode -> mode of w
  for (let d = 0; d < rank; d++) {
    const atomIds = a.modes.map((m, i) => (m.dim === d ? i : -1)).filter((i) => i >= 0);
    let cut = 1;
    for (let j = atomIds.length - 1; j >= 0; j--) {
      cut *= a.modes[atomIds[j]!]!.extent;
      if (!cutAt(w, modesOfDim(w, d), cut)) return undefined;
    }
    // The atom's modes must be exactly the innermost modes of this dimension.
    const ids = modesOfDim(w, d)();
    let size = 1;
    let k = ids.length;
    while (size < a.shape[d]! && k > 0) size *= w.modes[ids[--k]!]!.extent;
    const inner = ids.slice(k);
    if (size !== a.shape[d] || inner.length !== atomIds.length) return undefined;
    atomIds.forEach((id, j) => toL.set(id, inner[j]!));
  }
  for (const key of ['spatial', 'local'] as const) {
    const wl = w[key];
    const al = a[key];
    for (let j = 1; j <= al.length; j++) {
      const want = al[al.length - j]!;
      const pos = wl.length - j;
      if (pos < 0) return undefined;
      const got = wl[pos]!;
      if (want >= 0) {
        if (got !== toL.get(want)) return undefined;
      } else {
        if (got >= 0 || got % want !== 0) return undefined;
        if (got !== want) wl.splice(pos, 1, -(got / want), want); // -m becomes -(m/n), -n
      }
    }
    w[key] = wl.slice(0, wl.length - al.length);
  }
  const taken = new Set(toL.values());
  const keep = w.modes.map((_, i) => !taken.has(i));
  const renumber = (e: number): number => (e < 0 ? e : keep.slice(0, e).filter(Boolean).length);
  const q = makeLayout(
    l.shape.map((s, d) => s / a.shape[d]!),
    w.modes.filter((_, i) => keep[i]),
    w.spatial.map(renumber),
    w.local.map(renumber),
  );
  return layoutEquals(multiply(q, a), l) ? q : undefined;
}

/**
 * The layout of `l` reduced along `dim`: that dimension's local modes vanish, and its spatial modes
 * become replication (after a cross-thread reduction every participating thread holds the result).
 * With `keepDim` the dimension stays with extent 1.
 */
export function reduce(l: RegisterLayout, dim: number, keepDim = false): RegisterLayout {
  checkDim(l, dim);
  const w = work(canonical(l));
  const gone = w.modes.map((m) => m.dim === dim);
  const renumber = (e: number): number => gone.slice(0, e).filter((g) => !g).length;
  const spatialList = w.spatial.map((e) => (e < 0 ? e : gone[e] ? -w.modes[e]!.extent : renumber(e)));
  const localList = w.local.filter((e) => !gone[e]).map(renumber);
  const modes = w.modes
    .filter((_, i) => !gone[i])
    .map((m) => ({ dim: !keepDim && m.dim > dim ? m.dim - 1 : m.dim, extent: m.extent }));
  const shape = keepDim ? l.shape.map((s, d) => (d === dim ? 1 : s)) : l.shape.filter((_, d) => d !== dim);
  return makeLayout(shape, modes, spatialList, localList);
}

/** Reorders dimensions: dimension i of the result is dimension perm[i] of `l`. */
export function permute(l: RegisterLayout, perm: readonly number[]): RegisterLayout {
  const rank = l.shape.length;
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== rank || sorted.some((p, i) => p !== i)) {
    throw new LayoutError(`[${perm.join(', ')}] is not a permutation of the ${rank} dimensions`);
  }
  const newDim = new Array<number>(rank);
  perm.forEach((old, i) => (newDim[old] = i));
  return makeLayout(
    perm.map((p) => l.shape[p]!),
    l.modes.map((m) => ({ dim: newDim[m.dim]!, extent: m.extent })),
    l.spatial,
    l.local,
  );
}

/** The same elements viewed row-major under a new shape of the same size; fails (throws) when a new
 * dimension boundary falls inside a mode at a non-divisor. */
export function reshape(l: RegisterLayout, shape: readonly number[]): RegisterLayout {
  const size = l.shape.reduce((x, y) => x * y, 1);
  if (shape.reduce((x, y) => x * y, 1) !== size || shape.some((s) => !(Number.isInteger(s) && s >= 1))) {
    throw new LayoutError(`cannot reshape [${l.shape.join(', ')}] to [${shape.join(', ')}]`);
  }
  const w = work(canonical(l));
  // Row-major order is the mode list itself: dimension 0's modes, then dimension 1's, ...
  const all = (): number[] => w.modes.map((_, i) => i);
  let cut = 1;
  for (let d = shape.length - 1; d > 0; d--) {
    cut *= shape[d]!;
    if (!cutAt(w, all, cut)) {
      throw new LayoutError(`cannot reshape [${l.shape.join(', ')}] to [${shape.join(', ')}]: a mode of the layout straddles the new dimension boundary`);
    }
  }
  const modes: Mode[] = [];
  let d = shape.length - 1;
  let filled = 1;
  for (let i = w.modes.length - 1; i >= 0; i--) {
    while (d > 0 && filled === shape[d]) {
      d--;
      filled = 1;
    }
    filled *= w.modes[i]!.extent;
    modes[i] = { dim: d, extent: w.modes[i]!.extent };
  }
  return makeLayout(shape, modes, w.spatial, w.local);
}

/** The layout of rank a+b whose first dimensions follow `a` and last follow `b`: thread
 * t_a * threads(b) + t_b, local l_a * localSize(b) + l_b. */
export function concat(a: RegisterLayout, b: RegisterLayout): RegisterLayout {
  const n = a.modes.length;
  const shift = (e: number): number => (e < 0 ? e : e + n);
  return makeLayout(
    [...a.shape, ...b.shape],
    [...a.modes, ...b.modes.map((m) => ({ dim: m.dim + a.shape.length, extent: m.extent }))],
    [...a.spatial, ...b.spatial.map(shift)],
    [...a.local, ...b.local.map(shift)],
  );
}

function checkDim(l: RegisterLayout, dim: number): void {
  if (!(Number.isInteger(dim) && dim >= 0 && dim < l.shape.length)) {
    throw new LayoutError(`dimension ${dim} does not exist in a layout of rank ${l.shape.length}`);
  }
}

/** `reshape`, or null where a mode of `l` would straddle a new dimension boundary. */
export function tryReshape(l: RegisterLayout, shape: readonly number[]): RegisterLayout | null {
  try {
    return reshape(l, shape);
  } catch (e) {
    if (e instanceof LayoutError) return null;
    throw e;
  }
}

/** The dimensions of `l`'s tile that a tile of `shape` (right-aligned) is broadcast along. */
function broadcastDims(l: RegisterLayout, shape: readonly number[]): boolean[] {
  const off = l.shape.length - shape.length;
  if (off < 0 || shape.some((s, i) => s !== 1 && s !== l.shape[i + off])) {
    throw new LayoutError(`[${shape.join(', ')}] does not broadcast to [${l.shape.join(', ')}]`);
  }
  return l.shape.map((_, d) => d < off || shape[d - off] === 1);
}

/**
 * The layout of a tile of `shape` that every thread can broadcast to `l` without exchanging data:
 * `shape` is right-aligned with l's shape, each of its dimensions either l's extent or 1 (missing
 * leading dimensions count as 1). It is `l` reduced along the broadcast dimensions (their spatial
 * modes become replications, their local modes go), reshaped to `shape`. Local j of `l` reads the
 * projection's local given by `broadcastLocalTerms`.
 */
export function projectLayout(l: RegisterLayout, shape: readonly number[]): RegisterLayout {
  const along = broadcastDims(l, shape);
  return reshape(along.reduce((acc, b, d) => (b ? reduce(acc, d, true) : acc), l), shape);
}

/**
 * For local index j of `l`, the local index in `projectLayout(l, shape)` of the same thread's source
 * element: the digits of j's local modes outside the broadcast dimensions, composed row-major.
 * Returned as terms: local = sum over terms of ((j / stride) % extent) * weight.
 */
export function broadcastLocalTerms(l: RegisterLayout, shape: readonly number[]): { stride: number; extent: number; weight: number }[] {
  const along = broadcastDims(l, shape);
  const terms: { stride: number; extent: number; weight: number }[] = [];
  let stride = 1;
  let weight = 1;
  for (let i = l.local.length - 1; i >= 0; i--) {
    const e = l.local[i]!;
    const extent = entryExtent(l, e);
    if (!along[l.modes[e]!.dim]) {
      terms.push({ stride, extent, weight });
      weight *= extent;
    }
    stride *= extent;
  }
  return terms;
}

/**
 * The fragments of PTX's `mma.sync.aligned.m16n8k16` with f16/bf16 inputs and an f32 accumulator, as the
 * PTX ISA tables give them (lane = 4 * groupID + threadID_in_group): A is 16x16, B 16x8, C and D 16x8.
 */
export const MMA_M16N8K16 = {
  a: compose(columnLocal(2, 2), spatial(8, 4), local(1, 2)),
  b: compose(local(2, 1), columnSpatial(4, 8), local(2, 1)),
  c: compose(local(2, 1), spatial(8, 4), local(1, 2)),
} as const;

/**
 * The operand layouts that feed an m16n8k16 MMA dot with result layout `c` = Q * MMA_M16N8K16.c and
 * inner dimension K straight from registers: each warp holds the A fragments of its atom rows and the B
 * fragments of its atom columns for every 16 of K, A = proj(Q, rows) * local(1, K/16) * MMA.a and
 * B = proj(Q, columns) * local(K/16, 1) * MMA.b, where proj keeps Q's modes of that dimension and turns
 * the other's threads into replication. So local 8 (ra * K/16 + ks) + i of A is register i (the
 * fragment's order: word i/2, low half first) of atom row ra at K step ks, and local 4 (cb * K/16 + ks)
 * + i of B likewise. Null when `c` does not divide by the fragment or K is not a multiple of 16.
 */
export function mmaOperandLayouts(c: RegisterLayout, K: number): { a: RegisterLayout; b: RegisterLayout } | null {
  const q = divide(c, MMA_M16N8K16.c);
  if (!q || K % 16 !== 0) return null;
  const [rows, cols] = q.shape as [number, number];
  return {
    a: compose(projectLayout(q, [rows, 1]), local(1, K / 16), MMA_M16N8K16.a),
    b: compose(projectLayout(q, [1, cols]), local(K / 16, 1), MMA_M16N8K16.b),
  };
}

/**
 * When `from` and `to` give every thread the same elements and differ only in their order among its
 * locals: p with local j of `to` = local p[j] of `from`, the same in every thread. Null otherwise.
 * (An MMA accumulator and the A fragments of the same rows are such a pair.)
 */
export function localPermutation(from: RegisterLayout, to: RegisterLayout): number[] | null {
  const same = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  if (!same(from.shape, to.shape) || threadCount(from) !== threadCount(to) || localSize(from) !== localSize(to)) return null;
  const n = localSize(to);
  let perm: number[] | null = null;
  for (let t = 0; t < threadCount(to); t++) {
    const at = new Map<string, number>();
    for (let j = 0; j < n; j++) at.set(logicalIndex(from, t, j).join(','), j);
    const p: number[] = [];
    for (let j = 0; j < n; j++) {
      const s = at.get(logicalIndex(to, t, j).join(','));
      if (s === undefined) return null;
      p.push(s);
    }
    if (perm && !same(perm, p)) return null;
    perm = p;
  }
  return perm;
}
