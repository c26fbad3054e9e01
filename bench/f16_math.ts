// `npm run bench:f16`: a kernel whose arithmetic is f16 element by element on wasm, the README's main
// job: examples/dequant_gemm.tile dequantizes each weight in f16 (cast, subtract the zero point,
// multiply by the f16 scale: each step rounds to f16, as the language defines) before an f32 dot, at
// M = 1, K = N = 4096, group 128, with the example's 16-row tiles and with 1-row tiles. The peer is
// tilebit's generated dequant-GEMV for the same weights with f16 activations and scales, which keeps
// the dequantization in f32 and applies the scale once per group, in the same run (one memory bound
// once, every run after one untimed run). Prints one markdown table.

import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { compileWasm } from '../backends/wasm/runtime.ts';
import { bindLaunch, closeWorkers } from '../backends/wasm/workers.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { compile, prepareTensors } from '../src/api.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { medianMs } from './timing.ts';

const [M, K, N] = [1, 4096, 4096];
const ITERS = 15;
const example = readFileSync(new URL('../examples/dequant_gemm.tile', import.meta.url), 'utf8');

async function time(source: string, set: Record<string, string>, workers: number): Promise<number> {
  const k = compile(source, { set: new Map(Object.entries(set)) });
  const values = new Map([['M', M], ['K', K], ['N', N]]);
  const launch = bindLaunch(compileWasm(k), prepareTensors(k, { values, seed: 1 }, new Set(outputTensors(k))), values, workers);
  return medianMs(() => launch.run(), ITERS);
}

try {
  const rows: string[] = [];
  const threads = [...new Set([1, Math.min(2, availableParallelism())])];
  for (const W of ['u3', 'u4']) {
    for (const t of threads) {
      const peer = await time(dequantGemm({ weight: W, groupSize: 128, activation: 'f16', scale: 'f16', m: 1, zeroPoint: null }).source, {}, t);
      rows.push(`| ${W} | generated dequant-GEMV (f32 dequantization; the peer) | ${t} | ${peer.toFixed(2)} | 1.00 |`);
      for (const BM of ['16', '1']) {
        const ms = await time(example, { W, BM }, t);
        rows.push(`| ${W} | examples/dequant_gemm.tile, BM=${BM} (f16 per element) | ${t} | ${ms.toFixed(2)} | ${(ms / peer).toFixed(2)} |`);
      }
    }
  }
  console.log(`f16 arithmetic per element on wasm, M=${M} K=${K} N=${N} group 128; ${cpus()[0]?.model.trim()}, ${availableParallelism()} threads, Node ${process.versions.node}\n`);
  console.log('| weights | kernel | threads | ms | x the peer\'s time |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
} finally {
  await closeWorkers();
}
