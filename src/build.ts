// The ahead-of-time builder: `tilebit build lib.json --out DIR` compiles a declared set of kernel
// instances and writes, per target, the artifacts, a manifest and JavaScript bindings with their
// TypeScript declarations. Builds are deterministic (same input, same bytes), incremental (an instance
// whose content hash is unchanged is copied from the previous output) and atomic (the new output is
// assembled beside the old one and swapped in only when every instance built).

import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type CudaOptions, dynamicSharedBytes, emitCudaFile, emitCudaHeader, lowerForCuda } from '../backends/cuda/emit.ts';
import { compileWasm } from '../backends/wasm/runtime.ts';
import { type WgslBinding, emitWgsl } from '../backends/wgsl/emit.ts';
import { type LModule, type Stmt as LStmt, dataImage } from '../ir/loop_ir.ts';
import { type SymExpr, outputTensors } from '../ir/tile_ir.ts';
import { lowerForGpu } from '../passes/pipeline.ts';
import { compile } from './api.ts';
import { type DecodeAttentionOptions, type FlashAttentionOptions, decodeAttention, flashAttention } from './kernels/attention.ts';
import { type DequantGemmOptions, type Generated, dequantGemm } from './kernels/dequant_gemm.ts';
import { BINDINGS_DTS, BINDINGS_RUNTIME } from './build_bindings.ts';
import { CudaUnavailable } from '../backends/cuda/runtime.ts';
import { type Config, type TuneTarget, TuneError, cachedChoice, dequantGemmRequest, tune, tuneDevice, wasmFingerprint } from './tune.ts';

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

type Options = Record<string, unknown>;

/** One entry of lib.json: a generator with options (optionally a product of option lists), or a file. */
interface Declaration {
  readonly name: string;
  readonly generator?: 'dequant-gemm' | 'flash-attention' | 'decode-attention';
  readonly options?: Options;
  readonly product?: Readonly<Record<string, readonly unknown[]>>;
  readonly source?: string;
  readonly set?: Readonly<Record<string, string | number>>;
  /** The sizes a dequant-GEMM's tiles are tuned for (M defaults to the options' m, else 1). */
  readonly tune?: { readonly M?: number; readonly K: number; readonly N: number };
  /** The CUDA artifacts' launch bounds (backends/cuda/emit.ts, CudaOptions). */
  readonly cuda?: CudaOptions;
}

/** A tuned form of an instance: the configuration chosen, the device it was timed on, its time. */
export interface Tuned {
  readonly config: Config;
  readonly device: string;
  readonly ms: number;
}

export interface Instance {
  readonly name: string;
  /** The kernel for wasm, and for every target when there is no gpuSource. */
  readonly source: string;
  /** The same kernel (same parameters) shaped for GPUs, for the CUDA and WGSL artifacts. */
  readonly gpuSource?: string;
  /** The kernel for WebGPU when it differs from gpuSource (no asynchronous copies there). */
  readonly wgslSource?: string;
  /** Template parameters, as [name, value] pairs (they travel to worker threads). */
  readonly set: readonly (readonly [string, string])[];
  /** Which kernel of the source, when it holds several (a kernel sequence's). */
  readonly kernel?: string;
  /** The tiles chosen by tuning, per target built. */
  readonly tuned?: Readonly<Partial<Record<BuildTarget, Tuned>>>;
  /** Options of the CUDA artifact's launch bounds. */
  readonly cuda?: CudaOptions;
}

/** Kernels of the library that run one after the other as one operation (the bindings' NAME runs them all). */
export interface Sequence {
  readonly name: string;
  readonly kernels: readonly string[];
}

export const BUILD_TARGETS = ['wasm', 'cuda', 'wgsl'] as const;
export type BuildTarget = (typeof BUILD_TARGETS)[number];

export interface Job {
  readonly instance: Instance;
  readonly hash: string;
  readonly relaxedSimd: boolean;
  readonly targets: readonly BuildTarget[];
  /** The smallest subgroup size the WGSL may assume, or null for none. */
  readonly wgslSubgroups: number | null;
}

/** An artifact: a path inside the output folder and its contents. */
export interface Artifact {
  readonly path: string;
  readonly data: Uint8Array | string;
}

