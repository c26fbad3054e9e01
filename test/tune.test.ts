import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { closeWorkers } from '../backends/wasm/workers.ts';
import { main } from '../src/cli/main.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { TOLERANCE } from '../src/testing/compare.ts';
import { dequantGemmCandidates, dequantGemmRequest, gpuDequantGemmCandidates, shapeBucket, timeOnWasm, tune, withConfig } from '../src/tune.ts';
import { runChild } from './support/retry_child.ts';

afterAll(closeWorkers);

const request = {
  kernel: 'test kernel',
  sizes: { M: 1, K: 256, N: 256 },
  candidates: [{ BN: 32 }, { BN: 64 }, { BN: 128 }],
  source: (c: Record<string, number>) => `BN=${c.BN}`,
};

describe('autotuner', () => {
  it('picks the fastest candidate and caches it by kernel, shape bucket and device', async () => {
    const cache = join(mkdtempSync(join(tmpdir(), 'tilebit-tune-')), 'tune.json');
    const timed: string[] = [];
    const measure = async (source: string): Promise<number> => {
      timed.push(source);
      return { 'BN=32': 3, 'BN=64': 1, 'BN=128': 2 }[source]!;
    };
    const first = await tune(request, { cache, fingerprint: 'dev A', measure });
    expect([first.config, first.ms, first.fromCache]).toEqual([{ BN: 64 }, 1, false]);
    expect(timed).toEqual(['BN=32', 'BN=64', 'BN=128']);
    // With the cache, nothing is timed again: the choice is deterministic.
    const again = await tune(request, { cache, fingerprint: 'dev A', measure });
    expect([again.config, again.fromCache, timed.length]).toEqual([{ BN: 64 }, true, 3]);
    // Another device, or another shape bucket, is tuned anew.
    await tune(request, { cache, fingerprint: 'dev B', measure });
    await tune({ ...request, sizes: { M: 64, K: 256, N: 256 } }, { cache, fingerprint: 'dev A', measure });
    expect(timed.length).toBe(9);
    expect(Object.keys(JSON.parse(readFileSync(cache, 'utf8')).entries)).toHaveLength(3);
  });
  it('buckets M in powers of two beyond decode sizes', () => {
    expect(shapeBucket({ N: 8, M: 3, K: 16 })).toBe('K=16,M=3,N=8');
    expect(shapeBucket({ M: 100, K: 16 })).toBe('K=16,M=<=128');
    expect(dequantGemmCandidates(1, 128).every((c) => c.BM === 1 && 128 % c.BK! === 0)).toBe(true);
  });
  it('times a real candidate on wasm', async () => {
    const ms = await timeOnWasm(dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f32', blockN: 32, blockK: 32 }).source, { M: 1, K: 64, N: 64 });
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(10_000);
  });
  it('tilebit gen --tune prints the tuned kernel, from the cache the second time', async () => {
    const cache = join(mkdtempSync(join(tmpdir(), 'tilebit-tune-')), 'tune.json');
    const argv = ['gen', 'dequant-gemm', '--weight', 'u4', '--group', '32', '--act', 'f32', '--tune', '--m', '1', '--k', '64', '--n', '64', '--tune-cache', cache];
    const out1: string[] = [];
    expect(await main(argv, (l) => out1.push(l), (l) => out1.push(l))).toBe(0);
    expect(out1[0]).toMatch(/^\/\/ Tuned on wasm for M=1, K=64, N=64: BM=1, BN=\d+, BK=32, [\d.]+ ms\.$/);
    const out2: string[] = [];
    await main(argv, (l) => out2.push(l), (l) => out2.push(l));
    expect(out2[0]).toBe(out1[0]!.replace(/\.$/, ' (from the cache).'));
    expect(out2[1]).toBe(out1[1]);
  });
  it('skips a candidate that fails, says why, and fails when none can be timed', async () => {
    const measure = async (source: string): Promise<number> => {
      if (source === 'BN=64') throw new Error('needs 20000 bytes of workgroup storage\nmore detail');
      return source === 'BN=32' ? 2 : 1;
    };
    const r = await tune(request, { fingerprint: 'dev', measure });
    expect([r.config, r.skipped]).toEqual([{ BN: 128 }, [{ config: { BN: 64 }, reason: 'needs 20000 bytes of workgroup storage' }]]);
    await expect(tune(request, { fingerprint: 'dev', measure: async () => { throw new Error('no'); } })).rejects.toThrow(/no candidate of test kernel could be timed:\n {2}\{"BN":32\}: no/);
  });
});

describe('GPU candidates', () => {
  const base = { weight: 'u4', groupSize: 32, activation: 'f16', target: 'gpu' as const };
  it('keep the kernel unsplit unless it is split along K, and then split up to the groups', () => {
    const gemv = gpuDequantGemmCandidates({ M: 1, K: 4096, N: 4096 }, base);
    expect(gemv.length).toBeGreaterThan(1);
    expect(gemv.every((c) => c.SK === 1 && [128, 256].includes(c.T!) && 32 % c.BK! === 0)).toBe(true);
    expect(gemv.filter((c) => c.RK === 8).map((c) => c.T)).toEqual([128, 256]);
    expect(withConfig(base, gemv.find((c) => c.RK === 8)!).rowsPerThread).toBe(8);
    const split = gpuDequantGemmCandidates({ M: 1, K: 128, N: 4096 }, { ...base, splitK: 2 });
    expect([...new Set(split.map((c) => c.SK))]).toEqual([2, 4]);
    // M of 8 or fewer: 8-row tiles (the weights as the MMA's A operand) and 16-row ones (as its B).
    // In fragment order, decode-sized M too (the GEMV reads rows or panels).
    const frag = gpuDequantGemmCandidates({ M: 1, K: 8192, N: 8192 }, { ...base, m: 1, weightOrder: 'fragments' });
    expect(frag.length).toBeGreaterThan(1);
    expect(frag.every((c) => c.BM !== undefined && c.BN! % 64 === 0)).toBe(true);
    expect([...new Set(frag.map((c) => c.BM))]).toEqual([16, 8]);
    const small = gpuDequantGemmCandidates({ M: 8, K: 8192, N: 8192 }, { ...base, m: 8 });
    expect([...new Set(small.map((c) => c.BM))]).toEqual([16, 8]);
    expect(dequantGemm(withConfig({ ...base, m: 8, target: 'gpu' }, small.find((c) => c.BM === 8)!)).source).toContain('dot(cast<f16>(permute(load sw[');
    const tiles = gpuDequantGemmCandidates({ M: 16, K: 8192, N: 8192 }, { ...base, m: 16, splitK: 4 });
    expect(tiles.every((c) => c.BM !== undefined && c.BN !== undefined && c.SK! >= 2)).toBe(true);
  });
  it('are all kernels the generator makes, with the parameters of the untuned kernel', () => {
    for (const [sizes, options] of [[{ M: 1, K: 8192, N: 28672 }, base], [{ M: 64, K: 512, N: 512 }, { ...base, m: 64 }], [{ M: 16, K: 256, N: 256 }, { ...base, m: 16, splitK: 2 }]] as const) {
      const declaration = (src: string): string => src.match(/\(\n?\s*(a: [^)]*)\)/)![1]!;
      const untuned = declaration(dequantGemm(options).source);
      for (const c of gpuDequantGemmCandidates(sizes, options)) expect(declaration(dequantGemm(withConfig(options, c)).source)).toBe(untuned);
    }
  });
});

