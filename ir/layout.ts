// Register layouts: which thread holds which elements of a tile, and at which local index.
//
// A layout splits every tile dimension into modes (factors), outermost first. Each mode is a digit of
// either the thread index (a spatial mode) or the local index (a local mode); the thread index may also
// carry replication digits, which select among threads that hold the same elements. Both indices are
// composed row-major from their digit lists, outermost first, and so is each dimension from its modes.
// This is the representation of Tilus's layouts; products, quotients and reshapes are list surgery on
// it, and a canonical form (no unit modes, maximal merging) makes structural equality semantic.

/** One factor of a tile dimension. */
export interface Mode {
  readonly dim: number;
  readonly extent: number;
}

/**
 * A register layout. Invariants: `modes` lists dimension 0's modes first, then dimension 1's, and so
 * on, outermost first within a dimension; the product of a dimension's extents is its `shape` entry;
 * every mode index appears exactly once in `spatial` or `local`; a negative entry -n in `spatial` is an
 * n-fold replication (n >= 2).
 */
export interface RegisterLayout {
  readonly shape: readonly number[];
  readonly modes: readonly Mode[];
  readonly spatial: readonly number[];
  readonly local: readonly number[];
}

export class LayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayoutError';
  }
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
/** The greatest common divisor of two non-negative integers. */
export const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** The extent of a spatial or local entry. */
export const entryExtent = (l: RegisterLayout, entry: number): number => (entry < 0 ? -entry : l.modes[entry]!.extent);

export const threadCount = (l: RegisterLayout): number => product(l.spatial.map((e) => entryExtent(l, e)));
export const localSize = (l: RegisterLayout): number => product(l.local.map((e) => entryExtent(l, e)));
export const tileSize = (l: RegisterLayout): number => product(l.shape);
/** How many threads hold each element. */
export const replication = (l: RegisterLayout): number => product(l.spatial.filter((e) => e < 0).map((e) => -e));

/**
 * Builds a layout from modes in any order: sorts them dimension by dimension (stable, so modes of one
 * dimension keep their outer-to-inner order) and renumbers the entries, then canonicalizes.
 */
export function makeLayout(
  shape: readonly number[],
  modes: readonly Mode[],
  spatial: readonly number[],
  local: readonly number[],
): RegisterLayout {
  const order = modes.map((_, i) => i).sort((a, b) => modes[a]!.dim - modes[b]!.dim || a - b);
  const renumber = new Map(order.map((old, i) => [old, i]));
  const mapEntry = (e: number): number => (e < 0 ? e : renumber.get(e)!);
  const l: RegisterLayout = {
    shape: [...shape],
    modes: order.map((i) => modes[i]!),
    spatial: spatial.map(mapEntry),
    local: local.map(mapEntry),
  };
  check(l);
  return canonical(l);
}

function check(l: RegisterLayout): void {
  const seen = new Array<number>(l.modes.length).fill(0);
  for (const e of [...l.spatial, ...l.local]) if (e >= 0) seen[e]!++;
  if (seen.some((n) => n !== 1)) throw new LayoutError('every mode of a layout must be spatial or local, exactly once');
  if (l.local.some((e) => e < 0)) throw new LayoutError('replication belongs to the thread index, not the local index');
  l.shape.forEach((n, d) => {
    const got = product(l.modes.filter((m) => m.dim === d).map((m) => m.extent));
    if (got !== n) throw new LayoutError(`dimension ${d} has extent ${n} but its modes multiply to ${got}`);
  });
  for (const m of l.modes) if (!(Number.isInteger(m.extent) && m.extent >= 1)) throw new LayoutError(`mode extent ${m.extent} is not a positive integer`);
}

/** Drops unit modes, merges adjacent replications and merges a dimension's neighbouring modes that are
 * neighbours, in the same order, in the same index list. The result is unique for a given map. */
export function canonical(l: RegisterLayout): RegisterLayout {
  let modes = [...l.modes];
  let spatial = l.spatial.filter((e) => e !== -1);
  let local = [...l.local];
  // Unit modes carry no digit.
  const keep = modes.map((m) => m.extent > 1);
  const renumber = (e: number): number => (e < 0 ? e : keep.slice(0, e).filter(Boolean).length);
  spatial = spatial.filter((e) => e < 0 || keep[e]).map(renumber);
  local = local.filter((e) => keep[e]).map(renumber);
  modes = modes.filter((_, i) => keep[i]);
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i + 1 < spatial.length; i++) {
      if (spatial[i]! < 0 && spatial[i + 1]! < 0) {
        spatial.splice(i, 2, spatial[i]! * spatial[i + 1]! * -1);
        changed = true;
      }
    }
    for (let i = 0; i + 1 < modes.length && !changed; i++) {
      if (modes[i]!.dim !== modes[i + 1]!.dim) continue;
      for (const list of [spatial, local]) {
        const p = list.indexOf(i);
        if (p < 0 || list[p + 1] !== i + 1) continue;
        modes.splice(i, 2, { dim: modes[i]!.dim, extent: modes[i]!.extent * modes[i + 1]!.extent });
        list.splice(p + 1, 1);
        const shift = (e: number): number => (e > i ? e - 1 : e);
        spatial = spatial.map(shift);
        local = local.map(shift);
        changed = true;
        break;
      }
    }
  }
  return { shape: [...l.shape], modes, spatial, local };
}

