// Whole-tile operations of the VM. A tile is a shape and its elements in row-major order, held as
// values (compute types, bool) or codes (storage-only types); see ir/cast.ts.

import * as arith from '../../ir/arith.ts';
import { pack, unpack } from '../../ir/bitstream.ts';
import { castElement, castFn, codeOf, fromCode, heldAsCode, valueOf } from '../../ir/cast.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { type BinaryFn, type ReduceFn, type UnaryFn, rowMajorStrides } from '../../ir/tile_ir.ts';

export interface Tile {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export const stridesOf = rowMajorStrides;

/** broadcastIndex's maps by shapes: a kernel broadcasts the same shapes in every block and iteration. */
const broadcastMaps = new Map<string, Int32Array>();

/** For each element of `out`, the index of the element of `shape` that broadcasts onto it (not to be written). */
function broadcastIndex(shape: readonly number[], out: readonly number[]): Int32Array {
  const key = `${shape.join(',')}>${out.join(',')}`;
  let map = broadcastMaps.get(key);
  if (!map) {
    if (broadcastMaps.size >= 256) broadcastMaps.clear();
    broadcastMaps.set(key, (map = computeBroadcastIndex(shape, out)));
  }
  return map;
}

function computeBroadcastIndex(shape: readonly number[], out: readonly number[]): Int32Array {
  const n = sizeOf(out);
  const map = new Int32Array(n);
  const offset = out.length - shape.length;
  const inStrides = stridesOf(shape);
  const outStrides = stridesOf(out);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) {
      const coord = Math.floor(i / outStrides[d + offset]!) % out[d + offset]!;
      src += (shape[d] === 1 ? 0 : coord) * inStrides[d]!;
    }
    map[i] = src;
  }
  return map;
}

export function broadcastTo(t: Tile, shape: readonly number[]): Tile {
  if (t.shape.length === shape.length && t.shape.every((x, i) => x === shape[i])) return t;
  const map = broadcastIndex(t.shape, shape);
  const data = new Float64Array(map.length);
  for (let i = 0; i < map.length; i++) data[i] = t.data[map[i]!]!;
  return { dtype: t.dtype, shape, data };
}

export function fullTile(dtype: string, shape: readonly number[], held: number): Tile {
  return { dtype, shape: [...shape], data: new Float64Array(sizeOf(shape)).fill(held) };
}

export function unaryTile(fn: UnaryFn, x: Tile): Tile {
  const f = arith.unaryFn(fn, x.dtype);
  const data = x.data.map((v) => f(v));
  return { dtype: x.dtype, shape: x.shape, data };
}

export function binaryTile(fn: BinaryFn, a: Tile, b: Tile, resultDType: string, shape: readonly number[]): Tile {
  const [x, y] = [broadcastTo(a, shape), broadcastTo(b, shape)];
  const data = new Float64Array(sizeOf(shape));
  const f = arith.binaryFn(fn, a.dtype);
  for (let i = 0; i < data.length; i++) data[i] = f(x.data[i]!, y.data[i]!);
  return { dtype: resultDType, shape, data };
}

export function fmaTile(a: Tile, b: Tile, c: Tile, dtype: string, shape: readonly number[]): Tile {
  const [x, y, z] = [broadcastTo(a, shape), broadcastTo(b, shape), broadcastTo(c, shape)];
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = arith.fma(dtype, x.data[i]!, y.data[i]!, z.data[i]!);
  return { dtype, shape, data };
}

export function selectTile(c: Tile, a: Tile, b: Tile, shape: readonly number[]): Tile {
  const [cc, x, y] = [broadcastTo(c, shape), broadcastTo(a, shape), broadcastTo(b, shape)];
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = cc.data[i] ? x.data[i]! : y.data[i]!;
  return { dtype: a.dtype, shape, data };
}

export function castTile(x: Tile, to: string): Tile {
  const f = castFn(x.dtype, to);
  return { dtype: to, shape: x.shape, data: x.data.map((v) => f(v)) };
}

