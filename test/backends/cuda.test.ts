// The CUDA backend: the CUDA C of every example and of a spread of kernels (sub-byte stores, views,
// explicit layouts, every weight type of the dequant-GEMM generator) compiles with nvcc for sm_80 and
// sm_90a; golden CUDA C and WGSL for two kernels. The GPU check bundle's CUDA C also runs on the CPU
// (g++ with backends/cuda/host/tilebit_host.h) against the VM; scripts/gpu-check.sh runs it on a GPU.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGISTER } from '../support/retry_child.ts';
import { describe, expect, it } from 'vitest';
import { emitCudaFile, emitCudaHeader, lowerForCuda } from '../../backends/cuda/emit.ts';
import { harnessSource } from '../../backends/cuda/harness.ts';
import { emitWgsl } from '../../backends/wgsl/emit.ts';
import { verifyModule } from '../../ir/loop_verify.ts';
import { compile } from '../../src/api.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { benchCases, example, gpuCases } from '../support/gpu_cases.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { compareTensors } from '../../src/testing/compare.ts';
import { HOST_CXX_FLAGS, checkCudaGrid, runCuda } from '../../backends/cuda/runtime.ts';
import { outputTensors } from '../../ir/tile_ir.ts';
import { prepareTensors } from '../../src/api.ts';
import { flashAttention } from '../../src/kernels/attention.ts';


const sources: { name: string; source: string; kernel?: string; set?: Record<string, string | number> }[] = [
  ...['vector_add', 'softmax', 'matmul', 'dequant_gemm', 'flash_attention'].map((name) => ({ name: `example_${name}`, source: example(name) })),
  { name: 'flash_attention_d128', source: example('flash_attention'), set: { D: '128', CAUSAL: '0' } },
  ...gpuCases,
  ...['u1', 'u3', 'i5', 'u8', 'f4e2m1', 'f6e3m2', 'f8e4m3'].map((w) => ({
    name: `dequant_${w}`,
    source: dequantGemm({ weight: w, groupSize: 64, activation: 'f16', m: 16 }).source,
  })),
];

/** Lowers every source for CUDA (the Loop IR verified after each pass); kernel names made unique. */
function lowerAll() {
  return sources.map(({ name, source, kernel, set }) => {
    const k = compile(source, { kernel, set: new Map(Object.entries(set ?? {}).map(([n, v]) => [n, String(v)])) });
    const lowered = lowerForCuda({ ...k, name: `k_${name}` }, (_, m) => verifyModule(m));
    return { name, k, lowered };
  });
}

const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
const haveNvcc = nvcc.status === 0;
const haveGxx = spawnSync('g++', ['--version']).status === 0;

