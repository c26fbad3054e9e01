// The testing kit used exactly as a user would: imported as 'tilebit/testing'.

import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { closeWorkers } from '../../backends/wasm/workers.ts';
import { decode } from '../../ir/codec.ts';
import { dtype } from '../../ir/dtype.ts';
import { tensorElements } from '../../src/vm/memory.ts';
import { checkKernel, dtypeArb, extentArb, gemm, quantizedArb, tensorArb } from 'tilebit/testing';

afterAll(closeWorkers);

const vectorAdd = `kernel add(x: f32[N], y: f32[N], out: f32[N]) grid(cdiv(N, 256)) threads(128) {
  store out[block.x * 256 :+ 256] = load x[block.x * 256 :+ 256] + load y[block.x * 256 :+ 256];
}`;

describe('tilebit/testing', () => {
  it('checkKernel passes a correct kernel on the VM and wasm, with special values', async () => {
    await checkKernel({
      kernel: vectorAdd,
      inputs: extentArb(600).chain((n) => fc.record({ tensors: fc.record({ x: tensorArb('f32', [n]), y: tensorArb('f32', [n]) }) })),
      reference: (t) => ({ out: t.get('x')!.map((v, i) => Math.fround(v + t.get('y')![i]!)) }),
      numRuns: 15,
      seed: 20261127,
    });
  });

  it('checkKernel fails, with a counterexample, when the reference disagrees', async () => {
    const run = checkKernel({
      kernel: vectorAdd,
      inputs: fc.record({ tensors: fc.record({ x: tensorArb('f32', [5], { special: false }), y: tensorArb('f32', [5], { special: false }) }) }),
      reference: (t) => ({ out: t.get('x')!.map((v, i) => v - t.get('y')![i]!) }),
      numRuns: 20,
      seed: 1,
    });
    await expect(run).rejects.toThrow(/the VM disagrees with the reference on out[\s\S]*Counterexample/);
  });

  it('quantized weights drive a dequant-GEMM check', async () => {
    const [M, K, N] = [2, 64, 32];
    await checkKernel({
      kernel: `kernel q(a: f32[M, K], w: u4[K, N], s: f16[K / 32, N], c: f32[M, N]) grid(1) threads(128) {
        var acc = zeros<f32>[2, 32];
        for k0 in range(0, K, 32) {
          acc = dot(load a[0 :+ 2, k0 :+ 32], (cast<f32>(load w[k0 :+ 32, 0 :+ 32]) - 8.0) * cast<f32>(load s[k0 / 32, 0 :+ 32]), acc);
        }
        store c[0 :+ 2, 0 :+ 32] = acc;
      }`,
      inputs: fc.tuple(tensorArb('f32', [M, K], { special: false }), quantizedArb(K, N, { weight: 'u4', groupSize: 32 })).map(([a, q]) => ({ tensors: { a, w: q.w, s: q.s } })),
      reference: (t) => {
        const s = t.get('s')!;
        const w = t.get('w')!.map((code, i) => (code - 8) * s[Math.floor(i / N / 32) * N + (i % N)]!);
        return { c: gemm(t.get('a')!, w, M, K, N) };
      },
      referenceTolerance: () => 2 ** -16,
      numRuns: 8,
      seed: 20261127,
    });
  });

  it('tensorArb draws special values: NaN, infinities and subnormals where a type has them', () => {
    const f16 = dtype('f16');
    const seen = new Set<string>();
    for (const t of fc.sample(tensorArb('f16', [64]), { numRuns: 20, seed: 3 })) {
      for (const v of tensorElements(t)) {
        if (Number.isNaN(v)) seen.add('nan');
        else if (!Number.isFinite(v)) seen.add('inf');
        else if (v !== 0 && Math.abs(v) < f16.minNormal) seen.add('subnormal');
      }
    }
    expect([...seen].sort()).toEqual(['inf', 'nan', 'subnormal']);
    const codes = fc.sample(tensorArb('f8e4m3', [256]), { numRuns: 1, seed: 3 })[0]!;
    expect(Array.from(tensorElements(codes)).some((c) => Number.isNaN(decode(dtype('f8e4m3'), c)))).toBe(true);
    expect(fc.sample(dtypeArb((n) => n.startsWith('f')), { numRuns: 50, seed: 3 }).every((n) => n.startsWith('f'))).toBe(true);
  });
});
