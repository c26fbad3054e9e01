// Builds of a kernel per backend, cached by its printed Tile IR (and what the build was for), so that
// running a kernel again does not compile it again. No Node.js modules: the playground page uses it too.

import { compileWasm, type WasmKernel } from '../backends/wasm/runtime.ts';
import type { WgslOptions } from '../backends/wgsl/emit.ts';
import { type WebGpuKernel, compileWebGpu } from '../backends/wgsl/runtime.ts';
import { printKernel } from '../ir/tile_print.ts';
import type { Kernel } from '../ir/tile_ir.ts';
import type { GpuFeatures } from '../passes/lower_gpu.ts';

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

/** The WGSL build of a kernel for a device's features (and WGSL options: gpuContext().wgslOptions). */
export const webGpuKernel = (k: Kernel, features?: GpuFeatures, options: WgslOptions = {}): WebGpuKernel =>
  cachedBuild(webGpuCache, k, (x) => compileWebGpu(x, features, options), JSON.stringify([features ?? null, options]));
