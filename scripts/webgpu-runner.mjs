// The standalone WebGPU runner of a GPU check bundle (scripts/gpu-bundle.ts): imports only `webgpu`,
// runs each case's WGSL on the first adapter with the bundle's inputs, compares the outputs with the VM's
// (bit for bit; f32, f16 and bf16 within the testing kit's tolerance) and times the kernel. Prints one
// table; exits 1 when an output disagrees.
//
// Usage, in the bundle's folder: node webgpu-runner.mjs [CASE ...]     (default: every case)
// REPEAT=N launches to time (default 20; 0 skips timing), RESULT_JSON=1 adds a `RESULT <json>` line.

import { readFileSync } from 'node:fs';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const spec = JSON.parse(readFileSync('cases.json', 'utf8'));
const only = new Set(process.argv.slice(2));
// The GPU object is kept in a global: once collected, Dawn tears its instance down under the device.
globalThis.tbGpu = create([]);
const adapter = await globalThis.tbGpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(2);
}
const l = adapter.limits;
const device = await adapter.requestDevice({
  requiredLimits: {
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxBufferSize: l.maxBufferSize,
  },
});

const upload = (bytes, usage) => {
  const buffer = device.createBuffer({ size: Math.max(16, Math.ceil(bytes.length / 16) * 16), usage: usage | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
};

function values(bytes, dtype) {
  const b = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (dtype === 'f32') return Array.from(new Float32Array(b));
  if (dtype === 'f16') return Array.from(new Uint16Array(b), f16);
  if (dtype === 'bf16') return Array.from(new Uint16Array(b), (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]);
  return null;
}

function f16(h) {
  const e = (h >> 10) & 31, m = h & 1023, s = h >> 15 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function compare(got, want, dtype) {
  const g = values(got, dtype), w = values(want, dtype);
  if (!g) {
    const same = got.length === want.length && got.every((v, i) => v === want[i]);
    return { ok: same, err: same ? '0' : 'bytes differ', tol: 'exact' };
  }
  const scale = w.reduce((m, x) => (Number.isFinite(x) ? Math.max(m, Math.abs(x)) : m), 0);
  const tol = (spec.tolerance[dtype] ?? 0) * scale;
  let max = 0, ok = true;
  w.forEach((x, i) => {
    const y = g[i];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) return;
    const d = Math.abs(x - y);
    if (!(d <= tol)) ok = false;
    max = Math.max(max, Number.isNaN(d) ? Infinity : d);
  });
  return { ok, err: max.toPrecision(3), tol: tol.toPrecision(3) };
}

const rows = [];
let failed = 0;
for (const c of spec.cases) {
  if (only.size && !only.has(c.case)) continue;
  const w = c.wgsl;
  if (!w) continue; // CUDA only (f32 subnormals, which WGSL may flush)
  const module = device.createShaderModule({ code: readFileSync(w.file, 'utf8') });
  const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
  if (messages.length) {
    rows.push([c.case, '-', `WGSL error: ${messages[0].lineNum}:${messages[0].linePos} ${messages[0].message}`, '', '', '']);
    failed++;
    continue;
  }
  const layout = device.createBindGroupLayout({ entries: w.bindings.map((b) => ({ binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.readOnly ? 'read-only-storage' : 'storage' } })) });
  const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' } });
  const buffers = new Map(w.buffers.map((b) => [b.name, upload(readFileSync(b.file), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC)]));
  const data = upload(readFileSync(w.data), GPUBufferUsage.STORAGE);
  const err = upload(new Uint8Array(4), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const [gx, gy, gz] = c.grid;
  const dispatches = [];
  for (let z0 = 0; z0 < gz; z0 += max) for (let y0 = 0; y0 < gy; y0 += max) for (let x0 = 0; x0 < gx; x0 += max) {
    const args = upload(new Uint8Array(new Uint32Array([x0, y0, z0, ...w.args]).buffer), GPUBufferUsage.STORAGE);
    const resource = (b) => ({ buffer: b.kind === 'tensor' ? buffers.get(b.name) : b.kind === 'data' ? data : b.kind === 'args' ? args : err });
    const group = device.createBindGroup({ layout, entries: w.bindings.map((b) => ({ binding: b.binding, resource: resource(b) })) });
    dispatches.push([group, Math.min(max, gx - x0), Math.min(max, gy - y0), Math.min(max, gz - z0)]);
  }
  const run = (times) => {
    const encoder = device.createCommandEncoder();
    for (let r = 0; r < times; r++) {
      for (const [group, x, y, z] of dispatches) {
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(x, y, z);
        pass.end();
      }
    }
    return encoder;
  };
  const encoder = run(1);
  const reads = [...c.outputs.map((o) => [o, buffers.get(o.name)]), [null, err]].map(([o, src]) => {
    const read = device.createBuffer({ size: src.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(src, 0, read, 0, src.size);
    return [o, read];
  });
  device.queue.submit([encoder.finish()]);
  let trap = 0;
  const results = [];
  for (const [o, read] of reads) {
    await read.mapAsync(GPUMapMode.READ);
    const got = new Uint8Array(read.getMappedRange()).slice();
    read.unmap();
    if (!o) trap = new Uint32Array(got.buffer, 0, 1)[0];
    else results.push([o, got]);
  }
  // Time repeated launches (after the checked one): wall clock around submissions, a lower bound on speed.
  // REPEAT=0 skips the timing (on CPU drivers, which only check).
  const repeat = Number(process.env.REPEAT ?? 20);
  let ms = '-';
  if (repeat > 0) {
    device.queue.submit([run(1).finish()]);
    await device.queue.onSubmittedWorkDone();
    const t0 = performance.now();
    device.queue.submit([run(repeat).finish()]);
    await device.queue.onSubmittedWorkDone();
    ms = ((performance.now() - t0) / repeat).toFixed(4);
  }
  if (trap) {
    rows.push([c.case, '-', `TRAP ${trap}`, '', '', ms]);
    failed++;
    continue;
  }
  for (const [o, got] of results) {
    const want = readFileSync(o.want);
    const r = compare(got.subarray(0, want.length), want, o.dtype);
    failed += !r.ok;
    rows.push([c.case, o.name, r.ok ? 'agrees' : 'DISAGREES', r.err, r.tol, ms]);
  }
}

const head = ['case', 'output', 'vs the VM (WebGPU)', 'max error', 'tolerance', 'ms'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
for (const r of [head, ...rows]) console.log(r.map((x, i) => String(x).padEnd(widths[i])).join('  '));
console.log(failed ? `${failed} of ${rows.length} outputs disagree` : `all ${rows.length} outputs agree with the VM (${adapter.info.description || adapter.info.vendor})`);
// For tests: the rows as one JSON line.
if (process.env.RESULT_JSON) console.log(`RESULT ${JSON.stringify({ rows, failed })}`);
process.exit(failed ? 1 : 0);
