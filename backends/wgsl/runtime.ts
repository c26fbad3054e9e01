// The WebGPU runtime: a device from `navigator.gpu` in browsers or the `webgpu` package (Dawn) in Node,
// buffers for a launch's tensors, dispatches over the grid (split where it exceeds the per-dimension
// limit), read-back of the outputs, and the error word that failed asserts leave.
//
// Node's adapter (Dawn, with the SwiftShader fallback) is in node_adapter.ts; nothing here needs Node.

import { type Kernel, accumulatedTensors } from '../../ir/tile_ir.ts';
import { prepareLaunch } from '../../src/vm/interpret.ts';
import { checkGpuTensorSizes } from '../gpu_addressing.ts';
import { type Tensor, tensorBytes } from '../../src/vm/memory.ts';
import { dataImage } from '../../ir/loop_ir.ts';
import { type GpuFeatures, type GpuFeaturesUsed, type GpuLowering, NO_GPU_FEATURES, argWords } from '../../passes/lower_gpu.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { type WgslKernel, type WgslOptions, emitWgsl } from './emit.ts';

export class WebGpuUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebGpuUnavailable';
  }
}

export class WebGpuRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebGpuRunError';
  }
}

/** A limit a kernel exceeds on a device. */
export class WebGpuLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebGpuLimitError';
  }
}

export interface GpuContext {
  /**
   * The GPU object the adapter came from, held for as long as the device is used: Dawn (Node.js) tears
   * its instance down when this object is garbage collected, and a device still in use then crashes.
   */
  readonly gpu: GPU;
  readonly device: GPUDevice;
  readonly adapterInfo: string;
  readonly features: ReadonlySet<string>;
  /** What the compiler may use on this device (see probeSubgroups). */
  readonly gpuFeatures: GpuFeatures;
  /** How to emit WGSL for this device (see wgslOptionsFor). */
  readonly wgslOptions: WgslOptions;
}

/**
 * WGSL options for an adapter: on GPUs, a thread's loops over its register arrays are unrolled (on an
 * NVIDIA H200 through Dawn the unrolled WGSL ran the u4 GEMV 4x and flash attention 17x faster than the
 * loops, whose dynamically indexed arrays the driver keeps in memory); on CPU implementations
 * (SwiftShader, llvmpipe, lavapipe, WARP) not, as their compile times grow steeply with the code and
 * SwiftShader aborts on some unrolled kernels (README, "CPU Vulkan drivers"), nor on adapters that do
 * not say what they are.
 */
