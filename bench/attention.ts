// `npm run bench:attention`: tilebit's generated attention kernels on wasm beside onnxruntime-web and
// onnxruntime-node running the same attention as an ONNX graph (MatMul, Softmax, MatMul), in one run.
// Prints a markdown table for bench/RESULTS.md.

import { availableParallelism, cpus } from 'node:os';
import { compileWasm } from '../backends/wasm/runtime.ts';
import { bindLaunch, closeWorkers } from '../backends/wasm/workers.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { compile, prepareTensors } from '../src/api.ts';
import { decodeAttention, flashAttention } from '../src/kernels/attention.ts';
import { graphModel } from './onnx_model.ts';
import { type Ort, onnxruntimeNode, onnxruntimeWeb } from './peers.ts';

const ITERS = Number(process.env.BENCH_ITERS ?? 10);
const rows: { case: string; impl: string; threads: number; ms: number; flops: number }[] = [];

async function median(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await run();
  const t: number[] = [];
  for (let i = 0; i < ITERS; i++) {
    const t0 = performance.now();
    await run();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
}

async function tilebit(name: string, source: string, values: Record<string, number>, workers: number, flops: number): Promise<void> {
  const k = compile(source);
  const v = new Map(Object.entries(values));
  const launch = bindLaunch(compileWasm(k), prepareTensors(k, { values: v }, new Set(outputTensors(k))), v, workers);
  rows.push({ case: name, impl: 'tilebit wasm', threads: workers, ms: await median(() => launch.run()), flops });
}

/**
 * A kernel sequence (split decode attention: partial, then combine), each kernel bound to its own
 * memory; the time is both runs (the workspaces the combine reads, H x P x (D + 2) floats, are not
 * copied between them: the combine reads its own bound copy).
 */
async function tilebitSequence(name: string, source: string, kernels: readonly string[], values: Record<string, number>, workers: number, flops: number): Promise<void> {
  const v = new Map(Object.entries(values));
  const launches = kernels.map((kernel) => {
    const k = compile(source, { kernel });
    return bindLaunch(compileWasm(k), prepareTensors(k, { values: v }, new Set(outputTensors(k))), v, workers);
  });
  rows.push({ case: name, impl: `tilebit wasm (${kernels.length} kernels)`, threads: workers, ms: await median(async () => { for (const l of launches) await l.run(); }), flops });
}

/** softmax(scale * Q K^T + mask) V for Q [H, S, D], K and V [H, T, D], as an ONNX graph. */
function attentionGraph(H: number, S: number, T: number, D: number, causal: boolean): Uint8Array {
  const mask = new Float32Array(S * T);
  if (causal) for (let i = 0; i < S; i++) for (let j = 0; j < T; j++) if (j > i + T - S) mask[i * T + j] = -Infinity;
  return graphModel(
    [
      { op: 'Transpose', inputs: ['K'], outputs: ['Kt'], intLists: { perm: [0, 2, 1] } },
      { op: 'MatMul', inputs: ['Q', 'Kt'], outputs: ['S0'] },
      { op: 'Mul', inputs: ['S0', 'scale'], outputs: ['S1'] },
      { op: 'Add', inputs: ['S1', 'mask'], outputs: ['S2'] },
      { op: 'Softmax', inputs: ['S2'], outputs: ['P'], ints: { axis: -1 } },
      { op: 'MatMul', inputs: ['P', 'V'], outputs: ['O'] },
    ],
    [{ name: 'scale', shape: [], data: Float32Array.of(1 / Math.sqrt(D)) }, { name: 'mask', shape: [S, T], data: mask }],
    [{ name: 'Q', shape: [H, S, D] }, { name: 'K', shape: [H, T, D] }, { name: 'V', shape: [H, T, D] }],
    [{ name: 'O', shape: [H, S, D] }],
  );
}

async function ort(o: Ort, name: string, impl: string, threads: number, model: Uint8Array, shapes: { Q: number[]; K: number[] }, native: boolean, flops: number): Promise<void> {
  const s = await o.InferenceSession.create(model, native ? { intraOpNumThreads: threads } : {});
  const size = (sh: number[]): number => sh.reduce((a, b) => a * b, 1);
  const feed = { Q: new o.Tensor('float32', Float32Array.from({ length: size(shapes.Q) }, (_, i) => Math.sin(i)), shapes.Q), K: new o.Tensor('float32', Float32Array.from({ length: size(shapes.K) }, (_, i) => Math.cos(i)), shapes.K), V: new o.Tensor('float32', Float32Array.from({ length: size(shapes.K) }, (_, i) => Math.sin(2 * i)), shapes.K) };
  rows.push({ case: name, impl, threads, ms: await median(() => s.run(feed)), flops });
}

async function main(): Promise<void> {
  const ortWeb = await onnxruntimeWeb();
  const ortNode = onnxruntimeNode();
  const threads = [1, Math.min(2, availableParallelism())].filter((t, i, a) => a.indexOf(t) === i);
  const [H, S, D] = [8, 1024, 64];

  // Prefill: causal attention over S = 1024 tokens, f32 (onnxruntime-web's wasm MatMul is f32).
  const prefill = `prefill H=${H} S=${S} D=${D} causal f32`;
  const prefillFlops = 2 * 2 * H * S * S * D / 2; // QK^T and PV over the causal half
  for (const t of threads) await tilebit(prefill, flashAttention({ headDim: D, causal: true, dtype: 'f32' }).source, { H, HKV: H, S, SK: S, scale: 0.125 }, t, prefillFlops);
  const graph = attentionGraph(H, S, S, D, true);
  await ort(ortWeb, prefill, 'onnxruntime-web (MatMul, Softmax, MatMul)', 1, graph, { Q: [H, S, D], K: [H, S, D] }, false, prefillFlops);
  for (const t of threads) await ort(ortNode, prefill, 'onnxruntime-node (MatMul, Softmax, MatMul)', t, graph, { Q: [H, S, D], K: [H, S, D] }, true, prefillFlops);

  // Decode: one query per head over a cache of 4096 tokens; tilebit reads a u4 cache with per-token
  // scales, the peers an f32 cache (they have no low-bit attention).
  const T = 4096;
  const decode = `decode H=${H} cache ${T} D=${D}`;
  const decodeFlops = 2 * 2 * H * T * D;
  for (const t of threads) await tilebit(`${decode} (tilebit: u4 cache)`, decodeAttention({ headDim: D, cache: 'u4', scales: 'token', dtype: 'f32' }).source, { H, HKV: H, S: T, scale: 0.125 }, t, decodeFlops);
  for (const t of threads) await tilebit(`${decode} (tilebit: f32 cache)`, decodeAttention({ headDim: D, cache: 'f32', dtype: 'f32' }).source, { H, HKV: H, S: T, scale: 0.125 }, t, decodeFlops);
  const dgraph = attentionGraph(H, 1, T, D, false);
  await ort(ortWeb, `${decode} (peers: f32 cache)`, 'onnxruntime-web (MatMul, Softmax, MatMul)', 1, dgraph, { Q: [H, 1, D], K: [H, T, D] }, false, decodeFlops);
  for (const t of threads) await ort(ortNode, `${decode} (peers: f32 cache)`, 'onnxruntime-node (MatMul, Softmax, MatMul)', t, dgraph, { Q: [H, 1, D], K: [H, T, D] }, true, decodeFlops);

  // Decode with a single query head over a long u4 cache: one block unsplit, so one thread works;
  // split over the cache in 8 chunks (flash-decoding), the chunks spread over the threads.
  const [H1, T1] = [1, 32768];
  const long = `decode H=${H1} cache ${T1} D=${D} (tilebit: u4 cache)`;
  const longFlops = 2 * 2 * H1 * T1 * D;
  for (const t of threads) await tilebit(long, decodeAttention({ headDim: D, cache: 'u4', scales: 'token', dtype: 'f32' }).source, { H: H1, HKV: H1, S: T1, scale: 0.125 }, t, longFlops);
  const split = decodeAttention({ headDim: D, cache: 'u4', scales: 'token', dtype: 'f32', splitKV: 8 });
  for (const t of threads) await tilebitSequence(`${long}, split in 8`, split.source, split.kernels!, { H: H1, HKV: H1, S: T1, scale: 0.125 }, t, longFlops);
  await closeWorkers();
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} threads; node ${process.version}; ${new Date().toISOString().slice(0, 10)}\n`);
  console.log('| case | implementation | threads | ms | GFLOP/s |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.case} | ${r.impl} | ${r.threads} | ${r.ms.toFixed(2)} | ${(r.flops / r.ms / 1e6).toFixed(1)} |`);
}

await main();
