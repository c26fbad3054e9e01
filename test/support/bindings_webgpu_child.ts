// Loads the bindings of a library built with --targets wasm,wgsl and runs its kernels both ways:
// prints `RESULT <json>` with the outputs' agreement. Started by test/build.test.ts.
//
// Usage: node --import tsx test/support/bindings_webgpu_child.ts OUT_DIR

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gpuContext } from '../../backends/wgsl/runtime.ts';

const out = process.argv[2]!;
const { device } = await gpuContext();
const b = await import(pathToFileURL(join(out, 'index.js')).href);
const n = 1000;
const x = Float32Array.from({ length: n }, (_, i) => i / 7);
const y = Float32Array.from({ length: n }, (_, i) => Math.sqrt(i));
const args = { x: { data: x, shape: [n] }, y: { data: y, shape: [n] }, out: { data: new Float32Array(n), shape: [n] } };
const onWasm = (await b.add(args)).out as Uint8Array;
const onGpu = (await b.add_webgpu(args, {}, { device })).out as Uint8Array;
const same = onWasm.length === onGpu.length && onWasm.every((v, i) => v === onGpu[i]);
const expected = Array.from(x, (v, i) => Math.fround(v + y[i]!));
const gpuValues = Array.from(new Float32Array(onGpu.buffer, onGpu.byteOffset, n));
let failed = '';
try {
  await b.add_webgpu({ ...args, y: { data: y, shape: [n + 1] } }, {}, { device });
} catch (e) {
  failed = (e as Error).message;
}
// Softmax rows (built to reduce within subgroups on WebGPU) both ways, each against float64 softmax.
const [M, N] = [3, 200];
const xs = Float32Array.from({ length: M * N }, (_, i) => Math.sin(i) * 4);
const rowsArgs = { x: { data: xs, shape: [M, N] }, y: { data: new Float32Array(M * N), shape: [M, N] } };
const rowsWasm = new Float32Array(((await b.rows(rowsArgs)).y as Uint8Array).slice().buffer);
const rowsGpu = new Float32Array(((await b.rows_webgpu(rowsArgs, {}, { device })).y as Uint8Array).slice().buffer);
// Softmax in float64, row by row: what both must approximate.
const reference = Array.from({ length: M * N }, (_, i) => {
  const row = Array.from(xs.subarray(Math.floor(i / N) * N, Math.floor(i / N) * N + N));
  const top = Math.max(...row);
  return Math.exp(xs[i]! - top) / row.reduce((sum, v) => sum + Math.exp(v - top), 0);
});
const errorOf = (got: Float32Array): number => got.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i]!)), 0);
const rowsError = Math.max(errorOf(rowsWasm), errorOf(rowsGpu));
process.stdout.write(`RESULT ${JSON.stringify({ same, exact: gpuValues.every((v, i) => v === expected[i]), failed, rowsError })}\n`);
process.exit(0);