function primitive(extents: readonly number[], isSpatial: boolean, columnMajor: boolean): RegisterLayout {
  if (extents.length === 0) throw new LayoutError('a layout atom needs at least one extent');
  for (const e of extents) if (!(Number.isInteger(e) && e >= 1)) throw new LayoutError(`layout extent ${e} is not a positive integer`);
  const modes = extents.map((extent, dim) => ({ dim, extent }));
  const ids = modes.map((_, i) => i);
  const order = columnMajor ? ids.reverse() : ids;
  return makeLayout(extents, modes, isSpatial ? order : [], isSpatial ? [] : order);
}

/** One thread holds the whole block, row-major. */
export const local = (...extents: number[]): RegisterLayout => primitive(extents, false, false);
/** One element per thread, threads row-major. */
export const spatial = (...extents: number[]): RegisterLayout => primitive(extents, true, false);
/** One thread holds the whole block, column-major. */
export const columnLocal = (...extents: number[]): RegisterLayout => primitive(extents, false, true);
/** One element per thread, threads column-major. */
export const columnSpatial = (...extents: number[]): RegisterLayout => primitive(extents, true, true);

/** n threads hold the same elements; a rank-0 layout that takes its rank from the product it enters. */
export function replicated(n: number): RegisterLayout {
  if (!(Number.isInteger(n) && n >= 1)) throw new LayoutError(`replicated(${n}): the factor must be a positive integer`);
  return makeLayout([], [], [-n], []);
}

/** Pads a rank-0 layout (a replication) to `rank` unit dimensions. */
function withRank(l: RegisterLayout, rank: number): RegisterLayout {
  if (l.shape.length === rank) return l;
  if (l.shape.length !== 0) {
    throw new LayoutError(`cannot combine layouts of rank ${l.shape.length} and ${rank}`);
  }
  return { ...l, shape: new Array<number>(rank).fill(1) };
}

/**
 * The Kronecker product `outer * inner`: element (i_o * inner.shape + i_i) is held by thread
 * (t_o * threads(inner) + t_i) at local (l_o * localSize(inner) + l_i).
 */
export function multiply(outer: RegisterLayout, inner: RegisterLayout): RegisterLayout {
  const rank = Math.max(outer.shape.length, inner.shape.length);
  const a = withRank(outer, rank);
  const b = withRank(inner, rank);
  const n = a.modes.length;
  const shift = (e: number): number => (e < 0 ? e : e + n);
  return makeLayout(
    a.shape.map((s, d) => s * b.shape[d]!),
    [...a.modes, ...b.modes],
    [...a.spatial, ...b.spatial.map(shift)],
    [...a.local, ...b.local.map(shift)],
  );
}

/** The product of several layouts, outermost first. */
export const compose = (...ls: RegisterLayout[]): RegisterLayout => ls.reduce(multiply);

/** Mode digits of an (thread, local) pair; replication digits are dropped. */
function digitsOf(l: RegisterLayout, thread: number, localIndex: number): number[] {
  const digits = new Array<number>(l.modes.length).fill(0);
  for (const [list, value] of [[l.spatial, thread], [l.local, localIndex]] as const) {
    let v = value;
    for (let j = list.length - 1; j >= 0; j--) {
      const e = list[j]!;
      const ext = entryExtent(l, e);
      if (e >= 0) digits[e] = v % ext;
      v = Math.floor(v / ext);
    }
  }
  return digits;
}

/** The logical index of the element that `thread` holds at `localIndex`. */
export function logicalIndex(l: RegisterLayout, thread: number, localIndex: number): number[] {
  if (thread < 0 || thread >= threadCount(l) || localIndex < 0 || localIndex >= localSize(l)) {
    throw new LayoutError(`(thread ${thread}, local ${localIndex}) is outside a layout of ${threadCount(l)} threads and ${localSize(l)} locals`);
  }
  const digits = digitsOf(l, thread, localIndex);
  const index = new Array<number>(l.shape.length).fill(0);
  l.modes.forEach((m, i) => (index[m.dim] = index[m.dim]! * m.extent + digits[i]!));
  return index;
}

/** Every (thread, local) that holds element `index`: one per replica, in increasing thread order. */
export function owners(l: RegisterLayout, index: readonly number[]): { thread: number; local: number }[] {
  if (index.length !== l.shape.length || index.some((x, d) => x < 0 || x >= l.shape[d]!)) {
    throw new LayoutError(`index [${index.join(', ')}] is outside the tile [${l.shape.join(', ')}]`);
  }
  const digits = new Array<number>(l.modes.length).fill(0);
  const rest = [...index];
  for (let i = l.modes.length - 1; i >= 0; i--) {
    const m = l.modes[i]!;
    digits[i] = rest[m.dim]! % m.extent;
    rest[m.dim] = Math.floor(rest[m.dim]! / m.extent);
  }
  const localIndex = l.local.reduce((acc, e) => acc * entryExtent(l, e) + digits[e]!, 0);
  let threads = [0];
  for (const e of l.spatial) {
    const ext = entryExtent(l, e);
    threads = e >= 0 ? threads.map((t) => t * ext + digits[e]!) : threads.flatMap((t) => Array.from({ length: ext }, (_, r) => t * ext + r));
  }
  return threads.map((thread) => ({ thread, local: localIndex }));
}

/** Structural equality of canonical forms, which is equality of the maps. */
export function layoutEquals(a: RegisterLayout, b: RegisterLayout): boolean {
  const ca = canonical(a);
  const cb = canonical(b);
  const same = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    same(ca.shape, cb.shape) &&
    same(ca.spatial, cb.spatial) &&
    same(ca.local, cb.local) &&
    ca.modes.length === cb.modes.length &&
    ca.modes.every((m, i) => m.dim === cb.modes[i]!.dim && m.extent === cb.modes[i]!.extent)
  );
}
