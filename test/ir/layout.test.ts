// The layout algebra's laws, checked on the maps themselves, and the MMA fragments of the PTX ISA.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type RegisterLayout, LayoutError, columnLocal, columnSpatial, compose, layoutEquals, local, localSize,
  logicalIndex, multiply, owners, replicated, replication, spatial, threadCount, tileSize,
} from '../../ir/layout.ts';
import { MMA_M16N8K16, broadcastLocalTerms, concat, divide, localPermutation, mmaOperandLayouts, permute, projectLayout, reduce, reshape } from '../../ir/layout_ops.ts';
import { printLayout } from '../../ir/layout_print.ts';

/** Every (thread, local) -> index of a layout, as one comparable string. */
function mapOf(l: RegisterLayout): string {
  const rows: string[] = [`shape ${l.shape.join('x')}`];
  for (let t = 0; t < threadCount(l); t++) for (let i = 0; i < localSize(l); i++) rows.push(logicalIndex(l, t, i).join(','));
  return rows.join(';');
}

type AtomKind = 'local' | 'spatial' | 'column_local' | 'column_spatial' | 'replicated';
const atoms: Record<Exclude<AtomKind, 'replicated'>, (...e: number[]) => RegisterLayout> = {
  local, spatial, column_local: columnLocal, column_spatial: columnSpatial,
};
const buildAtom = (kind: AtomKind, extents: number[]): RegisterLayout =>
  kind === 'replicated' ? replicated(extents[0]! + 1) : atoms[kind](...extents);

const arbLayout = (rank: number, extents: number[] = [1, 2, 3, 4], maxAtoms = 4): fc.Arbitrary<RegisterLayout> =>
  fc
    .array(
      fc.record({
        kind: fc.constantFrom<AtomKind>('local', 'spatial', 'column_local', 'column_spatial', 'replicated'),
        extents: fc.array(fc.constantFrom(...extents), { minLength: rank, maxLength: rank }),
      }),
      { minLength: 1, maxLength: maxAtoms },
    )
    .filter((xs) => xs.some((x) => x.kind !== 'replicated'))
    .map((xs) => compose(...xs.map((x) => buildAtom(x.kind, x.extents))))
    .filter((l) => tileSize(l) * replication(l) <= 4096);

const anyRank = fc.integer({ min: 1, max: 3 }).chain((r) => arbLayout(r));

/** Evaluates a printed layout: `atom(a, b) * atom(c, d) * ...`. */
function evaluatePrinted(text: string): RegisterLayout {
  return compose(
    ...text.split(' * ').map((part) => {
      const m = /^(\w+)\(([\d, ]*)\)$/.exec(part);
      if (!m) throw new Error(`not an atom: ${part}`);
      return buildAtom(m[1] as AtomKind, m[2]!.split(',').map((x) => Number(x) - (m[1] === 'replicated' ? 1 : 0)));
    }),
  );
}

describe('mma.sync.m16n8k16 fragments (PTX ISA, f16 inputs, f32 accumulator)', () => {
  // groupID = lane >> 2, threadID_in_group = lane % 4, as in the ISA's fragment tables.
  const fragments = {
    A: { layout: compose(columnLocal(2, 2), spatial(8, 4), local(1, 2)), locals: 8, shape: [16, 16],
      at: (lane: number, i: number) => [(lane >> 2) + (i % 4 >= 2 ? 8 : 0), (lane % 4) * 2 + (i % 2) + (i >= 4 ? 8 : 0)] },
    B: { layout: compose(local(2, 1), columnSpatial(4, 8), local(2, 1)), locals: 4, shape: [16, 8],
      at: (lane: number, i: number) => [(lane % 4) * 2 + (i % 2) + (i >= 2 ? 8 : 0), lane >> 2] },
    C: { layout: compose(local(2, 1), spatial(8, 4), local(1, 2)), locals: 4, shape: [16, 8],
      at: (lane: number, i: number) => [(lane >> 2) + (i >= 2 ? 8 : 0), (lane % 4) * 2 + (i % 2)] },
  };
  it.each(Object.entries(fragments))('%s matches the ISA table for every lane and register', (_, f) => {
    expect(f.layout.shape).toEqual(f.shape);
    expect([threadCount(f.layout), localSize(f.layout)]).toEqual([32, f.locals]);
    for (let lane = 0; lane < 32; lane++) for (let i = 0; i < f.locals; i++) expect(logicalIndex(f.layout, lane, i)).toEqual(f.at(lane, i));
  });
  it('are the atoms instruction selection divides by (MMA_M16N8K16)', () => {
    for (const [key, f] of [['a', fragments.A], ['b', fragments.B], ['c', fragments.C]] as const) expect(layoutEquals(MMA_M16N8K16[key], f.layout)).toBe(true);
  });
  it('C: element (9, 3) is thread 5, local 3 (DESIGN.md)', () => {
    expect(owners(fragments.C.layout, [9, 3])).toEqual([{ thread: 5, local: 3 }]);
  });
  it('prints in the DSL syntax', () => {
    expect(printLayout(fragments.C.layout)).toBe('local(2, 1) * spatial(8, 4) * local(1, 2)');
    expect(printLayout(fragments.A.layout)).toBe('column_local(2, 2) * spatial(8, 4) * local(1, 2)');
    expect(printLayout(fragments.B.layout)).toBe('local(2, 1) * column_spatial(4, 8) * local(2, 1)');
  });
  it('the accumulator of warps that hold whole rows is, per thread, the A fragments of those rows (a local permutation)', () => {
    const c = compose(spatial(4, 1), local(1, 4), MMA_M16N8K16.c); // 64 x 32 over 4 warps
    const a = mmaOperandLayouts(c, 32)!.a;
    const perm = localPermutation(c, a)!;
    expect(perm).not.toBeNull();
    for (let t = 0; t < 128; t++) for (let j = 0; j < localSize(a); j++) expect(logicalIndex(a, t, j)).toEqual(logicalIndex(c, t, perm[j]!));
    expect(localPermutation(c, c)).toEqual([...Array(localSize(c)).keys()]);
    // Warps that split columns hold other rows' elements than the A fragments need.
    const split = compose(spatial(2, 2), local(2, 2), MMA_M16N8K16.c);
    expect(localPermutation(split, mmaOperandLayouts(split, 32)!.a)).toBeNull();
    expect(localPermutation(compose(spatial(8, 16), local(8, 2)), compose(spatial(8, 16), local(2, 8)))).toBeNull();
  });
  it('a warp tile of 2x2 C atoms over 4 warps divides by the atom', () => {
    const warpTile = compose(spatial(2, 2), local(2, 2), fragments.C.layout);
    const q = divide(warpTile, fragments.C.layout);
    expect(q && printLayout(q)).toBe('spatial(2, 2) * local(2, 2)');
    expect(divide(compose(local(2, 2), spatial(8, 4)), fragments.C.layout)).toBeUndefined();
  });
});