describe('CUDA C', () => {
  it('nvcc is on the PATH (set TILEBIT_NO_NVCC=1 to skip the compile checks on machines without it)', () => {
    if (process.env.TILEBIT_NO_NVCC) return;
    expect(haveNvcc, 'nvcc is missing').toBe(true);
  });

  it('copies global to shared memory with cp.async in the DSL\'s groups (matmul\'s two-stage pipeline)', () => {
    const cu = emitCudaFile([lowerForCuda(compile(example('matmul')))]);
    expect(cu.match(/tb_cp_async<16>\(/g)?.length).toBe(4); // a and b, before and in the loop
    expect(cu.match(/tb_cp_async_commit\(\);/g)?.length).toBe(2);
    expect(cu).toContain('tb_cp_async_wait<1>();');
    expect(cu).toContain('tb_cp_async_wait<0>();');
    // The helpers are the instructions (the prelude's device branch).
    expect(cu).toContain('asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\\n"');
    expect(cu).toContain('asm volatile("cp.async.wait_group %0;\\n" :: "n"(N)');
  });

  it('multiplies f16 and bf16 tiles on mma.sync.m16n8k16, the accumulator in the result\'s registers', () => {
    const mm = emitCudaFile([lowerForCuda(compile(example('matmul')))]);
    // BM = BN = 64 over 4 warps: each warp holds 2x4 atoms, one mma per atom per 16 of K.
    expect(mm.match(/mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.f16\.f16\.f32 \{%0, %1, %2, %3\}, \{%4, %5, %6, %7\}, \{%8, %9\}, \{%0, %1, %2, %3\};/g)?.length).toBe(1);
    expect(mm.match(/tb_mma_f16\(/g)?.length).toBe(2); // its definition, and one call
    expect(mm).toMatch(/for \(j_\d+ = 0; j_\d+ < 8; j_\d+ \+= 1\) \{\s+tb_mma_f16\(acc_\d+\[/);
    expect(mm).toContain('tb_pack_f16x2(');
    const mix = gpuCases.find((c) => c.name === 'mma_bf16_replicated')!;
    const cu = emitCudaFile([lowerForCuda(compile(mix.source))]);
    expect(cu).toMatch(/^ +tb_mma_bf16\(/m);
    expect(cu).toMatch(/^ +tb_mma_f16\(/m);
  });

  it('dequantizes minifloat weights for f16 and bf16 MMAs by moving their fields (and one f16x2 or bf16x2 multiplication), no table', () => {
    const cu = (weight: string, activation: 'f16' | 'bf16') => emitCudaFile([lowerForCuda(compile(dequantGemm({ weight, groupSize: 32, activation, m: 16, target: 'gpu' }).source))]);
    // f8e4m3 too, its NaN code fixed up after the multiplication.
    for (const weight of ['f4e2m1', 'f6e3m2', 'f6e2m3', 'f8e4m3']) {
      const code = cu(weight, 'f16');
      expect(code.match(/tb_hmul2\(/g)?.length, weight).toBe(2); // the prelude's, and the B fragments'
      expect(code, weight).not.toMatch(/_data\[\(/); // no decode table read
    }
    // f8e5m2 is f16's top byte: shifted, no multiplication and no table.
    expect(cu('f8e5m2', 'f16').match(/tb_hmul2\(/g)?.length).toBe(1);
    expect(cu('f8e5m2', 'f16')).not.toMatch(/_data\[\(/);
    // To bf16 the same way, by one bf16x2 multiplication (FP8's infinities and NaNs fixed up after):
    // every minifloat, no table.
    for (const weight of ['f4e2m1', 'f8e4m3', 'f8e5m2', 'f6e3m2']) {
      expect(cu(weight, 'bf16').match(/tb_bfma2\([^;]*\(int\)0x80008000\)/g)?.length, `${weight} bf16`).toBe(1); // the B fragments' a * b + -0
      expect(cu(weight, 'bf16'), `${weight} bf16`).not.toMatch(/_data\[\(/);
    }
  });

  it.skipIf(!haveNvcc)('forms each f16 pair of u4 and i4 weight codes with one mask of their word, one shift per word (nvcc -ptx)', () => {
    // Weights in fragment order: each thread's word holds the codes of its B fragments, pairs 16 bits
    // apart, so that a pair is (word >> 8i) & 0x000F000F or, four bits up, (word >> 8i) & 0x00F000F0,
    // then one exclusive or (magic exponent, sign bits) and the f16x2 subtraction, or for the pairs four
    // bits up one f16x2 fused multiply-add by 1/16: as many masks of 0xF000F as subtractions, of
    // 0xF000F0 as multiply-adds, no shift by 4 or 12 (each word's pairs share the shift by 8), and no
    // bit-field inserts (formed field by field, 3 of every 4 pairs took a bfi.b32 and two more shifts
    // and masks).
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-pairs-'));
    for (const weight of ['u4', 'i4']) {
      const cu = join(dir, `${weight}.cu`);
      writeFileSync(cu, emitCudaFile([lowerForCuda(compile(dequantGemm({ weight, groupSize: 128, activation: 'f16', m: 16, target: 'gpu', weightOrder: 'fragments' }).source))]));
      execFileSync('nvcc', ['-O3', '-arch=sm_90a', '-ptx', '-o', join(dir, `${weight}.ptx`), cu], { stdio: 'pipe' });
      const ptx = readFileSync(join(dir, `${weight}.ptx`), 'utf8');
      const subs = ptx.match(/sub\.f16x2/g)?.length ?? 0;
      expect(subs, weight).toBeGreaterThan(0);
      expect(ptx.match(/and\.b32\s+%r\d+, %r\d+, 983055;/g)?.length, weight).toBe(subs);
      const fmas = ptx.match(/fma\.rn\.f16x2/g)?.length ?? 0;
      expect(fmas, weight).toBe(subs);
      expect(ptx.match(/and\.b32\s+%r\d+, %r\d+, 15728880;/g)?.length, weight).toBe(fmas);
      expect(ptx, weight).not.toMatch(/shr\.u32\s+%r\d+, %r\d+, (4|12);/);
      expect(ptx, weight).not.toMatch(/bfi\.b32\s+%r\d+, %r\d+, %r\d+, 16, 4;/); // a code inserted at bit 16
    }
  }, 60_000);

  it.skipIf(!haveNvcc)('multiplies 8 rows or fewer on MMAs with the weights as the A operand: their fragments\' f16 pairs from codes, the activations by ldmatrix (nvcc -ptx)', () => {
    // C^T = W^T . A^T: each MMA takes 8 weights per thread (A) and 8 rows of activations (B, from the
    // staged tile, one ldmatrix.x4 for two K steps). In fragment order at M = 1, each pair is a mask of
    // its word and an f16x2 subtraction or multiply-add (as for B fragments); in rows at M = 8 (whose
    // 8-row tiles had no MMA before: 72 registers and spills), the MMAs too.
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-wa-'));
    for (const [name, o] of [['frag_m1', { m: 1, weightOrder: 'fragments' }], ['rows_m8', { m: 8 }]] as const) {
      const source = dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', target: 'gpu', ...o }).source;
      expect(source, name).toMatch(/<BM = 8, /);
      const cu = emitCudaFile([lowerForCuda(compile(source))]);
      expect(cu, name).toMatch(/tb_ldmatrix_x4<false>\(/);
      writeFileSync(join(dir, `${name}.cu`), cu);
      execFileSync('nvcc', ['-O3', '-arch=sm_90a', '-ptx', '-o', join(dir, `${name}.ptx`), join(dir, `${name}.cu`)], { stdio: 'pipe' });
      const ptx = readFileSync(join(dir, `${name}.ptx`), 'utf8');
      // Four MMAs per 64 rows of a K tile (16 columns of N per warp), unrolled; every ldmatrix (all of
      // them B's) serves two.
      const mmas = ptx.match(/mma\.sync\.aligned\.m16n8k16/g)?.length ?? 0;
      expect(mmas, name).toBeGreaterThanOrEqual(4);
      expect(2 * (ptx.match(/ldmatrix\.sync\.aligned\.m8n8\.x4/g)?.length ?? 0), name).toBe(mmas);
      expect(ptx, name).not.toMatch(/ldmatrix\.sync\.aligned\.m8n8\.x2/);
      const subs = ptx.match(/sub\.f16x2/g)?.length ?? 0;
      expect(subs, name).toBeGreaterThanOrEqual(16);
      if (name === 'frag_m1') expect(ptx.match(/and\.b32\s+%r\d+, %r\d+, 983055;/g)?.length, name).toBe(subs);
    }
  }, 60_000);

  it.skipIf(!haveNvcc)('reads a thread\'s runs of codes from shared memory at one address plus constants (nvcc -ptx)', () => {
    // The GEMV with 8 rows per thread reads 8 words of u4 codes per K tile, the M = 16 tiles in fragment
    // order 4: each at the thread's address plus the run's offset, an immediate of the load (the whole
    // offset shifted per run took an addition, a shift and a mask each). In plain rows (swizzled), the
    // M = 16 tiles read 32 bytes of one code each: at the thread's byte plus the local's, shifted by the
    // thread's own nibble position (about ten operations per code before).
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-runs-'));
    const gemm = (o: object) => dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', target: 'gpu', ...o }).source;
    const kernels = [
      { name: 'gemv', source: gemm({ m: 1, rowsPerThread: 8 }), load: 'u32', count: 8 },
      { name: 'fragments', source: gemm({ m: 16, weightOrder: 'fragments' }), load: 'u32', count: 4 },
      { name: 'rows', source: gemm({ m: 16 }), load: 'u8', count: 32 },
    ];
    for (const { name, source, load, count } of kernels) {
      const cu = join(dir, `${name}.cu`);
      writeFileSync(cu, emitCudaFile([lowerForCuda(compile(source))]));
      execFileSync('nvcc', ['-O3', '-arch=sm_90a', '-ptx', '-o', join(dir, `${name}.ptx`), cu], { stdio: 'pipe' });
      const loads = [...readFileSync(join(dir, `${name}.ptx`), 'utf8').matchAll(new RegExp(`ld\\.shared\\.${load}\\s+%r\\d+, \\[(%r\\d+)(\\+\\d+)?\\];`, 'g'))];
      expect(loads.length, name).toBe(count);
      expect(new Set(loads.map((m) => m[1])).size, name).toBe(1);
    }
  }, 60_000);

  it.skipIf(!haveNvcc)('every kernel compiles with nvcc for sm_80 and sm_90a', () => {
    const all = lowerAll();
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-cuda-'));
    const cu = join(dir, 'kernels.cu');
    writeFileSync(cu, emitCudaFile(all.map((x) => x.lowered)));
    writeFileSync(join(dir, 'kernels.h'), emitCudaHeader(all.map((x) => ({ kernel: x.lowered.kernel, lowered: x.lowered }))));
    for (const arch of ['sm_80', 'sm_90a']) {
      try {
        execFileSync('nvcc', [`-arch=${arch}`, '-c', '-o', join(dir, `${arch}.o`), cu], { encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        throw new Error(`nvcc -arch=${arch} failed on ${cu}:\n${(e as { stderr?: string }).stderr ?? e}`);
      }
    }
    // The header compiles as C++ next to the kernels.
    writeFileSync(join(dir, 'use.cu'), `#include "kernels.h"\nint main() { return 0; }\n`);
    execFileSync('nvcc', ['-arch=sm_80', '-c', '-o', join(dir, 'use.o'), join(dir, 'use.cu')], { stdio: 'pipe' });
  }, 600_000); // 2 to 3 minutes on 2 CPUs, more when they are shared: a limit against hangs, not a speed check
});

describe('CUDA limits', () => {
  const withShared = (floats: number) => lowerForGpu(compile(`kernel big(x: f32[N]) grid(1) threads(128) {
      let s = shared<f32>[${floats}];
      store s[0 :+ 128] = load x[0 :+ 128];
      sync;
      store x[0 :+ 128] = load s[0 :+ 128];
    }`));
  it('names the shared-memory limit a kernel exceeds, and by how much (the language already caps threads at 1024)', () => {
    expect(() => emitCudaFile([withShared(60000)])).toThrow(/kernel big needs \d+ bytes of shared memory .* at most 232448 bytes \(sm_90; \d+ over\)/);
  });
  it('declares shared memory beyond the static 48 KB extern, and says in the header to launch with it', () => {
    const [small, large] = [withShared(12000), withShared(13000)];
    expect(emitCudaFile([small])).toMatch(/^ {2}TB_SHARED\(smem, 48000\);$/m);
    expect(emitCudaFile([small])).toContain('#define TB_SHARED(name, bytes) __shared__ __align__(16) unsigned char name[bytes]');
    expect(emitCudaFile([large])).toMatch(/^ {2}TB_DYNAMIC_SHARED\(smem\);  \/\/ 52000 bytes, given at launch$/m);
    expect(emitCudaFile([large])).toContain('#define TB_DYNAMIC_SHARED(name) extern __shared__ __align__(16) unsigned char name[]');
    expect(emitCudaHeader([{ kernel: large.kernel, lowered: large }])).toMatch(/52000 bytes of dynamic shared memory \(launch with them, after cudaFuncSetAttribute\(big, cudaFuncAttributeMaxDynamicSharedMemorySize, 52000\)\)/);
    const harness = harnessSource([small, { ...large, kernel: { ...large.kernel, name: 'big2' } }]);
    expect(harness).toContain('{"big", (const void*)big, 0, CALL(big), false},');
    expect(harness).toContain('{"big2", (const void*)big2, 52000, CALL(big2), false},');
  });
  it('launches a grid past CUDA\'s 65535 blocks along y or z in pieces, each block finding its (x, y, z); refuses one past 2^31 - 1 blocks along x', () => {
    // Every block writes its x, y and z where it alone writes: a piece launched without its offsets, or
    // not at all, leaves cells 0. y = 65537 and z = 65539 are past the limit (two pieces) and prime.
    const k = compile(`kernel where(o: i32[Z, Y, X3]) grid(X3 / 3, Y, Z) threads(1) {
      let i = iota<i32>[3](0);
      store o[block.z, block.y, 3 * block.x :+ 3] = where(i == 0, block.x + 1, where(i == 1, block.y + 1, block.z + 1));
    }`);
    for (const [x, y, z] of [[2, 65537, 1], [1, 2, 65539], [3, 5, 7]] as const) {
      const bytes = new Uint8Array(12 * x * y * z);
      const tensors = new Map([['o', { dtype: 'i32', shape: [z, y, 3 * x], bytes }]]);
      runCuda(k, tensors, new Map(), ['o'], true);
      const got = new Int32Array(tensors.get('o')!.bytes.buffer);
      let wrong = 0;
      for (let c = 0; c < z; c++) for (let b = 0; b < y; b++) for (let a = 0; a < x; a++) {
        const at = ((c * y + b) * x + a) * 3;
        if (got[at] !== a + 1 || got[at + 1] !== b + 1 || got[at + 2] !== c + 1) wrong++;
      }
      expect(wrong, `grid (${x}, ${y}, ${z})`).toBe(0);
    }
    expect(emitCudaFile([lowerForCuda(k)])).toContain('const int bx = blockIdx.x, by = blockIdx.y + tb_by0, bz = blockIdx.z + tb_bz0, tid = threadIdx.x;');
    expect(emitCudaHeader([{ kernel: k, lowered: lowerForCuda(k) }])).toContain('int* tb_err, int tb_by0, int tb_bz0);');
    expect(() => checkCudaGrid('wide', [2 ** 31 - 1, 65536, 65536])).not.toThrow();
    expect(() => checkCudaGrid('wide', [2 ** 31, 1, 1])).toThrow('kernel wide: its grid (2147483648, 1, 1) has 2147483648 blocks along x; CUDA allows at most 2147483647 (2^31 - 1)');
    // Grids whose y and z are constants within the limit keep blockIdx as it is, and no offsets.
    const fixed = compile('kernel fixed(o: f32[N]) grid(N, 4) threads(32) { store o[block.x :+ 1] = full<f32>[1](1.0); }');
    expect(emitCudaFile([lowerForCuda(fixed)])).toContain('const int bx = blockIdx.x, by = blockIdx.y, bz = blockIdx.z, tid = threadIdx.x;');
    expect(emitCudaFile([lowerForCuda(fixed)])).not.toContain('tb_by0');
  });
});

describe('the GPU check bundle', () => {
  type Spec = { cases: { case: string; outputs: { name: string; dtype: string; got: string; want: string }[] }[] };
  let bundle: { dir: string; spec: Spec } | null = null;
  /** The bundle of test/support/gpu_cases.ts (scripts/gpu-bundle.ts), written once for this file. */
  const built = (): { dir: string; spec: Spec } => {
    if (bundle) return bundle;
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-bundle-'));
    const script = fileURLToPath(new URL('../../scripts/gpu-bundle.ts', import.meta.url));
    execFileSync(process.execPath, ['--import', REGISTER, script, dir, '--bench-cases'], { stdio: 'pipe' });
    bundle = { dir, spec: JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as Spec };
    return bundle;
  };

  it.skipIf(!haveNvcc)('builds: launch files, inputs, the VM outputs, and a harness that compiles and links with the kernels', () => {
    const { dir, spec } = built();
    expect(spec.cases.length).toBe(gpuCases.length + benchCases.length);
    for (const c of spec.cases) {
      expect(readFileSync(join(dir, `${c.case}.launch`), 'utf8')).toMatch(new RegExp(`^kernel k_${c.case}\ngrid \\d+ \\d+ \\d+\nthreads \\d+\n`));
      for (const o of c.outputs) expect(readFileSync(join(dir, o.want)).length).toBeGreaterThan(0);
    }
    execFileSync('nvcc', ['-arch=sm_80', '-o', join(dir, 'harness'), join(dir, 'harness.cu'), join(dir, 'kernels.cu')], { stdio: 'pipe' });
    // Without a GPU the harness says so (exit 2); with one, the first case runs.
    const run = spawnSync(join(dir, 'harness'), [`${spec.cases[0]!.case}.launch`], { cwd: dir, encoding: 'utf8' });
    if (run.status === 2) expect(run.stderr).toMatch(/no CUDA device/);
    else expect(run.stdout).toMatch(/^ok k_/);
  }, 600_000);

  // The CUDA C of every case, compiled for the CPU and run with each block's threads as fibers: warp
  // shuffles, ldmatrix, mma.sync and cp.async as the PTX ISA defines them (tilebit_host.h). Four
  // schedules: copies landing when a wait covers them (a kernel that reads a stage early reads stale
  // data) or at once, and threads run first to last, last to first, or in random orders (a missing
  // barrier shows in some order).
  it.skipIf(!haveGxx)('runs on the CPU (TILEBIT_HOST) and agrees with the VM on every case and every benchmark kernel, under four schedules', () => {
    const { dir, spec } = built();
    const exe = join(dir, 'harness_host');
    execFileSync('g++', [...HOST_CXX_FLAGS, '-I', dir, '-o', exe, join(dir, 'harness.cu'), join(dir, 'kernels.cu')], { stdio: 'pipe' });
    const failures: string[] = [];
    let outputs = 0;
    const schedules = [{ copies: 'late', order: 'forward' }, { copies: 'immediate', order: 'forward' }, { copies: 'late', order: 'reverse' }, { copies: 'late', order: 'random:7' }];
    for (const { copies, order } of schedules) {
      const mode = `${copies} copies, ${order}`;
      for (const c of spec.cases) {
        const run = spawnSync(exe, [`${c.case}.launch`], { cwd: dir, encoding: 'utf8', env: { ...process.env, TILEBIT_HOST_ASYNC: copies, TILEBIT_HOST_ORDER: order } });
        if (run.status !== 0) {
          failures.push(`${c.case} (${mode}): ${(run.stdout + run.stderr).trim()}`);
          continue;
        }
        for (const o of c.outputs) {
          outputs++;
          const [got, want] = [readFileSync(join(dir, o.got)), readFileSync(join(dir, o.want))];
          if (!['f32', 'f16', 'bf16'].includes(o.dtype)) {
            if (!got.equals(want)) failures.push(`${c.case}.${o.name} (${mode}): bytes differ`);
            continue;
          }
          const shape = [(want.length * 8) / parseDType(o.dtype).bits];
          const cmp = compareTensors({ dtype: o.dtype, shape, bytes: got }, { dtype: o.dtype, shape, bytes: want });
          if (!cmp.ok) failures.push(`${c.case}.${o.name} (${mode}): ${cmp.mismatches} elements beyond ${cmp.tolerance}, first ${JSON.stringify(cmp.first)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(outputs).toBeGreaterThanOrEqual(schedules.length * (gpuCases.length + benchCases.length));
  }, 600_000);
});

describe('memory traffic on the CPU (TILEBIT_HOST_PROFILE)', () => {
  /** What one emulated launch reports, with the profile on. */
  const profiled = (source: string, sizes: Record<string, number>): string => {
    const k = compile(source);
    const values = new Map(Object.entries(sizes));
    const tensors = prepareTensors(k, { values, seed: 3 }, new Set(outputTensors(k)));
    const before = process.env.TILEBIT_HOST_PROFILE;
    process.env.TILEBIT_HOST_PROFILE = 'widths';
    try {
      return runCuda(k, tensors, values, outputTensors(k), true).report;
    } finally {
      if (before === undefined) delete process.env.TILEBIT_HOST_PROFILE;
      else process.env.TILEBIT_HOST_PROFILE = before;
    }
  };
  /** The 16-byte shared-memory accesses of one emulated launch: wavefronts taken, and the fewest possible. */
  const sixteen = (source: string, sizes: Record<string, number>): { wavefronts: number; fewest: number } => {
    const report = profiled(source, sizes);
    const m = /16-byte accesses: \d+ requests, (\d+) wavefronts, (\d+) at the fewest/.exec(report);
    expect(m, report).not.toBeNull();
    return { wavefronts: Number(m![1]), fewest: Number(m![2]) };
  };
  /** The 32-byte sectors of global memory one emulated launch touches. */
  const sectors = (source: string, sizes: Record<string, number>): number => {
    const report = profiled(source, sizes);
    const m = /global memory: \d+ requests, (\d+) sectors of 32 bytes/.exec(report);
    expect(m, report).not.toBeNull();
    return Number(m![1]);
  };
  // ldmatrix reads 8 rows of 16 bytes at once: rows of 128 bytes in plain row-major order start in the
  // same banks (8 wavefronts for 1); the GPU lowering swizzles such tiles where the source gives no
  // layout (sharedLayoutFor), and `@ row_major` (swizzle: false in the generators) keeps plain rows.
  it.skipIf(!haveGxx)('the MMA tiles\' activations, flash attention\'s K and V and the matmul example\'s tiles reach ldmatrix without bank conflicts, unlike plain rows', () => {
    const gemm = (swizzle: boolean) => sixteen(dequantGemm({ weight: 'u4', groupSize: 64, activation: 'f16', m: 16, target: 'gpu', swizzle }).source, { M: 16, K: 128, N: 64 });
    const attention = (swizzle: boolean) => sixteen(flashAttention({ headDim: 64, causal: true, target: 'gpu', swizzle }).source, { H: 1, HKV: 1, S: 64, SK: 64, scale: 0.125 });
    const matmul = (swizzle: boolean) => sixteen(swizzle ? example('matmul') : example('matmul').replaceAll(/shared<f16>\[[^\]]*\]/g, '$& @ row_major'), { M: 64, K: 64, N: 64 });
    for (const run of [gemm, attention, matmul]) {
      const [swizzled, plain] = [run(true), run(false)];
      expect(swizzled.wavefronts).toBe(swizzled.fewest);
      expect(plain.wavefronts).toBeGreaterThan(2 * plain.fewest);
    }
  }, 120_000);
  /** The shared-memory wavefronts of one emulated launch, and the fewest possible. */
  const shared = (source: string, sizes: Record<string, number>): { wavefronts: number; fewest: number } => {
    const report = profiled(source, sizes);
    const m = /shared memory: \d+ requests, (\d+) wavefronts \([^;]*; (\d+) at the fewest\)/.exec(report);
    expect(m, report).not.toBeNull();
    return { wavefronts: Number(m![1]), fewest: Number(m![2]) };
  };
  // The MMA tiles read their B fragments' codes a byte at a time: a warp reads rows 0, 2, 4 and 6 of a
  // fragment, which plain rows of 32 bytes (u4) or 64 (u8) put in the same banks; the lowering swizzles
  // such tiles by what their reads touch (readSwizzle).
  it.skipIf(!haveGxx)('the MMA tiles read their u4 and u8 weight codes without bank conflicts, unlike plain rows', () => {
    for (const weight of ['u4', 'u8']) {
      for (const weightOrder of ['rows', 'panels'] as const) {
        const source = dequantGemm({ weight, groupSize: 64, activation: 'f16', m: 16, target: 'gpu', weightOrder }).source;
        const decl = weightOrder === 'rows' ? `shared<${weight}>[STAGES, BK, BN]` : `shared<${weight}>[STAGES, BK * BN]`;
        expect(source).toContain(decl);
        const [chosen, plain] = [source, source.replace(decl, `${decl} @ row_major`)].map((s) => shared(s, { M: 16, K: 128, N: 64 }));
        expect(chosen!.wavefronts).toBe(chosen!.fewest);
        expect(plain!.wavefronts).toBeGreaterThan(1.4 * plain!.fewest);
      }
    }
  }, 120_000);
  // A u3 GEMV block's K tile in rows is 12 bytes of each of 128 rows, each in its own 32-byte sectors;
  // in panels it is one run.
  it.skipIf(!haveGxx)('the u3 GEMV touches fewer global sectors with its weights in panels than in rows', () => {
    const gemv = (weightOrder: 'rows' | 'panels') => sectors(dequantGemm({ weight: 'u3', groupSize: 128, activation: 'f16', m: 1, target: 'gpu', weightOrder }).source, { M: 1, K: 256, N: 256 });
    expect(gemv('panels') * 2).toBeLessThan(gemv('rows'));
  }, 120_000);
});

describe('golden GPU code', () => {
  const golden: Record<string, string> = { vector_add: example('vector_add'), dequant_gemm_u4: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', m: 1 }).source };
  it.each(Object.keys(golden))('%s (.cu and .wgsl)', (name) => {
    const k = compile(golden[name]!);
    for (const [ext, text] of [['cu', emitCudaFile([lowerForCuda(k)])], ['wgsl', emitWgsl(lowerForGpu(k)).code]] as const) {
      const file = new URL(`./golden/${name}.${ext}`, import.meta.url);
      if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
      expect(text).toBe(readFileSync(file, 'utf8'));
    }
  });
});
