// Shared-memory bank conflicts of the generated GPU tiles, without a GPU: each kernel's CUDA C runs on the
// CPU (backends/cuda/host/tilebit_host.h) with TILEBIT_HOST_PROFILE=widths, which counts its shared-memory
// requests and the wavefronts they take on 32 banks of 4 bytes (a model of the hardware, not a timing).
// Prints one table; needs g++.
//
// Usage: npm run bench:banks

import { runCuda } from '../backends/cuda/runtime.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { compile, prepareTensors } from '../src/api.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { flashAttention } from '../src/kernels/attention.ts';
process.env.TILEBIT_HOST_PROFILE = 'widths';
/** Kernels compared: name, source, sizes (no tile edges: N a multiple of 64). */
const rows: [string, string, Record<string, number>][] = [];
const g = (o: object) => dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', target: 'gpu', ...o } as never).source;
for (const [tag, o] of [['rows', {}], ['rows, no swizzle', { swizzle: false }], ['fragments', { weightOrder: 'fragments' }], ['panels', { weightOrder: 'panels' }]] as const) rows.push([`u4, M = 16 tiles, ${tag}`, g({ m: 16, ...o }), { M: 16, K: 512, N: 320 }]);
for (const [tag, o] of [['rows', {}], ['rows, no swizzle', { swizzle: false }], ['fragments', { weightOrder: 'fragments' }], ['fragments, scales on the weights', { weightOrder: 'fragments', applyScales: 'weights' }], ['panels', { weightOrder: 'panels' }]] as const) rows.push([`u4, M = 4096 tiles, ${tag}`, g({ m: 4096, ...o }), { M: 128, K: 512, N: 320 }]);
for (const [tag, o] of [['rows', {}], ['fragments', { weightOrder: 'fragments' }]] as const) rows.push([`u3, M = 4096 tiles, ${tag}`, g({ m: 4096, weight: 'u3', ...o }), { M: 128, K: 512, N: 320 }]);
for (const [tag, sw] of [['', true], [', no swizzle', false]] as const) rows.push([`flash attention, D = 64, causal${tag}`, flashAttention({ headDim: 64, causal: true, target: 'gpu', swizzle: sw }).source, { H: 2, HKV: 2, S: 256, SK: 256, scale: 0.125 }]);
console.log('| kernel | shape | requests | wavefronts | per request | fewest | 16-byte wavefronts (fewest) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [name, src, sizes] of rows) {
  const k = compile(src);
  const values = new Map(Object.entries(sizes));
  const t = prepareTensors(k, { values, seed: 1 }, new Set(outputTensors(k)));
  const { report } = runCuda(k, t, values, outputTensors(k), true);
  const m = /(\d+) requests, (\d+) wavefronts \(([\d.]+) per request; (\d+) at the fewest\)/.exec(report)!;
  const w = /16-byte accesses: \d+ requests, (\d+) wavefronts, (\d+) at the fewest/.exec(report);
  const shape = Object.entries(sizes).filter(([n]) => n !== 'scale').map(([n, v]) => `${n} ${v}`).join(', ');
  console.log(`| ${name} | ${shape} | ${m[1]} | ${m[2]} | ${m[3]} | ${m[4]} | ${w ? `${w[1]} (${w[2]})` : '-'} |`);
}