/** Compiles one instance for every target: what a build worker does. */
export function compileInstance(job: Job): { files: Artifact[]; entry: ManifestKernel } {
  const i = job.instance;
  try {
    const k = compile(i.source, { set: new Map(i.set), file: `${i.name}.tile`, kernel: i.kernel });
    const files: Artifact[] = [];
    let entry: ManifestKernel = {
      name: i.name, targets: job.targets, hash: job.hash,
      params: k.params.map((p) => (p.kind === 'tensor' ? { name: p.name, kind: 'tensor', dtype: p.dtype, shape: p.shape } : { name: p.name, kind: 'scalar', dtype: p.dtype })),
      outputs: outputTensors(k),
      grid: k.grid, threads: k.threads,
      ...(i.tuned ? { tuned: i.tuned } : {}),
    };
    if (job.targets.includes('wasm')) {
      const wk = compileWasm(k, { relaxedSimd: job.relaxedSimd });
      files.push({ path: `wasm/${i.name}.wasm`, data: wk.bytes });
      entry = { ...entry, ...wasmEntry(i, wk.lowering, job.relaxedSimd) };
    }
    if (job.targets.includes('cuda') || job.targets.includes('wgsl')) {
      const kg = i.gpuSource ? compile(i.gpuSource, { set: new Map(i.set), file: `${i.name}.gpu.tile`, kernel: i.kernel }) : k;
      const signature = (x: typeof k): string => JSON.stringify(x.params);
      if (signature(kg) !== signature(k)) throw new Error('its GPU form takes other parameters than its wasm form');
      if (job.targets.includes('cuda')) {
        const lowered = lowerForCuda(kg, undefined, i.cuda ?? {});
        files.push({ path: `cuda/${i.name}.cu`, data: emitCudaFile([lowered]) }, { path: `cuda/${i.name}.h`, data: emitCudaHeader([{ kernel: lowered.kernel, lowered }], `TILEBIT_${i.name.toUpperCase()}_H`) });
        entry = {
          ...entry,
          cuda: {
            file: `cuda/${i.name}.cu`, header: `cuda/${i.name}.h`, grid: kg.grid, threads: lowered.threads, sharedBytes: lowered.sharedBytes, dynamicSharedBytes: dynamicSharedBytes(lowered), args: lowered.args.map((a) => a.name),
            ...(lowered.minBlocksPerSm !== undefined ? { minBlocksPerSm: lowered.minBlocksPerSm } : {}),
            ...(lowered.blockOffsets ? { blockOffsets: true as const } : {}),
            features: { mma: lowered.features.mma, cpAsync: usesStatement(lowered.module, 'copywords'), ldmatrix: usesStatement(lowered.module, 'ldmatrix'), warpShuffle: lowered.features.subgroups, dp4a: lowered.features.dot4x8 },
          },
        };
      }
      if (job.targets.includes('wgsl')) {
        const kw = i.wgslSource ? compile(i.wgslSource, { set: new Map(i.set), file: `${i.name}.wgsl.tile`, kernel: i.kernel }) : kg;
        if (signature(kw) !== signature(k)) throw new Error('its WebGPU form takes other parameters than its wasm form');
        const wl = lowerForGpu(kw, undefined, { subgroupMinSize: job.wgslSubgroups, dot4x8: false, mma: null });
        const w = emitWgsl(wl);
        files.push({ path: `wgsl/${i.name}.wgsl`, data: w.code }, { path: `wgsl/${i.name}.data`, data: dataImage(wl.module) });
        entry = {
          ...entry,
          wgsl: {
            file: `wgsl/${i.name}.wgsl`, data: `wgsl/${i.name}.data`, grid: kw.grid, threads: w.threads, sharedBytes: w.sharedBytes, bindings: w.bindings,
            args: wl.args.map((a) => a.name), traps: wl.module.traps,
            features: { shaderF16: false, dot4x8: wl.features.dot4x8, subgroups: wl.features.subgroups, ...(wl.features.subgroups ? { subgroupMinSize: job.wgslSubgroups! } : {}) },
          },
        };
      }
    }
    return { files, entry };
  } catch (e) {
    throw new BuildError(`kernel '${i.name}' failed to build: ${(e as Error).message}`);
  }
}

