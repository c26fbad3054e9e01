// The targets a kernel runs on: the VM, WebAssembly (the default), WebGPU, and CUDA (through nvcc and a
// generated host harness, where the machine has them and a GPU).

import { runCuda } from '../backends/cuda/runtime.ts';
import { compileWasm, type WasmKernel } from '../backends/wasm/runtime.ts';
import { type WebGpuKernel, compileWebGpu, gpuContext, runWebGpu } from '../backends/wgsl/runtime.ts';
import type { GpuFeatures } from '../passes/lower_gpu.ts';
import { defaultWorkers, runWasmOnWorkers } from '../backends/wasm/workers.ts';
import { printKernel } from '../ir/tile_print.ts';
import { type Kernel, outputTensors } from '../ir/tile_ir.ts';
import { runKernel } from './vm/interpret.ts';
import type { Tensor } from './vm/memory.ts';

export const TARGETS = ['vm', 'wasm', 'webgpu', 'cuda'] as const;
export type Target = (typeof TARGETS)[number];

export class TargetUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetUnavailable';
  }
}

export interface RunOptions {
  /** Worker threads for wasm (default: one per core). */
  readonly workers?: number;
}

/** A kernel's build for one backend, cached by its printed IR (and what it was built for). */
function cachedBuild<T>(cache: Map<string, T>, k: Kernel, build: (k: Kernel) => T, extra = ''): T {
  const key = `${extra}\n${printKernel(k)}`;
  let built = cache.get(key);
  if (built === undefined) {
    built = build(k);
    cache.set(key, built);
  }
  return built;
}

const wasmCache = new Map<string, WasmKernel>();
const webGpuCache = new Map<string, WebGpuKernel>();

/** The wasm build of a kernel. */
export const wasmKernel = (k: Kernel): WasmKernel => cachedBuild(wasmCache, k, compileWasm);

/** The WGSL build of a kernel for a device's features. */
export const webGpuKernel = (k: Kernel, features?: GpuFeatures): WebGpuKernel =>
  cachedBuild(webGpuCache, k, (x) => compileWebGpu(x, features), JSON.stringify(features ?? null));

/** Runs a kernel on a target; outputs are written into `tensors`. */
export async function runOn(target: Target, k: Kernel, tensors: Map<string, Tensor>, values: ReadonlyMap<string, number>, options: RunOptions = {}): Promise<void> {
  switch (target) {
    case 'vm':
      return runKernel(k, { tensors, scalars: values });
    case 'wasm':
      return runWasmOnWorkers(wasmKernel(k), tensors, values, outputTensors(k), options.workers ?? defaultWorkers());
    case 'webgpu':
      return runWebGpu(webGpuKernel(k, (await gpuContext()).gpuFeatures), tensors, values, outputTensors(k));
    case 'cuda':
      runCuda(k, tensors, values, outputTensors(k));
      return;
  }
}
