// The targets a kernel runs on: the VM, WebAssembly (the default), and the GPU targets to come.

import { compileWasm, type WasmKernel } from '../backends/wasm/runtime.ts';
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

const wasmCache = new Map<string, WasmKernel>();

/** The wasm build of a kernel, cached by its printed IR. */
export function wasmKernel(k: Kernel): WasmKernel {
  const key = printKernel(k);
  let wk = wasmCache.get(key);
  if (!wk) {
    wk = compileWasm(k);
    wasmCache.set(key, wk);
  }
  return wk;
}

/** Runs a kernel on a target; outputs are written into `tensors`. */
export async function runOn(target: Target, k: Kernel, tensors: Map<string, Tensor>, values: ReadonlyMap<string, number>, options: RunOptions = {}): Promise<void> {
  switch (target) {
    case 'vm':
      return runKernel(k, { tensors, scalars: values });
    case 'wasm':
      return runWasmOnWorkers(wasmKernel(k), tensors, values, outputTensors(k), options.workers ?? defaultWorkers());
    case 'webgpu':
    case 'cuda':
      throw new TargetUnavailable(`target '${target}' is not implemented yet; run with --target wasm or --target vm (see the README's status table)`);
  }
}
