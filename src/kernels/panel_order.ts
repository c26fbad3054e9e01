// Weights in panels: the codes of W[K, N] as P[ceil(N / width), K * width], panel p holding columns
// p * width .. p * width + width - 1 of W, row after row (the last panel's columns past N padded with
// code 0). A GPU GEMV block whose N tile is one panel then finds each K tile of its weights in one
// contiguous run of memory and copies it in 16-byte chunks, whatever the width of the codes; in rows, a
// K tile is BK separate rows of width * bits / 8 bytes (12 for 3-bit codes in 32 columns). The GPU
// tiles (M over 4) and the CPU tiles read the same panels (their N tile the panel width), loading each K
// tile flat and reshaping it.

import { type Tensor, tensorElements, tensorFrom } from '../vm/memory.ts';

export function panelShape(K: number, N: number, width: number): [number, number] {
  return [Math.ceil(N / width), K * width];
}

/** The codes of W[K, N] (row-major) in panels of `width` columns. */
export function toPanelOrder(codes: ArrayLike<number>, K: number, N: number, width: number): Int32Array {
  if (codes.length !== K * N) throw new RangeError(`expected ${K * N} codes for [${K}, ${N}], got ${codes.length}`);
  if (!(Number.isInteger(width) && width >= 1)) throw new RangeError(`the panel width must be a positive integer; got ${width}`);
  const panels = Math.ceil(N / width);
  const out = new Int32Array(panels * K * width);
  for (let p = 0; p < panels; p++) {
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < width && p * width + j < N; j++) out[(p * K + k) * width + j] = codes[k * N + p * width + j]!;
    }
  }
  return out;
}

/** The inverse of toPanelOrder: codes W[K, N] (row-major) from their panels. */
export function fromPanelOrder(ordered: ArrayLike<number>, K: number, N: number, width: number): Int32Array {
  const [panels, row] = panelShape(K, N, width);
  if (ordered.length !== panels * row) throw new RangeError(`expected ${panels * row} codes for [${panels}, ${row}], got ${ordered.length}`);
  const out = new Int32Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) out[k * N + n] = ordered[(Math.floor(n / width) * K + k) * width + (n % width)]!;
  }
  return out;
}

/** A codes tensor W[K, N] in panels of `width` columns. */
export function panelOrderTensor(w: Tensor, width: number): Tensor {
  if (w.shape.length !== 2) throw new RangeError(`panel order takes codes W[K, N]; got a tensor of shape [${w.shape.join(', ')}]`);
  const [K, N] = w.shape as [number, number];
  return tensorFrom(w.dtype, panelShape(K, N, width), toPanelOrder(tensorElements(w), K, N, width));
}