export function wgslOptionsFor(info: { readonly vendor?: string; readonly architecture?: string; readonly description?: string; readonly isFallbackAdapter?: boolean }): WgslOptions {
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`;
  // An adapter that says nothing of itself (browsers may withhold it) is treated as a CPU one.
  const cpu = info.isFallbackAdapter === true || text.trim() === '' || /swiftshader|llvmpipe|lavapipe|warp|\bcpu\b/i.test(text);
  return cpu ? {} : { unroll: 64 };
}

let context: Promise<GpuContext> | null = null;

async function requestAdapter(): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, adapter: await nav.gpu.requestAdapter() };
  // Node.js: Dawn from the `webgpu` package (loaded only here, so browser bundles never ask for it).
  const { nodeAdapter } = await import('./node_adapter.ts');
  return nodeAdapter();
}

/** The shared device, created on first use with the adapter's largest compute limits. */
export function gpuContext(): Promise<GpuContext> {
  context ??= (async () => {
    const { gpu, adapter } = await requestAdapter();
    if (!adapter) {
      const browser = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu !== undefined;
      throw new WebGpuUnavailable(browser
        ? 'no WebGPU adapter: this browser offers WebGPU but gave no adapter (is the GPU blocklisted or disabled?)'
        : 'no WebGPU adapter: on a machine without a GPU, run scripts/setup-webgpu.sh (as root) to install the SwiftShader Vulkan driver');
    }
    const l = adapter.limits;
    const subgroups = adapter.features.has('subgroups');
    const device = await adapter.requestDevice({
      requiredFeatures: subgroups ? ['subgroups' as GPUFeatureName] : [],
      requiredLimits: {
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      },
    });
    const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
    const minSize = subgroups && info.subgroupMinSize ? await probeSubgroups(device, info.subgroupMinSize) : null;
    return {
      gpu, device, wgslOptions: wgslOptionsFor(info), adapterInfo: `${info.vendor} ${info.architecture} ${info.description}`.trim(), features: new Set(adapter.features),
      gpuFeatures: { subgroupMinSize: minSize, dot4x8: gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') ?? false, mma: null },
    };
  })();
  context.catch(() => (context = null));
  return context;
}

/**
 * The smallest subgroup size to compile for, or null. The lowering's subgroup exchanges assume what
 * WGSL does not promise: that subgroups are aligned runs of consecutive local invocation indices (a
 * power-of-two size, lane = index % size). One dispatch checks that on this device, for a workgroup of
 * up to 256 invocations, and that no subgroup is smaller than the adapter says.
 */
async function probeSubgroups(device: GPUDevice, minSize: number): Promise<number | null> {
  const n = Math.min(256, device.limits.maxComputeInvocationsPerWorkgroup);
  const code = `enable subgroups;
@group(0) @binding(0) var<storage, read_write> ok: array<u32>;
@compute @workgroup_size(${n})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32) {
  let pow2 = (size & (size - 1u)) == 0u;
  ok[lid] = select(0u, 1u, pow2 && size >= ${minSize}u && lane == lid % size);
}`;
  try {
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const out = device.createBuffer({ size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 4 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(out, 0, read, 0, 4 * n);
    device.queue.submit([enc.finish()]);
    if (await device.popErrorScope()) return null;
    await read.mapAsync(GPUMapMode.READ);
    const all = new Uint32Array(read.getMappedRange()).every((v) => v === 1);
    read.unmap();
    out.destroy();
    read.destroy();
    return all ? minSize : null;
  } catch {
    return null;
  }
}

/** Checks a kernel against the device's limits; the error names the limit and by how much it is exceeded. */
export function checkLimits(wk: WgslKernel, name: string, limits: GPUSupportedLimits): void {
  if (wk.threads > limits.maxComputeInvocationsPerWorkgroup || wk.threads > limits.maxComputeWorkgroupSizeX) {
    const max = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
    throw new WebGpuLimitError(`kernel ${name} needs ${wk.threads} invocations per workgroup; this device allows ${max} (${wk.threads - max} too many)`);
  }
  if (wk.sharedBytes > limits.maxComputeWorkgroupStorageSize) {
    throw new WebGpuLimitError(
      `kernel ${name} needs ${wk.sharedBytes} bytes of workgroup storage; this device allows ${limits.maxComputeWorkgroupStorageSize} (${wk.sharedBytes - limits.maxComputeWorkgroupStorageSize} bytes over)`,
    );
  }
  if (wk.bindings.length > limits.maxStorageBuffersPerShaderStage) {
    throw new WebGpuLimitError(`kernel ${name} binds ${wk.bindings.length} storage buffers; this device allows ${limits.maxStorageBuffersPerShaderStage}`);
  }
}

/** Throws WebGpuLimitError where a tensor's buffer (16-byte multiples) is larger than the device binds or makes. */
export function checkBufferSizes(k: Kernel, tensors: ReadonlyMap<string, Tensor>, limits: GPUSupportedLimits): void {
  const most = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  for (const p of k.params) {
    const t = p.kind === 'tensor' ? tensors.get(p.name) : undefined;
    const size = t ? pad16(tensorBytes(p.dtype, t.shape)) : 0;
    if (t && size > most) {
      throw new WebGpuLimitError(`kernel ${k.name}: tensor '${p.name}' (${p.dtype}[${t.shape.join(', ')}]) takes a buffer of ${size} bytes; this device binds at most ${most} bytes per buffer (maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}, maxBufferSize ${limits.maxBufferSize})`);
    }
  }
}

export interface WebGpuKernel {
  readonly kernel: Kernel;
  readonly wgsl: WgslKernel;
  readonly traps: readonly string[];
  /** The constant tables (binding tb_data). */
  readonly data: Uint8Array;
  /** The launch arguments after the buffers, in tb_args order. */
  readonly args: GpuLowering['args'];
  /** The device features the code needs, and what it was compiled for. */
  readonly features: GpuFeaturesUsed;
  readonly compiledFor: GpuFeatures;
}

/**
 * Lowers and emits a kernel for WebGPU, using what `features` offers (a device's are in
 * gpuContext().gpuFeatures; the default assumes nothing beyond core WebGPU).
 */
export function compileWebGpu(k: Kernel, features: GpuFeatures = NO_GPU_FEATURES, options: WgslOptions = {}): WebGpuKernel {
  const lowered = lowerForGpu(k, undefined, features);
  return { kernel: k, wgsl: emitWgsl(lowered, options), traps: lowered.module.traps, data: dataImage(lowered.module), args: lowered.args, features: lowered.features, compiledFor: features };
}

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

async function pipelineFor(device: GPUDevice, wk: WgslKernel): Promise<GPUComputePipeline> {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  let p = cache.get(wk.code);
  if (!p) {
    p = (async () => {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: wk.code });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length) {
        await device.popErrorScope();
        throw new WebGpuRunError(`the generated WGSL does not compile:\n${errors.map((e) => `  ${e.lineNum}:${e.linePos}: ${e.message}`).join('\n')}`);
      }
      const layout = device.createBindGroupLayout({
        entries: wk.bindings.map((b) => ({ binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.readOnly ? 'read-only-storage' : 'storage' } })),
      });
      // Synchronous creation: Dawn's asynchronous path crashes SwiftShader on shaders with barriers.
      const pipeline = device.createComputePipeline({
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      const err = await device.popErrorScope();
      if (err) throw new WebGpuRunError(`pipeline creation failed: ${err.message}`);
      return pipeline;
    })();
    cache.set(wk.code, p);
    p.catch(() => cache.delete(wk.code));
  }
  return p;
}

/** Buffers are whole 16-byte units: buffers read as vec4<u32> (see emit.ts) need them. */
const pad16 = (n: number): number => Math.max(16, Math.ceil(n / 16) * 16);

function upload(device: GPUDevice, bytes: Uint8Array, usage: number): GPUBuffer {
  const buffer = device.createBuffer({ size: pad16(bytes.length), usage: usage | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
}

export interface WebGpuRunOptions {
  /** Blocks per dispatch along each dimension (default: the device's limit); a test sets it low to split grids. */
  readonly maxWorkgroupsPerDimension?: number;
}

/** A kernel bound to a launch's tensors: its buffers uploaded once, its dispatches ready to encode. */
export interface WebGpuLaunch {
  /** Runs the kernel once and writes its outputs back into the tensors it was bound to; a failed assert throws. */
  run(): Promise<void>;
  /**
   * Milliseconds per launch: `repeats` launches in one submission, from submit to the queue's completion.
   * Outputs stored with `+=` are zeroed before each launch, inside the timing (so afterwards they hold
   * one launch's sums from zero).
   */
  time(repeats: number): Promise<number>;
  /** Frees the buffers. */
  destroy(): void;
}

/** Binds a kernel to a launch: uploads the tensors and makes the bind groups of its (split) grid. */
export async function bindWebGpu(wk: WebGpuKernel, tensors: Map<string, Tensor>, scalars: ReadonlyMap<string, number>, outputs: Iterable<string>, options: WebGpuRunOptions = {}): Promise<WebGpuLaunch> {
  const k = wk.kernel;
  checkGpuTensorSizes(k, tensors, 'WebGPU');
  const launch = prepareLaunch(k, { tensors, scalars });
  const { device, gpuFeatures } = await gpuContext();
  checkLimits(wk.wgsl, k.name, device.limits);
  checkBufferSizes(k, tensors, device.limits);
  if (wk.features.subgroups && (gpuFeatures.subgroupMinSize ?? 0) < wk.compiledFor.subgroupMinSize!) {
    throw new WebGpuLimitError(`kernel ${k.name} was compiled for subgroups of at least ${wk.compiledFor.subgroupMinSize} invocations; this device ${gpuFeatures.subgroupMinSize ? `has subgroups of ${gpuFeatures.subgroupMinSize}` : 'has no usable subgroups'} (compile it with gpuContext().gpuFeatures)`);
  }
  const pipeline = await pipelineFor(device, wk.wgsl);
  const words = argWords(wk.args, launch.symbols, scalars);
  const outs = new Set(outputs);
  const buffers = new Map<string, GPUBuffer>();
  const owned: GPUBuffer[] = [];
  for (const b of wk.wgsl.bindings) {
    if (b.kind !== 'tensor') continue;
    const t = tensors.get(b.name)!;
    const buf = upload(device, t.bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    buffers.set(b.name, buf);
    owned.push(buf);
  }
  const data = upload(device, wk.data, GPUBufferUsage.STORAGE);
  const err = upload(device, new Uint8Array(4), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  owned.push(data, err);
  const maxDim = Math.min(device.limits.maxComputeWorkgroupsPerDimension, options.maxWorkgroupsPerDimension ?? Infinity);
  const [gx, gy, gz] = launch.grid;
  const layout = pipeline.getBindGroupLayout(0);
  // One dispatch per piece of the grid within the per-dimension limit, each with its block offsets.
  const dispatches: { group: GPUBindGroup; size: [number, number, number] }[] = [];
  for (let z0 = 0; z0 < gz; z0 += maxDim) {
    for (let y0 = 0; y0 < gy; y0 += maxDim) {
      for (let x0 = 0; x0 < gx; x0 += maxDim) {
        const args = upload(device, new Uint8Array(new Uint32Array([x0, y0, z0, ...words]).buffer), GPUBufferUsage.STORAGE);
        owned.push(args);
        const group = device.createBindGroup({
          layout,
          entries: wk.wgsl.bindings.map((b) => ({
            binding: b.binding,
            resource: { buffer: b.kind === 'tensor' ? buffers.get(b.name)! : b.kind === 'data' ? data : b.kind === 'args' ? args : err },
          })),
        });
        dispatches.push({ group, size: [Math.min(maxDim, gx - x0), Math.min(maxDim, gy - y0), Math.min(maxDim, gz - z0)] });
      }
    }
  }
  const encodeLaunch = (encoder: GPUCommandEncoder): void => {
    for (const d of dispatches) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, d.group);
      pass.dispatchWorkgroups(...d.size);
      pass.end();
    }
  };
  const accumulated = accumulatedTensors(k).flatMap((n) => buffers.get(n) ?? []);
  return {
    async run() {
      const encoder = device.createCommandEncoder();
      encodeLaunch(encoder);
      const reads: { name: string; buffer: GPUBuffer }[] = [];
      for (const name of [...outs, 'tb_err']) {
        const src = name === 'tb_err' ? err : buffers.get(name);
        if (!src) continue;
        const read = device.createBuffer({ size: src.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        encoder.copyBufferToBuffer(src, 0, read, 0, src.size);
        reads.push({ name, buffer: read });
      }
      device.queue.submit([encoder.finish()]);
      try {
        let code = 0;
        for (const r of reads) {
          await r.buffer.mapAsync(GPUMapMode.READ);
          const bytes = new Uint8Array(r.buffer.getMappedRange());
          if (r.name === 'tb_err') code = new Uint32Array(bytes.buffer, bytes.byteOffset, 1)[0]!;
          else {
            const t = tensors.get(r.name)!;
            t.bytes.set(bytes.subarray(0, t.bytes.length));
          }
          r.buffer.unmap();
        }
        if (code !== 0) throw new WebGpuRunError(wk.traps[code - 1] ?? `trap ${code}`);
      } finally {
        for (const r of reads) r.buffer.destroy();
      }
    },
    async time(repeats) {
      if (!(Number.isInteger(repeats) && repeats >= 1)) throw new RangeError(`time(${repeats}): the launches to time are a positive integer`);
      const encoder = device.createCommandEncoder();
      for (let r = 0; r < repeats; r++) {
        for (const b of accumulated) encoder.clearBuffer(b);
        encodeLaunch(encoder);
      }
      const commands = encoder.finish();
      const t0 = performance.now();
      device.queue.submit([commands]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / repeats;
    },
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
}

/** Runs a kernel; outputs are written back into `tensors`. */
export async function runWebGpu(wk: WebGpuKernel, tensors: Map<string, Tensor>, scalars: ReadonlyMap<string, number>, outputs: Iterable<string>, options: WebGpuRunOptions = {}): Promise<void> {
  const launch = await bindWebGpu(wk, tensors, scalars, outputs, options);
  try {
    await launch.run();
  } finally {
    launch.destroy();
  }
}
