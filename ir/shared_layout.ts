// Shared-memory layouts: a strided map from a tile index to an element offset, then an optional XOR
// swizzle of that offset (CUTLASS's Swizzle<bits, base, shift>) to spread rows over memory banks.

import { rowMajorStrides } from './tile_ir.ts';

export interface Swizzle {
  /** How many offset bits are flipped. */
  readonly bits: number;
  /** The lowest flipped bit: 2^base elements move together. */
  readonly base: number;
  /** Distance from the flipped bits up to the bits that flip them. */
  readonly shift: number;
}

/** A strided layout of `shape` (element strides), optionally swizzled. */
export interface SharedLayout {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly swizzle: Swizzle | null;
}

export class SharedLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SharedLayoutError';
  }
}

function checkShape(shape: readonly number[]): void {
  for (const s of shape) if (!(Number.isInteger(s) && s >= 1)) throw new SharedLayoutError(`shared extent ${s} is not a positive integer`);
}

export function strided(shape: readonly number[], strides: readonly number[]): SharedLayout {
  checkShape(shape);
  if (strides.length !== shape.length) {
    throw new SharedLayoutError(`strided layout of rank ${shape.length} needs ${shape.length} strides, got ${strides.length}`);
  }
  for (const s of strides) if (!(Number.isInteger(s) && s >= 0)) throw new SharedLayoutError(`stride ${s} is not a non-negative integer`);
  return { shape: [...shape], strides: [...strides], swizzle: null };
}

/** Row-major strides: the last dimension is contiguous. */
export function rowMajor(shape: readonly number[]): SharedLayout {
  return strided(shape, rowMajorStrides(shape));
}

/** Column-major strides: the first dimension is contiguous. */
export function columnMajor(shape: readonly number[]): SharedLayout {
  const strides = shape.map((_, d) => shape.slice(0, d).reduce((a, b) => a * b, 1));
  return strided(shape, strides);
}

export function withSwizzle(l: SharedLayout, bits: number, base: number, shift: number): SharedLayout {
  for (const [name, v] of [['bits', bits], ['base', base], ['shift', shift]] as const) {
    if (!(Number.isInteger(v) && v >= 0)) throw new SharedLayoutError(`swizzle ${name} ${v} is not a non-negative integer`);
  }
  if (shift < bits) throw new SharedLayoutError(`swizzle(${bits}, ${base}, ${shift}): shift must be at least bits, or the flipped bits flip themselves`);
  return { ...l, swizzle: { bits, base, shift } };
}

/**
 * The swizzle for a tile of 16-bit elements with rows of `row` elements that ldmatrix (or the MMA's
 * 32-bit fragment reads) takes 8 rows of at once, 16 bytes of each: rows of 32 bytes or more start in
 * the same banks every 128 bytes (rows of 128 bytes: all 8 rows, an 8-way conflict), so each row's
 * 16-byte chunks are XORed with bits of its row index (CUTLASS's Swizzle<bits, 3, shift>): chunk c of
 * row r moves to chunk c ^ (r mod 2^bits) of its 128-byte window, and 8 consecutive rows fill all 8
 * chunk positions. Whole 16-byte chunks move, so 16-byte copies and ldmatrix rows stay whole. Null where
 * rows are not a power of two of at least 16 elements (rows of 16 bytes already fill the window).
 */
export function ldmatrixSwizzle(row: number): Swizzle | null {
  const log = Math.log2(row);
  if (!Number.isInteger(log) || log <= 3) return null;
  return { bits: Math.min(3, log - 3), base: 3, shift: Math.max(3, log - 3) };
}

/** The swizzled image of an element offset. */
export function swizzleOffset(s: Swizzle, offset: number): number {
  const mask = (1 << s.bits) - 1;
  return offset ^ (((offset >>> (s.base + s.shift)) & mask) << s.base);
}

/** The element offset of `index`. */
export function sharedOffset(l: SharedLayout, index: readonly number[]): number {
  let o = 0;
  for (let d = 0; d < l.shape.length; d++) o += index[d]! * l.strides[d]!;
  return l.swizzle ? swizzleOffset(l.swizzle, o) : o;
}