describe('tuning keeps the weight order', () => {
  const base = { weight: 'u4', groupSize: 128, activation: 'f16', m: 1 } as const;
  const sizes = { M: 1, K: 4096, N: 4096 };
  it('keys the cache by the order (and the panel width), and lists only configurations that read the same weights', () => {
    const rows = dequantGemmRequest(base, sizes, 'wasm');
    const panels = dequantGemmRequest({ ...base, weightOrder: 'panels', blockN: 64 }, sizes, 'wasm');
    expect(panels.kernel).toBe(`${rows.kernel} panels64`);
    expect(dequantGemmRequest({ ...base, weightOrder: 'fragments' }, sizes, 'wasm').kernel).toBe(`${rows.kernel} fragments`);
    // In panels the N tile is the panel width, on wasm and on GPUs (the GEMV's threads and K tile vary).
    expect(panels.candidates.length).toBeGreaterThan(1);
    expect(panels.candidates.every((c) => c.BN === 64)).toBe(true);
    for (const on of ['cuda', 'webgpu'] as const) {
      const gpu = dequantGemmRequest({ ...base, weightOrder: 'panels', blockN: 64 }, sizes, on);
      expect(gpu.candidates.length).toBeGreaterThan(0);
      for (const c of gpu.candidates) expect(gpu.source(c)).toMatch(/\bBN = 64\b/);
    }
    // Fragment order takes N tiles of 64 columns or more: the 32-column candidates are left out.
    const fragments = dequantGemmRequest({ ...base, weightOrder: 'fragments' }, sizes, 'wasm');
    expect(fragments.candidates.length).toBeGreaterThan(0);
    expect(fragments.candidates.some((c) => c.BN === 32)).toBe(false);
    expect(rows.candidates.some((c) => c.BN === 32)).toBe(true);
    expect(() => dequantGemmRequest({ ...base, weightOrder: 'panels' }, sizes, 'wasm')).toThrow('tuning a kernel that reads weights in panels needs their width as its N tile (blockN, --bn)');
  });
});

