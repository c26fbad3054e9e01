// GPU kernels address a tensor by 32-bit offsets in bits: launches of tensors past the bound are
// refused with the tensor named, on CUDA C and WebGPU alike, before anything is compiled or allocated
// (the tensors here are shapes with no data behind them). The bound itself was found by running copies
// of 268 MB and 537 MB tensors on the CPU build of the CUDA C (backends/gpu_addressing.ts).

import { describe, expect, it } from 'vitest';
import { GPU_TENSOR_MAX_BYTES, TensorTooLarge, checkGpuTensorSizes } from '../../backends/gpu_addressing.ts';
import { bindWebGpu } from '../../backends/wgsl/runtime.ts';
import { BINDINGS_RUNTIME } from '../../src/build_bindings.ts';
import { compile } from '../../src/api.ts';
import { webGpuKernel } from '../../src/builds.ts';
import { runOn } from '../../src/targets.ts';
import type { Tensor } from '../../src/vm/memory.ts';

const copy = (dtype: string) => compile(`kernel copy(x: ${dtype}[N], y: ${dtype}[N]) grid(cdiv(N, 1024)) threads(128) {
  store y[block.x * 1024 :+ 1024] = load x[block.x * 1024 :+ 1024];
}`);
const shaped = (dtype: string, n: number): Map<string, Tensor> =>
  new Map(['x', 'y'].map((name) => [name, { dtype, shape: [n], bytes: new Uint8Array(0) }]));

describe('GPU tensor sizes', () => {
  it('allow a tensor of up to 2^29 - 16 bytes, whatever its element width, and refuse one more', () => {
    expect(GPU_TENSOR_MAX_BYTES).toBe(536870896);
    for (const [dtype, bits] of [['u4', 4], ['u3', 3], ['f16', 16], ['f32', 32]] as const) {
      const most = Math.floor((GPU_TENSOR_MAX_BYTES * 8) / bits);
      expect(() => checkGpuTensorSizes(copy(dtype), shaped(dtype, most), 'CUDA C'), dtype).not.toThrow();
      // The next whole byte's worth of elements (u3: 8 elements are 3 bytes).
      expect(() => checkGpuTensorSizes(copy(dtype), shaped(dtype, most + Math.ceil(8 / bits)), 'CUDA C'), dtype).toThrow(TensorTooLarge);
    }
  });

  it('name the tensor, its size and the bound', () => {
    expect(() => checkGpuTensorSizes(copy('f32'), shaped('f32', 2 ** 27 + 2 ** 16), 'CUDA C')).toThrow(
      "tensor 'x' (f32[134283264]) holds 537133056 bytes; CUDA C kernels address a tensor by 32-bit offsets in bits, so each may hold at most 536870896 bytes (512 MiB less 16)",
    );
  });

  it('are checked by the CUDA C and WebGPU runtimes before they compile or allocate anything, and by the bindings\' WebGPU launches', async () => {
    const k = copy('u4');
    const big = shaped('u4', 2 ** 30);
    await expect(runOn('cuda', k, big, new Map(), { emulate: true })).rejects.toThrow(/tensor 'x' \(u4\[1073741824\]\) holds 536870912 bytes; CUDA C kernels/);
    await expect(bindWebGpu(webGpuKernel(k), big, new Map(), ['y'])).rejects.toThrow(/tensor 'x' \(u4\[1073741824\]\) holds 536870912 bytes; WebGPU kernels/);
    // The bindings' launchWebGpu refuses one too (launched for real in test/build.test.ts, through its WebGPU child).
    expect(BINDINGS_RUNTIME).toContain(`if (b.length > ${GPU_TENSOR_MAX_BYTES}) throw new Error(name + ': tensor ' + t + ' holds '`);
  });
});
