import { describe, expect, it } from 'vitest';
import { contiguity, vectorElements } from '../../ir/contiguity.ts';
import { compose, local, spatial, columnLocal } from '../../ir/layout.ts';
import { type WarpAccess, accessWavefronts, columnMajor, forEachIndex, isInjective, readSwizzle, rowMajor, sharedOffset, sharedSpan, strided, withSwizzle } from '../../ir/shared_layout.ts';

/** The 4-byte banks (of 32) touched by a 16-byte access at a byte address. */
const banksOf16Bytes = (byte: number): number[] => [0, 1, 2, 3].map((w) => (byte / 4 + w) % 32);

/**
 * ldmatrix reads 8x8 f16 matrices: 8 lanes each give a 16-byte row address, and those 8 rows are one
 * shared-memory phase. For each of the 8 column chunks of an 8x64 tile, returns the worst number of
 * accesses that meet in one bank.
 */
function ldmatrixConflicts(layout: ReturnType<typeof rowMajor>): number {
  let worst = 0;
  for (let chunk = 0; chunk < 8; chunk++) {
    const hits = new Array<number>(32).fill(0);
    for (let row = 0; row < 8; row++) {
      const first = sharedOffset(layout, [row, chunk * 8]);
      // The 8 halves of the row chunk stay together, so the access is one 16-byte transaction.
      for (let i = 1; i < 8; i++) expect(sharedOffset(layout, [row, chunk * 8 + i])).toBe(first + i);
      for (const b of banksOf16Bytes(first * 2)) hits[b]!++;
    }
    worst = Math.max(worst, ...hits);
  }
  return worst;
}

describe('shared layouts', () => {
  it('a swizzled 8x64 f16 layout gives conflict-free 16-byte ldmatrix rows; the plain one does not', () => {
    const plain = rowMajor([8, 64]);
    const swizzled = withSwizzle(plain, 3, 3, 3);
    expect(ldmatrixConflicts(plain)).toBe(8);
    expect(ldmatrixConflicts(swizzled)).toBe(1);
    expect(isInjective(swizzled)).toBe(true);
    expect(sharedSpan(swizzled)).toBe(512);
  });

  it('computes strided offsets, padded rows and spans', () => {
    expect(sharedOffset(rowMajor([2, 3, 4]), [1, 2, 3])).toBe(23);
    expect(sharedOffset(columnMajor([2, 3]), [1, 2])).toBe(5);
    const padded = strided([4, 8], [9, 1]);
    expect(sharedOffset(padded, [3, 7])).toBe(34);
    expect(sharedSpan(padded)).toBe(35);
    expect(isInjective(padded)).toBe(true);
    expect(isInjective(strided([4, 4], [2, 1]))).toBe(false);
  });

  it('every swizzle of a power-of-two tile permutes its offsets', () => {
    for (const [bits, base, shift] of [[1, 0, 1], [2, 2, 3], [3, 3, 3], [3, 4, 3], [2, 1, 4]] as const) {
      const l = withSwizzle(rowMajor([16, 64]), bits, base, shift);
      const offsets = new Set<number>();
      forEachIndex(l.shape, (i) => offsets.add(sharedOffset(l, i)));
      expect(offsets.size).toBe(1024);
      expect(Math.max(...offsets)).toBe(1023);
    }
    expect(() => withSwizzle(rowMajor([8, 8]), 3, 0, 2)).toThrow(/shift must be at least bits/);
  });
});

describe('contiguity of register layouts in memory', () => {
  const rowMajor2 = (cols: number) => (i: readonly number[]) => i[0]! * cols + i[1]!;
  it('counts runs of consecutive locals on consecutive addresses', () => {
    expect(contiguity(compose(spatial(8, 4), local(1, 8)), rowMajor2(32))).toBe(8);
    const mmaC = compose(local(2, 1), spatial(8, 4), local(1, 2));
    expect(contiguity(mmaC, rowMajor2(8))).toBe(2);
    expect(contiguity(mmaC, (i) => i[1]! * 16 + i[0]!)).toBe(1); // column-major memory
    expect(contiguity(columnLocal(4, 4), (i) => i[1]! * 4 + i[0]!)).toBe(16);
    expect(contiguity(local(1, 6), rowMajor2(6))).toBe(2); // powers of two dividing the locals only
  });
  it('with alignment, a run must also start at a multiple of its length', () => {
    const l = local(1, 8);
    const shifted = (i: readonly number[]) => i[1]! + 2;
    expect(contiguity(l, shifted)).toBe(8);
    expect(contiguity(l, shifted, { aligned: true })).toBe(2);
  });
  it('caps vectors at 128 bits', () => {
    expect(vectorElements(16, 16)).toBe(8);
    expect(vectorElements(64, 3)).toBe(32);
    expect(vectorElements(4, 32)).toBe(4);
  });
});

