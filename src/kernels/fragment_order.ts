// Weights in fragment order: the codes of W[K, N] rearranged so that each thread of a warp finds the
// codes of its `mma.m16n8k16` B fragments side by side, and reads them with one wide load instead of
// one load per code (Marlin's idea, here as a plain row-major tensor that a kernel turns back into
// W's tiles with `reshape` and `permute`, which the layouts make free).
//
// The tensor is F[K / 16, ceil(N / 64), 32, 32]: one unit per 16 rows of K and 64 columns of N (the
// last columns padded with code 0), each unit the 32 codes of each of 32 lanes. Lane 4 g + q holds,
// for each of the 8 atom columns c of the unit (columns 8 c + g), the four codes of its B fragment:
// rows 2 q + k0 + 8 kh (k0, kh in {0, 1}). Their order is chosen so that, for widths that divide 16,
// the two codes of one f16 pair (k0 = 0 and 1) sit 16 bits apart in one 32-bit word: one shift and one
// mask move both into the halves of an f16x2 (the magic-number conversion); and, at 2, 4 and 8 bits,
// so that each lane's words lie in blocks, word w of every lane in block w (see unitDigits).

import { dtype as parseDType } from '../../ir/dtype.ts';
import { type Tensor, tensorElements, tensorFrom } from '../vm/memory.ts';

/** One digit of a unit's index: its name and extent. */
export interface Digit {
  readonly name: 'g' | 'q' | 'c' | 'ch' | 'cl' | 'kh' | 'k0';
  readonly extent: number;
}

export const UNIT_K = 16;
export const UNIT_N = 64;

/** Pairs (of k0 = 0, 1) per 32-bit word with the partner 16 bits on: 16 / bits where that is whole. */
export function pairsPerWord(bits: number): number {
  return [1, 2, 4, 8].includes(bits) ? 16 / bits : 1;
}

/**
 * The digits of a unit's 1024 codes in storage order, outermost first, without unit extents. Widths of
 * 1, 2, 4 and 8 bits: the atom column c splits into ch and cl (c = ch P/2 + cl, P pairs per word); a
 * word holds P first codes (k0 = 0) and then their P partners, and the unit is 16 / P blocks (ch), each
 * a word of every lane (g, q) in lane order: the warps of a tile that splits N take whole blocks, so a
 * warp's 32 lanes read 128 contiguous bytes, one wavefront (with ch inside each lane's codes they read
 * a word every 16 bytes at 4 bits: a 4-way bank conflict). Other widths: lane, then c, kh, k0.
 */
export function unitDigits(bits: number): readonly Digit[] {
  const P = pairsPerWord(bits);
  const lane: Digit[] = [{ name: 'g', extent: 8 }, { name: 'q', extent: 4 }];
  const digits: Digit[] = P === 1
    ? [...lane, { name: 'c', extent: 8 }, { name: 'kh', extent: 2 }, { name: 'k0', extent: 2 }]
    : [{ name: 'ch', extent: 16 / P }, ...lane, { name: 'k0', extent: 2 }, { name: 'cl', extent: P / 2 }, { name: 'kh', extent: 2 }];
  return digits.filter((d) => d.extent > 1);
}

/** The digits of a unit's row (k = 8 kh + 2 q + k0) and column (n = 8 c + g), outermost first. */
export function logicalDigits(bits: number): { readonly k: readonly Digit['name'][]; readonly n: readonly Digit['name'][] } {
  const present = new Set(unitDigits(bits).map((d) => d.name));
  return { k: ['kh', 'q', 'k0'], n: (['c', 'ch', 'cl', 'g'] as const).filter((d) => present.has(d)) };
}

/**
 * Position (row, column) within its unit of each of the 1024 codes of a unit, in storage order: the
 * storage digits of code i, composed into the row and the column as logicalDigits orders them (the
 * same order unitsToTile's permute makes).
 */
export function unitPositions(bits: number): Int32Array {
  const digits = unitDigits(bits);
  const { k, n } = logicalDigits(bits);
  const extent = new Map<string, number>(digits.map((d) => [d.name, d.extent]));
  const compose = (names: readonly Digit['name'][], value: Map<string, number>): number => names.reduce((x, name) => x * extent.get(name)! + value.get(name)!, 0);
  const out = new Int32Array(2 * 1024);
  const value = new Map<string, number>();
  for (let i = 0; i < 1024; i++) {
    let rest = i;
    for (let d = digits.length - 1; d >= 0; d--) {
      value.set(digits[d]!.name, rest % digits[d]!.extent);
      rest = Math.floor(rest / digits[d]!.extent);
    }
    out[2 * i] = compose(k, value);
    out[2 * i + 1] = compose(n, value);
  }
  return out;
}

