// Shared- and global-memory traffic of the generated GPU kernels, without a GPU: each kernel's CUDA C runs
// on the CPU (backends/cuda/host/tilebit_host.h) with TILEBIT_HOST_PROFILE=widths, which counts its
// shared-memory requests and the wavefronts they take on 32 banks of 4 bytes, and its global-memory
// requests and the 32-byte sectors they touch (a model of the hardware, not a timing). Prints two tables:
// the MMA tiles, flash attention and the matmul example, then the GEMVs. Needs g++.
//
// Usage: npm run bench:memory

import { readFileSync } from 'node:fs';
import { runCuda } from '../backends/cuda/runtime.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { compile, prepareTensors } from '../src/api.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { flashAttention } from '../src/kernels/attention.ts';
process.env.TILEBIT_HOST_PROFILE = 'widths';
/** Kernels compared: name, source, sizes (no tile edges: N a multiple of 64). */
const rows: [string, string, Record<string, number>][] = [];
const g = (o: object) => dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', target: 'gpu', ...o } as never).source;
// The weight tile in plain rows (`@ row_major`), where the lowering would swizzle it (readSwizzle).
const plainWeights = (src: string): string => src.replace(/shared<[a-z0-9]+>\[STAGES, BK(, | \* )BN\]/, '$& @ row_major');
const weightsPlain = ['rows, weights in plain rows', { plain: true }] as const;
const tile = (o: { readonly plain?: boolean; readonly [option: string]: unknown }): string => (o.plain ? plainWeights(g({ ...o, plain: undefined })) : g(o));
for (const [tag, o] of [['rows', {}], weightsPlain, ['rows, no swizzle', { swizzle: false }], ['fragments', { weightOrder: 'fragments' }], ['panels', { weightOrder: 'panels' }]] as const) rows.push([`u4, M = 16 tiles, ${tag}`, tile({ m: 16, ...o }), { M: 16, K: 512, N: 320 }]);
for (const [tag, o] of [['rows', {}], weightsPlain] as const) rows.push([`u8, M = 16 tiles, ${tag}`, tile({ m: 16, weight: 'u8', ...o }), { M: 16, K: 512, N: 320 }]);
for (const [tag, o] of [['rows', {}], weightsPlain, ['rows, no swizzle', { swizzle: false }], ['fragments', { weightOrder: 'fragments' }], ['fragments, scales on the weights', { weightOrder: 'fragments', applyScales: 'weights' }], ['panels', { weightOrder: 'panels' }]] as const) rows.push([`u4, M = 4096 tiles, ${tag}`, tile({ m: 4096, ...o }), { M: 128, K: 512, N: 320 }]);
for (const [tag, o] of [['rows', {}], weightsPlain] as const) rows.push([`u8, M = 4096 tiles, ${tag}`, tile({ m: 4096, weight: 'u8', ...o }), { M: 128, K: 512, N: 320 }]);
for (const [tag, o] of [['rows', {}], ['fragments', { weightOrder: 'fragments' }]] as const) rows.push([`u3, M = 4096 tiles, ${tag}`, g({ m: 4096, weight: 'u3', ...o }), { M: 128, K: 512, N: 320 }]);
for (const [tag, sw] of [['', true], [', no swizzle', false]] as const) rows.push([`flash attention, D = 64, causal${tag}`, flashAttention({ headDim: 64, causal: true, target: 'gpu', swizzle: sw }).source, { H: 2, HKV: 2, S: 256, SK: 256, scale: 0.125 }]);
const matmul = readFileSync(new URL('../examples/matmul.tile', import.meta.url), 'utf8');
for (const [tag, src] of [['', matmul], [', @ row_major', matmul.replaceAll(/shared<f16>\[[^\]]*\]/g, '$& @ row_major')]] as const) rows.push([`examples/matmul.tile${tag}`, src, { M: 128, K: 256, N: 128 }]);
/** The launch's profile: shared requests, wavefronts, fewest; 16-byte wavefronts, fewest; global requests, sectors, fewest. */
function profile(src: string, sizes: Record<string, number>): number[] {
  const k = compile(src);
  const values = new Map(Object.entries(sizes));
  const t = prepareTensors(k, { values, seed: 1 }, new Set(outputTensors(k)));
  const { report } = runCuda(k, t, values, outputTensors(k), true);
  const s = /shared memory: (\d+) requests, (\d+) wavefronts \([\d.]+ per request; (\d+) at the fewest\)/.exec(report)!;
  const w = /16-byte accesses: \d+ requests, (\d+) wavefronts, (\d+) at the fewest/.exec(report);
  const g = /global memory: (\d+) requests, (\d+) sectors of 32 bytes \([\d.]+ per request; (\d+) at the fewest\)/.exec(report)!;
  return [...s.slice(1, 4), ...(w ? w.slice(1, 3) : ['0', '0']), ...g.slice(1, 4)].map(Number);
}
const shapeOf = (sizes: Record<string, number>): string => Object.entries(sizes).filter(([n]) => n !== 'scale').map(([n, v]) => `${n} ${v}`).join(', ');

console.log('| kernel | shape | shared requests | wavefronts | per request | fewest | 16-byte wavefronts (fewest) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [name, src, sizes] of rows) {
  const [r, w, f, w16, f16] = profile(src, sizes);
  console.log(`| ${name} | ${shapeOf(sizes)} | ${r} | ${w} | ${(w! / r!).toFixed(2)} | ${f} | ${w16 ? `${w16} (${f16})` : '-'} |`);
}

// The GEMVs (M = 1): global sectors per request, by weight width, form and order; N a multiple of every N tile.
console.log('');
console.log('| GEMV | order | global requests | sectors | per request | fewest | shared wavefronts (fewest) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const weight of ['u4', 'u3', 'u2']) {
  for (const [form, o] of [['default', {}], ['8 rows per thread', { rowsPerThread: 8 }]] as const) {
    for (const order of ['rows', 'panels'] as const) {
      const src = g({ m: 1, weight, weightOrder: order, ...o });
      const [, sw, sf, , , gr, gs, gf] = profile(src, { M: 1, K: 1024, N: 512 });
      console.log(`| ${weight}, ${form} | ${order} | ${gr} | ${gs} | ${(gs! / gr!).toFixed(2)} | ${gf} | ${sw} (${sf}) |`);
    }
  }
}

// Widths N whose rows of weights leave copy runs misaligned (328 u4: rows of 164 bytes; 330: 165;
// u3 at 330: 123.75 bytes), beside N = 320, whose rows are whole 16-byte chunks.
console.log('');
console.log('| kernel | N | global requests | sectors | fewest | shared requests | wavefronts | fewest |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [name, o, M] of [['u4, M = 16 tiles', { m: 16 }, 16], ['u4 GEMV', { m: 1 }, 1], ['u3 GEMV', { m: 1, weight: 'u3' }, 1]] as const) {
  for (const N of [320, 328, 330]) {
    const [sr, sw, sf, , , gr, gs, gf] = profile(g(o), { M, K: 512, N });
    console.log(`| ${name} | ${N} | ${gr} | ${gs} | ${gf} | ${sr} | ${sw} | ${sf} |`);
  }
}