/**
 * A generator's forms: for wasm (`target: 'cpu'`), for CUDA (`'gpu'`) and for WebGPU (`'gpu'` without
 * asynchronous copies); one form for all when the options name the target.
 */
function forms<O extends { readonly target?: 'cpu' | 'gpu'; readonly asyncCopies?: boolean }>(generate: (o: O) => Generated, o: O): { source: string; gpuSource?: string; wgslSource?: string } {
  if (o.target) return { source: generate(o).source };
  return { source: generate({ ...o, target: 'cpu' }).source, gpuSource: generate({ ...o, target: 'gpu' }).source, wgslSource: generate({ ...o, target: 'gpu', asyncCopies: false }).source };
}

/** Whether a lowered kernel has a statement of kind `kind` (copywords: cp.async on CUDA; ldmatrix). */
function usesStatement(m: LModule, kind: LStmt['k']): boolean {
  const any = (body: readonly LStmt[]): boolean => body.some((s) => s.k === kind || (s.k === 'for' && any(s.body)) || (s.k === 'if' && (any(s.then) || any(s.else))));
  return m.functions.some((f) => any(f.body));
}

/**
 * A kernel of the manifest. The wasm fields (file, args, dataBytes, scratchBytes, traps, features) are
 * there when wasm was built; `cuda` and `wgsl` describe those artifacts: the launch arguments after the
 * tensor buffers (size symbols, then scalars), the grid and threads per block (a generated kernel may
 * be shaped differently for GPUs than for wasm: same parameters, other tiles), shared memory, and which
 * target features the code uses.
 */
export interface ManifestKernel {
  readonly name: string;
  readonly targets: readonly BuildTarget[];
  readonly hash: string;
  readonly params: readonly ({ name: string; kind: 'tensor'; dtype: string; shape: readonly SymExpr[] } | { name: string; kind: 'scalar'; dtype: string })[];
  readonly outputs: readonly string[];
  readonly grid: readonly SymExpr[];
  readonly threads: number;
  readonly file?: string;
  readonly args?: { readonly tensors: readonly string[]; readonly symbols: readonly string[]; readonly scalars: readonly { name: string; dtype: string }[] };
  readonly dataBytes?: number;
  readonly scratchBytes?: number;
  readonly traps?: readonly string[];
  readonly features?: { readonly simd: true; readonly relaxedSimd: boolean; readonly threads: true };
  /** Per target, the tiles tuning chose (see Tuned); absent for targets built with the default tiles. */
  readonly tuned?: Readonly<Partial<Record<BuildTarget, Tuned>>>;
  /**
   * dynamicSharedBytes: launch with this much dynamic shared memory (0: the kernel's shared memory is
   * static). blockOffsets: the kernel takes two more arguments after tb_err, its launch's first block
   * along y and z, so that a grid of more than 65535 blocks along y or z can be launched in pieces
   * (the header says how); absent where the grid is within that by its constants.
   */
  readonly cuda?: { readonly file: string; readonly header: string; readonly grid: readonly SymExpr[]; readonly threads: number; readonly sharedBytes: number; readonly dynamicSharedBytes: number; readonly minBlocksPerSm?: number; readonly args: readonly string[]; readonly blockOffsets?: true; readonly features: Readonly<Record<string, boolean>> };
  readonly wgsl?: {
    readonly file: string; readonly data: string; readonly traps: readonly string[]; readonly grid: readonly SymExpr[]; readonly threads: number; readonly sharedBytes: number;
    readonly bindings: readonly WgslBinding[]; readonly args: readonly string[];
    /** shaderF16, dot4x8, subgroups: whether the code needs them; subgroupMinSize: the subgroup size it assumes, when it uses subgroups. */
    readonly features: Readonly<Record<string, boolean | number>>;
  };
}

export interface BuildReport {
  readonly built: readonly string[];
  readonly reused: readonly string[];
}

const VERSION = 6; // bump when artifacts change meaning: it is part of every content hash