describe('laws of the algebra', () => {
  it('the product is associative', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 }).chain((r) => fc.tuple(arbLayout(r, [1, 2, 3], 2), arbLayout(r, [1, 2, 3], 2), arbLayout(r, [1, 2, 3], 2))), ([a, b, c]) => {
        const left = multiply(multiply(a, b), c);
        const right = multiply(a, multiply(b, c));
        return layoutEquals(left, right) && mapOf(left) === mapOf(right);
      }),
      { numRuns: 300 },
    );
  });

  it('divide undoes the product: divide(A * B, B) == A', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }).chain((r) => fc.tuple(arbLayout(r, [1, 2, 3], 3), arbLayout(r, [1, 2, 3], 3))), ([a, b]) => {
        const q = divide(multiply(a, b), b);
        return q !== undefined && layoutEquals(q, a) && mapOf(q) === mapOf(a);
      }),
      { numRuns: 500 },
    );
  });

  it('every layout is a bijection onto its tile, times its declared replication', () => {
    fc.assert(
      fc.property(anyRank, (l) => {
        const count = new Map<string, number>();
        for (let t = 0; t < threadCount(l); t++) {
          for (let i = 0; i < localSize(l); i++) {
            const index = logicalIndex(l, t, i);
            count.set(index.join(','), (count.get(index.join(',')) ?? 0) + 1);
            // The inverse names this (thread, local) among the element's owners.
            if (!owners(l, index).some((o) => o.thread === t && o.local === i)) return false;
          }
        }
        return count.size === tileSize(l) && [...count.values()].every((n) => n === replication(l)) && threadCount(l) * localSize(l) === tileSize(l) * replication(l);
      }),
      { numRuns: 300 },
    );
  });

  it('structural equality is equality of the maps', () => {
    const small = fc.integer({ min: 1, max: 2 }).chain((r) => arbLayout(r, [1, 2], 3));
    let equalPairs = 0;
    fc.assert(
      fc.property(small, small, (a, b) => {
        const same = mapOf(a) === mapOf(b) && threadCount(a) === threadCount(b) && replication(a) === replication(b);
        if (same) equalPairs++;
        return layoutEquals(a, b) === same;
      }),
      { numRuns: 2000 },
    );
    expect(equalPairs).toBeGreaterThan(20); // the draw must actually produce equal pairs
    expect(layoutEquals(local(4, 6), compose(local(2, 1), local(2, 6)))).toBe(true);
    expect(layoutEquals(local(4, 6), compose(local(2, 3), local(2, 2)))).toBe(false); // blocked, not row-major
    expect(layoutEquals(compose(spatial(2, 1), spatial(1, 4)), spatial(2, 4))).toBe(true);
    expect(layoutEquals(compose(spatial(1, 4), spatial(2, 1)), spatial(2, 4))).toBe(false);
  });

  it('reduce keeps every thread on the projection of its elements', () => {
    fc.assert(
      fc.property(anyRank, fc.nat(), fc.boolean(), (l, k, keep) => {
        const dim = k % l.shape.length;
        const r = reduce(l, dim, keep);
        if (threadCount(r) !== threadCount(l)) return false;
        for (let t = 0; t < threadCount(l); t++) {
          for (let i = 0; i < localSize(l); i++) {
            const index = logicalIndex(l, t, i);
            const projected = keep ? index.map((x, d) => (d === dim ? 0 : x)) : index.filter((_, d) => d !== dim);
            if (!owners(r, projected).some((o) => o.thread === t)) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('reshape keeps the row-major map, and reshaping back restores the layout', () => {
    const linear = (index: number[], shape: readonly number[]): number => index.reduce((acc, x, d) => acc * shape[d]! + x, 0);
    fc.assert(
      fc.property(anyRank, (l) => {
        const flat = reshape(l, [tileSize(l)]);
        for (let t = 0; t < threadCount(l); t++) {
          for (let i = 0; i < localSize(l); i++) {
            if (linear(logicalIndex(l, t, i), l.shape) !== logicalIndex(flat, t, i)[0]) return false;
          }
        }
        return layoutEquals(reshape(flat, l.shape), l);
      }),
      { numRuns: 300 },
    );
    expect(printLayout(reshape(spatial(4, 8), [4, 2, 4]))).toBe('spatial(4, 2, 4)');
    expect(() => reshape(compose(local(1, 3), spatial(1, 2)), [2, 3])).toThrow(LayoutError);
  });

  it('permute and concat move indices as they say', () => {
    fc.assert(
      fc.property(arbLayout(2), arbLayout(1), (a, b) => {
        const p = permute(a, [1, 0]);
        const c = concat(a, b);
        for (let t = 0; t < threadCount(a); t++) {
          for (let i = 0; i < localSize(a); i++) {
            const [x, y] = logicalIndex(a, t, i);
            const [py, px] = logicalIndex(p, t, i);
            if (x !== px || y !== py) return false;
            for (let tb = 0; tb < threadCount(b); tb++) {
              for (let ib = 0; ib < localSize(b); ib++) {
                const got = logicalIndex(c, t * threadCount(b) + tb, i * localSize(b) + ib);
                if (got.join() !== [x, y, ...logicalIndex(b, tb, ib)].join()) return false;
              }
            }
          }
        }
        return true;
      }),
      { numRuns: 100 },
    );
  });

  it('the printer writes a product that evaluates back to the layout', () => {
    fc.assert(
      fc.property(anyRank, (l) => {
        const text = printLayout(l);
        return text.startsWith('layout(') || layoutEquals(evaluatePrinted(text), l);
      }),
      { numRuns: 500 },
    );
  });
});

describe('errors', () => {
  it('rejects bad extents and rank mismatches', () => {
    expect(() => local(0, 2)).toThrow(/not a positive integer/);
    expect(() => multiply(local(2), local(2, 2))).toThrow(/rank 1 and 2/);
    expect(() => permute(local(2, 2), [0, 0])).toThrow(/not a permutation/);
    expect(() => owners(local(2, 2), [2, 0])).toThrow(/outside the tile/);
  });
});

describe('projectLayout: the layout a broadcast source needs for no exchange between threads', () => {
  it('gives every (thread, local) of the broadcast tile its source element in the same thread', () => {
    const case_ = fc.integer({ min: 1, max: 3 }).chain((r) =>
      fc.tuple(arbLayout(r, [1, 2, 3, 4], 4), fc.array(fc.boolean(), { minLength: r, maxLength: r }), fc.integer({ min: 0, max: r - 1 })));
    fc.assert(
      fc.property(case_, ([l, broadcast, drop]) => {
        // Broadcast dimensions have extent 1 in the source; the leading `drop` ones are missing.
        const full = l.shape.map((n, d) => (broadcast[d] ? 1 : n));
        const shape = full.slice(drop);
        const p = projectLayout(l, shape);
        expect(threadCount(p)).toBe(threadCount(l));
        expect(localSize(p)).toBe(shape.reduce((a, b) => a * b, 1) * replication(p) / threadCount(p));
        const terms = broadcastLocalTerms(l, shape);
        for (let t = 0; t < threadCount(l); t++) {
          for (let j = 0; j < localSize(l); j++) {
            const want = logicalIndex(l, t, j).slice(l.shape.length - shape.length).map((x, d) => (shape[d] === 1 ? 0 : x));
            const local = terms.reduce((acc, { stride, extent, weight }) => acc + (Math.floor(j / stride) % extent) * weight, 0);
            expect(logicalIndex(p, t, local)).toEqual(want);
          }
        }
      }),
    );
  });

  it('replicates over the threads along a broadcast dimension and refuses shapes that do not broadcast', () => {
    // 8 threads along rows, 2 along columns, 4 columns each. A column ([8, 1]) is held once by each
    // thread of its row; a row ([8], right-aligned like [1, 8]) by every thread of its column.
    const l = compose(spatial(8, 2), local(1, 4));
    expect(printLayout(projectLayout(l, [8, 1]))).toBe(printLayout(compose(spatial(8, 1), replicated(2))));
    expect(printLayout(projectLayout(l, [8]))).toBe('replicated(8) * spatial(2) * local(4)');
    expect(() => projectLayout(l, [4, 8])).toThrow(/does not broadcast/);
  });
});
