import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeWorkers } from '../backends/wasm/workers.ts';
import { main } from '../src/cli/main.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { dequantGemmCandidates, shapeBucket, timeOnWasm, tune } from '../src/tune.ts';

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
    expect(out1[0]).toMatch(/^\/\/ Tuned for M=1, K=64, N=64: BM=1, BN=\d+, BK=32, [\d.]+ ms\.$/);
    const out2: string[] = [];
    await main(argv, (l) => out2.push(l), (l) => out2.push(l));
    expect(out2[0]).toBe(out1[0]!.replace(/\.$/, ' (from the cache).'));
    expect(out2[1]).toBe(out1[1]);
  });
});
