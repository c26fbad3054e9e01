// Runs a kernel over tensors past 512 MiB (test/backends/gpu_addressing.test.ts) on the VM and on one
// target (WebGPU, CUDA C on the CPU, or wasm), and prints `RESULT <json>`: per output, how many bytes
// (integers) or elements (floats, beyond tolerance) differ. The tensors hold data at their head and
// tail (zeros between, which is cheap to make), so that an access whose offset wrapped at 2^32 bits,
// landing near the head, reads or writes other bytes than the VM's.
//
// A target that refuses the launch (WebGPU where a tensor is larger than the device binds) gives
// `RESULT {"error": ...}`.
//
// Usage: node --import ./src/register.mjs test/support/large_tensors_child.ts webgpu|cuda|wasm SOURCE SIZES_JSON

import { type SymExpr, outputTensors } from '../../ir/tile_ir.ts';
import { evalSym } from '../../ir/sym.ts';
import { compileWebGpu, gpuContext, runWebGpu } from '../../backends/wgsl/runtime.ts';
import { compile, runOnVM } from '../../src/api.ts';
import { runOn } from '../../src/targets.ts';
import { compareTensors } from '../../src/testing/compare.ts';
import { type Tensor, allocTensor } from '../../src/vm/memory.ts';

const [target, source, sizesJson] = process.argv.slice(2) as [string, string, string];
const k = compile(source);
const values = new Map(Object.entries(JSON.parse(sizesJson) as Record<string, number>));
const outputs = new Set(outputTensors(k));
const shapeOf = (dims: readonly SymExpr[]): number[] => dims.map((d) => evalSym(d, { symbols: values, params: new Map() }));
const EDGE = 1 << 20;
let seed = 12345;
const fill = (bytes: Uint8Array, from: number, to: number): void => {
  for (let i = from; i < to; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    bytes[i] = seed >>> 24;
  }
};
const tensors = new Map<string, Tensor>();
for (const p of k.params) {
  if (p.kind !== 'tensor') continue;
  const t = allocTensor(p.dtype, shapeOf(p.shape));
  fill(t.bytes, 0, Math.min(EDGE, t.bytes.length));
  fill(t.bytes, Math.max(0, t.bytes.length - EDGE), t.bytes.length);
  tensors.set(p.name, t);
}
const gpu = new Map([...tensors].map(([n, t]) => [n, { ...t, bytes: t.bytes.slice() }]));
try {
  if (target === 'webgpu') {
    const ctx = await gpuContext();
    await runWebGpu(compileWebGpu(k, ctx.gpuFeatures), gpu, values, outputs);
  } else if (target === 'wasm') {
    await runOn('wasm', k, gpu, values, { workers: 1 });
  } else {
    await runOn('cuda', k, gpu, values, { emulate: true });
  }
} catch (e) {
  // A refusal (a tensor larger than the device binds) is the result.
  process.stdout.write(`RESULT ${JSON.stringify({ error: `${(e as Error).name}: ${(e as Error).message}` })}\n`);
  process.exit(0);
}
const vm = runOnVM(k, tensors, values);
// Integer outputs byte for byte; float outputs (dots) within the tolerance the other tests use, as the
// VM rounds a dot's sum once.
const result = Object.fromEntries([...outputs].map((o) => {
  const [a, b] = [gpu.get(o)!, vm.get(o)!];
  if (['f32', 'f16', 'bf16'].includes(a.dtype)) return [o, { bytes: a.bytes.length, differ: compareTensors(a, b).mismatches }];
  let differ = 0;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) differ++;
  return [o, { bytes: a.bytes.length, differ }];
}));
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