function expand(d: Declaration): { name: string; options: Options }[] {
  const keys = Object.keys(d.product ?? {});
  let combos: Options[] = [{}];
  for (const k of keys) combos = combos.flatMap((c) => d.product![k]!.map((v) => ({ ...c, [k]: v })));
  return combos.map((c) => ({ name: d.name.replace(/\{(\w+)\}/g, (_, k: string) => String(c[k])), options: { ...(d.options ?? {}), ...c } }));
}

/** How a build tunes: the cache, the targets whose candidates are timed here, and where lines go. */
interface Tuning {
  readonly cache: string;
  readonly time: readonly BuildTarget[];
  readonly targets: readonly BuildTarget[];
  /** Whether the wasm is built with relaxed SIMD: its candidates are timed so, and its cache entries say so. */
  readonly relaxedSimd: boolean;
  readonly progress: (line: string) => void;
}

const TUNE_ON: Readonly<Record<BuildTarget, TuneTarget>> = { wasm: 'wasm', cuda: 'cuda', wgsl: 'webgpu' };

/**
 * A tuned dequant-GEMM's forms: for each target built, the candidates are timed on that target's device
 * when the build was asked to tune it, and taken from the cache otherwise (the default tiles when the
 * cache has no entry for the kernel and sizes).
 */
async function tunedForms(name: string, o: DequantGemmOptions, sizes: Declaration['tune'], tuning: Tuning): Promise<{ forms: ReturnType<typeof forms>; tuned: Partial<Record<BuildTarget, Tuned>> }> {
  if (o.target) throw new Error(`"tune" chooses tiles for each target's form: drop "target" (${o.target}) from the options`);
  const num = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`"tune": ${what} must be a positive integer, not ${JSON.stringify(v)}`);
    return v;
  };
  if (typeof sizes !== 'object' || sizes === null) throw new Error('"tune" gives the sizes to tune for: { "M": 1, "K": 4096, "N": 4096 }');
  const M = num(sizes.M ?? o.m ?? 1, 'M');
  if (o.m !== undefined && M !== o.m) throw new Error(`"tune": M ${M} is not the kernel's m (${o.m})`);
  const at = { M, K: num(sizes.K, 'K'), N: num(sizes.N, 'N') };
  const out = { ...forms(dequantGemm, o) };
  const tuned: Partial<Record<BuildTarget, Tuned>> = {};
  const field = { wasm: 'source', cuda: 'gpuSource', wgsl: 'wgslSource' } as const;
  for (const target of tuning.targets) {
    const on = TUNE_ON[target];
    const request = dequantGemmRequest(o, at, on);
    // Without timing, this machine's own entry is preferred where knowing the device costs nothing (wasm).
    const choice = tuning.time.includes(target) ? await tune(request, { cache: tuning.cache, ...(await tuneDevice(on, tuning.relaxedSimd)) }) : cachedChoice(request, tuning.cache, on === 'wasm' ? wasmFingerprint(tuning.relaxedSimd) : undefined);
    const sizesText = `M=${at.M}, K=${at.K}, N=${at.N}`;
    if (!choice) {
      tuning.progress(`${name}: ${target}: default tiles (${tuning.cache} has no ${on} entry for ${sizesText}; --tune times the candidates)`);
      continue;
    }
    const what = Object.entries(choice.config).map(([k, v]) => `${k}=${v}`).join(', ');
    try {
      out[field[target]] = request.source(choice.config);
    } catch (e) {
      throw new Error(`the ${target} tiles ${what} of ${tuning.cache} (tuned on ${choice.device}) do not fit: ${(e as Error).message}`);
    }
    tuned[target] = { config: choice.config, device: choice.device, ms: choice.ms };
    tuning.progress(`${name}: ${target}: ${what} for ${sizesText}, ${choice.ms.toFixed(3)} ms on ${choice.device}${choice.fromCache ? ' (from the cache)' : ''}`);
  }
  return { forms: out, tuned };
}