/** Reinterprets the bits of a tile: the row-major bit stream re-read at another width. */
export function viewTile(x: Tile, to: string, shape: readonly number[]): Tile {
  const [from, bits] = [parseDType(x.dtype).bits, parseDType(to).bits];
  const bytes = new Uint8Array(Math.ceil((x.data.length * from) / 8));
  pack(Array.from(x.data, (v) => codeOf(x.dtype, v)), from, bytes);
  const codes = unpack(bytes, bits, sizeOf(shape));
  return { dtype: to, shape, data: Float64Array.from(codes, (c) => fromCode(to, c)) };
}

export function iotaTile(dtype: string, shape: readonly number[], axis: number): Tile {
  const strides = stridesOf(shape);
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = castElement('i32', dtype, Math.floor(i / strides[axis]!) % shape[axis]!);
  return { dtype, shape, data };
}

/**
 * a[M, K] . b[K, N] + c. Products are summed exactly in float64 and rounded once to the result type
 * (i32 sums of 8-bit products are exact and wrap).
 */
export function dotTile(a: Tile, b: Tile, c: Tile | null, resultDType: string): Tile {
  const [M, K] = a.shape as [number, number];
  const N = b.shape[1]!;
  // The operands' values (compute types hold them already; not written below).
  const values = (x: Tile): Float64Array => (heldAsCode(x.dtype) ? x.data.map((v) => valueOf(x.dtype, v)) : x.data);
  const [av, bv] = [values(a), values(b)];
  const data = new Float64Array(M * N);
  const row = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    row.fill(0);
    for (let k = 0; k < K; k++) {
      const x = av[m * K + k]!;
      if (x === 0) continue;
      const off = k * N;
      for (let n = 0; n < N; n++) row[n]! += x * bv[off + n]!;
    }
    for (let n = 0; n < N; n++) data[m * N + n] = arith.roundTo(resultDType, (c ? c.data[m * N + n]! : 0) + row[n]!);
  }
  // 0 * inf and 0 * NaN were skipped above; redo those rows exactly.
  if (!av.every(Number.isFinite) || !bv.every(Number.isFinite)) return dotExact(av, bv, c, resultDType, M, K, N);
  return { dtype: resultDType, shape: [M, N], data };
}

function dotExact(av: Float64Array, bv: Float64Array, c: Tile | null, dtype: string, M: number, K: number, N: number): Tile {
  const data = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += av[m * K + k]! * bv[k * N + n]!;
      data[m * N + n] = arith.roundTo(dtype, (c ? c.data[m * N + n]! : 0) + s);
    }
  }
  return { dtype, shape: [M, N], data };
}

/** Reduces `axis` away: sums exactly in float64 and round once; max and min propagate NaN. */
export function reduceTile(fn: ReduceFn, x: Tile, axis: number): Tile {
  const shape = x.shape.filter((_, i) => i !== axis);
  const strides = stridesOf(x.shape);
  const n = x.shape[axis]!;
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = strides[axis]!;
  const data = new Float64Array(sizeOf(shape));
  // Sums are exact in float64 and rounded once; max and min combine as the binary operation.
  const combine = fn === 'sum' ? null : arith.binaryFn(fn, x.dtype);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = fn === 'sum' ? 0 : fn === 'max' ? -Infinity : Infinity;
      for (let k = 0; k < n; k++) {
        const v = x.data[o * n * inner + k * inner + i]!;
        acc = combine ? combine(acc, v) : acc + v;
      }
      data[o * inner + i] = fn === 'sum' ? arith.roundTo(x.dtype, acc) : acc;
    }
  }
  return { dtype: x.dtype, shape, data };
}

export function permuteTile(x: Tile, perm: readonly number[]): Tile {
  const shape = perm.map((p) => x.shape[p]!);
  const inStrides = stridesOf(x.shape);
  const outStrides = stridesOf(shape);
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += (Math.floor(i / outStrides[d]!) % shape[d]!) * inStrides[perm[d]!]!;
    data[i] = x.data[src]!;
  }
  return { dtype: x.dtype, shape, data };
}
