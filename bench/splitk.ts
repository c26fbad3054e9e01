// `npm run bench:splitk`: split-K across blocks on wasm, where a GEMV has too few output tiles to keep
// every core busy: u4 weights, f32 activations, group 128, M = 1, K = 16384 and N = 64 (one 64-column
// tile: one block without split-K). The peer is the same generator's kernel without split-K, in the
// same run, on every core (tilebit's runtime, one memory bound once). Prints one markdown table.

import { availableParallelism, cpus } from 'node:os';
import { compileWasm } from '../backends/wasm/runtime.ts';
import { bindLaunch, closeWorkers } from '../backends/wasm/workers.ts';
import { compile } from '../src/api.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { type Tensor, tensorFrom } from '../src/vm/memory.ts';
import { medianMs } from './timing.ts';

const [M, K, N] = [1, 16384, 64];
const ITERS = 15;
const workers = availableParallelism();


const tensors = (): Map<string, Tensor> => new Map([
  ['a', tensorFrom('f32', [M, K], Array.from({ length: M * K }, (_, i) => Math.sin(i)))],
  ['w', { dtype: 'u4', shape: [K, N], bytes: new Uint8Array((K * N) / 2).map((_, i) => (i * 37) & 0xff) }],
  ['s', tensorFrom('f32', [K / 128, N], new Array((K / 128) * N).fill(0.01))],
  ['c', tensorFrom('f32', [M, N], new Array(M * N).fill(0))],
]);

try {
  const rows: string[] = [];
  let base = 0;
  for (const splitK of [1, 2, 4, 8]) {
    const k = compile(dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f32', m: M, splitK }).source);
    const launch = bindLaunch(compileWasm(k), tensors(), new Map(), workers);
    // Split-K adds into C: zero it before each run, inside the timing, as a caller must.
    const c = launch.views.get('c')!;
    const ms = await medianMs(async () => {
      if (splitK > 1) c.fill(0);
      await launch.run();
    }, ITERS);
    if (splitK === 1) base = ms;
    rows.push(`| ${splitK} | ${ms.toFixed(2)} | ${(base / ms).toFixed(2)}x |`);
  }
  console.log(`u4 GEMV ${M}x${K}x${N} (f32 activations, group 128) on wasm, ${workers} workers, ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.versions.node}; median of ${ITERS}, ms`);
  console.log('| blocks along K | ms | speed-up over no split |');
  console.log('| --- | --- | --- |');
  for (const r of rows) console.log(r);
} finally {
  await closeWorkers();
}