/** A declaration's "cuda": { "minBlocksPerSm": N } (N a whole number of blocks; the lowering checks it against the threads). */
function checkCudaOptions(cuda: unknown): void {
  if (cuda === undefined) return;
  if (typeof cuda !== 'object' || cuda === null || Array.isArray(cuda)) throw new Error('"cuda" must be an object: { "minBlocksPerSm": N }');
  for (const [key, value] of Object.entries(cuda)) {
    if (key !== 'minBlocksPerSm') throw new Error(`"cuda" has no option "${key}"; it takes "minBlocksPerSm"`);
    if (!Number.isInteger(value) || (value as number) < 1) throw new Error(`"cuda": "minBlocksPerSm" must be a whole number of blocks, at least 1; got ${JSON.stringify(value)}`);
  }
}

async function instancesOf(lib: { kernels?: readonly Declaration[] }, base: string, tuning: Tuning): Promise<{ instances: Instance[]; sequences: Sequence[] }> {
  if (!Array.isArray(lib.kernels) || lib.kernels.length === 0) throw new BuildError('lib.json declares no kernels: give "kernels": [{ "name": ..., "generator" or "source": ... }]');
  if (tuning.time.length > 0 && !lib.kernels.some((d) => d.tune)) throw new BuildError('--tune: no kernel of lib.json gives sizes to tune for ("tune": { "M": 1, "K": 4096, "N": 4096 } in a dequant-gemm declaration)');
  const out: Instance[] = [];
  const sequences: Sequence[] = [];
  for (const d of lib.kernels) {
    for (const { name, options } of expand(d)) {
      if (!/^[A-Za-z_]\w*$/.test(name)) throw new BuildError(`kernel instance name '${name}' is not an identifier`);
      let source: string;
      let gpuSource: string | undefined;
      let wgslSource: string | undefined;
      let kernels: readonly string[] | undefined;
      let tuned: Partial<Record<BuildTarget, Tuned>> | undefined;
      try {
        if (d.tune !== undefined && d.generator !== 'dequant-gemm') throw new Error('"tune" applies to dequant-gemm declarations only');
        checkCudaOptions(d.cuda);
        if (d.source) source = readFileSync(resolve(base, d.source), 'utf8');
        // Generated kernels: a form per target (wasm, CUDA, WebGPU) unless the options fix the target.
        else if (d.generator === 'dequant-gemm' && d.tune !== undefined) ({ forms: { source, gpuSource, wgslSource }, tuned } = await tunedForms(name, { ...(options as unknown as DequantGemmOptions), name }, d.tune, tuning));
        else if (d.generator === 'dequant-gemm') ({ source, gpuSource, wgslSource } = forms(dequantGemm, { ...(options as unknown as DequantGemmOptions), name }));
        else if (d.generator === 'flash-attention') ({ source, gpuSource, wgslSource } = forms(flashAttention, { ...(options as unknown as FlashAttentionOptions), name }));
        else if (d.generator === 'decode-attention') ({ source, kernels } = decodeAttention({ ...(options as unknown as DecodeAttentionOptions), name }));
        else throw new Error('give "source" (a .tile file) or "generator" (dequant-gemm, flash-attention, decode-attention)');
      } catch (e) {
        if (e instanceof TuneError || e instanceof CudaUnavailable || (e as Error).name === 'WebGpuUnavailable') throw new BuildError(`kernel '${name}' could not be tuned: ${(e as Error).message}`);
        throw new BuildError(`kernel '${name}' failed to build: ${(e as Error).message}`);
      }
      const set = Object.entries({ ...(d.set ?? {}), ...(d.source ? options : {}) }).map(([k, v]) => [k, String(v)] as const);
      const shapes = { ...(gpuSource ? { gpuSource } : {}), ...(wgslSource && wgslSource !== gpuSource ? { wgslSource } : {}), ...(d.cuda ? { cuda: d.cuda } : {}) };
      // A sequence of kernels (split decode attention): an instance per kernel, run in order as `name`.
      if (kernels) {
        for (const kernel of kernels) out.push({ name: kernel, source, ...shapes, set, kernel });
        sequences.push({ name, kernels });
      } else out.push({ name, source, ...shapes, set, ...(tuned && Object.keys(tuned).length ? { tuned } : {}) });
    }
  }
  const names = [...out.map((i) => i.name), ...sequences.map((s) => s.name)];
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new BuildError(`two kernel instances are named '${dup}'`);
  return { instances: out.sort((a, b) => a.name.localeCompare(b.name)), sequences: sequences.sort((a, b) => a.name.localeCompare(b.name)) };
}

