// Times the WGSL of a GPU benchmark bundle (bench/gpu_bundle.ts) through Dawn: imports only `webgpu`.
// Buffers start as zeros (as for the CUDA harness); each kernel is dispatched WARM times (default 3) to warm up, then
// REPEAT times (default 50) in one submission, and the mean wall time per dispatch (submission to the
// end of the work, so a slight overestimate) is reported. Prints one line per kernel and variant, or with --json one line
// `RESULT <json>` (what gpu_peers.py reads).
//
// --validate only compiles each shader module and reports its errors (no pipelines, no dispatches: what
// the tests run on CPU drivers, where dispatching these kernels crashes Dawn over SwiftShader here).
//
// --variants V,W times only those variants (plain, unrolled, subgroups) of each kernel.
//
// --no-robustness asks Dawn not to bounds-check storage accesses (its `disable_robustness` toggle,
// behind `allow_unsafe_apis`): what WGSL costs with Dawn's robustness and without it. Variants are then
// named VARIANT-nr.
//
// Usage, in the bundle's folder: node webgpu_bench.mjs [--json] [--validate] [--no-robustness] [--variants V,W] [NAME ...]

import { readFileSync, writeSync } from 'node:fs';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const args = process.argv.slice(2);
const json = args.includes('--json');
const validateOnly = args.includes('--validate');
const variantsAt = args.indexOf('--variants');
if (variantsAt >= 0 && !args[variantsAt + 1]) {
  console.error('--variants needs a list: plain, unrolled, subgroups (comma-separated)');
  process.exit(2);
}
const variants = variantsAt >= 0 ? new Set(args[variantsAt + 1].split(',')) : null;
const only = new Set(args.filter((a, i) => !a.startsWith('--') && !(variantsAt >= 0 && i === variantsAt + 1)));
const REPEAT = Number(process.env.REPEAT ?? 50);
const spec = JSON.parse(readFileSync('bench.json', 'utf8'));
// The GPU object is kept in a global: once collected, Dawn tears its instance down under the device.
const noRobustness = args.includes('--no-robustness');
globalThis.tbGpu = create(noRobustness ? ['enable-dawn-features=allow_unsafe_apis,disable_robustness'] : []);
const adapter = await globalThis.tbGpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(2);
}
const l = adapter.limits;
// The `subgroups` variants need the feature to compile, and subgroups of at least 32 invocations (what
// they were compiled for) to run.
const hasSubgroups = adapter.features.has('subgroups');
const subgroups32 = hasSubgroups && (adapter.info.subgroupMinSize ?? 0) >= 32;
const device = await adapter.requestDevice({
  requiredFeatures: hasSubgroups ? ['subgroups'] : [],
  requiredLimits: {
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxBufferSize: l.maxBufferSize,
  },
});
const info = adapter.info;
const rows = [];
const row = (r0) => {
  const r = noRobustness ? { ...r0, variant: `${r0.variant}-nr` } : r0;
  rows.push(r);
  if (json) writeSync(1, `ROW ${JSON.stringify(r)}\n`);
};

// Every buffer is mapped at creation and unmapped at once (zeros unless `init`): Dawn's lazy clearing
// of never-written buffers crashed SwiftShader here.
const buffer = (bytes, usage, init) => {
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage, mappedAtCreation: true });
  if (init !== undefined) new Uint8Array(b.getMappedRange()).set(init);
  b.unmap();
  return b;
};

for (const e of spec.entries) {
  if (only.size && !only.has(e.name)) continue;
  const w = e.wgsl;
  if (!w) continue; // a CUDA-only entry
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (w.grid.some((g) => g > max)) {
    row({ name: e.name, variant: 'plain', ms: null, error: `grid ${w.grid.join('x')} exceeds ${max} per dimension` });
    continue;
  }
  const data = readFileSync(w.data);
  const argWords = new Uint8Array(new Uint32Array([0, 0, 0, ...w.args]).buffer);
  const resources = w.bindings.map((b) => {
    if (b.kind === 'tensor') return buffer(b.bytes, GPUBufferUsage.STORAGE);
    if (b.kind === 'data') return buffer(data.length, GPUBufferUsage.STORAGE, data);
    if (b.kind === 'args') return buffer(argWords.length, GPUBufferUsage.STORAGE, argWords);
    return buffer(4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  });
  const layout = device.createBindGroupLayout({
    entries: w.bindings.map((b, i) => ({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.readOnly ? 'read-only-storage' : 'storage' } })),
  });
  const group = device.createBindGroup({ layout, entries: resources.map((buf, i) => ({ binding: i, resource: { buffer: buf } })) });
  for (const [variant, file] of Object.entries(w.files)) {
    if (variants && !variants.has(variant)) continue;
    if (variant === 'subgroups' && !(validateOnly ? hasSubgroups : subgroups32)) {
      row({ name: e.name, variant, ms: null, error: 'no subgroups of at least 32 on this adapter' });
      continue;
    }
    if (validateOnly) {
      const info = await device.createShaderModule({ code: readFileSync(file, 'utf8') }).getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`);
      row({ name: e.name, variant, ms: null, valid: errors.length === 0, ...(errors.length ? { error: errors[0] } : {}) });
      continue;
    }
    try {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: readFileSync(file, 'utf8') });
      const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' } });
      const failed = await device.popErrorScope();
      if (failed) throw new Error(failed.message);
      // `times` dispatches in one submission, waited on once by mapping a copy of the error word (the
      // same wait tilebit's runtime uses; onSubmittedWorkDone crashed Dawn over SwiftShader here).
      const launch = async (times) => {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        for (let i = 0; i < times; i++) pass.dispatchWorkgroups(w.grid[0], w.grid[1], w.grid[2]);
        pass.end();
        const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        enc.copyBufferToBuffer(resources.at(-1), 0, read, 0, 16);
        device.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        read.destroy();
      };
      await launch(Number(process.env.WARM ?? 3));
      const t0 = performance.now();
      if (REPEAT) await launch(REPEAT);
      row({ name: e.name, variant, ms: REPEAT ? (performance.now() - t0) / REPEAT : null });
    } catch (err) {
      row({ name: e.name, variant, ms: null, error: String(err.message ?? err).split('\n')[0] });
    }
  }
  for (const r of resources) r.destroy();
}

if (json) process.stdout.write(`RESULT ${JSON.stringify({ adapter: `${info.vendor} ${info.architecture} ${info.description}`.trim(), rows })}\n`);
else {
  console.log(`WebGPU: ${info.vendor} ${info.architecture} ${info.description}`);
  for (const r of rows) console.log(`${r.name.padEnd(28)} ${r.variant.padEnd(9)} ${r.ms !== null ? `${r.ms.toFixed(4)} ms` : r.valid ? 'valid' : `failed: ${r.error ?? ''}`}`);
}
process.exit(0);
