// Generated dequant-GEMM kernels, fed by the quantizer, against float64 reference math on the VM and
// on wasm, across weight types, activation and scale types, group sizes, zero points and shapes.

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { closeWorkers } from '../../backends/wasm/workers.ts';
import { valueOf } from '../../ir/cast.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { verifyKernel } from '../../ir/tile_verify.ts';
import { compile } from '../../src/api.ts';
import { GeneratorError, dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { fragmentShape, toFragmentOrder } from '../../src/kernels/fragment_order.ts';
import { panelOrderTensor } from '../../src/kernels/panel_order.ts';
import { dequantize, quantize } from '../../src/quantize.ts';
import { runOn } from '../../src/targets.ts';
import { gemm } from '../../src/testing/reference.ts';
import { rng } from '../../src/testing/random.ts';
import { allocTensor, tensorElements, tensorFrom } from '../../src/vm/memory.ts';

afterAll(closeWorkers);

interface Case {
  weight: string;
  act: string;
  scale: string;
  group: number;
  zero: string | null;
  M: number;
  N: number;
  groups: number;
  /** Blocks along K (C is then f32, accumulated from zeros). */
  splitK?: number;
  /** GPU form without asynchronous copies (WebGPU's). */
  direct?: boolean;
  /** Weights in fragment order (src/kernels/fragment_order.ts; GPU tiles). */
  fragments?: boolean;
  /** Weights in panels of the kernel's N tile (src/kernels/panel_order.ts; every form). */
  panels?: boolean;
  /** Scales multiplied into the weights before the dot (GPU tiles). */
  scaleWeights?: boolean;
  /** Rows of each K tile per thread (the GPU GEMV). */
  rowsPerThread?: number;
  /** Threads per block (GPU forms). */
  threads?: number;
}

async function check(c: Case, target: 'vm' | 'wasm', shape: 'cpu' | 'gpu' = 'cpu'): Promise<void> {
  const K = c.group * c.groups;
  const next = rng(c.M * 131 + c.N * 7 + K);
  const x = Array.from({ length: K * c.N }, () => (next() * 2 - 1) * 0.05);
  const q = quantize(x, K, c.N, { weight: c.weight, groupSize: c.group, scale: c.scale, zeroPoint: c.zero });
  const g = dequantGemm({ weight: c.weight, groupSize: c.group, activation: c.act, scale: c.scale, zeroPoint: c.zero, m: c.M, target: shape, splitK: c.splitK, asyncCopies: c.direct ? false : undefined, weightOrder: c.fragments ? 'fragments' : c.panels ? 'panels' : undefined, applyScales: c.scaleWeights ? 'weights' : undefined, rowsPerThread: c.rowsPerThread, threads: c.threads });
  const out = (c.splitK ?? 1) > 1 ? 'f32' : c.act;
  const k = compile(g.source, { after: (_, ir) => verifyKernel(ir) });
  const a = tensorFrom(c.act, [c.M, K], Array.from({ length: c.M * K }, () => valueOf(c.act, Math.fround(next() * 2 - 1))));
  const w = c.fragments ? tensorFrom(c.weight, fragmentShape(K, c.N), toFragmentOrder(tensorElements(q.w), K, c.N, parseDType(c.weight).bits))
    : c.panels ? panelOrderTensor(q.w, Number(/\bBN = (\d+)/.exec(g.source)![1])) : q.w;
  const tensors = new Map([['a', a], ['w', w], ['s', q.s], ['c', allocTensor(out, [c.M, c.N])], ...(q.z ? [['z', q.z] as const] : [])]);
  await runOn(target, k, tensors, new Map(), { workers: 2 });
  const av = Array.from(tensorElements(a));
  const wv = dequantize(q);
  const want = gemm(av, wv, c.M, K, c.N);
  const mass = gemm(av.map(Math.abs), Array.from(wv, Math.abs), c.M, K, c.N);
  const eps = c.act === 'f32' ? 2 ** -20 : c.act === 'f16' ? 2 ** -10 : 2 ** -7;
  const got = Array.from(tensorElements(tensors.get('c')!), (h) => valueOf(out, h));
  const bad = got.findIndex((v, i) => !(Math.abs(v - want[i]!) <= eps * (mass[i]! + Math.abs(want[i]!)) + 1e-6));
  expect(bad < 0 ? 'ok' : `element ${bad}: ${got[bad]} vs ${want[bad]}`).toBe('ok');
}

const arbCase: fc.Arbitrary<Case> = fc.record({
  weight: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'i4', 'u5', 'i6', 'u7', 'u8', 'i8', 'f3e1m1', 'f4e2m1', 'f5e2m2', 'f6e3m2', 'f8e4m3', 'f8e5m2'),
  act: fc.constantFrom('f16', 'bf16', 'f32'),
  scale: fc.constantFrom('f16', 'bf16', 'f32', 'e8m0'),
  group: fc.constantFrom(16, 32, 64, 96),
  zero: fc.constant<string | null>(null),
  M: fc.constantFrom(1, 3, 17),
  N: fc.constantFrom(1, 8, 65, 100),
  groups: fc.constantFrom(1, 2, 3),
}).chain((c) => (c.weight.startsWith('u') ? fc.constantFrom<string | null>(null, 'u4', 'u8').map((zero) => ({ ...c, zero })) : fc.constant(c)));

