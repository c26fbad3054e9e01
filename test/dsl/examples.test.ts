// The five programs of DSL.md, run on the VM and compared with float64 reference math on edge shapes.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { valueOf } from '../../ir/cast.ts';
import { quantize } from '../../ir/codec.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { outputTensors } from '../../ir/tile_ir.ts';
import { verifyKernel } from '../../ir/tile_verify.ts';
import { compile, prepareTensors, runOnVM } from '../../src/api.ts';
import { attention, dequantGemm, gemm, softmax } from '../../src/testing/reference.ts';
import { type Tensor, tensorElements, tensorFrom } from '../../src/vm/memory.ts';
import { randomTensor, rng } from '../../src/testing/random.ts';

const source = (name: string): string => readFileSync(new URL(`../../examples/${name}.tile`, import.meta.url), 'utf8');
const values = (t: Tensor): number[] => Array.from(tensorElements(t), (h) => valueOf(t.dtype, h));

/** Compiles with template and size settings, runs on the VM, returns every tensor. */
function run(name: string, set: Record<string, string | number>, given: Record<string, Tensor> = {}, seed = 1): Map<string, Tensor> {
  const k = compile(source(name), { set: new Map(Object.entries(set).map(([a, b]) => [a, String(b)])), after: (_, ir) => verifyKernel(ir) });
  const sizes = new Map(Object.entries(set).filter(([n]) => !(n in k.template)).map(([n, v]) => [n, Number(v)]));
  const tensors = prepareTensors(k, { tensors: new Map(Object.entries(given)), values: sizes, seed }, new Set(outputTensors(k)));
  return runOnVM(k, tensors, sizes);
}

/** Asserts |got - want| <= tol[i] elementwise, naming the worst element on failure. */
function expectClose(got: readonly number[], want: ArrayLike<number>, tol: (i: number) => number): void {
  expect(got.length).toBe(want.length);
  let worst = -1;
  let worstRatio = 1;
  for (let i = 0; i < got.length; i++) {
    const ratio = Math.abs(got[i]! - want[i]!) / tol(i);
    if (!(ratio <= worstRatio)) [worst, worstRatio] = [i, Number.isNaN(ratio) ? Infinity : ratio];
  }
  expect(worst < 0 ? 'ok' : `element ${worst}: got ${got[worst]}, want ${want[worst]}, tolerance ${tol(worst)}`).toBe('ok');
}

describe('vector_add', () => {
  it.each([1, 2, 1023, 1024, 1025, 3001])('N = %i: bit-exact f32 sums', (N) => {
    const t = run('vector_add', { N });
    const [x, y, out] = ['x', 'y', 'out'].map((n) => values(t.get(n)!));
    expect(out).toEqual(x!.map((v, i) => Math.fround(v + y![i]!)));
  });
});

describe('softmax', () => {
  it.each([[1, 1], [3, 2], [2, 997], [1, 1024]])('M = %i, N = %i', (M, N) => {
    const t = run('softmax', { M, N });
    const want = softmax(values(t.get('x')!), M, N);
    expectClose(values(t.get('y')!), want, (i) => 4e-7 * want[i]! + 1e-12);
  });
  it('refuses rows longer than BN at launch', () => {
    expect(() => run('softmax', { M: 1, N: 1025 })).toThrow(/launch check failed: row longer than BN/);
    expect(run('softmax', { M: 1, N: 2000, BN: 2048 }).get('y')!.shape).toEqual([1, 2000]);
  });
});

describe('matmul', () => {
  it('agrees with float64 GEMM on edge shapes (1, primes, non-multiples of 64 and 32)', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 37, 64, 65), fc.constantFrom(1, 31, 32, 33, 97), fc.constantFrom(1, 13, 64, 66), fc.nat(1000), (M, K, N, seed) => {
        const t = run('matmul', { M, K, N }, {}, seed);
        const [a, b] = [values(t.get('a')!), values(t.get('b')!)];
        const want = gemm(a, b, M, K, N);
        const mass = gemm(a.map(Math.abs), b.map(Math.abs), M, K, N);
        expectClose(values(t.get('c')!), want, (i) => 2 ** -22 * mass[i]! + 1e-30);
      }),
      { numRuns: 12 },
    );
  });
});