describe('swizzles chosen by the reads', () => {
  // An MMA B fragment's codes read one element at a time from a [K, N] tile of codes: for each of the
  // lane's 4 elements (k = 2 (lane % 4) + {0, 1} + {0, 8}, n = lane / 4), one warp-wide read.
  const fragmentReads = (columns: number): WarpAccess[] => [0, 1, 8, 9].flatMap((dk) =>
    Array.from({ length: columns / 8 }, (_, c) => Array.from({ length: 32 }, (_, lane) => [2 * (lane % 4) + dk, 8 * c + Math.floor(lane / 4)])));
  it('counts the distinct words that one bank serves', () => {
    const l = rowMajor([64, 64]);
    // Bytes of 8 consecutive u8 columns from rows 0, 2, 4 and 6 (64-byte rows): words 0, 1, 32, 33, ...
    // in banks 0 and 1, 4 words each.
    expect(accessWavefronts(l, 8, fragmentReads(8)[0]!)).toBe(4);
    // The same elements as u4 (32-byte rows): rows 0 and 4 meet.
    expect(accessWavefronts(l, 4, fragmentReads(8)[0]!)).toBe(2);
    // Lanes reading one word share it; lanes reading nothing take nothing.
    expect(accessWavefronts(l, 32, Array.from({ length: 32 }, () => [3, 5]))).toBe(1);
    expect(accessWavefronts(l, 32, [null, [0, 0], [0, 32]])).toBe(2);
  });
  it('swizzles u4 and u8 tiles read as MMA B fragments by 16-byte chunks, to the fewest wavefronts', () => {
    for (const [bits, expected] of [[4, { bits: 1, base: 5, shift: 3 }], [8, { bits: 2, base: 4, shift: 3 }]] as const) {
      const l = rowMajor([64, 64]);
      const reads = fragmentReads(64);
      const s = readSwizzle(l, bits, reads);
      expect(s).toEqual(expected);
      const swizzled = withSwizzle(l, s!.bits, s!.base, s!.shift);
      for (const a of reads) expect(accessWavefronts(swizzled, bits, a)).toBe(1);
      expect(isInjective(swizzled)).toBe(true);
      // 16-byte chunks stay whole (a copy into the tile keeps its width).
      const perChunk = 128 / bits;
      forEachIndex([64, 64 / perChunk], ([r, c]) => {
        const first = sharedOffset(swizzled, [r!, c! * perChunk]);
        expect(first % perChunk).toBe(0);
        for (let i = 1; i < perChunk; i++) expect(sharedOffset(swizzled, [r!, c! * perChunk + i])).toBe(first + i);
      });
    }
  });
  it('keeps plain rows where no swizzle saves a quarter, and for elements that do not fill 16 bytes whole', () => {
    // u2 rows of 16 bytes: rows 0, 2, 4, 6 are in distinct banks already.
    expect(readSwizzle(rowMajor([64, 64]), 2, fragmentReads(64))).toBeNull();
    expect(readSwizzle(rowMajor([64, 64]), 3, fragmentReads(64))).toBeNull();
    expect(readSwizzle(columnMajor([64, 64]), 4, fragmentReads(64))).toBeNull();
    expect(readSwizzle(rowMajor([64, 64]), 4, [])).toBeNull();
    // Each lane a 16-byte run of its own row (a GEMV's weights): no chunk-moving swizzle helps.
    expect(readSwizzle(rowMajor([128, 32]), 4, Array.from({ length: 32 }, (_, j) => Array.from({ length: 32 }, (_, lane) => [lane, j])))).toBeNull();
  });
  it('takes the bits that flip from the dimensions the reads span, not a stage index they leave at 0', () => {
    // Stages of [64, 64] u4 tiles: the same reads with the stage at 0 choose the same swizzle.
    const reads = fragmentReads(64).map((a) => a.map((x) => (x ? [0, ...x] : null)));
    expect(readSwizzle(rowMajor([3, 64, 64]), 4, reads)).toEqual({ bits: 1, base: 5, shift: 3 });
  });
});
