// The WGSL backend on WebGPU against the VM: the DSL.md examples on edge shapes (1, primes, sizes
// that are not multiples of the tile), explicit layouts that force conversions between threads, views,
// and stores of sub-word elements from neighbouring workgroups at unaligned offsets.
//
// Each kernel runs in a child process (test/support/webgpu_child.ts). On machines without a GPU the
// Vulkan driver is SwiftShader (scripts/setup-webgpu.sh), and CPU Vulkan drivers on these machines
// crash or hang now and then in compute shaders with workgroup barriers (SwiftShader and lavapipe
// alike; barrier-free shaders do not; see the README). A child that dies without a result (a signal,
// an abort, a hang) is started again, up to five times in all; a wrong result is never retried.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { GpuCase } from '../support/webgpu_child.ts';

const child = fileURLToPath(new URL('../support/webgpu_child.ts', import.meta.url));
const example = (name: string): string => readFileSync(new URL(`../../examples/${name}.tile`, import.meta.url), 'utf8');

interface Result {
  readonly adapter: string;
  readonly outputs: Record<string, { ok: boolean; mismatches: number; maxError: number; tolerance: number; first: unknown }>;
}

function runOnWebGpu(c: GpuCase): Result {
  const crashes: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', child, JSON.stringify(c)], { encoding: 'utf8', timeout: 90_000 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (line) return JSON.parse(line.slice(7)) as Result;
    const died = r.signal !== null || r.status === 134 || r.status === 139 || r.error !== undefined;
    const why = `${r.signal ?? `exit ${r.status}`}: ${r.stderr.split('\n').filter((l) => l && !/^ - |^ {4}at |Warning/.test(l)).slice(0, 8).join(' | ')}`;
    if (!died) throw new Error(`the WebGPU run failed (${why})`);
    crashes.push(why);
  }
  throw new Error(`the WebGPU child died five times:\n${crashes.join('\n')}`);
}

function expectAgrees(c: GpuCase): void {
  const r = runOnWebGpu(c);
  for (const [name, cmp] of Object.entries(r.outputs)) expect({ name, ...cmp }).toMatchObject({ name, ok: true, mismatches: 0 });
}

describe('WebGPU against the VM: examples', () => {
  it('vector_add at N = 1 and N = 997', () => {
    expectAgrees({ source: example('vector_add'), set: { N: 1 } });
    expectAgrees({ source: example('vector_add'), set: { N: 997 } });
  });

  it('softmax on rows of 1 and 700', () => {
    expectAgrees({ source: example('softmax'), set: { M: 2, N: 1 } });
    expectAgrees({ source: example('softmax'), set: { M: 3, N: 700 } });
  });

  it('matmul (two-stage copy_async pipeline) at 70 x 40 x 65', () => {
    expectAgrees({ source: example('matmul'), set: { M: 70, K: 40, N: 65, BM: 32, BN: 32, BK: 16 } });
  });

  it('dequant_gemm with u3 and f4e2m1 weights', () => {
    expectAgrees({ source: example('dequant_gemm'), set: { W: 'u3', ZERO: 4, M: 5, K: 256, N: 100 } });
    expectAgrees({ source: example('dequant_gemm'), set: { W: 'f4e2m1', ZERO: 0, M: 1, K: 128, N: 37, BN: 32 } });
  });

  it('flash_attention, causal and not, at S = 37', () => {
    for (const CAUSAL of [1, 0]) expectAgrees({ source: example('flash_attention'), set: { D: 16, BQ: 16, BKV: 16, CAUSAL, H: 2, S: 37, scale: 0.25 } });
  });
});

describe('WebGPU against the VM: layouts, views and partial-word stores', () => {
  it('an MMA-fragment layout, transposed and reduced through shared scratch', () => {
    const source = `kernel t(x: f32[16, 8], y: f32[8], z: f32[8, 16]) grid(1) threads(32) {
      let a = load x[0 :+ 16, 0 :+ 8] @ (local(2, 1) * spatial(8, 4) * local(1, 2));
      store z[0 :+ 8, 0 :+ 16] = transpose(a) * 2.0;
      store y[0 :+ 8] = sum(a, axis=0) + max(a, axis=0);
    }`;
    expectAgrees({ source, seed: 3 });
  });

  it('view<u4> of u8 and view<u8> of u2', () => {
    const source = `kernel v(x: u8[N], y: u4[M], z: u8[P]) grid(1) threads(64) {
      let t = load x[0 :+ 24];
      store y[0 :+ 48] = view<u4>(t);
      store z[0 :+ 6] = view<u8>(cast<u2>(t));
    }`;
    expectAgrees({ source, set: { N: 24, M: 48, P: 6 }, seed: 9 });
  });

  for (const W of ['u3', 'i5', 'f6e3m2', 'f16', 'u8']) {
    it(`${W} stores from neighbouring workgroups of 5 elements`, () => {
      const source = `kernel st<W: dtype = u8>(x: f32[N], y: W[N]) grid(cdiv(N, 5)) threads(32) {
        store y[block.x * 5 :+ 5] = cast<W>(load x[block.x * 5 :+ 5] * 8.0);
      }`;
      expectAgrees({ source, set: { W, N: 67 }, seed: 11 });
    });
  }
});
