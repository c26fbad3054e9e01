// `npm run bench:bindings`: a built library's standalone bindings (dist/index.js, no tilebit at run
// time) against tilebit's own wasm runtime, on the same u4 GEMV (f32 activations, group 128) at
// 1 x 8192 x 16384 (64 MB of weights): `launch` (tensors copied in every call), `bindLaunch` (copied
// once, run again and again), each on one thread and on every core. Prints one markdown table.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileWasm } from '../backends/wasm/runtime.ts';
import { bindLaunch, closeWorkers } from '../backends/wasm/workers.ts';
import { build } from '../src/build.ts';
import { compile } from '../src/api.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { tensorFrom } from '../src/vm/memory.ts';
import { medianMs } from './timing.ts';

const [K, N] = [8192, 16384];
const ITERS = 9;
const options = { weight: 'u4', groupSize: 128, activation: 'f32', m: 1 } as const;


const work = mkdtempSync(join(tmpdir(), 'tilebit-bench-bindings-'));
try {
  writeFileSync(join(work, 'lib.json'), JSON.stringify({ name: 'bench', kernels: [{ name: 'gemv_u4', generator: 'dequant-gemm', options }] }));
  await build(join(work, 'lib.json'), { out: join(work, 'dist'), workers: 1 });
  const lib = await import(pathToFileURL(join(work, 'dist', 'index.js')).href);
  const a = new Float32Array(K).map((_, i) => Math.sin(i));
  const w = new Uint8Array((K * N) / 2).map((_, i) => (i * 37) & 0xff);
  const s = new Float32Array((K / 128) * N).fill(0.01);
  const tensors = { a: { data: a, shape: [1, K] }, w: { data: w, shape: [K, N] }, s: { data: s, shape: [K / 128, N] }, c: { data: new Float32Array(N), shape: [1, N] } };
  // The same code as the build's: without relaxed SIMD (the build's default; the runtime would use it where the host has it).
  const runtime = compileWasm(compile(dequantGemm(options).source), { relaxedSimd: false });
  const vmTensors = new Map([['a', tensorFrom('f32', [1, K], a)], ['w', { dtype: 'u4', shape: [K, N], bytes: w }], ['s', tensorFrom('f32', [K / 128, N], s)], ['c', tensorFrom('f32', [1, N], new Float32Array(N))]]);
  const rows: string[] = [];
  for (const workers of [...new Set([1, availableParallelism()])]) {
    const bound = await lib.bindLaunch('gemv_u4', tensors, {}, { workers });
    const own = bindLaunch(runtime, vmTensors, new Map(), workers);
    const [launchMs, boundMs, ownMs] = [
      await medianMs(() => lib.gemv_u4(tensors, {}, { workers }), ITERS),
      await medianMs(() => bound.run(), ITERS),
      await medianMs(() => own.run(), ITERS),
    ];
    rows.push(`| ${workers} | ${launchMs.toFixed(1)} | ${boundMs.toFixed(1)} | ${ownMs.toFixed(1)} | ${(ownMs / boundMs).toFixed(2)}x |`);
  }
  console.log(`u4 GEMV 1x${K}x${N} (f32 activations, group 128), ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.versions.node}; median of ${ITERS}, ms`);
  console.log('| workers | bindings launch | bindings bound run | tilebit runtime bound run | bindings vs runtime (runtime ms / bindings ms) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
} finally {
  await closeWorkers();
  rmSync(work, { recursive: true, force: true });
}
