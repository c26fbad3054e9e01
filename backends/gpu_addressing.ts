// How large a tensor a GPU kernel can address. The GPU lowering computes a tensor's offsets in 32-bit
// integers: element indices, taken as unsigned, and byte offsets, also unsigned (CUDA C adds them to the
// tensor's pointer as `unsigned`; WGSL indexes its words by u32). Offsets in bits, which wrapped at 2^32
// bits (512 MiB: a CUDA C kernel copying an f32[134283264], 537 MB, on the CPU build got its last 65536
// elements wrong), are never formed for global memory: a field's word, bit and byte come from its index
// (passes/lower/memory.ts). So a tensor may hold up to 4 GiB, less 16 bytes (sub-byte accesses read up to
// a word past a tensor's last element), and fewer than 2^32 elements; and as the language's indices are
// i32, each dimension less than 2^31. wasm addresses its memory by bytes and has no such bound below its
// 4 GiB (a u4[1074790400] copies correctly there). WebGPU devices bound a buffer further
// (maxStorageBufferBindingSize, maxBufferSize: 1 GiB on SwiftShader), which its runtime checks.

import type { Kernel } from '../ir/tile_ir.ts';
import { type Tensor, tensorBytes } from '../src/vm/memory.ts';

/** The most bytes a tensor of a GPU kernel (CUDA C or WGSL) may hold: 2^32 - 16, just under 4 GiB. */
export const GPU_TENSOR_MAX_BYTES = 2 ** 32 - 16;
/** The most elements a tensor of a GPU kernel may hold: its element indices are unsigned 32-bit. */
export const GPU_TENSOR_MAX_ELEMENTS = 2 ** 32 - 1;
/** The longest dimension of a tensor of a GPU kernel: indices are the language's i32. */
export const GPU_TENSOR_MAX_DIM = 2 ** 31 - 1;

export class TensorTooLarge extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TensorTooLarge';
  }
}

/**
 * Throws TensorTooLarge where a tensor of a launch holds more than GPU_TENSOR_MAX_BYTES bytes or
 * GPU_TENSOR_MAX_ELEMENTS elements, or has a dimension longer than GPU_TENSOR_MAX_DIM; `target` names
 * the target in the message ("CUDA C", "WebGPU").
 */
export function checkGpuTensorSizes(k: Kernel, tensors: ReadonlyMap<string, Tensor>, target: string): void {
  for (const p of k.params) {
    if (p.kind !== 'tensor') continue;
    const t = tensors.get(p.name);
    if (!t) continue;
    const what = `tensor '${p.name}' (${p.dtype}[${t.shape.join(', ')}])`;
    const split = (wasm: boolean): string => `split it along a dimension over several launches, or run on ${wasm ? 'wasm or ' : ''}the VM`;
    const bytes = tensorBytes(p.dtype, t.shape);
    if (bytes > GPU_TENSOR_MAX_BYTES) {
      throw new TensorTooLarge(`${what} holds ${bytes} bytes; ${target} kernels address a tensor by 32-bit byte offsets, so each may hold at most ${GPU_TENSOR_MAX_BYTES} bytes (4 GiB less 16): ${split(true)}`);
    }
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements > GPU_TENSOR_MAX_ELEMENTS) {
      throw new TensorTooLarge(`${what} holds ${elements} elements; ${target} kernels index a tensor's elements by 32-bit integers, so each may hold at most ${GPU_TENSOR_MAX_ELEMENTS} (2^32 - 1): ${split(true)}`);
    }
    const d = t.shape.findIndex((n) => n > GPU_TENSOR_MAX_DIM);
    if (d >= 0) {
      throw new TensorTooLarge(`${what} has ${t.shape[d]} elements along dimension ${d}; kernels index a dimension by i32, so each may have at most ${GPU_TENSOR_MAX_DIM} (2^31 - 1): ${split(false)}`);
    }
  }
}