describe('generated dequant-GEMM', () => {
  it.each(['vm', 'wasm'] as const)('agrees with A . dequantize(W) on %s (random configurations)', async (target) => {
    await fc.assert(fc.asyncProperty(arbCase, (c) => check(c, target)), { numRuns: target === 'vm' ? 12 : 20, seed: 42 });
  });
  // The tiles shaped for GPUs (a GEMV splitting K over threads for small M; 64x64 tiles else): the same
  // math, checked here on the VM; on WebGPU against the VM in test/backends/webgpu.test.ts.
  it('its GPU-shaped form agrees with A . dequantize(W) on the VM (random configurations)', async () => {
    await fc.assert(fc.asyncProperty(arbCase, (c) => check(c, 'vm', 'gpu')), { numRuns: 10, seed: 7 });
  });
  // The GPU tiles' options at random: weights in fragment order, scales on the weights (f16 or bf16
  // activations with scales of that type; zero points too), group sizes that are whole units.
  it('its GPU tiles with fragment order and scales on the weights agree with A . dequantize(W) on the VM (random configurations)', async () => {
    const arb = arbCase.chain((c) => fc.record({ fragments: fc.boolean(), scaleWeights: fc.boolean(), group: fc.constantFrom(16, 32, 48, 64) }).map((o) => {
      const scaleWeights = o.scaleWeights && c.act !== 'f32';
      return { ...c, ...o, M: Math.max(c.M, 5), scaleWeights, scale: scaleWeights ? c.act : c.scale };
    }));
    await fc.assert(fc.asyncProperty(arb, (c) => check(c, 'vm', 'gpu')), { numRuns: 12, seed: 11 });
  });
  it.each([
    { weight: 'u4', act: 'f16', scale: 'f16', group: 128, zero: null, M: 1, N: 130, groups: 2 },
    { weight: 'u3', act: 'f32', scale: 'f32', group: 32, zero: 'u3', M: 2, N: 64, groups: 4 },
    { weight: 'f4e2m1', act: 'f32', scale: 'e8m0', group: 32, zero: null, M: 1, N: 72, groups: 3 },
    { weight: 'i8', act: 'bf16', scale: 'bf16', group: 256, zero: null, M: 20, N: 33, groups: 1 },
  ])('$weight weights, $act activations, $scale scales, group $group, zero $zero, M $M', async (c) => {
    await check(c, 'wasm');
  });
  // Split-K: blocks along K add their partial results into an f32 C (store += ...). Five blocks over
  // four or fewer groups leave some blocks without a group.
  it.each([
    { weight: 'u4', act: 'f16', scale: 'f16', group: 32, zero: null, M: 1, N: 70, groups: 4, splitK: 2 },
    { weight: 'u3', act: 'bf16', scale: 'e8m0', group: 16, zero: 'u4', M: 3, N: 33, groups: 3, splitK: 5 },
    { weight: 'f4e2m1', act: 'f16', scale: 'f16', group: 32, zero: null, M: 17, N: 65, groups: 4, splitK: 3 },
    { weight: 'i6', act: 'f32', scale: 'f32', group: 64, zero: null, M: 16, N: 8, groups: 2, splitK: 2 },
  ])('split over $splitK blocks along K: $weight, $act, M $M, $groups groups (GPU form on the VM, CPU form on wasm)', async (c) => {
    await check(c, 'vm', 'gpu');
    await check(c, 'wasm', 'cpu');
  });
  it('split along K, the GPU GEMV without asynchronous copies (WebGPU\'s form), seven blocks over six groups', async () => {
    await check({ weight: 'u4', act: 'f16', scale: 'f16', group: 64, zero: 'u4', M: 2, N: 70, groups: 6, splitK: 7, direct: true }, 'vm', 'gpu');
  });
  // Weights in fragment order: the GPU tiles read them through reshape and permute; N past the last
  // whole unit of 64 columns reads the padding.
  it.each([
    { weight: 'u4', act: 'f16', scale: 'f16', group: 32, zero: null, M: 17, N: 70, groups: 2, fragments: true },
    { weight: 'u3', act: 'bf16', scale: 'e8m0', group: 16, zero: 'u4', M: 5, N: 64, groups: 3, fragments: true },
    { weight: 'i8', act: 'f16', scale: 'f32', group: 64, zero: null, M: 8, N: 129, groups: 1, fragments: true },
    { weight: 'u1', act: 'f16', scale: 'f16', group: 16, zero: null, M: 33, N: 1, groups: 2, fragments: true },
    { weight: 'f6e3m2', act: 'f16', scale: 'f16', group: 48, zero: null, M: 16, N: 65, groups: 2, fragments: true, splitK: 2 },
    { weight: 'u2', act: 'f16', scale: 'f16', group: 32, zero: null, M: 64, N: 64, groups: 1, fragments: true },
  ])('weights in fragment order: $weight, $act, group $group, M $M, N $N (GPU tiles on the VM)', async (c) => {
    await check(c, 'vm', 'gpu');
  });
  // The CPU tiles read the same tensor (gathers through reshape and permute), so one weight file
  // serves every target; decode-sized M and f32 activations on GPUs too.
  it.each([
    { weight: 'u4', act: 'f16', scale: 'f16', group: 32, zero: null, M: 1, N: 70, groups: 2, fragments: true },
    { weight: 'u3', act: 'f32', scale: 'f32', group: 16, zero: 'u3', M: 17, N: 65, groups: 3, fragments: true },
    { weight: 'f6e3m2', act: 'bf16', scale: 'e8m0', group: 64, zero: null, M: 3, N: 8, groups: 1, fragments: true, splitK: 2 },
  ])('weights in fragment order on wasm (CPU tiles) and on the VM (GPU form): $weight, $act, M $M, N $N', async (c) => {
    await check(c, 'wasm', 'cpu');
    await check(c, 'vm', 'gpu');
  });
  // Scales multiplied into the weights (rounded once to the activation type) before the dot: within
  // the activation type's tolerance of the exact math.
  it.each([
    { weight: 'u4', act: 'f16', scale: 'f16', group: 32, zero: null, M: 17, N: 70, groups: 3, scaleWeights: true },
    { weight: 'f4e2m1', act: 'f16', scale: 'f16', group: 16, zero: null, M: 5, N: 64, groups: 2, scaleWeights: true, fragments: true },
    { weight: 'i3', act: 'bf16', scale: 'bf16', group: 64, zero: null, M: 8, N: 33, groups: 2, scaleWeights: true, splitK: 2 },
    // With zero points: code - zero exact in the activation type (up to 255 in magnitude, also in bf16).
    { weight: 'u4', act: 'f16', scale: 'f16', group: 32, zero: 'u4', M: 17, N: 70, groups: 2, scaleWeights: true, fragments: true },
    { weight: 'u8', act: 'bf16', scale: 'bf16', group: 16, zero: 'u8', M: 6, N: 40, groups: 3, scaleWeights: true },
    { weight: 'u3', act: 'f16', scale: 'f16', group: 48, zero: 'u8', M: 20, N: 65, groups: 2, scaleWeights: true, fragments: true, splitK: 2 },
  ])('scales applied to the weights: $weight, $act, group $group, zero $zero, M $M, N $N (GPU tiles on the VM)', async (c) => {
    await check(c, 'vm', 'gpu');
  });
  // Weights in panels of the GEMV's N tile: each K tile one run of memory, loaded flat and reshaped, in
  // both GEMV forms, staged and direct, split along K or not.
  it('its GPU GEMV with weights in panels agrees with A . dequantize(W) on the VM (random configurations)', async () => {
    const arb = arbCase.chain((c) => fc.record({ rowsPerThread: fc.constantFrom(1, 8), M: fc.constantFrom(1, 3), direct: fc.boolean(), splitK: fc.constantFrom(1, 1, 3) }).map((o) => ({ ...c, ...o, panels: true })));
    await fc.assert(fc.asyncProperty(arb, (c) => check(c, 'vm', 'gpu')), { numRuns: 10, seed: 5 });
  });
  // And the GPU tiles (M over 4): each K tile copied flat into shared memory and read as [BK, BN].
  it('its GPU tiles with weights in panels agree with A . dequantize(W) on the VM (random configurations)', async () => {
    const arb = arbCase.chain((c) => fc.record({ M: fc.constantFrom(5, 17), direct: fc.boolean(), splitK: fc.constantFrom(1, 1, 2) }).map((o) => ({ ...c, ...o, panels: true })));
    await fc.assert(fc.asyncProperty(arb, (c) => check(c, 'vm', 'gpu')), { numRuns: 8, seed: 8 });
  });
  // The CPU tiles read the same panels (their N tile the panel width): one weight file for wasm and the
  // GPU forms.
  it('its CPU tiles with weights in panels agree with A . dequantize(W) on wasm (random configurations)', async () => {
    await fc.assert(fc.asyncProperty(arbCase.map((c) => ({ ...c, panels: true })), (c) => check(c, 'wasm')), { numRuns: 10, seed: 6 });
  });
  // The GPU GEMV with several rows of each K tile per thread: integer codes as 1 + code / 2^b from their
  // bits, the zero taken off the row sums (signed codes, zero points, every width), minifloats as they are.
  it('its GPU GEMV with several rows per thread agrees with A . dequantize(W) on the VM (random configurations)', async () => {
    const arb = arbCase.chain((c) => fc.record({ rowsPerThread: fc.constantFrom(2, 4, 8), M: fc.constantFrom(1, 2, 4), direct: fc.boolean(), threads: fc.constantFrom(128, 256) }).map((o) => ({ ...c, ...o })));
    await fc.assert(fc.asyncProperty(arb, (c) => check(c, 'vm', 'gpu')), { numRuns: 12, seed: 13 });
  });
  it.each([
    { weight: 'u4', act: 'f16', scale: 'f16', group: 128, zero: null, M: 1, N: 130, groups: 2, rowsPerThread: 8 },
    { weight: 'i4', act: 'bf16', scale: 'bf16', group: 64, zero: null, M: 3, N: 70, groups: 2, rowsPerThread: 4 },
    { weight: 'u3', act: 'f32', scale: 'f32', group: 32, zero: 'u3', M: 2, N: 65, groups: 3, rowsPerThread: 8, splitK: 2 },
    { weight: 'u8', act: 'f16', scale: 'e8m0', group: 128, zero: 'u8', M: 1, N: 64, groups: 1, rowsPerThread: 8, direct: true },
    { weight: 'f4e2m1', act: 'f16', scale: 'e8m0', group: 32, zero: null, M: 1, N: 72, groups: 3, rowsPerThread: 2 },
  ])('the GPU GEMV with $rowsPerThread rows per thread: $weight, $act, zero $zero, M $M, N $N (VM)', async (c) => {
    await check(c, 'vm', 'gpu');
  });
  it('rejects options that make no kernel', () => {
    expect(() => dequantGemm({ weight: 'u4', groupSize: 32, splitK: 0 })).toThrow('split-K needs a positive integer number of blocks along K; got 0');
    expect(() => dequantGemm({ weight: 'f16', groupSize: 32 })).toThrow(GeneratorError);
    expect(() => dequantGemm({ weight: 'i4', groupSize: 32, zeroPoint: 'u4' })).toThrow('zero points are unsigned and go with unsigned weights; got u4 for i4');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 96, blockK: 64 })).toThrow('the K tile 64 must divide the group size 96');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 96, blockK: 64, target: 'gpu' })).toThrow("the GPU GEMV's K tile 64 must divide 128 and the group size 96");
    expect(() => dequantGemm({ weight: 'u4', groupSize: 32, blockN: 100, target: 'gpu' })).toThrow("the GPU GEMV's N tile 100 must be a multiple of 128 (4 threads with runs of 32)");
    expect(() => dequantGemm({ weight: 'u4', groupSize: 32, m: 16, target: 'gpu', applyScales: 'weights', scale: 'f32' })).toThrow('scales apply to the weights in the GPU tiles (M over 4) with f16 or bf16 activations and scales of the same type; got f16 activations, f32 scales');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 32, m: 16, applyScales: 'weights' })).toThrow('got f16 activations, f16 scales, the CPU tiles');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 32, m: 16, target: 'gpu', applyScales: 'both' as 'sums' })).toThrow('the scales apply to sums or weights; got both');
    expect(() => dequantGemm({ weight: 'u4', groupSize: 128, target: 'gpu', rowsPerThread: 0 })).toThrow("the GPU GEMV's rows per thread must be a positive integer; got 0");
    expect(() => dequantGemm({ weight: 'u4', groupSize: 128, target: 'gpu', rowsPerThread: 3 })).toThrow("the GPU GEMV's K tile 128 must divide the group size 128 and be a multiple of the rows per thread 3");
    expect(() => dequantGemm({ weight: 'u4', groupSize: 128, target: 'gpu', rowsPerThread: 8, blockN: 96 })).toThrow("the GPU GEMV's N tile 96 must be a multiple of 64 (8 threads with runs of 8)");
    expect(() => dequantGemm({ weight: 'u4', groupSize: 128, target: 'gpu', rowsPerThread: 1, threads: 64, blockK: 128 })).toThrow("the GPU GEMV's K tile 128 must divide 64 and the group size 128");
    expect(() => dequantGemm({ weight: 'u4', groupSize: 96, target: 'gpu', rowsPerThread: 16, blockK: 48 })).toThrow("the GPU GEMV's 128 threads must be a multiple of the 3 rows of threads (K tile 48 / 16 rows per thread)");
    expect(() => dequantGemm({ weight: 'u4', groupSize: 128, rowsPerThread: 1.5 })).toThrow("the GPU GEMV's rows per thread must be a positive integer; got 1.5");
    // Other forms ignore it (one lib.json declaration serves every target).
    expect(dequantGemm({ weight: 'u4', groupSize: 128, rowsPerThread: 8 }).source).toBe(dequantGemm({ weight: 'u4', groupSize: 128 }).source);
    expect(dequantGemm({ weight: 'u4', groupSize: 128, m: 16, target: 'gpu', rowsPerThread: 8 }).source).toBe(dequantGemm({ weight: 'u4', groupSize: 128, m: 16, target: 'gpu' }).source);
  });
});
