// The quantizer: error bounds, nearest codes, ranges, and end to end through the kernels it feeds.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeWorkers } from '../backends/wasm/workers.ts';
import { decode } from '../ir/codec.ts';
import { dtype as parseDType } from '../ir/dtype.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { compile, prepareTensors } from '../src/api.ts';
import { main } from '../src/cli/main.ts';
import { npyFromTensor, readNpy, tensorFromNpy, writeNpy } from '../src/io/npy.ts';
import { QuantizeError, dequantize, quantizationError, quantize } from '../src/quantize.ts';
import { runOn } from '../src/targets.ts';
import { gemm } from '../src/testing/reference.ts';
import { rng } from '../src/testing/random.ts';
import { tensorElements, tensorFrom } from '../src/vm/memory.ts';

afterAll(closeWorkers);

const weights = (K: number, N: number, seed: number, spread = 1): number[] => {
  const next = rng(seed);
  return Array.from({ length: K * N }, (_, i) => (next() * 2 - 1) * spread * (1 + (i % 7)));
};

describe('quantize', () => {
  it.each([
    ['u4', null], ['i4', null], ['u3', null], ['i8', null], ['u2', null], ['u8', null],
    ['u4', 'u4'], ['u3', 'u8'], ['u8', 'u8'],
  ] as const)('%s (zero points: %s): every weight within half a step of its code', (weight, zeroPoint) => {
    const [K, N, G] = [64, 9, 32];
    const x = weights(K, N, 3);
    const q = quantize(x, K, N, { weight, groupSize: G, zeroPoint });
    const y = dequantize(q);
    const scales = tensorElements(q.s);
    const t = parseDType(weight);
    const codes = tensorElements(q.w);
    for (let i = 0; i < x.length; i++) {
      const scale = scales[Math.floor(i / N / G) * N + (i % N)]!;
      expect(codes[i]).toBeGreaterThanOrEqual(0);
      expect(codes[i]).toBeLessThan(2 ** t.bits);
      // Half a step, plus what rounding the scale to f16 may push past the last code.
      expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(scale / 2 + 2 ** -10 * Math.abs(x[i]!) + 1e-12);
    }
    if (q.z) for (const z of tensorElements(q.z)) expect(z).toBeLessThanOrEqual(parseDType(zeroPoint!).max);
  });

  it.each(['f4e2m1', 'f6e3m2', 'f8e4m3', 'f8e5m2', 'f3e1m1'])('%s: every weight gets the nearest value of scale * code', (weight) => {
    const [K, N, G] = [32, 5, 16];
    const x = weights(K, N, 7);
    const q = quantize(x, K, N, { weight, groupSize: G, scale: 'f32' });
    const t = parseDType(weight);
    const y = dequantize(q);
    const scales = tensorElements(q.s);
    const values = Array.from({ length: 2 ** t.bits }, (_, c) => decode(t, c)).filter(Number.isFinite);
    for (let i = 0; i < x.length; i++) {
      const scale = scales[Math.floor(i / N / G) * N + (i % N)]!;
      const best = Math.min(...values.map((v) => Math.abs(v * scale - x[i]!)));
      expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(best * (1 + 1e-12) + 1e-15);
    }
  });

  it('e8m0 scales are powers of two large enough that nothing saturates', () => {
    const [K, N] = [64, 3];
    const x = weights(K, N, 11, 3);
    const q = quantize(x, K, N, { weight: 'f4e2m1', groupSize: 32, scale: 'e8m0' });
    const e8m0 = parseDType('e8m0');
    for (const c of tensorElements(q.s)) expect(Math.log2(decode(e8m0, c)) % 1).toBe(0);
    const y = dequantize(q);
    const t = parseDType('f4e2m1');
    const scales = Array.from(tensorElements(q.s), (c) => decode(e8m0, c));
    const values = Array.from({ length: 16 }, (_, c) => decode(t, c));
    for (let i = 0; i < x.length; i++) {
      const scale = scales[Math.floor(i / N / 32) * N + (i % N)]!;
      // Nothing saturates: every weight lies within the scaled range...
      expect(Math.abs(x[i]!)).toBeLessThanOrEqual(t.max * scale);
      // ...and gets the nearest scaled value, checked against every code.
      const best = Math.min(...values.map((v) => Math.abs(v * scale - x[i]!)));
      expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(best * (1 + 1e-12) + 1e-15);
    }
    expect(quantizationError(x, q).snrDb).toBeGreaterThan(10);
  });

  it('keeps zeros and exactly representable grids exact', () => {
    // Largest magnitude 7 on i4 (max 7): the scale is 1, and every integer weight is a code.
    const x = [0, 1, -1, 2, -7, 7, 3, -3];
    const q = quantize(x, 8, 1, { weight: 'i4', groupSize: 8 });
    expect(Array.from(dequantize(q))).toEqual(x);
    expect(Array.from(tensorElements(q.s))).toEqual([1]);
    const zero = quantize(new Array(8).fill(0), 8, 1, { weight: 'u4', groupSize: 4 });
    expect(Array.from(dequantize(zero))).toEqual(new Array(8).fill(0));
  });

  it('says what is wrong with its options', () => {
    expect(() => quantize([1, 2], 2, 1, { weight: 'u4', groupSize: 3 })).toThrow('the group size 3 must be a positive integer dividing K = 2');
    expect(() => quantize([1, 2], 2, 1, { weight: 'f16', groupSize: 1 })).toThrow(QuantizeError);
    expect(() => quantize([1, 2], 2, 1, { weight: 'i4', groupSize: 1, zeroPoint: 'u4' })).toThrow('zero points go with unsigned weights; i4 is not');
    expect(() => quantize([1, NaN], 2, 1, { weight: 'u4', groupSize: 1 })).toThrow('weight [1, 0] is NaN');
  });
});

