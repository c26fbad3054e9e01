// `npm run bench:wasm`: tilebit's wasm kernels beside onnxruntime-web, tfjs-backend-wasm and
// onnxruntime-node (the native anchor), measured in one run on this machine. Prints one markdown table
// for bench/RESULTS.md. Peers live in bench/peers (installed by the npm script, never by the tests).

import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import binaryen from 'binaryen';
import { compileKernel } from '../backends/wasm/engine.ts';
import { compileWasm } from '../backends/wasm/runtime.ts';
import { bindLaunch, closeWorkers } from '../backends/wasm/workers.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { compile, prepareTensors } from '../src/api.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { matmulModel, matmulNBitsModel } from './onnx_model.ts';
import { type Ort, type Session, onnxruntimeNode, onnxruntimeWeb, peerPath, requirePeer } from './peers.ts';

const ITERS = Number(process.env.BENCH_ITERS ?? 20);
/** BENCH_CASES: a regular expression; only the cases whose names match run (all by default). */
const wanted = (name: string): boolean => new RegExp(process.env.BENCH_CASES ?? '').test(name);
const SETS = 6; // weight sets rotated so that a GEMV reads its weights from memory, not cache

interface Row {
  readonly case: string;
  readonly impl: string;
  readonly threads: number;
  readonly ms: number;
  readonly weightBytes: number;
  readonly flops: number;
}
const rows: Row[] = [];

async function median(run: (i: number) => Promise<unknown> | unknown): Promise<number> {
  const first = performance.now();
  await run(0);
  // Runs of a second or more need fewer repetitions for a stable median.
  const iters = performance.now() - first > 500 ? 5 : ITERS;
  for (let i = 1; i < 5 && iters === ITERS; i++) await run(i);
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await run(i);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/** Read bandwidth of wasm on one thread: v128 loads summed over 64 MiB. */
async function wasmReadBandwidth(): Promise<number> {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.SIMD128);
  m.setMemory(1024 + 1, 1024 + 1);
  const [p, end, acc] = [0, 1, 2];
  const body = m.block(null, [
    m.local.set(acc, m.v128.const(new Array(16).fill(0))),
    m.loop('l', m.block(null, [
      m.local.set(acc, m.i32x4.add(m.local.get(acc, binaryen.v128), m.v128.load(0, 16, m.local.get(p, binaryen.i32)))),
      m.local.set(acc, m.i32x4.add(m.local.get(acc, binaryen.v128), m.v128.load(16, 16, m.local.get(p, binaryen.i32)))),
      m.local.set(p, m.i32.add(m.local.get(p, binaryen.i32), m.i32.const(32))),
      m.br('l', m.i32.lt_u(m.local.get(p, binaryen.i32), m.local.get(end, binaryen.i32))),
    ])),
    m.i32x4.extract_lane(m.local.get(acc, binaryen.v128), 0),
  ], binaryen.i32);
  m.addFunction('sum', binaryen.createType([binaryen.i32, binaryen.i32]), binaryen.i32, [binaryen.v128], body);
  m.addFunctionExport('sum', 'sum');
  binaryen.setOptimizeLevel(2);
  m.optimize();
  const instance = new WebAssembly.Instance(compileKernel(m.emitBinary()));
  const sum = instance.exports.sum as (p: number, end: number) => number;
  const bytes = 64 * 1024 * 1024;
  const ms = await median(() => sum(0, bytes));
  return bytes / ms / 1e6;
}

const kernelSource = (name: string): string => readFileSync(new URL(`./kernels/${name}.tile`, import.meta.url), 'utf8');

/** tilebit on wasm: one bound launch per weight set, rotated. */
async function tilebit(caseName: string, kernel: string | { readonly source: string }, set: Record<string, string | number>, workers: number, weightBytes: number, flops: number, impl = 'tilebit wasm'): Promise<void> {
  const settings = new Map(Object.entries(set).map(([k, v]) => [k, String(v)]));
  const k = compile(typeof kernel === 'string' ? kernelSource(kernel) : kernel.source, { set: settings });
  const values = new Map([...settings].filter(([n]) => !(n in k.template)).map(([n, v]) => [n, Number(v)]));
  const wk = compileWasm(k);
  const outputs = new Set(outputTensors(k));
  const launches = Array.from({ length: SETS }, (_, s) => bindLaunch(wk, prepareTensors(k, { values, seed: s }, outputs), values, workers));
  const ms = await median((i) => launches[i % SETS]!.run());
  rows.push({ case: caseName, impl, threads: workers, ms, weightBytes, flops });
}