const hashOf = (i: Instance, relaxedSimd: boolean, targets: readonly BuildTarget[], wgslSubgroups: number | null): string =>
  createHash('sha256').update(JSON.stringify({ VERSION, source: i.source, kernel: i.kernel ?? null, gpuSource: i.gpuSource ?? null, wgslSource: i.wgslSource ?? null, tuned: i.tuned ?? null, cuda: i.cuda ?? null, set: [...i.set].sort(), relaxedSimd, targets, wgslSubgroups })).digest('hex').slice(0, 16);

/** Whether this is the compiled build (dist/, `npm run build`) rather than the TypeScript sources. */
const COMPILED = import.meta.url.endsWith('.js');

/** Compiles jobs on worker threads, `count` at a time; calls `done` as each finishes. */
async function compileOnWorkers(jobs: readonly Job[], count: number, done: (name: string, r: { files: Artifact[]; entry: ManifestKernel }) => void): Promise<void> {
  const lanes = Array.from({ length: Math.min(count, jobs.length) }, (_, w) => jobs.filter((_, j) => j % count === w));
  let failure: string | null = null;
  await Promise.all(lanes.map((lane) => new Promise<void>((resolvePromise, reject) => {
    // From the sources a worker registers the TypeScript loader first; the compiled build's worker is JavaScript.
    const worker = COMPILED
      ? new Worker(new URL('./build_worker.js', import.meta.url), { workerData: { jobs: lane } })
      : new Worker(new URL('./ts_worker.mjs', import.meta.url), { workerData: { module: new URL('./build_worker.ts', import.meta.url).href, jobs: lane } });
    let left = lane.length;
    worker.on('message', (m: { name: string; files?: Artifact[]; entry?: ManifestKernel; error?: string }) => {
      if (m.error) failure ??= m.error;
      else done(m.name, { files: m.files!, entry: m.entry! });
      if (--left === 0) void worker.terminate().then(() => resolvePromise());
    });
    worker.on('error', reject);
  })));
  if (failure) throw new BuildError(failure);
}

function wasmEntry(i: Instance, lowering: ReturnType<typeof compileWasm>['lowering'], relaxedSimd: boolean): Partial<ManifestKernel> {
  return {
    file: `wasm/${i.name}.wasm`,
    args: { tensors: lowering.args.tensors, symbols: lowering.args.symbols, scalars: lowering.args.scalars.map((s) => ({ name: s.name, dtype: s.dtype })) },
    dataBytes: lowering.module.dataBytes, scratchBytes: lowering.module.scratchBytes, traps: lowering.module.traps,
    features: { simd: true, relaxedSimd, threads: true },
  };
}

export interface BuildOptions {
  readonly out: string;
  /** Worker threads that compile (default: one per core; 1 compiles on this thread). */
  readonly workers?: number;
  readonly targets?: readonly string[];
  /** Use relaxed SIMD (engines must support it; off by default for portability). */
  readonly relaxedSimd?: boolean;
  /**
   * Let the WGSL exchange values within subgroups of at least this many invocations (a power of two;
   * devices must offer the `subgroups` feature with subgroups that large). Off by default.
   */
  readonly wgslSubgroups?: number;
  /**
   * Targets whose tuned declarations (`"tune"` in lib.json) are timed on this machine's device for the
   * target (wasm: this CPU; wgsl: this process's WebGPU adapter; cuda: this machine's GPU). Choices are
   * cached; targets not named here take the cache's choice, timed on any device of the target.
   */
  readonly tune?: readonly string[];
  /** The tuning cache (default: lib.json's "tuneCache", else tilebit-tune.json beside lib.json). */
  readonly tuneCache?: string;
  readonly progress?: (line: string) => void;
}

