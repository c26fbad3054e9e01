// Writes the GPU benchmark bundle (issues 5 and 9): the kernels of bench/gpu_kernels.ts (dequant GEMMs,
// flash and decode attention; a split decode's two kernels are timed one by one and summed by
// gpu_peers.py), as CUDA C with the host harness, with launch files whose buffers start as zeros (nothing large travels; the
// kernels have no data-dependent control flow, so zeros time like any data), and bench/gpu_peers.py,
// which times the same shapes with PyTorch (cuBLAS f16, the int4 kernel, SDPA) and the card's copy
// bandwidth, runs tilebit's harness, and prints one table.
//
// The same kernels as WGSL (plain, and with the register-array loops unrolled) for webgpu_bench.mjs,
// which times them through Dawn where Node.js and the `webgpu` package are present (issue 9);
// gpu_peers.py runs it and puts its times in the same table.
//
// Usage: npx tsx bench/gpu_bundle.ts [DIR] [--small]   (default .gpu/bench; --small: tiny shapes, for
// checking the bundle on a CPU driver); on the GPU machine:
//   cd DIR && nvcc -O3 -arch=native -o harness harness.cu kernels.cu && python3 gpu_peers.py

import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitCudaFile, emitCudaHeader, lowerForCuda } from '../backends/cuda/emit.ts';
import { harnessSource, launchFile } from '../backends/cuda/harness.ts';
import { dtype as parseDType } from '../ir/dtype.ts';
import { evalSym } from '../ir/sym.ts';
import { emitWgsl } from '../backends/wgsl/emit.ts';
import { dataImage } from '../ir/loop_ir.ts';
import { type GpuLowering, argWords } from '../passes/lower_gpu.ts';
import { lowerForGpu } from '../passes/pipeline.ts';
import { accumulatedTensors } from '../ir/tile_ir.ts';
import { compile } from '../src/api.ts';
import { type BenchKernel, benchKernels } from './gpu_kernels.ts';

const small = process.argv.includes('--small');
const dir = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? '.gpu/bench';
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

interface Entry {
  readonly name: string;
  readonly kind: BenchKernel['kind'];
  readonly shape: Record<string, number>;
  /** Bytes of weights (GEMM) or of q, k, v, o (attention): what bandwidth is reported against. */
  readonly bytes: number;
  readonly flops: number;
  /**
   * For a kernel of a sequence (split decode: NAME_partial, then NAME_combine), the sequence's name:
   * gpu_peers.py reports the sum of its kernels' times as one more row.
   */
  readonly sequence?: string;
  /** The WGSL launch: files (plain, unrolled), bindings in order with buffer sizes, argument words, grid, threads; null for CUDA-only entries. */
  readonly wgsl: null | {
    readonly files: Record<string, string>;
    readonly data: string;
    readonly bindings: readonly { readonly kind: string; readonly readOnly: boolean; readonly bytes: number }[];
    readonly args: readonly number[];
    readonly grid: readonly number[];
  };
}

const entries: Entry[] = [];
/** Bytes overwritten before each timed CUDA launch: several times the L2 (50 MB on an H100, 60 MB on an H200). */
const FLUSH = small ? 0 : 256 << 20;
const lowered: GpuLowering[] = [];