// WebGPU runs in child processes: CPU Vulkan drivers crash now and then (see webgpu.test.ts).
describe('autotuner on WebGPU', () => {
  const child = fileURLToPath(new URL('./support/tune_webgpu_child.ts', import.meta.url));
  it('times a bound launch with accumulated outputs zeroed before each timed launch', () => {
    const r = runChild<{ ms: number; got: number[]; vm: number[] }>(child, ['timed']);
    expect(r.ms).toBeGreaterThan(0);
    // Three timed launches from zero each, then one more run: twice one launch's sums (three or four
    // times, were the timed launches not cleared).
    const scale = Math.max(...r.vm.map(Math.abs));
    r.got.forEach((g, i) => expect(Math.abs(g - 2 * r.vm[i]!)).toBeLessThanOrEqual(4 * TOLERANCE.f32! * scale));
  });
  it('tilebit gen --tune --target webgpu tunes a split-K GEMV on the adapter, from the cache the second time', () => {
    const cache = join(mkdtempSync(join(tmpdir(), 'tilebit-tune-')), 'tune.json');
    const argv = ['cli', 'gen', 'dequant-gemm', '--weight', 'u4', '--group', '32', '--act', 'f32', '--target', 'webgpu', '--split-k', '2', '--tune', '--m', '1', '--k', '128', '--n', '64', '--tune-cache', cache];
    const first = runChild<{ status: number; lines: string[] }>(child, argv, 8, 120_000);
    expect(first.status).toBe(0);
    expect(first.lines[0]).toMatch(/^\/\/ Tuned on webgpu for M=1, K=128, N=64: T=(128|256), BK=32, SK=[24](, RK=8)?, [\d.]+ ms\.$/);
    expect(first.lines[1]).toMatch(/^\/\/ Generated by tilebit: dequant-GEMV for GPUs without asynchronous copies/);
    const [key] = Object.keys(JSON.parse(readFileSync(cache, 'utf8')).entries);
    expect(key).toMatch(/^dequant-gemm webgpu u4 f32 {2}g32 z- splitk \| K=128,M=1,N=64 \| webgpu\//);
    const again = runChild<{ status: number; lines: string[] }>(child, argv, 8, 120_000);
    expect(again.lines[0]).toBe(first.lines[0]!.replace(/\.$/, ' (from the cache).'));
    expect(again.lines.slice(1)).toEqual(first.lines.slice(1));
  });
  it('tilebit build --tune=wgsl times a declared GEMV\'s WebGPU form on the adapter', () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-tune-'));
    const libFile = join(work, 'lib.json');
    writeFileSync(libFile, JSON.stringify({ kernels: [{ name: 'gemv', generator: 'dequant-gemm', options: { weight: 'u4', groupSize: 32, activation: 'f32', m: 1, splitK: 2 }, tune: { K: 128, N: 64 } }] }));
    const r = runChild<{ status: number; lines: string[] }>(child, ['cli', 'build', libFile, '--out', join(work, 'out'), '--workers', '1', '--targets', 'wasm,wgsl', '--tune=wgsl'], 8, 120_000);
    expect(r.status).toBe(0);
    // wasm is not timed (no entry: default tiles); the WebGPU form is, and its tiles are the build's.
    expect(r.lines[0]).toMatch(/^gemv: wasm: default tiles/);
    expect(r.lines[1]).toMatch(/^gemv: wgsl: T=(128|256), BK=32, SK=[24](, RK=8)? for M=1, K=128, N=64, [\d.]+ ms on webgpu\/.+$/);
    const gemv = JSON.parse(readFileSync(join(work, 'out', 'manifest.json'), 'utf8')).kernels[0];
    expect(gemv.tuned.wgsl.device).toMatch(/^webgpu\//);
    expect(gemv.wgsl.threads).toBe(gemv.tuned.wgsl.config.T);
    expect(Object.keys(JSON.parse(readFileSync(join(work, 'tilebit-tune.json'), 'utf8')).entries)).toEqual([expect.stringMatching(/^dequant-gemm webgpu u4 f32 {2}g32 z- splitk \| K=128,M=1,N=64 \| webgpu\//)]);
  });
});

describe('autotuner on CUDA', () => {
  const hasGpu = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' }).status === 0;
  it.runIf(!hasGpu)('says there is no CUDA device to time on, in one line', async () => {
    const err: string[] = [];
    const argv = ['gen', 'dequant-gemm', '--weight', 'u4', '--group', '32', '--target', 'cuda', '--tune', '--k', '64', '--n', '64', '--tune-cache', join(mkdtempSync(join(tmpdir(), 'tilebit-tune-')), 't.json')];
    expect(await main(argv, () => {}, (l) => err.push(l))).toBe(1);
    expect(err).toEqual([expect.stringMatching(/^tilebit gen: tuning for CUDA times the candidates on a CUDA device, and this machine has none \(/)]);
  });
  it.runIf(hasGpu)('tunes the GEMV on this machine\'s GPU', async () => {
    const out: string[] = [];
    const argv = ['gen', 'dequant-gemm', '--weight', 'u4', '--group', '32', '--target', 'cuda', '--tune', '--k', '256', '--n', '256', '--tune-cache', join(mkdtempSync(join(tmpdir(), 'tilebit-tune-')), 't.json')];
    expect(await main(argv, (l) => out.push(l), (l) => out.push(l))).toBe(0);
    expect(out[0]).toMatch(/^\/\/ Tuned on cuda for M=1, K=256, N=256: T=\d+, BK=32, SK=1, [\d.]+ ms\.$/);
  });
});