export async function build(libFile: string, options: BuildOptions): Promise<BuildReport> {
  const targets = [...new Set(options.targets ?? ['wasm'])].sort() as BuildTarget[];
  for (const t of targets) if (!(BUILD_TARGETS as readonly string[]).includes(t)) throw new BuildError(`unknown target '${t}': the builder writes ${BUILD_TARGETS.join(', ')}`);
  const tuneTargets = [...new Set(options.tune ?? [])];
  for (const t of tuneTargets) if (!targets.includes(t as BuildTarget)) throw new BuildError(`--tune ${t}: not a target of this build (${targets.join(', ')})`);
  let lib: { name?: string; kernels?: Declaration[]; tuneCache?: string };
  try {
    lib = JSON.parse(readFileSync(libFile, 'utf8'));
  } catch (e) {
    throw new BuildError(`cannot read ${libFile}: ${(e as Error).message}`);
  }
  const base = dirname(resolve(libFile));
  const relaxedSimd = options.relaxedSimd ?? false;
  const tuning: Tuning = { cache: options.tuneCache ?? resolve(base, lib.tuneCache ?? 'tilebit-tune.json'), time: tuneTargets as BuildTarget[], targets, relaxedSimd, progress: options.progress ?? (() => {}) };
  const { instances, sequences } = await instancesOf(lib, base, tuning);
  const wgslSubgroups = options.wgslSubgroups ?? null;
  if (wgslSubgroups !== null && !(Number.isInteger(wgslSubgroups) && wgslSubgroups >= 2 && (wgslSubgroups & (wgslSubgroups - 1)) === 0)) {
    throw new BuildError(`--wgsl-subgroups ${wgslSubgroups}: the smallest subgroup size must be a power of two, at least 2`);
  }
  const out = resolve(options.out);
  const previous: { kernels?: ManifestKernel[] } = existsSync(join(out, 'manifest.json')) ? JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) : {};
  const old = new Map((previous.kernels ?? []).map((k) => [k.name, k]));
  const staging = `${out}.partial`;
  rmSync(staging, { recursive: true, force: true });
  for (const t of targets) mkdirSync(join(staging, t), { recursive: true });
  const kernels: ManifestKernel[] = [];
  const built: string[] = [];
  const reused: string[] = [];
  try {
    const jobs: Job[] = [];
    let finished = 0;
    const note = (name: string, what: string): void => options.progress?.(`[${++finished}/${instances.length}] ${name}: ${what}`);
    for (const inst of instances) {
      const hash = hashOf(inst, relaxedSimd, targets, wgslSubgroups);
      const before = old.get(inst.name);
      const previousFiles = before ? artifactsOf(before) : [];
      if (before && before.hash === hash && previousFiles.every((f) => existsSync(join(out, f)))) {
        for (const f of previousFiles) cpSync(join(out, f), join(staging, f));
        kernels.push(before);
        reused.push(inst.name);
        note(inst.name, 'unchanged');
      } else jobs.push({ instance: inst, hash, relaxedSimd, targets, wgslSubgroups });
    }
    const finish = (name: string, r: { files: Artifact[]; entry: ManifestKernel }): void => {
      for (const f of r.files) writeFileSync(join(staging, f.path), f.data);
      kernels.push(r.entry);
      built.push(name);
      note(name, 'built');
    };
    const workers = options.workers ?? availableParallelism();
    if (workers > 1 && jobs.length > 1) await compileOnWorkers(jobs, workers, finish);
    else for (const job of jobs) finish(job.instance.name, compileInstance(job));
    kernels.sort((a, b) => a.name.localeCompare(b.name));
    built.sort();
    const manifest = { library: lib.name ?? 'kernels', builder: `tilebit/${VERSION}`, kernels, ...(sequences.length ? { sequences } : {}) };
    writeFileSync(join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    const exports = [
      ...kernels.filter((k) => k.file).map((k) => `export const ${k.name} = (tensors, scalars, options) => launch('${k.name}', tensors, scalars, options);`),
      ...kernels.filter((k) => k.wgsl).map((k) => `export const ${k.name}_webgpu = (tensors, scalars, options) => launchWebGpu('${k.name}', tensors, scalars, options);`),
      ...sequences.filter((q) => kernels.find((k) => k.name === q.kernels[0])!.file).map((q) => `export const ${q.name} = (tensors, scalars, options) => launchSequenceWasm('${q.name}', tensors, scalars, options);`),
      ...sequences.filter((q) => kernels.find((k) => k.name === q.kernels[0])!.wgsl).map((q) => `export const ${q.name}_webgpu = (tensors, scalars, options) => launchSequenceWebGpu('${q.name}', tensors, scalars, options);`),
    ];
    writeFileSync(join(staging, 'index.js'), `${BINDINGS_RUNTIME}\n${exports.join('\n')}\n`);
    writeFileSync(join(staging, 'index.d.ts'), bindingsDts(kernels, sequences));
    // The worker that runs blocks for launches with options.workers > 1 (plain JavaScript, no imports).
    if (kernels.some((k) => k.file)) writeFileSync(join(staging, 'worker.js'), readFileSync(new URL('../backends/wasm/worker.js', import.meta.url)));
    // The bindings are an ES module: say so, for Node.js and bundlers.
    const pkg = { name: lib.name ?? 'kernels', private: true, type: 'module', main: 'index.js', types: 'index.d.ts' };
    writeFileSync(join(staging, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  // Swap: the previous output stays whole until the new one is complete.
  const retired = `${out}.previous`;
  rmSync(retired, { recursive: true, force: true });
  if (existsSync(out)) renameSync(out, retired);
  renameSync(staging, out);
  rmSync(retired, { recursive: true, force: true });
  return { built, reused };
}

const TS_ARRAYS: Readonly<Record<string, string>> = { f32: 'Float32Array', i32: 'Int32Array', u32: 'Uint32Array' };

/** The files of a manifest entry, relative to the output folder. */
const artifactsOf = (k: ManifestKernel): string[] => [k.file, k.cuda?.file, k.cuda?.header, k.wgsl?.file, k.wgsl?.data].filter((f): f is string => f !== undefined);

function bindingsDts(kernels: readonly ManifestKernel[], sequences: readonly Sequence[]): string {
  const lines = [BINDINGS_DTS];
  type Param = ManifestKernel['params'][number];
  const declare = (name: string, about: string, params: readonly Param[], optional: ReadonlySet<string>, outputs: readonly string[], wasm: boolean, webgpu: boolean): void => {
    const tensors = params.filter((p) => p.kind === 'tensor').map((p) => `${p.name}${optional.has(p.name) ? '?' : ''}: TensorArg<${TS_ARRAYS[p.dtype] ?? 'Uint8Array'}>`);
    const scalars = params.filter((p) => p.kind === 'scalar').map((p) => `${p.name}: number`);
    const outs = outputs.map((o) => `${o}: Uint8Array`).join('; ');
    const args = `tensors: { ${tensors.join('; ')} }${scalars.length ? `, scalars: { ${scalars.join('; ')} }` : ''}`;
    if (wasm) {
      lines.push(`/** ${name} on wasm${about}: tensors as bit streams (see TensorArg); returns the outputs' bit streams. */`);
      lines.push(`export function ${name}(${args}${scalars.length ? '' : ', scalars?: Record<string, never>'}, options?: WasmOptions): Promise<{ ${outs} }>;`);
    }
    if (webgpu) {
      lines.push(`/** ${name} on WebGPU${about} (options.device, or the first adapter's). */`);
      lines.push(`export function ${name}_webgpu(${args}${scalars.length ? '' : ', scalars?: Record<string, never>'}, options?: { device?: unknown }): Promise<{ ${outs} }>;`);
    }
  };
  for (const k of kernels) declare(k.name, '', k.params, new Set(), k.outputs, !!k.file, !!k.wgsl);
  for (const q of sequences) {
    const ks = q.kernels.map((n) => kernels.find((k) => k.name === n)!);
    const params = [...new Map(ks.flatMap((k) => k.params).map((p) => [p.name, p])).values()];
    // Workspaces: written by one kernel of the sequence before another reads them; made when not given.
    const written = new Set(ks.slice(0, -1).flatMap((k) => k.outputs));
    const outputs = [...new Set(ks.flatMap((k) => k.outputs))].filter((o) => !written.has(o));
    declare(q.name, ` (the kernels ${q.kernels.join(', ')}, in turn; workspaces ${[...written].join(', ')} are made when not given)`, params, written, outputs, !!ks[0]!.file, !!ks[0]!.wgsl);
  }
  return lines.join('\n') + '\n';
}
