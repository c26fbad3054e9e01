// GPU kernels address a tensor by unsigned 32-bit element indices and byte offsets (never by offsets in
// bits, which wrapped at 512 MiB): tensors of up to 4 GiB less 16 bytes, fewer than 2^32 elements and
// dimensions below 2^31 run; larger ones are refused with the tensor named, on CUDA C and WebGPU alike,
// before anything is compiled or allocated (the tensors of the first tests are shapes with no data behind
// them). The last tests run kernels over tensors past 512 MiB and past 2 GiB, as CUDA C on the CPU, on
// WebGPU and on wasm (whose sub-byte fields wrapped at 512 MiB too), against the VM (whose bit streams
// did as well; test/support/large_tensors_child.ts).

import { totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GPU_TENSOR_MAX_BYTES, GPU_TENSOR_MAX_DIM, GPU_TENSOR_MAX_ELEMENTS, TensorTooLarge, checkGpuTensorSizes } from '../../backends/gpu_addressing.ts';
import { WebGpuLimitError, bindWebGpu, checkBufferSizes } from '../../backends/wgsl/runtime.ts';
import { BINDINGS_RUNTIME } from '../../src/build_bindings.ts';
import { compile } from '../../src/api.ts';
import { webGpuKernel } from '../../src/builds.ts';
import { runOn } from '../../src/targets.ts';
import type { Tensor } from '../../src/vm/memory.ts';
import { runChild } from '../support/retry_child.ts';

const copy = (dtype: string) => compile(`kernel copy(x: ${dtype}[N], y: ${dtype}[N]) grid(cdiv(N, 1024)) threads(128) {
  store y[block.x * 1024 :+ 1024] = load x[block.x * 1024 :+ 1024];
}`);
const copy2 = (dtype: string) => compile(`kernel copy(x: ${dtype}[R, C], y: ${dtype}[R, C]) grid(R, cdiv(C, 1024)) threads(128) {
  store y[block.x, block.y * 1024 :+ 1024] = load x[block.x, block.y * 1024 :+ 1024];
}`);
const shaped = (dtype: string, shape: readonly number[]): Map<string, Tensor> =>
  new Map(['x', 'y'].map((name) => [name, { dtype, shape, bytes: new Uint8Array(0) }]));