/** One kernel: its CUDA C launch and, unless it is CUDA only, its WGSL. */
function add({ name, kind, source, sizes, scalars, bytes, flops, wgsl, sequence, cuda }: BenchKernel): void {
  const k = { ...compile(source, { kernel: sequence?.kernel }), name };
  const inSequence = sequence ? { sequence: sequence.name } : {};
  const l = lowerForGpu(k);
  lowered.push(lowerForCuda(k, undefined, cuda)); // the CUDA C uses warp shuffles and __dp4a; launches are the same
  const env = { symbols: new Map(Object.entries(sizes)), params: new Map(Object.entries(scalars)) };
  const gridOf = (x: typeof k): number[] => [0, 1, 2].map((i) => (x.grid[i] ? evalSym(x.grid[i]!, env) : 1));
  const grid = gridOf(k);
  // Zero-filled buffers: no input files, no outputs written.
  const buffers = k.params.flatMap((p) => {
    if (p.kind !== 'tensor') return [];
    const n = p.shape.reduce((acc, d) => acc * evalSym(d, env), 1);
    return [[Math.ceil((n * parseDType(p.dtype).bits) / 8), '-', '-'] as const];
  });
  const words = argWords(l.args, env.symbols, env.params);
  // Outputs that `store +=` accumulates into are zeroed before each timed launch, inside the timing.
  const accumulated = new Set(accumulatedTensors(k));
  const clear = k.params.filter((p) => p.kind === 'tensor').flatMap((p, i) => (accumulated.has(p.name) ? [i] : []));
  writeFileSync(join(dir, `${name}.launch`), launchFile(name, grid, l.threads, buffers, l.args, words, 50, FLUSH, clear));
  if (!wgsl) {
    entries.push({ name, kind, shape: { ...sizes }, bytes, flops, ...inSequence, wgsl: null });
    return;
  }
  const kw = typeof wgsl === 'string' ? { ...compile(wgsl, { kernel: sequence?.kernel }), name } : k;
  const lw = kw === k ? l : lowerForGpu(kw);
  const files: Record<string, string> = {};
  let w!: ReturnType<typeof emitWgsl>;
  for (const [variant, unroll] of [['plain', 0], ['unrolled', 64]] as const) {
    w = emitWgsl(lw, { unroll });
    files[variant] = `${name}.${variant}.wgsl`;
    writeFileSync(join(dir, files[variant]!), w.code);
  }
  // What the runtime compiles on a GPU with subgroups of at least 32 (NVIDIA's): reductions by
  // subgroup shuffles, loops unrolled. webgpu_bench.mjs runs it only on such an adapter. Same bindings.
  const ls = lowerForGpu(kw, undefined, { subgroupMinSize: 32, dot4x8: false, mma: null });
  if (ls.features.subgroups) {
    files.subgroups = `${name}.subgroups.wgsl`;
    writeFileSync(join(dir, files.subgroups), emitWgsl(ls, { unroll: 64 }).code);
  }
  const bufferBytes = new Map(lw.buffers.map((b, i) => [b.tensor, buffers[i]![0]]));
  writeFileSync(join(dir, `${name}.tables`), dataImage(lw.module));
  // Both variants bind the same buffers (unrolling changes only the function body).
  const bindings = w.bindings.map((b) => ({ kind: b.kind, readOnly: b.readOnly, bytes: b.kind === 'tensor' ? bufferBytes.get(b.name)! : 0 }));
  const wgslArgs = argWords(lw.args, env.symbols, env.params);
  entries.push({ name, kind, shape: { ...sizes }, bytes, flops, ...inSequence, wgsl: { files, data: `${name}.tables`, bindings, args: wgslArgs, grid: gridOf(kw) } });
}

for (const k of benchKernels(small)) add(k);

writeFileSync(join(dir, 'kernels.cu'), emitCudaFile(lowered));
writeFileSync(join(dir, 'kernels.h'), emitCudaHeader(lowered.map((l) => ({ kernel: l.kernel, lowered: l }))));
writeFileSync(join(dir, 'harness.cu'), harnessSource(lowered));
writeFileSync(join(dir, 'bench.json'), `${JSON.stringify({ entries }, null, 1)}\n`);
copyFileSync(fileURLToPath(new URL('./gpu_peers.py', import.meta.url)), join(dir, 'gpu_peers.py'));
copyFileSync(fileURLToPath(new URL('./webgpu_bench.mjs', import.meta.url)), join(dir, 'webgpu_bench.mjs'));
console.log(`wrote ${entries.length} benchmark kernels to ${dir}`);
