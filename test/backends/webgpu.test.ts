// The WGSL backend on WebGPU against the VM, on the cases of test/support/gpu_cases.ts: the DSL.md
// examples on edge shapes (1, primes, sizes that are not multiples of the tile), explicit layouts that
// force conversions between threads, views, stores of sub-word elements from neighbouring workgroups at
// unaligned offsets, and generated dequant-GEMM kernels over weight types.
//
// Each kernel runs in a child process (test/support/webgpu_child.ts). On machines without a GPU the
// Vulkan driver is SwiftShader (scripts/setup-webgpu.sh), and CPU Vulkan drivers on these machines
// crash or hang now and then, the more often the longer the GPU work runs (SwiftShader and lavapipe
// alike; see the README): the cases are small. A child that dies without a result (a signal, an
// abort, a hang) is started again, up to eight times in all; a wrong result is never retried.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type GpuCase, gpuCases } from '../support/gpu_cases.ts';
import { REGISTER, runChild } from '../support/retry_child.ts';
import fc from 'fast-check';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { wgslOptionsFor } from '../../backends/wgsl/runtime.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { dtypeArb, extentArb } from '../../src/testing/index.ts';

const child = fileURLToPath(new URL('../support/webgpu_child.ts', import.meta.url));

interface Result {
  readonly adapter: string;
  readonly subgroupMinSize: number | null;
  readonly usedSubgroups: boolean;
  readonly usedDot4: boolean;
  readonly usedMma: boolean;
  readonly outputs: Record<string, { ok: boolean; mismatches: number; maxError: number; tolerance: number; first: unknown }>;
}

/** Child processes per case before a crash counts as a failure (each may run up to 30 s). */
const ATTEMPTS = 8;

const runOnWebGpu = (c: GpuCase): Result => runChild<Result>(child, [JSON.stringify(c)], ATTEMPTS);

function expectAgrees(c: GpuCase): Result {
  const r = runOnWebGpu(c);
  for (const [name, cmp] of Object.entries(r.outputs)) expect({ name, ...cmp }).toMatchObject({ name, ok: true, mismatches: 0 });
  return r;
}

/** Cases whose reductions exchange partials within subgroups where the device has them (SwiftShader: 4 lanes). */
const SUBGROUP_CASES = new Set(['softmax_700', 'flash_attention', 'reductions']);
/** Cases whose 8-bit dots use dot4I8Packed / dot4U8Packed where WGSL has them (Dawn does). */
const DOT4_CASES = new Set(['dot_i8', 'dot_u8']);

describe('WebGPU against the VM', () => {
  it.each(gpuCases.filter((c) => !c.cudaOnly).map((c) => [c.name, c] as const))('%s', (_, c) => {
    const r = expectAgrees(c);
    if (SUBGROUP_CASES.has(c.name)) {
      expect(r.subgroupMinSize, `${r.adapter} offers no usable subgroups, so the subgroup path went untested`).not.toBeNull();
      expect(r.usedSubgroups).toBe(true);
    }
    expect(r.usedDot4).toBe(DOT4_CASES.has(c.name));
    expect(r.usedMma).toBe(c.mma === true);
  }, ATTEMPTS * 30_000);
});

describe('WebGPU against the VM, WGSL with the marked loops unrolled', () => {
  it.each(['flash_attention', 'softmax_700', 'reductions', 'matmul', 'dequant_gemm_u3'].map((n) => [n, { ...gpuCases.find((c) => c.name === n)!, unroll: 64 }] as const))('%s', (_, c) => {
    expectAgrees(c);
  }, ATTEMPTS * 30_000);
});