describe('quantized weights feed the kernels exactly', () => {
  it.each(['vm', 'wasm'] as const)('dequant_gemm on %s computes A . dequantize(W)', async (target) => {
    const [M, K, N] = [3, 256, 70];
    const x = weights(K, N, 5, 0.02);
    const q = quantize(x, K, N, { weight: 'u4', groupSize: 128 });
    const k = compile(readFileSync(new URL('../examples/dequant_gemm.tile', import.meta.url), 'utf8'), { set: new Map([['W', 'u4'], ['ZERO', String(q.fixedZero)]]) });
    const a = Array.from({ length: M * K }, (_, i) => Math.fround(Math.sin(i) / 4));
    const tensors = prepareTensors(k, { tensors: new Map([['a', tensorFrom('f16', [M, K], a)], ['w', q.w], ['s', q.s]]) }, new Set(outputTensors(k)));
    await runOn(target, k, tensors, new Map());
    const aValues = Array.from(tensorElements(tensors.get('a')!));
    const want = gemm(aValues, dequantize(q), M, K, N);
    const mass = gemm(aValues.map(Math.abs), Array.from(dequantize(q), Math.abs), M, K, N);
    const got = Array.from(tensorElements(tensors.get('c')!));
    got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(2 ** -9 * (mass[i]! + Math.abs(want[i]!)) + 1e-4));
  });
  it('zero points: a kernel that subtracts them per group agrees', async () => {
    const [M, K, N, G] = [1, 64, 16, 32];
    const x = weights(K, N, 9).map((v) => v + 3); // mostly positive: asymmetric pays off
    const q = quantize(x, K, N, { weight: 'u3', groupSize: G, zeroPoint: 'u3', scale: 'f32' });
    const source = `kernel k<G = ${G}>(a: f32[M, K], w: u3[K, N], s: f32[K / G, N], z: u3[K / G, N], c: f32[M, N]) grid(1) threads(32) {
      var acc = zeros<f32>[1, ${N}];
      for k0 in range(0, K, G) {
        let tb = (cast<f32>(load w[k0 :+ G, 0 :+ ${N}]) - cast<f32>(load z[k0 / G, 0 :+ ${N}])) * load s[k0 / G, 0 :+ ${N}];
        acc = dot(load a[0 :+ 1, k0 :+ G], tb, acc);
      }
      store c[0 :+ 1, 0 :+ ${N}] = acc;
    }`;
    const k = compile(source);
    const a = Array.from({ length: K }, (_, i) => Math.fround(Math.cos(i)));
    const tensors = prepareTensors(k, { tensors: new Map([['a', tensorFrom('f32', [M, K], a)], ['w', q.w], ['s', q.s], ['z', q.z!]]) }, new Set(['c']));
    await runOn('wasm', k, tensors, new Map());
    const want = gemm(a, dequantize(q), M, K, N);
    Array.from(tensorElements(tensors.get('c')!)).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 3));
    expect(quantizationError(x, q).relativeRms).toBeLessThan(quantizationError(x, quantize(x, K, N, { weight: 'u3', groupSize: G, scale: 'f32' })).relativeRms);
  });
});