/** Weight types of the issue: every integer width, signed and unsigned, and seven minifloats. */
const WEIGHTS = [
  ...[1, 2, 3, 4, 5, 6, 7, 8].flatMap((b) => [`u${b}`, `i${b}`]),
  'f3e1m1', 'f4e2m1', 'f5e2m2', 'f6e2m3', 'f6e3m2', 'f8e4m3', 'f8e5m2',
];

describe('dequant_gemm', () => {
  it.each(WEIGHTS)('W = %s against float64 dequant-GEMM', (W) => {
    const t = parseDType(W);
    const zero = t.kind === 'uint' ? 2 ** (t.bits - 1) : 0;
    const [M, K, N] = [3, 256, 70];
    const next = rng(W.length * 7919 + t.bits);
    // Scales shrink with the weights' range so that sums stay inside f16.
    const scaleOf = 1 / Math.max(1, Math.abs(t.max), Math.abs(t.min));
    const s = tensorFrom('f16', [K / 128, N], Array.from({ length: (K / 128) * N }, () => roundF16((next() * 2 - 1) * scaleOf)));
    const out = run('dequant_gemm', { W, ZERO: zero, M, K, N }, { s }, 11);
    const a = values(out.get('a')!);
    const w = values(out.get('w')!);
    const q = { w, scales: values(s), zeros: zero, groupSize: 128 };
    const want = dequantGemm(a, q, M, K, N);
    const mass = gemm(a.map(Math.abs), Array.from(w, (x, i) => Math.abs((x - zero) * q.scales[Math.floor(i / N / 128) * N + (i % N)]!)), M, K, N);
    expectClose(values(out.get('c')!), want, (i) => 2 ** -10 * (mass[i]! + Math.abs(want[i]!)) + K * 2 ** -24);
  });
  it('handles M = 1, N = 1 and K = G with split tiles', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 17), fc.constantFrom(128, 384), fc.constantFrom(1, 63, 65), fc.constantFrom('u3', 'i5', 'f6e3m2'), (M, K, N, W) => {
        const zero = W === 'u3' ? 4 : 0;
        const out = run('dequant_gemm', { W, ZERO: zero, M, K, N }, {}, M + K + N);
        const a = values(out.get('a')!);
        const q = { w: values(out.get('w')!), scales: values(out.get('s')!), zeros: zero, groupSize: 128 };
        const want = dequantGemm(a, q, M, K, N);
        const mass = dequantGemm(a.map(Math.abs), { ...q, w: q.w.map((x) => Math.abs(x - zero)), scales: q.scales.map(Math.abs), zeros: 0 }, M, K, N);
        expectClose(values(out.get('c')!), want, (i) => 2 ** -10 * (mass[i]! + Math.abs(want[i]!)) + K * 2 ** -24);
      }),
      { numRuns: 10 },
    );
  });
  it('checks the group size at compile time and K at launch', () => {
    expect(() => run('dequant_gemm', { BK: 48, M: 1, K: 128, N: 64 })).toThrow(/assertion failed: BK must divide the group size/);
    expect(() => run('dequant_gemm', { M: 1, K: 200, N: 64 })).toThrow(/K must be a multiple of the group size|shape/);
  });
});

const roundF16 = (x: number): number => quantize(parseDType('f16'), x);

describe('flash_attention', () => {
  it.each([
    [1, 1, 1], [1, 7, 1], [2, 64, 1], [2, 65, 0], [1, 100, 1], [1, 130, 0],
  ])('H = %i, S = %i, CAUSAL = %i', (H, S, causal) => {
    const scale = 0.125;
    const t = run('flash_attention', { H, S, CAUSAL: causal, scale });
    const [q, k, v] = ['q', 'k', 'v'].map((n) => values(t.get(n)!));
    const want = attention(q!, k!, v!, { heads: H, kvHeads: H, queries: S, keys: S, headDim: 64, causal: causal === 1, scale });
    expectClose(values(t.get('o')!), want, () => 2e-3);
  });
});

it('random inputs avoid NaN and infinity', () => {
  const t = randomTensor('f8e5m2', [1000], rng(3));
  expect(values(t).every(Number.isFinite)).toBe(true);
});
