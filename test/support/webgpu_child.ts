// Runs one kernel on the VM and on WebGPU in this process and prints one line, `RESULT <json>`, with the
// comparison of every output. The WebGPU tests start it as a child process (see webgpu.test.ts).
//
// Usage: node --import ./src/register.mjs test/support/webgpu_child.ts '<json of a GpuCase>'

import { outputTensors } from '../../ir/tile_ir.ts';
import { compileWebGpu, gpuContext, runWebGpu } from '../../backends/wgsl/runtime.ts';
import { NO_GPU_FEATURES } from '../../passes/lower_gpu.ts';
import { cloneTensors, compile, prepareTensors, runOnVM } from '../../src/api.ts';
import { compareTensors } from '../../src/testing/compare.ts';
import type { GpuCase } from './gpu_cases.ts';

const c = JSON.parse(process.argv[2]!) as GpuCase;
const set = new Map(Object.entries(c.set ?? {}).map(([a, b]) => [a, String(b)]));
const k = compile(c.source, { set, kernel: c.kernel });
const values = new Map([...set].filter(([n]) => !(n in k.template)).map(([n, v]) => [n, Number(v)]));
const outputs = new Set(outputTensors(k));
const inputs = prepareTensors(k, { values, seed: c.seed ?? 5 }, outputs);
const vm = runOnVM(k, cloneTensors(inputs), values);
const gpu = cloneTensors(inputs);
const ctx = await gpuContext();
const features = c.features === 'none' ? NO_GPU_FEATURES : ctx.gpuFeatures;
const wk = compileWebGpu(k, c.mma ? { ...features, mma: 'emulate' } : features, { unroll: c.unroll });
await runWebGpu(wk, gpu, values, outputs, { maxWorkgroupsPerDimension: c.maxWorkgroupsPerDimension });
const result = {
  adapter: ctx.adapterInfo,
  subgroupMinSize: ctx.gpuFeatures.subgroupMinSize,
  usedSubgroups: wk.features.subgroups,
  usedDot4: wk.features.dot4x8,
  usedMma: wk.features.mma,
  outputs: Object.fromEntries([...outputs].map((o) => [o, compareTensors(gpu.get(o)!, vm.get(o)!)])),
};
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