describe('WGSL options per adapter', () => {
  it('unrolls register-array loops on GPUs, not on CPU implementations', () => {
    expect(wgslOptionsFor({ vendor: 'nvidia', architecture: '', description: 'NVIDIA: 580.159.04 580.159.4.0' })).toEqual({ unroll: 64 });
    expect(wgslOptionsFor({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' })).toEqual({});
    expect(wgslOptionsFor({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toEqual({});
    expect(wgslOptionsFor({ vendor: 'amd', description: 'AMD Radeon', isFallbackAdapter: true })).toEqual({});
    expect(wgslOptionsFor({ vendor: '', architecture: '', description: '' })).toEqual({});
  });
});

describe('WebGPU against the VM, compiled for no device features (workgroup-memory reductions, unpacked 8-bit dots)', () => {
  it.each([...SUBGROUP_CASES, ...DOT4_CASES].map((n) => [n, { ...gpuCases.find((c) => c.name === n)!, features: 'none' as const }] as const))('%s', (_, c) => {
    const r = expectAgrees(c);
    expect([r.usedSubgroups, r.usedDot4]).toEqual([false, false]);
  }, ATTEMPTS * 30_000);
});

/** Weight types a dequant-GEMM takes: integers and minifloats of 8 bits or fewer. */
const weightArb = dtypeArb((n) => parseDType(n).bits <= 8 && parseDType(n).kind !== 'exponent');

describe('WebGPU against the VM: random dequant-GEMM configurations', () => {
  // Weight type, sizes and scale type drawn by fast-check from a fixed seed; shapes include 1, primes and
  // non-multiples of the tile. Six cases keep the driver's run time (and its crashes) small.
  const configs = fc.sample(
    fc.record({
      weight: weightArb,
      m: fc.integer({ min: 1, max: 5 }),
      groups: fc.integer({ min: 1, max: 3 }),
      n: extentArb(70),
      activation: fc.constantFrom('f16', 'f32', 'bf16'),
    }),
    { numRuns: 6, seed: 20261127 },
  );
  it.each(configs.map((c) => [`${c.weight} m=${c.m} k=${32 * c.groups} n=${c.n} ${c.activation}`, c] as const))('%s', (_, c) => {
    const source = dequantGemm({ weight: c.weight, groupSize: 32, activation: c.activation, m: c.m }).source;
    expectAgrees({ name: 'random', source, set: { M: c.m, K: 32 * c.groups, N: c.n }, seed: c.n });
  }, ATTEMPTS * 30_000);
});

describe('WebGPU against the VM: random fragment-order MMA tiles', () => {
  // Weights in fragment order on the emulated MMAs, with the scales on the weights or on the sums, every
  // weight type of 8 bits or fewer; three cases (SwiftShader's time).
  const configs = fc.sample(
    fc.record({
      weight: weightArb,
      m: fc.integer({ min: 1, max: 20 }),
      groups: fc.integer({ min: 1, max: 2 }),
      n: extentArb(70),
      scales: fc.constantFrom('sums' as const, 'weights' as const),
    }),
    { numRuns: 3, seed: 20261128 },
  ).map((c, i) => ({ ...c, operand: i % 2 === 0 ? 'a' as const : 'b' as const }));
  // The weights as the MMA's A operand (8-row tiles, C^T) and as its B operand (16-row tiles), in turn.
  it.each(configs.map((c) => [`${c.weight} m=${c.m} k=${32 * c.groups} n=${c.n} scales on the ${c.scales}, weights as operand ${c.operand}`, c] as const))('%s', (_, c) => {
    const source = dequantGemm({ weight: c.weight, groupSize: 32, activation: 'f16', m: c.operand === 'a' ? 8 : 16, target: 'gpu', weightOrder: 'fragments', applyScales: c.scales, weightOperand: c.operand }).source;
    expectAgrees({ name: 'random_frag', source, set: { M: c.m, K: 32 * c.groups, N: c.n }, seed: c.n, mma: true });
  }, ATTEMPTS * 30_000);
});

describe('WebGPU against the VM: random runs of whole words at any alignment', () => {
  // Each thread loads a run of elements that fills whole words (3 of 3-bit codes, 2 of f16, ...) from a
  // window that starts at a runtime column: aligned and inside, the run is one wide access; otherwise
  // (misaligned, across the row's end, wholly outside) its words are read at their bit position and the
  // elements past the edge masked to zero. Both paths, unrolled (constant register indices) or not.
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const configs = fc.sample(
    fc.record({
      dtype: fc.constantFrom('u1', 'i2', 'u3', 'u4', 'i5', 'f6e3m2', 'i7', 'u8', 'f8e4m3', 'f16', 'u16'),
      words: fc.constantFrom(1, 2),
      m: fc.integer({ min: 1, max: 9 }),
      n: extentArb(160),
      off: fc.nat(),
      unroll: fc.boolean(),
    }),
    { numRuns: 8, seed: 20261128 },
  ).map((c) => ({ ...c, off: c.off % (c.n + 9) })); // mostly inside the row, sometimes past its end
  it.each(configs.map((c) => [`${c.dtype} m=${c.m} n=${c.n} off=${c.off}${c.unroll ? ' unrolled' : ''}`, c] as const))('%s', (_, c) => {
    const bits = parseDType(c.dtype).bits;
    const run = (32 / gcd(bits, 32)) * c.words;
    const source = `kernel edge_runs<W: dtype = u8>(x: W[M, N], y: f32[M, ${8 * run}], off: i32) grid(cdiv(M, 4)) threads(32) {
      store y[block.x * 4 :+ 4, 0 :+ ${8 * run}] = cast<f32>(load x[block.x * 4 :+ 4, off :+ ${8 * run}] @ (spatial(4, 8) * local(1, ${run})));
    }`;
    expectAgrees({ name: 'edge_runs', source, set: { W: c.dtype, M: c.m, N: c.n, off: c.off }, seed: c.n + c.off, ...(c.unroll ? { unroll: 64 } : {}) });
  }, ATTEMPTS * 30_000);
});

/**
 * Writes a bundle with `script` into a fresh folder inside the repository (so that a standalone runner's
 * `import 'webgpu'` resolves; .gpu/ is git-ignored), hands it to `use` with the environment that points
 * the runner at the SwiftShader driver scripts/setup-webgpu.sh installs, and removes it.
 */
function withBundle(script: string, args: readonly string[], use: (dir: string, driver: Record<string, string>) => void): void {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  mkdirSync(join(root, '.gpu'), { recursive: true });
  const dir = mkdtempSync(join(root, '.gpu', 'test-bundle-'));
  try {
    execFileSync(process.execPath, ['--import', REGISTER, join(root, script), dir, ...args], { stdio: 'pipe' });
    const icd = join(root, '.webgpu/swiftshader/vk_swiftshader_icd.json');
    use(dir, existsSync(icd) ? { VK_ICD_FILENAMES: icd, XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'xdg-')) } : {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the GPU benchmark bundle on WebGPU', () => {
  it('its standalone timer (imports only webgpu) compiles the WGSL variants of every kernel (plain, unrolled, with subgroups)', () => {
    // Only --validate here: dispatching these kernels from the timer crashed Dawn over SwiftShader on
    // every try on these machines (the same kernels run through tilebit's runtime); timing is for GPUs.
    withBundle('bench/gpu_bundle.ts', ['--small'], (dir, driver) => {
      const r = runChild<{ rows: { name: string; variant: string; valid?: boolean; error?: string }[] }>(
        join(dir, 'webgpu_bench.mjs'), ['--json', '--validate'], ATTEMPTS, 60_000, { cwd: dir, env: driver });
      const names = ['u4', 'u3', 'u2', 'f4e2m1', 'f6e3m2'].flatMap((w) => [`gemm_${w}_m1_n512`, `gemm_${w}_m1_n512_cputiles`]).concat('attention_s64_d64')
        .concat(...['u4', 'f16'].map((c) => [`decode_${c}_s256_d64`, `decode_${c}_s256_d64_split2_partial`, `decode_${c}_s256_d64_split2_combine`]));
      expect(r.rows.map((x) => [x.name, x.variant, x.error ?? x.valid])).toEqual(names.flatMap((n) => [[n, 'plain', true], [n, 'unrolled', true], [n, 'subgroups', true]]));
    });
  }, ATTEMPTS * 60_000 + 60_000);
});

describe('the GPU check bundle on WebGPU', () => {
  it('its standalone runner (imports only webgpu) agrees with the VM', () => {
    withBundle('scripts/gpu-bundle.ts', [], (dir, driver) => {
      const cases = ['vector_add_997', 'layouts', 'runs_u3_70', 'stores_f6e3m2'];
      const r = runChild<{ rows: string[][]; failed: number }>(join(dir, 'webgpu-runner.mjs'), cases, ATTEMPTS, 30_000, { cwd: dir, env: { REPEAT: '0', RESULT_JSON: '1', ...driver } });
      expect(r.failed).toBe(0);
      expect(r.rows.map((row) => [row[0], row[2]])).toEqual([['vector_add_997', 'agrees'], ['layouts', 'agrees'], ['layouts', 'agrees'], ['stores_f6e3m2', 'agrees'], ['runs_u3_70', 'agrees']]);
    });
  }, ATTEMPTS * 30_000 + 60_000);
});

