import { describe, expect, it } from 'vitest';
import { contiguity, vectorElements } from '../../ir/contiguity.ts';
import { compose, local, spatial, columnLocal } from '../../ir/layout.ts';
import { columnMajor, forEachIndex, isInjective, rowMajor, sharedOffset, sharedSpan, strided, withSwizzle } from '../../ir/shared_layout.ts';

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