async function ortSessions(ort: Ort, models: Uint8Array[], threads: number, native: boolean): Promise<Session[]> {
  return Promise.all(models.map((b) => ort.InferenceSession.create(b, native ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {})));
}

async function ortRun(ort: Ort, caseName: string, impl: string, threads: number, models: Uint8Array[], M: number, K: number, weightBytes: number, flops: number, native: boolean): Promise<void> {
  const sessions = await ortSessions(ort, models, threads, native);
  const a = new ort.Tensor('float32', Float32Array.from({ length: M * K }, (_, i) => Math.sin(i)), [M, K]);
  const ms = await median((i) => sessions[i % sessions.length]!.run({ A: a }));
  rows.push({ case: caseName, impl, threads, ms, weightBytes, flops });
}

function packedWeights(K: number, N: number, bits: number, seed: number): { packed: Uint8Array; scales: Float32Array } {
  const packed = new Uint8Array((N * K * bits) / 8).map((_, i) => (i * 2654435761 + seed * 97) >>> 24);
  const scales = Float32Array.from({ length: (N * K) / 32 }, (_, i) => 0.01 + (i % 7) * 0.001);
  return { packed, scales };
}

async function main(): Promise<void> {
  const bandwidth = await wasmReadBandwidth();
  const ortWeb = await onnxruntimeWeb();
  const ortNode = onnxruntimeNode();
  const tf = requirePeer('@tensorflow/tfjs-core');
  const tfWasm = requirePeer('@tensorflow/tfjs-backend-wasm');
  tfWasm.setWasmPaths(peerPath('@tensorflow/tfjs-backend-wasm/dist/'));
  await tf.setBackend('wasm');
  const threadCounts = [1, Math.min(2, availableParallelism())].filter((t, i, a) => a.indexOf(t) === i);

  // Dequant GEMV: M = 1, K = N = 4096, group 32, f32 activations and scales.
  const [K, N] = [4096, 4096];
  const weightTypes: [string, number, number][] = [['u4', 4, 8], ['u3', 3, 4], ['u2', 2, 2], ['u8', 8, 128], ['f4e2m1', 4, 0], ['f6e3m2', 6, 0], ['f8e4m3', 8, 0], ['f8e5m2', 8, 0]];
  for (const [W, bits, zero] of weightTypes) {
    const name = `GEMV ${W} 1x${K}x${N} g32`;
    if (!wanted(name)) continue;
    const weightBytes = (K * N * bits) / 8 + (K / 32) * N * 4;
    // 128 columns per block: each block's rows of packed weights span whole cache lines (u4: 64 bytes).
    for (const t of threadCounts) await tilebit(name, 'dequant_gemv', { W, ZERO: zero, BN: 128, M: 1, K, N }, t, weightBytes, 2 * K * N);
    if (W.startsWith('u') && (bits === 2 || bits === 4 || bits === 8)) {
      const models = Array.from({ length: SETS }, (_, s) => {
        const { packed, scales } = packedWeights(K, N, bits, s);
        return [matmulNBitsModel(1, K, N, bits, 32, packed, scales, 0), matmulNBitsModel(1, K, N, bits, 32, packed, scales, 4)] as const;
      });
      await ortRun(ortWeb, name, 'onnxruntime-web MatMulNBits', 1, models.map((m) => m[0]), 1, K, weightBytes, 2 * K * N, false);
      for (const t of threadCounts) await ortRun(ortNode, name, 'onnxruntime-node MatMulNBits (acc. level 4)', t, models.map((m) => m[1]), 1, K, weightBytes, 2 * K * N, true);
    }
  }

  // Dequant GEMM at M = 1024, u4.
  if (wanted(`GEMM u4 1024x${K}x${N} g32`)) {
    const M = 1024;
    const name = `GEMM u4 ${M}x${K}x${N} g32`;
    const weightBytes = (K * N * 4) / 8 + (K / 32) * N * 4;
    for (const t of threadCounts) await tilebit(name, 'dequant_gemv', { W: 'u4', ZERO: 8, BM: 32, M, K, N }, t, weightBytes, 2 * M * K * N);
    const { packed, scales } = packedWeights(K, N, 4, 0);
    await ortRun(ortWeb, name, 'onnxruntime-web MatMulNBits', 1, [matmulNBitsModel(M, K, N, 4, 32, packed, scales)], M, K, weightBytes, 2 * M * K * N, false);
    for (const t of threadCounts) await ortRun(ortNode, name, 'onnxruntime-node MatMulNBits (acc. level 4)', t, [matmulNBitsModel(M, K, N, 4, 32, packed, scales, 4)], M, K, weightBytes, 2 * M * K * N, true);
  }

  // The generated dequant-GEMM (f16 activations and scales, group 32) reading its weights in rows, in
  // fragment order (src/kernels/fragment_order.ts, the GPU tiles' order, which the CPU tiles gather
  // through a reshape, a permute and a reshape) and in panels of 64 columns (src/kernels/panel_order.ts,
  // the GPU GEMV's order, loaded flat and reshaped): what one weight file for every target costs on wasm.
  for (const M of [1, 16]) {
    const name = `generated dequant-GEMM u4 ${M}x${K}x${N} g32, weights in rows / in fragment order / in panels`;
    if (!wanted(name)) continue;
    const weightBytes = (K * N) / 2 + (K / 32) * N * 2;
    for (const order of ['rows', 'fragments', 'panels'] as const) {
      const g = dequantGemm({ weight: 'u4', groupSize: 32, m: M, weightOrder: order });
      await tilebit(name, g, { M, K, N }, 1, weightBytes, 2 * M * K * N, { rows: 'tilebit wasm', fragments: 'tilebit wasm, fragment order', panels: 'tilebit wasm, panels of 64' }[order]);
    }
  }

  // f32 GEMM 1024^3.
  if (wanted('GEMM f32 1024^3')) {
    const S = 1024;
    const name = `GEMM f32 ${S}^3`;
    for (const t of threadCounts) await tilebit(name, 'gemm_f32', { M: S, K: S, N: S }, t, S * S * 4, 2 * S ** 3);
    const b = Float32Array.from({ length: S * S }, (_, i) => Math.cos(i));
    const ta = tf.tensor2d(Float32Array.from({ length: S * S }, (_, i) => Math.sin(i)), [S, S]);
    const tb = tf.tensor2d(b, [S, S]);
    const ms = await median(() => {
      const c = tf.matMul(ta, tb);
      c.dataSync();
      c.dispose();
    });
    rows.push({ case: name, impl: 'tfjs-backend-wasm (XNNPACK)', threads: 1, ms, weightBytes: S * S * 4, flops: 2 * S ** 3 });
    await ortRun(ortWeb, name, 'onnxruntime-web MatMul', 1, [matmulModel(S, S, S, b)], S, S, S * S * 4, 2 * S ** 3, false);
    for (const t of threadCounts) await ortRun(ortNode, name, 'onnxruntime-node MatMul', t, [matmulModel(S, S, S, b)], S, S, S * S * 4, 2 * S ** 3, true);
  }

  await closeWorkers();
  print(bandwidth);
}

function print(bandwidth: number): void {
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} threads; node ${process.version}; ${new Date().toISOString().slice(0, 10)}`);
  console.log(`wasm read bandwidth (one thread, v128 loads over 64 MiB): ${bandwidth.toFixed(1)} GB/s\n`);
  console.log('| case | implementation | threads | ms | weight GB/s | GFLOP/s | % of wasm read bw | tilebit (same threads) is x faster |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const gbs = r.weightBytes / r.ms / 1e6;
    const ours = rows.find((x) => x.case === r.case && x.impl === 'tilebit wasm' && x.threads === r.threads);
    const ratio = ours && r.impl !== 'tilebit wasm' ? (r.ms / ours.ms).toFixed(2) : '';
    console.log(`| ${r.case} | ${r.impl} | ${r.threads} | ${r.ms.toFixed(2)} | ${gbs.toFixed(1)} | ${(r.flops / r.ms / 1e6).toFixed(1)} | ${((100 * gbs) / bandwidth).toFixed(0)}% | ${ratio} |`);
  }
}

await main();
