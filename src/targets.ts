// The targets a kernel runs on: the VM, WebAssembly (the default), WebGPU, and CUDA (through nvcc and a
// generated host harness, where the machine has them and a GPU; or emulated on the CPU through g++).

import { runCuda } from '../backends/cuda/runtime.ts';
import { gpuContext, runWebGpu } from '../backends/wgsl/runtime.ts';
import { wasmKernel, webGpuKernel } from './builds.ts';
import { defaultWorkers, runWasmOnWorkers } from '../backends/wasm/workers.ts';
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
  /** CUDA: run the CUDA C on the CPU (compiled with g++, each block's threads as fibers) instead of a GPU. */
  readonly emulate?: boolean;
  /** CUDA on the CPU: receives what the emulation reports (its shared-memory profile, with TILEBIT_HOST_PROFILE). */
  readonly report?: (text: string) => void;
}

/** Runs a kernel on a target; outputs are written into `tensors`. */
export async function runOn(target: Target, k: Kernel, tensors: Map<string, Tensor>, values: ReadonlyMap<string, number>, options: RunOptions = {}): Promise<void> {
  switch (target) {
    case 'vm':
      return runKernel(k, { tensors, scalars: values });
    case 'wasm':
      return runWasmOnWorkers(wasmKernel(k), tensors, values, outputTensors(k), options.workers ?? defaultWorkers());
    case 'webgpu':
      const ctx = await gpuContext();
      return runWebGpu(webGpuKernel(k, ctx.gpuFeatures, ctx.wgslOptions), tensors, values, outputTensors(k));
    case 'cuda':
      const { report } = runCuda(k, tensors, values, outputTensors(k), options.emulate ?? false);
      if (report.trim()) options.report?.(report);
      return;
  }
}

export { wasmKernel, webGpuKernel };