/** The shape of the fragment-order tensor of codes W[K, N]. */
export function fragmentShape(K: number, N: number): [number, number, number, number] {
  if (!(Number.isInteger(K) && K >= UNIT_K && K % UNIT_K === 0)) throw new RangeError(`fragment order needs K a positive multiple of ${UNIT_K}; got ${K}`);
  if (!(Number.isInteger(N) && N >= 1)) throw new RangeError(`fragment order needs a positive N; got ${N}`);
  return [K / UNIT_K, Math.ceil(N / UNIT_N), 32, 32];
}

/**
 * Calls `visit(i, r)` for each code of the fragment-order tensor of W[K, N] inside W: i its index in
 * fragment order, r its index in W (row-major). Columns past N, the padding, are not visited.
 */
function eachCode(K: number, N: number, bits: number, visit: (i: number, r: number) => void): void {
  const [KB, NB] = fragmentShape(K, N);
  const at = unitPositions(bits);
  for (let kb = 0; kb < KB; kb++) {
    for (let nb = 0; nb < NB; nb++) {
      const base = (kb * NB + nb) * 1024;
      for (let i = 0; i < 1024; i++) {
        const [k, n] = [kb * UNIT_K + at[2 * i]!, nb * UNIT_N + at[2 * i + 1]!];
        if (n < N) visit(base + i, k * N + n);
      }
    }
  }
}

const orderedLength = (K: number, N: number): number => fragmentShape(K, N).reduce((a, b) => a * b, 1);

/** Codes W[K, N] (row-major) in fragment order; columns past N are code 0. */
export function toFragmentOrder(codes: ArrayLike<number>, K: number, N: number, bits: number): Int32Array {
  if (codes.length !== K * N) throw new RangeError(`expected ${K * N} codes for [${K}, ${N}], got ${codes.length}`);
  const out = new Int32Array(orderedLength(K, N));
  eachCode(K, N, bits, (i, r) => (out[i] = codes[r]!));
  return out;
}

/** The inverse of toFragmentOrder: codes W[K, N] (row-major) from their fragment order. */
export function fromFragmentOrder(ordered: ArrayLike<number>, K: number, N: number, bits: number): Int32Array {
  if (ordered.length !== orderedLength(K, N)) throw new RangeError(`expected ${orderedLength(K, N)} codes for [${fragmentShape(K, N).join(', ')}], got ${ordered.length}`);
  const out = new Int32Array(K * N);
  eachCode(K, N, bits, (i, r) => (out[r] = ordered[i]!));
  return out;
}

/**
 * The `.tile` expression that turns a tile of units t[KB, NB, 32, 32] (KB, NB compile-time) back into
 * W's tile [16 KB, 64 NB], or with `transposed` into its transpose [64 NB, 16 KB]: a reshape into the
 * unit's digits, a permute into row and column order (columns first for the transpose), and a reshape
 * into two dimensions.
 */
export function unitsToTile(t: string, bits: number, KB: string, NB: string, transposed = false): string {
  const digits = unitDigits(bits);
  const { k, n } = logicalDigits(bits);
  const index = (name: string): number => 2 + digits.findIndex((d) => d.name === name);
  const [rows, cols] = [[0, ...k.map(index)], [1, ...n.map(index)]];
  const perm = transposed ? [...cols, ...rows] : [...rows, ...cols];
  const split = `reshape(${t}, [${[KB, NB, ...digits.map((d) => `${d.extent}`)].join(', ')}])`;
  const shape = [`${KB} * ${UNIT_K}`, `${NB} * ${UNIT_N}`];
  return `reshape(permute(${split}, [${perm.join(', ')}]), [${(transposed ? shape.reverse() : shape).join(', ')}])`;
}

/** A tensor of codes W[K, N] (as quantize() writes it) in fragment order: F[K / 16, ceil(N / 64), 32, 32]. */
export function fragmentOrderTensor(w: Tensor): Tensor {
  if (w.shape.length !== 2) throw new RangeError(`fragment order takes codes W[K, N]; got a tensor of shape [${w.shape.join(', ')}]`);
  const [K, N] = w.shape as [number, number];
  return tensorFrom(w.dtype, fragmentShape(K, N), toFragmentOrder(tensorElements(w), K, N, parseDType(w.dtype).bits));
}
