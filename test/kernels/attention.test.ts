// Generated attention kernels against float64 reference attention, on the VM and on wasm.

import { afterAll, describe, expect, it } from 'vitest';
import { closeWorkers } from '../../backends/wasm/workers.ts';
import { valueOf } from '../../ir/cast.ts';
import { decode } from '../../ir/codec.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { verifyKernel } from '../../ir/tile_verify.ts';
import { compile } from '../../src/api.ts';
import { decodeAttention, flashAttention } from '../../src/kernels/attention.ts';
import { symmetricZero } from '../../src/quantize.ts';
import { runOn } from '../../src/targets.ts';
import { randomTensor, rng } from '../../src/testing/random.ts';
import { attention } from '../../src/testing/reference.ts';
import { type Tensor, allocTensor, tensorElements, tensorFrom } from '../../src/vm/memory.ts';

afterAll(closeWorkers);

const values = (t: Tensor): number[] => Array.from(tensorElements(t), (h) => valueOf(t.dtype, h));

function expectClose(got: number[], want: ArrayLike<number>, tol: number): void {
  const bad = got.findIndex((v, i) => !(Math.abs(v - want[i]!) <= tol));
  expect(bad < 0 ? 'ok' : `element ${bad}: ${got[bad]} vs ${want[bad]}`).toBe('ok');
}

describe('flash attention', () => {
  it.each([
    // H, HKV, S, SK, D, causal, dtype, target, the generator's form (GPU: K and V staged in shared memory)
    [2, 2, 7, 7, 64, true, 'f16', 'vm', 'cpu'],
    [4, 2, 65, 65, 64, true, 'f16', 'wasm', 'cpu'],
    [4, 1, 33, 40, 64, true, 'f16', 'wasm', 'cpu'],
    [2, 2, 70, 70, 128, false, 'f16', 'wasm', 'cpu'],
    [2, 1, 9, 20, 64, false, 'f32', 'wasm', 'cpu'],
    [1, 1, 1, 1, 64, true, 'bf16', 'vm', 'cpu'],
    [2, 2, 130, 130, 64, true, 'f16', 'vm', 'gpu'],
    [4, 1, 33, 170, 64, true, 'f16', 'vm', 'gpu'],
    [2, 1, 9, 70, 64, false, 'bf16', 'vm', 'gpu'],
  ] as const)('H %i, HKV %i, S %i, SK %i, D %i, causal %s, %s on %s (%s form)', async (H, HKV, S, SK, D, causal, dtype, target, form) => {
    const g = flashAttention({ headDim: D, causal, dtype, target: form });
    const k = compile(g.source, { after: (_, ir) => verifyKernel(ir) });
    const next = rng(H * 1000 + S + SK + D);
    const [q, kk, v] = [randomTensor(dtype, [H, S, D], next), randomTensor(dtype, [HKV, SK, D], next), randomTensor(dtype, [HKV, SK, D], next)];
    const tensors = new Map([['q', q], ['k', kk], ['v', v], ['o', allocTensor(dtype, [H, S, D])]]);
    const scale = 1 / Math.sqrt(D);
    await runOn(target, k, tensors, new Map([['scale', scale]]));
    const want = attention(values(q), values(kk), values(v), { heads: H, kvHeads: HKV, queries: S, keys: SK, headDim: D, causal, scale });
    expectClose(values(tensors.get('o')!), want, dtype === 'f32' ? 1e-5 : dtype === 'f16' ? 3e-3 : 2e-2);
  });
});