describe('tilebit quantize', () => {
  it('writes codes and scales that read back as the API gives them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-q-'));
    const [K, N] = [64, 8];
    const x = weights(K, N, 13);
    writeFileSync(join(dir, 'x.npy'), writeNpy(npyFromTensor(tensorFrom('f32', [K, N], x.map(Math.fround)))));
    const out: string[] = [];
    const status = await main(['quantize', join(dir, 'x.npy'), '--type', 'u3', '--group', '32', '--w', join(dir, 'w.npy'), '--s', join(dir, 's.npy')], (l) => out.push(l), (l) => out.push(l));
    expect(status).toBe(0);
    expect(out[0]).toBe('u3 codes [64, 8], f16 scales [2, 8], fixed zero 4 (the kernel\'s ZERO)');
    expect(out[1]).toMatch(/^error: max [\d.e-]+, rms [\d.e-]+, relative rms [\d.e-]+, SNR [\d.]+ dB$/);
    const q = quantize(x.map(Math.fround), K, N, { weight: 'u3', groupSize: 32 });
    const w = tensorFromNpy(readNpy(new Uint8Array(readFileSync(join(dir, 'w.npy')))), 'u3', 'w.npy');
    expect(Array.from(w.bytes)).toEqual(Array.from(q.w.bytes));
  });
  /**
   * `tilebit quantize` with `order` (and a zero-point type) on weights W[K, N], then the kernel `tilebit
   * gen` prints with `gen`, run on the VM with M rows of activations: its C against A . dequantize(W).
   * Returns the quantizer's printed lines and the folder of its files.
   */
  async function quantizeGenRun(type: string, group: number, zero: string | null, order: string[], gen: string[], [M, K, N]: [number, number, number], seed: number): Promise<{ out: string[]; dir: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-qo-'));
    const x = weights(K, N, seed, 0.05).map(Math.fround);
    writeFileSync(join(dir, 'x.npy'), writeNpy(npyFromTensor(tensorFrom('f32', [K, N], x))));
    const out: string[] = [];
    const zeroArgs = zero ? ['--zero', zero, '--z', join(dir, 'z.npy')] : [];
    const q = ['quantize', join(dir, 'x.npy'), '--type', type, '--group', String(group), ...zeroArgs, ...order, '--w', join(dir, 'w.npy'), '--s', join(dir, 's.npy')];
    expect(await main(q, (l) => out.push(l), (l) => out.push(l))).toBe(0);
    const source: string[] = [];
    expect(await main(['gen', 'dequant-gemm', '--weight', type, '--group', String(group), ...(zero ? ['--zero', zero] : []), ...gen], (l) => source.push(l), (l) => source.push(l))).toBe(0);
    const k = compile(source.join('\n'));
    const read = (name: string, dtype: string) => tensorFromNpy(readNpy(new Uint8Array(readFileSync(join(dir, name)))), dtype, name);
    const a = Array.from({ length: M * K }, (_, i) => Math.fround(Math.sin(i) / 4));
    const inputs = new Map([['a', tensorFrom('f16', [M, K], a)], ['w', read('w.npy', type)], ['s', read('s.npy', 'f16')], ...(zero ? [['z', read('z.npy', zero)] as const] : [])]);
    const tensors = prepareTensors(k, { tensors: inputs }, new Set(['c']));
    await runOn('vm', k, tensors, new Map());
    const deq = dequantize(quantize(x, K, N, { weight: type, groupSize: group, zeroPoint: zero }));
    const aValues = Array.from(tensorElements(tensors.get('a')!));
    const want = gemm(aValues, deq, M, K, N);
    const mass = gemm(aValues.map(Math.abs), Array.from(deq, Math.abs), M, K, N);
    Array.from(tensorElements(tensors.get('c')!)).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(2 ** -9 * (mass[i]! + Math.abs(want[i]!)) + 1e-4));
    return { out, dir };
  }
  it('--order fragments writes the codes a kernel generated with --weight-order fragments reads', async () => {
    const { out, dir } = await quantizeGenRun('u4', 32, null, ['--order', 'fragments'], ['--m', '16', '--target', 'cuda', '--weight-order', 'fragments'], [5, 64, 70], 17);
    expect(out[0]).toBe('u4 codes [64, 70] in fragment order [4, 2, 32, 32], f16 scales [2, 70], fixed zero 8 (the kernel\'s ZERO)');
    expect(await main(['quantize', join(dir, 'x.npy'), '--type', 'u4', '--group', '32', '--order', 'tiles', '--w', 'w', '--s', 's'], () => {}, (l) => out.push(l))).toBe(2);
    expect(out.at(-1)).toContain('--order tiles: rows, fragments or panels');
  });
  it('--order panels --panel P writes the codes a GEMV generated with --weight-order panels and N tiles of P reads', async () => {
    const { out, dir } = await quantizeGenRun('u3', 128, 'u4', ['--order', 'panels', '--panel', '64'], ['--m', '2', '--target', 'cuda', '--rows-per-thread', '8', '--weight-order', 'panels'], [2, 256, 100], 23);
    expect(out[0]).toBe('u3 codes [256, 100] in panels of 64 columns [2, 16384], f16 scales [2, 100], u4 zero points');
    expect(await main(['quantize', join(dir, 'x.npy'), '--type', 'u4', '--group', '32', '--panel', '32', '--w', 'w', '--s', 's'], () => {}, (l) => out.push(l))).toBe(2);
    expect(out.at(-1)).toContain('--panel goes with --order panels');
    expect(await main(['quantize', join(dir, 'x.npy'), '--type', 'u4', '--group', '32', '--order', 'panels', '--panel', '0', '--w', 'w', '--s', 's'], () => {}, (l) => out.push(l))).toBe(2);
    expect(out.at(-1)).toContain('--panel 0: a positive integer');
  });
});