describe('GPU tensor sizes', () => {
  it('allow a tensor of up to 2^32 - 16 bytes and 2^32 - 1 elements, whatever its element width, and refuse one more', () => {
    expect([GPU_TENSOR_MAX_BYTES, GPU_TENSOR_MAX_ELEMENTS, GPU_TENSOR_MAX_DIM]).toEqual([4294967280, 4294967295, 2147483647]);
    // Bytes bound f16 and f32; u3 and u4 reach 2^32 - 1 elements first.
    for (const [dtype, bits] of [['u3', 3], ['u4', 4], ['f16', 16], ['f32', 32]] as const) {
      const most = Math.min(Math.floor((GPU_TENSOR_MAX_BYTES * 8) / bits), GPU_TENSOR_MAX_ELEMENTS);
      // Two dimensions, each below 2^31 (rows of 2^k elements, where that divides).
      const cols = most % 4096 === 0 ? 4096 : most % 3 === 0 ? 3 : 1;
      expect(() => checkGpuTensorSizes(copy2(dtype), shaped(dtype, [most / cols, cols]), 'CUDA C'), dtype).not.toThrow();
      expect(() => checkGpuTensorSizes(copy2(dtype), shaped(dtype, [most / cols + 1, cols]), 'CUDA C'), dtype).toThrow(TensorTooLarge);
    }
    // A dimension of 2^31 elements is refused even where the tensor is small enough.
    expect(() => checkGpuTensorSizes(copy('u8'), shaped('u8', [2 ** 31 - 1]), 'CUDA C')).not.toThrow();
    expect(() => checkGpuTensorSizes(copy('u8'), shaped('u8', [2 ** 31]), 'CUDA C')).toThrow(TensorTooLarge);
  });

  it('name the tensor, its size and the bound', () => {
    expect(() => checkGpuTensorSizes(copy2('f32'), shaped('f32', [2 ** 20, 2 ** 10 + 1]), 'CUDA C')).toThrow(
      "tensor 'x' (f32[1048576, 1025]) holds 4299161600 bytes; CUDA C kernels address a tensor by 32-bit byte offsets, so each may hold at most 4294967280 bytes (4 GiB less 16)",
    );
    expect(() => checkGpuTensorSizes(copy2('u1'), shaped('u1', [2 ** 16, 2 ** 16]), 'WebGPU')).toThrow(
      "tensor 'x' (u1[65536, 65536]) holds 4294967296 elements; WebGPU kernels index a tensor's elements by 32-bit integers, so each may hold at most 4294967295 (2^32 - 1)",
    );
    expect(() => checkGpuTensorSizes(copy('u1'), shaped('u1', [2 ** 31]), 'WebGPU')).toThrow(
      "tensor 'x' (u1[2147483648]) has 2147483648 elements along dimension 0; kernels index a dimension by i32, so each may have at most 2147483647 (2^31 - 1)",
    );
  });

  it('are checked by the CUDA C and WebGPU runtimes before they compile or allocate anything, and by the bindings\' WebGPU launches', async () => {
    const k = copy2('f32');
    const big = shaped('f32', [2 ** 20, 2 ** 10]);
    await expect(runOn('cuda', k, big, new Map(), { emulate: true })).rejects.toThrow(/tensor 'x' \(f32\[1048576, 1024\]\) holds 4294967296 bytes; CUDA C kernels/);
    await expect(bindWebGpu(webGpuKernel(k), big, new Map(), ['y'])).rejects.toThrow(/tensor 'x' \(f32\[1048576, 1024\]\) holds 4294967296 bytes; WebGPU kernels/);
    // The bindings' launchWebGpu refuses one too, and one larger than its device binds (launched for
    // real in test/build.test.ts, through its WebGPU child).
    expect(BINDINGS_RUNTIME).toContain(`if (b.length > ${GPU_TENSOR_MAX_BYTES}) throw new Error(name + ': tensor ' + t + ' holds '`);
    expect(BINDINGS_RUNTIME).toContain('device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize');
  });

  it('are checked by the wasm runtime too: dimensions below 2^31, fewer than 2^32 elements, a memory of at most 4 GiB', async () => {
    await expect(runOn('wasm', copy('u1'), shaped('u1', [2 ** 31]), new Map())).rejects.toThrow(
      "tensor 'x' (u1[2147483648]) has 2147483648 elements along dimension 0; kernels index a dimension by i32, so each may have at most 2147483647 (2^31 - 1)",
    );
    await expect(runOn('wasm', copy2('u1'), shaped('u1', [2 ** 16, 2 ** 16]), new Map())).rejects.toThrow(
      "tensor 'x' (u1[65536, 65536]) holds 4294967296 elements; kernels index a tensor's elements by 32-bit integers, so each may hold at most 4294967295 (2^32 - 1)",
    );
    // Two tensors of 2^31 + 2^16 bytes (allocated, never written: their pages are never touched).
    const half = [2 ** 16, 2 ** 15 + 1];
    const big = new Map(['x', 'y'].map((name) => [name, { dtype: 'u8', shape: half, bytes: new Uint8Array(2 ** 31 + 2 ** 16) }]));
    await expect(runOn('wasm', copy2('u8'), big, new Map())).rejects.toThrow(
      /^the launch needs \d+ bytes of memory \(its tensors, arguments and scratch\); a wasm memory holds at most 4294967296 \(4 GiB\)/,
    );
  });

  it('are checked against a WebGPU device\'s buffer limits, in 16-byte multiples', () => {
    const limits = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 31 } as GPUSupportedLimits;
    expect(() => checkBufferSizes(copy('u8'), shaped('u8', [2 ** 30]), limits)).not.toThrow();
    expect(() => checkBufferSizes(copy('u8'), shaped('u8', [2 ** 30 + 1]), limits)).toThrow(WebGpuLimitError);
    expect(() => checkBufferSizes(copy('u8'), shaped('u8', [2 ** 30 + 1]), limits)).toThrow(
      "kernel copy: tensor 'x' (u8[1073741825]) takes a buffer of 1073741840 bytes; this device binds at most 1073741824 bytes per buffer (maxStorageBufferBindingSize 1073741824, maxBufferSize 2147483648)",
    );
  });
});

// Kernels over tensors past 512 MiB and 2 GiB: each block reads the last rows of its tensors (runs of
// words, runs straddling words, one field at a time, and copies to shared memory) and writes some back
// (runs of words, fields by atomics). The tensors hold data at both ends, so that an offset that wraps
// reads or writes the head instead.
const child = fileURLToPath(new URL('../support/large_tensors_child.ts', import.meta.url));
type Outcome = Record<string, { bytes: number; differ: number }> | { error: string };
const runLarge = (target: 'cuda' | 'webgpu' | 'wasm', source: string, sizes: Record<string, number>): Outcome =>
  runChild<Outcome>(child, [target, source, JSON.stringify(sizes)], 4, 300_000);

