// The CUDA backend: the CUDA C of every example and of a spread of kernels (sub-byte stores, views,
// explicit layouts, every weight type of the dequant-GEMM generator) compiles with nvcc for sm_80 and
// sm_90a; golden CUDA C and WGSL for two kernels. Running the code needs an NVIDIA GPU:
// scripts/gpu-check.sh does that on a machine with one.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitCudaFile, emitCudaHeader } from '../../backends/cuda/emit.ts';
import { emitWgsl } from '../../backends/wgsl/emit.ts';
import { verifyModule } from '../../ir/loop_verify.ts';
import { compile } from '../../src/api.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';

const example = (name: string): string => readFileSync(new URL(`../../examples/${name}.tile`, import.meta.url), 'utf8');

const sources: { name: string; source: string; set?: Record<string, string> }[] = [
  ...['vector_add', 'softmax', 'matmul', 'dequant_gemm', 'flash_attention'].map((name) => ({ name, source: example(name) })),
  { name: 'flash_attention_d128', source: example('flash_attention'), set: { D: '128', CAUSAL: '0' } },
  {
    name: 'layouts',
    source: `kernel layouts(x: f32[16, 8], y: f32[8], z: f32[8, 16]) grid(1) threads(32) {
      let a = load x[0 :+ 16, 0 :+ 8] @ (local(2, 1) * spatial(8, 4) * local(1, 2));
      store z[0 :+ 8, 0 :+ 16] = transpose(a) * 2.0;
      store y[0 :+ 8] = sum(a, axis=0) + max(a, axis=0);
    }`,
  },
  {
    name: 'views',
    source: `kernel views(x: u8[N], y: u4[M], z: u8[P]) grid(1) threads(64) {
      let t = load x[0 :+ 24];
      store y[0 :+ 48] = view<u4>(t);
      store z[0 :+ 6] = view<u8>(cast<u2>(t));
    }`,
  },
  ...['u1', 'u3', 'i5', 'u8', 'f4e2m1', 'f6e3m2', 'f8e4m3'].map((w) => ({
    name: `dequant_${w}`,
    source: dequantGemm({ weight: w, groupSize: 64, activation: 'f16', m: 16 }).source,
  })),
];

/** Lowers every source for GPUs (the Loop IR verified after each pass); kernel names made unique. */
function lowerAll() {
  return sources.map(({ name, source, set }) => {
    const k = compile(source, { set: new Map(Object.entries(set ?? {})) });
    const lowered = lowerForGpu({ ...k, name: `k_${name}` }, (_, m) => verifyModule(m));
    return { name, k, lowered };
  });
}

const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
const haveNvcc = nvcc.status === 0;

describe('CUDA C', () => {
  it('nvcc is on the PATH (set TILEBIT_NO_NVCC=1 to skip the compile checks on machines without it)', () => {
    if (process.env.TILEBIT_NO_NVCC) return;
    expect(haveNvcc, 'nvcc is missing').toBe(true);
  });

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
  }, 240_000);
});

describe('golden GPU code', () => {
  const golden: Record<string, string> = { vector_add: example('vector_add'), dequant_gemm_u4: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', m: 1 }).source };
  it.each(Object.keys(golden))('%s (.cu and .wgsl)', (name) => {
    const lowered = lowerForGpu(compile(golden[name]!));
    for (const [ext, text] of [['cu', emitCudaFile([lowered])], ['wgsl', emitWgsl(lowered).code]] as const) {
      const file = new URL(`./golden/${name}.${ext}`, import.meta.url);
      if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
      expect(text).toBe(readFileSync(file, 'utf8'));
    }
  });
});