/** Random decode-attention inputs over a cache of `cache` codes with per-`per` scales, and float64 attention over what the kernel reads. */
function decodeCase(cache: string, per: 'token' | 'channel', H: number, HKV: number, S: number, D: number, scale: number): { tensors: Map<string, Tensor>; want: ArrayLike<number> } {
  const next = rng(S + cache.length);
  const q = randomTensor('f16', [H, D], next);
  const [kc, vc] = [randomTensor(cache, [HKV, S, D], next), randomTensor(cache, [HKV, S, D], next)];
  const quantized = cache !== 'f16';
  const t = parseDType(cache);
  const scaleShape = per === 'token' ? [HKV, S] : [HKV, D];
  const scaleOf = (): Tensor => tensorFrom('f16', scaleShape, Array.from({ length: scaleShape[0]! * scaleShape[1]! }, () => valueOf('f16', Math.fround((0.5 + next()) / Math.max(1, t.max)))));
  const [ks, vs] = [scaleOf(), scaleOf()];
  const tensors = new Map<string, Tensor>([['q', q], ['k', kc], ['v', vc], ['o', allocTensor('f16', [H, D])], ...(quantized ? [['ks', ks] as const, ['vs', vs] as const] : [])]);
  // The dequantized cache, from the codes and scales the kernel reads.
  const dequant = (codes: Tensor, s: Tensor): number[] => {
    if (!quantized) return values(codes);
    const [c, sv] = [tensorElements(codes), values(s)];
    return Array.from(c, (code, i) => {
      const [hk, tok, ch] = [Math.floor(i / (S * D)), Math.floor(i / D) % S, i % D];
      return (decode(t, code) - symmetricZero(t)) * sv[per === 'token' ? hk * S + tok : hk * D + ch]!;
    });
  };
  return { tensors, want: attention(values(q), dequant(kc, ks), dequant(vc, vs), { heads: H, kvHeads: HKV, queries: 1, keys: S, headDim: D, causal: false, scale }) };
}

describe('decode attention over a cache', () => {
  it.each([
    ['f16', 'token', 'vm'], ['u8', 'token', 'wasm'], ['u4', 'channel', 'wasm'], ['f8e4m3', 'token', 'wasm'], ['i4', 'channel', 'vm'], ['u3', 'token', 'wasm'],
  ] as const)('%s cache, per-%s scales, on %s', async (cache, per, target) => {
    const [H, HKV, S, D] = [4, 2, 77, 64];
    const g = decodeAttention({ headDim: D, cache, scales: per });
    const k = compile(g.source, { after: (_, ir) => verifyKernel(ir) });
    const { tensors, want } = decodeCase(cache, per, H, HKV, S, D, 0.125);
    await runOn(target, k, tensors, new Map([['scale', 0.125]]));
    expectClose(values(tensors.get('o')!), want, 4e-3 * Math.max(1, ...Array.from(want, Math.abs)));
  });
});

describe('decode attention split over the cache (flash-decoding)', () => {
  it.each([
    // cache, scales, H, HKV, S, chunks, K tile, target: empty chunks (S below chunks x tile), one token, a prime
    ['f16', 'token', 2, 1, 1, 4, 64, 'vm'],
    ['u4', 'token', 4, 2, 77, 2, 32, 'wasm'],
    ['u4', 'channel', 2, 2, 300, 4, 64, 'wasm'],
    ['f8e4m3', 'token', 2, 1, 131, 8, 16, 'vm'],
    ['u3', 'token', 4, 4, 50, 3, 16, 'wasm'],
  ] as const)('%s cache, per-%s scales, H %i, HKV %i, S %i in %i chunks of %i-token tiles, on %s', async (cache, per, H, HKV, S, P, BKV, target) => {
    const D = 64;
    const g = decodeAttention({ headDim: D, cache, scales: per, splitKV: P, blockKV: BKV });
    expect(g.kernels).toEqual([`${g.name}_partial`, `${g.name}_combine`]);
    const { tensors, want } = decodeCase(cache, per, H, HKV, S, D, 0.125);
    // The workspaces start as garbage: every element is written before it is read.
    for (const [n, shape] of [['pm', [H, P]], ['pl', [H, P]], ['po', [H, P, D]]] as const) tensors.set(n, tensorFrom('f32', [...shape], new Array(shape.reduce((a, b) => a * b, 1)).fill(valueOf('f32', NaN))));
    for (const name of g.kernels!) await runOn(target, compile(g.source, { kernel: name, after: (_, ir) => verifyKernel(ir) }), tensors, new Map([['scale', 0.125]]));
    expectClose(values(tensors.get('o')!), want, 4e-3 * Math.max(1, ...Array.from(want, Math.abs)));
  });
  it('needs a positive whole number of chunks', () => {
    expect(() => decodeAttention({ headDim: 64, cache: 'u4', splitKV: 0 })).toThrow(/positive integer number of chunks; got 0/);
  });
});
