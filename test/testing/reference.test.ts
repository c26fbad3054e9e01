// The reference math checked by its defining properties, independently of the kernels it judges.

import { describe, expect, it } from 'vitest';
import { attention, dequantGemm, dequantize, gemm, layerNorm, softmax } from '../../src/testing/reference.ts';

describe('reference math', () => {
  it('gemm multiplies small matrices as written out by hand', () => {
    expect(Array.from(gemm([1, 2, 3, 4], [5, 6, 7, 8], 2, 2, 2))).toEqual([19, 22, 43, 50]);
  });
  it('dequantize subtracts zero points and scales group-wise along K', () => {
    // K = 4, N = 1, groups of 2: rows 0-1 use scale 0.5 and zero 1, rows 2-3 scale 2 and zero 3.
    const q = { w: [1, 3, 3, 5], scales: [0.5, 2], zeros: [1, 3], groupSize: 2 };
    expect(Array.from(dequantize(q, 4, 1))).toEqual([0, 1, 0, 4]);
    expect(Array.from(dequantGemm([1, 1, 1, 1], q, 1, 4, 1))).toEqual([5]);
  });
  it('softmax rows sum to one and keep order', () => {
    const y = softmax([1, 2, 3, 0, 0, 0], 2, 3);
    expect(y[0]! + y[1]! + y[2]!).toBeCloseTo(1, 12);
    expect(y[0]! < y[1]! && y[1]! < y[2]!).toBe(true);
    expect(Array.from(y.slice(3))).toEqual([1 / 3, 1 / 3, 1 / 3]);
  });
  it('layer norm gives rows of mean 0 and variance 1 (before gain and bias)', () => {
    const y = layerNorm([1, 2, 3, 4, 10, 20, 30, 40], 2, 4, 0);
    for (const r of [0, 1]) {
      const row = Array.from(y.slice(4 * r, 4 * r + 4));
      expect(row.reduce((a, b) => a + b) / 4).toBeCloseTo(0, 12);
      expect(row.reduce((a, b) => a + b * b, 0) / 4).toBeCloseTo(1, 12);
    }
    expect(Array.from(layerNorm([1, 3], 1, 2, 0, [2, 2], [1, 1]))).toEqual([-1, 3]);
  });
  it('attention with one key returns its value; causal masking hides later keys', () => {
    const one = attention([1, 0], [5, 5], [7, -7], { heads: 1, kvHeads: 1, queries: 1, keys: 1, headDim: 2, causal: false, scale: 1 });
    expect(Array.from(one)).toEqual([7, -7]);
    const causal = attention([1, 1], [0, 100], [1, 2], { heads: 1, kvHeads: 1, queries: 2, keys: 2, headDim: 1, causal: true, scale: 1 });
    expect(causal[0]).toBe(1); // the first query sees only the first key
  });
  it('grouped-query heads read their group\'s kv head', () => {
    const s = { heads: 4, kvHeads: 2, queries: 3, keys: 5, headDim: 2, causal: true, scale: 0.7 };
    const q = Array.from({ length: 4 * 3 * 2 }, (_, i) => Math.sin(i));
    const k = Array.from({ length: 2 * 5 * 2 }, (_, i) => Math.cos(i));
    const v = Array.from({ length: 2 * 5 * 2 }, (_, i) => Math.sin(3 * i));
    const gqa = attention(q, k, v, s);
    // The same as full multi-head attention with each kv head repeated for its two query heads.
    const rep = (x: number[]): number[] => [0, 0, 1, 1].flatMap((h) => x.slice(h * 10, h * 10 + 10));
    const mha = attention(q, rep(k), rep(v), { ...s, kvHeads: 4 });
    expect(Array.from(gqa)).toEqual(Array.from(mha));
  });
});
