// What each kernel of the GPU benchmark bundle costs an SM, with no GPU: ptxas's registers, spills and
// shared memory for sm_90a, the theoretical occupancy they allow, and the waves the benchmark's grid
// makes on a 132-SM H100 or H200 (blocks over resident blocks per SM times 132; under 1 leaves SMs idle).
//
// Usage: npm run bench:gpu && node --import ./src/register.mjs bench/cuda_resources.ts [.gpu/bench] [--arch sm_80]

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SM_LIMITS, occupancy, ptxasInfo } from '../backends/cuda/resources.ts';

const args = process.argv.slice(2);
const archAt = args.indexOf('--arch');
const arch = archAt >= 0 ? args[archAt + 1]! : 'sm_90a';
const dir = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--arch') ?? '.gpu/bench';
const SMS = 132;
const limits = SM_LIMITS[arch];
if (!limits) throw new Error(`--arch ${arch}: the architectures are ${Object.keys(SM_LIMITS).join(', ')}`);

// Threads and grid from the launch files; dynamic shared memory from the header's comments.
const launches = new Map<string, { threads: number; blocks: number }>();
for (const f of readdirSync(dir).filter((x) => x.endsWith('.launch'))) {
  const text = readFileSync(join(dir, f), 'utf8');
  const kernel = /^kernel (\S+)/m.exec(text)![1]!;
  const grid = /^grid (\d+) (\d+) (\d+)/m.exec(text)!.slice(1).map(Number);
  launches.set(kernel, { threads: Number(/^threads (\d+)/m.exec(text)![1]), blocks: grid.reduce((a, b) => a * b, 1) });
}
const dynamic = new Map([...readFileSync(join(dir, 'kernels.h'), 'utf8').matchAll(/\/\* (\w+): .*?, (\d+) bytes of dynamic shared memory/g)].map((m) => [m[1]!, Number(m[2])]));

const rows = ptxasInfo(readFileSync(join(dir, 'kernels.cu'), 'utf8'), arch).flatMap((info) => {
  const launch = launches.get(info.kernel);
  if (!launch) return [];
  const shared = info.staticSharedBytes + (dynamic.get(info.kernel) ?? 0);
  const o = occupancy(limits, launch.threads, info.registers, shared);
  const spills = info.spillStoreBytes + info.spillLoadBytes ? `${info.spillStoreBytes}/${info.spillLoadBytes}` : '0';
  const waves = launch.blocks / (o.blocksPerSm * SMS);
  return [`| ${info.kernel} | ${launch.threads} | ${info.registers} | ${spills} | ${shared} | ${o.blocksPerSm} | ${Math.round(o.fraction * 100)}% | ${o.limitedBy} | ${launch.blocks} | ${waves.toFixed(2)} |`];
});
console.log(`${arch}, ${SMS} SMs: ptxas ${arch} (nvcc -O3), theoretical occupancy, waves of the benchmark's grid\n`);
console.log('| kernel | threads | registers | spill bytes (st/ld) | shared bytes | blocks/SM | occupancy | limited by | grid blocks | waves |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows.sort()) console.log(r);
