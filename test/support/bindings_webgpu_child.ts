// Loads the bindings of a library built with --targets wasm,wgsl and runs one of its kernels both ways:
// prints `RESULT <json>` with the outputs' agreement. Started by test/build.test.ts, one kernel per
// child (CPU Vulkan drivers crash more often the more work one process gives them; see retry_child.ts).
//
// Usage: node --import ./src/register.mjs test/support/bindings_webgpu_child.ts OUT_DIR add|rows|gemv|decode

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gpuContext } from '../../backends/wgsl/runtime.ts';
import { decodeArgs } from './decode_args.ts';

const out = process.argv[2]!;
const which = process.argv[3]!;
const { device } = await gpuContext();
const b = await import(pathToFileURL(join(out, 'index.js')).href);

/** Vector addition both ways (bit for bit), and a launch with a wrong shape. */
async function add(): Promise<object> {
  const n = 1000;
  const x = Float32Array.from({ length: n }, (_, i) => i / 7);
  const y = Float32Array.from({ length: n }, (_, i) => Math.sqrt(i));
  const args = { x: { data: x, shape: [n] }, y: { data: y, shape: [n] }, out: { data: new Float32Array(n), shape: [n] } };
  const onWasm = (await b.add(args)).out as Uint8Array;
  const onGpu = (await b.add_webgpu(args, {}, { device })).out as Uint8Array;
  const same = onWasm.length === onGpu.length && onWasm.every((v, i) => v === onGpu[i]);
  const expected = Array.from(x, (v, i) => Math.fround(v + y[i]!));
  const gpuValues = Array.from(new Float32Array(onGpu.buffer, onGpu.byteOffset, n));
  const message = async (launch: Promise<unknown>): Promise<string> => launch.then(() => '', (e: Error) => e.message);
  const failed = await message(b.add_webgpu({ ...args, y: { data: y, shape: [n + 1] } }, {}, { device }));
  // Tensors larger than the device binds (SwiftShader: 1 GiB): refused before anything is uploaded (the
  // arrays are never written, so their pages are never touched).
  const most = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const big = most / 4 + 4;
  const huge = { data: new Float32Array(big), shape: [big] };
  const tooLarge = await message(b.add_webgpu({ x: huge, y: huge, out: huge }, {}, { device }));
  return { same, exact: gpuValues.every((v, i) => v === expected[i]), failed, tooLarge, most };
}

/** Softmax rows (built to reduce within subgroups on WebGPU) both ways, each against float64 softmax. */
async function rows(): Promise<object> {
  const [M, N] = [3, 200];
  const xs = Float32Array.from({ length: M * N }, (_, i) => Math.sin(i) * 4);
  const args = { x: { data: xs, shape: [M, N] }, y: { data: new Float32Array(M * N), shape: [M, N] } };
  const onWasm = new Float32Array(((await b.rows(args)).y as Uint8Array).slice().buffer);
  const onGpu = new Float32Array(((await b.rows_webgpu(args, {}, { device })).y as Uint8Array).slice().buffer);
  const reference = Array.from({ length: M * N }, (_, i) => {
    const row = Array.from(xs.subarray(Math.floor(i / N) * N, Math.floor(i / N) * N + N));
    const top = Math.max(...row);
    return Math.exp(xs[i]! - top) / row.reduce((sum, v) => sum + Math.exp(v - top), 0);
  });
  const errorOf = (got: Float32Array): number => got.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i]!)), 0);
  return { rowsError: Math.max(errorOf(onWasm), errorOf(onGpu)) };
}

/**
 * A u4 dequant-GEMV (the wasm form and the GPU form of one generated kernel) both ways, each against
 * float64 math on the same codes and scales; N is not a multiple of either form's tile.
 */
async function gemv(): Promise<object> {
  const [M, K, N, G] = [2, 64, 130, 32];
  const a = Float32Array.from({ length: M * K }, (_, i) => Math.cos(i * 0.37));
  const codes = Array.from({ length: K * N }, (_, i) => (i * 7 + (i >> 3)) % 16);
  const w = new Uint8Array((K * N) / 2);
  codes.forEach((c, i) => (w[i >> 1]! |= c << (4 * (i & 1))));
  const s = Float32Array.from({ length: (K / G) * N }, (_, i) => 0.01 + (i % 13) * 0.003);
  const args = { a: { data: a, shape: [M, K] }, w: { data: w, shape: [K, N] }, s: { data: s, shape: [K / G, N] }, c: { data: new Float32Array(M * N), shape: [M, N] } };
  const want = Array.from({ length: M * N }, (_, i) => {
    const [m, n] = [Math.floor(i / N), i % N];
    let sum = 0;
    for (let k = 0; k < K; k++) sum += a[m * K + k]! * (codes[k * N + n]! - 8) * s[Math.floor(k / G) * N + n]!;
    return sum;
  });
  const errorOf = (got: Uint8Array): number => new Float32Array(got.slice().buffer).reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0);
  return { gemvErrors: [errorOf((await b.gemv(args)).c as Uint8Array), errorOf((await b.gemv_webgpu(args, {}, { device })).c as Uint8Array)] };
}

/** Split decode attention (a kernel sequence: partial, then combine) on WebGPU against the unsplit kernel on wasm. */
async function decode(): Promise<object> {
  const [H, S, D] = [2, 70, 64];
  const args = decodeArgs(H, S, D);
  const whole = new Float32Array(((await b.decode(args, { scale: 0.125 })).o as Uint8Array).slice().buffer);
  const split = new Float32Array(((await b.decode_split_webgpu(args, { scale: 0.125 }, { device })).o as Uint8Array).slice().buffer);
  const scale = whole.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { decodeError: split.reduce((m, v, i) => Math.max(m, Math.abs(v - whole[i]!)), 0) / scale };
}

const runs: Record<string, () => Promise<object>> = { add, rows, gemv, decode };
process.stdout.write(`RESULT ${JSON.stringify(await runs[which]!())}\n`);
process.exit(0);