/** Elements of storage the layout spans (a swizzle may move an offset up to the next 2^(base+bits)). */
export function sharedSpan(l: SharedLayout): number {
  const last = l.shape.reduce((acc, s, d) => acc + (s - 1) * l.strides[d]!, 0) + 1;
  if (!l.swizzle) return last;
  const block = 2 ** (l.swizzle.base + l.swizzle.bits); // the XOR stays inside such a block
  return Math.ceil(last / block) * block;
}

/** Visits every index of a shape in row-major order. */
export function forEachIndex(shape: readonly number[], f: (index: number[]) => void): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    f(index);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
}

/** Whether distinct indices get distinct offsets. */
export function isInjective(l: SharedLayout): boolean {
  const seen = new Set<number>();
  let ok = true;
  forEachIndex(l.shape, (index) => {
    const o = sharedOffset(l, index);
    if (seen.has(o)) ok = false;
    seen.add(o);
  });
  return ok;
}

/**
 * One warp-wide access to a shared tile: the index each lane reads, or null for a lane that reads
 * nothing.
 */
export type WarpAccess = readonly (readonly number[] | null)[];

/**
 * The wavefronts that a warp-wide access of one element of `bits` bits per lane takes on 32 banks of
 * 4-byte words: the most distinct words one bank serves (lanes that read the same word share it).
 */
export function accessWavefronts(l: SharedLayout, bits: number, access: WarpAccess): number {
  const perBank = new Map<number, Set<number>>();
  for (const index of access) {
    if (!index) continue;
    const word = Math.floor((sharedOffset(l, index) * bits) / 32);
    const words = perBank.get(word % 32) ?? new Set<number>();
    words.add(word);
    perBank.set(word % 32, words);
  }
  return Math.max(0, ...[...perBank.values()].map((w) => w.size));
}

/**
 * The swizzle under which a row-major tile of `bits`-bit elements serves `accesses` (warp-wide reads of
 * one element per lane, as the lowering issues them for tiles it reads element by element) in the
 * fewest wavefronts, among those that move whole 16-byte chunks (so copies into the tile keep their
 * width) by higher bits of the offset within the dimensions the reads span (those from the first whose
 * index varies: a K tile of a staged buffer, not the stage, which the reads give as a variable); null
 * where none saves at least a quarter of the plain layout's wavefronts, or those dimensions do not hold
 * a power of two of elements. The u4 B tiles of the M = 16 dequant-GEMM (rows of 32 bytes) have each
 * warp read a byte of rows 0, 2, 4 and 6 of a fragment, where rows 0 and 4 share banks: Swizzle<1, 5, 3>
 * moves rows 4 to 7 by 16 bytes.
 */
export function readSwizzle(l: SharedLayout, bits: number, accesses: readonly WarpAccess[]): Swizzle | null {
  const base = Math.log2(128 / bits);
  if (l.swizzle || !Number.isInteger(base) || accesses.length === 0) return null;
  if (l.strides.join() !== rowMajorStrides(l.shape).join()) return null;
  // The first dimension whose index differs between reads, and the offset bits from there on.
  const ref = accesses.flat().find((x) => x);
  const first = ref ? l.shape.findIndex((_, d) => accesses.some((a) => a.some((x) => x && x[d] !== ref[d]))) : -1;
  if (first < 0) return null;
  const top = Math.log2(l.shape.slice(first).reduce((a, b) => a * b, 1));
  if (!Number.isInteger(top)) return null;
  const cost = (layout: SharedLayout): number => accesses.reduce((n, a) => n + accessWavefronts(layout, bits, a), 0);
  const plain = cost(l);
  let best: { swizzle: Swizzle; cost: number } | null = null;
  for (let b = 1; b <= 3; b++) {
    for (let shift = b; base + shift + b <= top; shift++) {
      const c = cost(withSwizzle(l, b, base, shift));
      if (!best || c < best.cost) best = { swizzle: { bits: b, base, shift }, cost: c };
    }
  }
  return best && best.cost <= 0.75 * plain ? best.swizzle : null;
}