const TAILS = `kernel tails(x: u4[R, 4096], y: u3[Q, 4096], o4: u4[4, 4096], o3: u3[4, 4096], e: u4[2, 4095]) grid(2) threads(128) {
  let r = R - 2 + block.x;
  let q = Q - 2 + block.x;
  let sx = shared<u4>[4096];
  let sy = shared<u3>[4096];
  copy_async sx[0 :+ 4096] <- x[r, 0 :+ 4096];
  copy_async sy[0 :+ 4096] <- y[q, 0 :+ 4096];
  wait_async(0);
  sync;
  store o4[block.x, 0 :+ 4096] = load sx[0 :+ 4096];
  store o3[block.x, 0 :+ 4096] = load sy[0 :+ 4096];
  store o4[block.x + 2, 0 :+ 4096] = load x[r, 0 :+ 4096];
  store o3[block.x + 2, 0 :+ 4096] = load y[q, 0 :+ 4096];
  store e[block.x, 0 :+ 4095] = load x[r, 1 :+ 4095];
  store x[r, 0 :+ 4096] = cast<u4>(load y[q, 0 :+ 4096]);
  store x[r, 3 :+ 5] = cast<u4>(load y[q, 7 :+ 5]);
}`;
// u4: 537 MB (2^29 + 6144 bytes), u3: 537 MB.
const TAILS_SIZES = { R: 2 ** 18 + 3, Q: 349527 };

const LAST_ROW = `kernel last_row(x: u8[R, 16384], o: u8[2, 16384]) grid(1) threads(128) {
  let sx = shared<u8>[16384];
  copy_async sx[0 :+ 16384] <- x[R - 1, 0 :+ 16384];
  wait_async(0);
  sync;
  store o[0, 0 :+ 16384] = load sx[0 :+ 16384];
  store o[1, 0 :+ 16384] = load x[R - 1, 0 :+ 16384];
  store x[R - 1, 0 :+ 16384] = load x[0, 0 :+ 16384];
}`;
// 2^31 + 16384 bytes: a signed 32-bit byte offset is negative at the last row.
const LAST_ROW_SIZES = { R: 2 ** 17 + 1 };

// wasm's dots decode each k's row of codes from one 16-byte window (passes/lower_cpu.ts rowWindow),
// found from the row's first code.
const ROW_WINDOW = `kernel taildot(a: f32[1, K], w: u4[K, N], c: f32[1, 64]) grid(1) threads(128) {
  var part = zeros<f32>[1, 64];
  for k0 in range(K - 128, K, 64) {
    part = dot(load a[0 :+ 1, k0 :+ 64], cast<f32>(load w[k0 :+ 64, N - 64 :+ 64]), part);
  }
  store c[0 :+ 1, 0 :+ 64] = part;
}`;
// 537 MB of u4.
const ROW_WINDOW_SIZES = { K: 8192, N: 131200 };

const agrees = (o: Outcome): void => {
  expect(o).not.toHaveProperty('error');
  for (const [name, r] of Object.entries(o)) expect({ name, ...r }).toMatchObject({ name, differ: 0 });
};

describe('kernels over large tensors, against the VM', () => {
  it('past 512 MiB of 4- and 3-bit codes, as CUDA C on the CPU', () => {
    const o = runLarge('cuda', TAILS, TAILS_SIZES);
    agrees(o);
    expect((o as Record<string, { bytes: number }>).x!.bytes).toBeGreaterThan(2 ** 29);
  }, 300_000);

  it('past 512 MiB of 4- and 3-bit codes, on WebGPU', () => {
    agrees(runLarge('webgpu', TAILS, TAILS_SIZES));
  }, 300_000);

  it('past 512 MiB of 4- and 3-bit codes, on wasm, and a dot\'s row windows', () => {
    agrees(runLarge('wasm', TAILS, TAILS_SIZES));
    agrees(runLarge('wasm', ROW_WINDOW, ROW_WINDOW_SIZES));
  }, 300_000);

  // The CUDA C run holds the 2 GiB tensor about three times over (the VM's, the launch's, the CPU
  // build's), wasm twice: machines with less than 16 GiB skip it.
  it.skipIf(totalmem() < 16 * 2 ** 30)('past 2 GiB of bytes, as CUDA C on the CPU and on wasm', () => {
    agrees(runLarge('cuda', LAST_ROW, LAST_ROW_SIZES));
    agrees(runLarge('wasm', LAST_ROW, LAST_ROW_SIZES));
  }, 300_000);

  // SwiftShader binds at most 1 GiB per buffer; a device that binds more runs it.
  it.skipIf(totalmem() < 16 * 2 ** 30)('past 2 GiB of bytes on WebGPU, or refused where the device binds less, the tensor and the limit named', () => {
    const o = runLarge('webgpu', LAST_ROW, LAST_ROW_SIZES);
    if ('error' in o) expect(o.error).toMatch(/^WebGpuLimitError: kernel last_row: tensor 'x' \(u8\[131073, 16384\]\) takes a buffer of 2147500032 bytes; this device binds at most \d+ bytes per buffer/);
    else agrees(o);
  }, 300_000);
});
