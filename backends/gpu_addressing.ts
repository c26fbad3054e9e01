// How large a tensor a GPU kernel can address. The GPU lowering computes a tensor's offsets in 32-bit
// integers, some of them in bits (codes narrower than a byte, runs of words, global-to-shared copies),
// so that a tensor of 2^32 bits or more wraps: its elements past 512 MiB are read from, and written to,
// its first ones, with no fault (a CUDA C kernel copying an f32[134283264], 537 MB, on the CPU build got
// its last 65536 elements wrong). Sub-byte accesses read up to a word past a tensor's last element, so
// the bound keeps 16 bytes more free. wasm addresses its memory by bytes and has no such bound below
// its 4 GiB (a u4[1074790400] copies correctly there).

import type { Kernel } from '../ir/tile_ir.ts';
import { type Tensor, tensorBytes } from '../src/vm/memory.ts';

/** The most bytes a tensor of a GPU kernel (CUDA C or WGSL) may hold: 2^29 - 16, just under 512 MiB. */
export const GPU_TENSOR_MAX_BYTES = 2 ** 29 - 16;

export class TensorTooLarge extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TensorTooLarge';
  }
}

/**
 * Throws TensorTooLarge where a tensor of a launch holds more than GPU_TENSOR_MAX_BYTES; `target` names
 * the target in the message ("CUDA C", "WebGPU").
 */
export function checkGpuTensorSizes(k: Kernel, tensors: ReadonlyMap<string, Tensor>, target: string): void {
  for (const p of k.params) {
    if (p.kind !== 'tensor') continue;
    const t = tensors.get(p.name);
    if (!t) continue;
    const bytes = tensorBytes(p.dtype, t.shape);
    if (bytes > GPU_TENSOR_MAX_BYTES) {
      throw new TensorTooLarge(
        `tensor '${p.name}' (${p.dtype}[${t.shape.join(', ')}]) holds ${bytes} bytes; ${target} kernels address a tensor by 32-bit offsets in bits, ` +
        `so each may hold at most ${GPU_TENSOR_MAX_BYTES} bytes (512 MiB less 16): split it along a dimension over several launches, or run on wasm or the VM`,
      );
    }
  }
}
