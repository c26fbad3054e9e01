// The autotuner: times candidate tile configurations of a generated kernel on the target at hand (wasm,
// WebGPU or CUDA) and remembers the fastest in a JSON cache, keyed by kernel, shape bucket and a
// fingerprint of the device. With a cache entry present nothing is timed, so a given cache makes builds
// deterministic.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { CudaUnavailable, runCuda } from '../backends/cuda/runtime.ts';
import { compileWasm } from '../backends/wasm/runtime.ts';
import { bindLaunch } from '../backends/wasm/workers.ts';
import { detectFeatures } from '../backends/wasm/rules.ts';
import { bindWebGpu, gpuContext } from '../backends/wgsl/runtime.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { compile, prepareTensors } from './api.ts';
import { webGpuKernel } from './builds.ts';
import { type DequantGemmOptions, dequantGemm } from './kernels/dequant_gemm.ts';

export type Config = Readonly<Record<string, number>>;

/** Tuning that found nothing to choose: every candidate failed to build or run (the reasons are listed). */
export class TuneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TuneError';
  }
}

export interface TuneRequest {
  /** What is tuned, e.g. "dequant-gemm u4 f16 f16 g128". */
  readonly kernel: string;
  /** Sizes the kernel will see. */
  readonly sizes: Readonly<Record<string, number>>;
  readonly candidates: readonly Config[];
  /** The kernel's source for a configuration. */
  readonly source: (config: Config) => string;
}

export interface TuneResult {
  readonly config: Config;
  /** The fingerprint of the device the choice was timed on. */
  readonly device: string;
  /** Candidates that could not be timed (a device limit, a failed compile), with why; empty from the cache. */
  readonly skipped: readonly { readonly config: Config; readonly reason: string }[];
  /** Milliseconds per run, as measured when the entry was made. */
  readonly ms: number;
  readonly fromCache: boolean;
  readonly key: string;
}

interface CacheFile {
  readonly version: 1;
  readonly entries: Record<string, { config: Config; ms: number; measured: string }>;
}

/** The wasm device: CPU model, cores, and whether kernels use relaxed SIMD (by default, where the engine has it). */
export function wasmFingerprint(relaxedSimd = detectFeatures().relaxedSimd): string {
  return `wasm/${cpus()[0]?.model.trim() ?? 'cpu'}/${availableParallelism()} threads/${relaxedSimd ? 'relaxed-simd' : 'simd'}`;
}

/** M in powers of two (decode-sized Ms each their own); other sizes exactly. */
export function shapeBucket(sizes: Readonly<Record<string, number>>): string {
  return Object.entries(sizes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${k === 'M' && v > 4 ? `<=${2 ** Math.ceil(Math.log2(v))}` : v}`)
    .join(',');
}

/** The WebGPU device: its adapter's vendor, architecture and description. */
export async function webGpuFingerprint(): Promise<string> {
  const ctx = await gpuContext();
  return `webgpu/${ctx.adapterInfo || 'an adapter that does not describe itself'}`;
}

/** The CUDA device: its name and driver, from nvidia-smi. */
export function cudaFingerprint(): string {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { encoding: 'utf8' });
  const first = r.status === 0 ? r.stdout.split('\n')[0]!.trim() : '';
  if (!first) throw new CudaUnavailable(`tuning for CUDA times the candidates on a CUDA device, and this machine has none (${r.error ? 'nvidia-smi is not on the PATH' : r.stderr.trim() || 'nvidia-smi lists no GPU'})`);
  return `cuda/${first}`;
}

/** A candidate's kernel and a launch of it at `sizes` on random inputs: what every target times. */
function randomLaunch(source: string, sizes: Readonly<Record<string, number>>) {
  const k = compile(source);
  const values = new Map(Object.entries(sizes));
  const outputs = new Set(outputTensors(k));
  return { k, values, outputs, tensors: prepareTensors(k, { values }, outputs) };
}

/**
 * Times one configuration on wasm: compile (with relaxed SIMD where the engine has it, unless
 * `relaxedSimd` says), bind random inputs, best of a few runs.
 */
export async function timeOnWasm(source: string, sizes: Readonly<Record<string, number>>, relaxedSimd?: boolean): Promise<number> {
  const { k, values, tensors } = randomLaunch(source, sizes);
  const launch = bindLaunch(compileWasm(k, { relaxedSimd }), tensors, values);
  await launch.run();
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await launch.run();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/**
 * Times one configuration on WebGPU (this process's device): compile for the device, bind random
 * inputs, run once (a failed assert throws), then the best of three timed submissions of enough launches
 * to take about 20 ms.
 */
export async function timeOnWebGpu(source: string, sizes: Readonly<Record<string, number>>): Promise<number> {
  const { k, values, tensors, outputs } = randomLaunch(source, sizes);
  const ctx = await gpuContext();
  const launch = await bindWebGpu(webGpuKernel(k, ctx.gpuFeatures, ctx.wgslOptions), tensors, values, outputs);
  try {
    await launch.run();
    const once = await launch.time(1);
    const repeats = Math.max(1, Math.min(200, Math.round(20 / Math.max(once, 1e-3))));
    let best = Infinity;
    for (let i = 0; i < 3; i++) best = Math.min(best, await launch.time(repeats));
    return best;
  } finally {
    launch.destroy();
  }
}

/**
 * Times one configuration on this machine's CUDA device: nvcc builds the kernel and the host harness,
 * which times ten launches with CUDA events (outputs stored with `+=` zeroed before each, inside the
 * timing). Without nvcc or a device it throws CudaUnavailable.
 */
export async function timeOnCuda(source: string, sizes: Readonly<Record<string, number>>): Promise<number> {
  const { k, values, tensors, outputs } = randomLaunch(source, sizes);
  return runCuda(k, tensors, values, outputs).ms;
}

export interface TuneOptions {
  /** The JSON cache; created when missing. */
  readonly cache?: string;
  readonly fingerprint?: string;
  /** How a candidate is timed (default: on wasm). */
  readonly measure?: (source: string, sizes: Readonly<Record<string, number>>) => Promise<number>;
}

/** A cache key without its device: kernel and shape bucket; the device's fingerprint follows it. */
const keyPrefix = (request: Pick<TuneRequest, 'kernel' | 'sizes'>): string => `${request.kernel} | ${shapeBucket(request.sizes)} | `;

export async function tune(request: TuneRequest, options: TuneOptions = {}): Promise<TuneResult> {
  if (request.candidates.length === 0) throw new TuneError(`tune: no candidate configurations for ${request.kernel}`);
  const device = options.fingerprint ?? wasmFingerprint();
  const key = keyPrefix(request) + device;
  const file = readCache(options.cache);
  const hit = file.entries[key];
  if (hit) return { config: hit.config, ms: hit.ms, fromCache: true, key, device, skipped: [] };
  const measure = options.measure ?? timeOnWasm;
  let best: { config: Config; ms: number } | null = null;
  const skipped: { config: Config; reason: string }[] = [];
  for (const config of request.candidates) {
    let ms: number;
    try {
      ms = await measure(request.source(config), request.sizes);
    } catch (e) {
      // A target that is missing fails every candidate alike: that is the tuning's error, not a skip.
      if (e instanceof CudaUnavailable || (e as Error).name === 'WebGpuUnavailable') throw e;
      skipped.push({ config, reason: (e as Error).message.split('\n')[0]! });
      continue;
    }
    if (!best || ms < best.ms) best = { config, ms };
  }
  if (!best) throw new TuneError(`tune: no candidate of ${request.kernel} could be timed:\n${skipped.map((s) => `  ${JSON.stringify(s.config)}: ${s.reason}`).join('\n')}`);
  file.entries[key] = { ...best, measured: new Date().toISOString() };
  if (options.cache) writeFileSync(options.cache, JSON.stringify(file, null, 2) + '\n');
  return { ...best, fromCache: false, key, device, skipped };
}

function readCache(cache: string | undefined): CacheFile {
  if (!cache || !existsSync(cache)) return { version: 1, entries: {} };
  try {
    const file = JSON.parse(readFileSync(cache, 'utf8')) as CacheFile;
    if (file.version === 1 && typeof file.entries === 'object' && file.entries !== null) return file;
  } catch (e) {
    throw new TuneError(`tune cache ${cache}: ${(e as Error).message}`);
  }
  throw new TuneError(`tune cache ${cache}: not a tilebit tuning cache (version 1 with "entries")`);
}

/**
 * The cached choice for a request without timing anything: the entry of device `fingerprint` when there
 * is one, else the most recently measured entry of any device for the same kernel and shape bucket (the
 * kernel names its target, so that is a device of the same target), else null. What a build uses when
 * it is not asked to tune: the choices travel with the cache file to machines that lack the device.
 */
export function cachedChoice(request: Pick<TuneRequest, 'kernel' | 'sizes'>, cache: string, fingerprint?: string): TuneResult | null {
  const prefix = keyPrefix(request);
  const entries = Object.entries(readCache(cache).entries).filter(([k]) => k.startsWith(prefix));
  const exact = entries.find(([k]) => k === prefix + fingerprint);
  const latest = entries.sort(([ka, a], [kb, b]) => b.measured.localeCompare(a.measured) || ka.localeCompare(kb))[0];
  const [key, e] = exact ?? latest ?? [];
  return key && e ? { config: e.config, ms: e.ms, fromCache: true, key, device: key.slice(prefix.length), skipped: [] } : null;
}

/** Where a tuning times its candidates: wasm on this machine, WebGPU on this process's adapter, CUDA on this machine's GPU. */
export type TuneTarget = 'wasm' | 'webgpu' | 'cuda';

/**
 * How candidates are timed on a target, and the device's fingerprint (throws where the device is
 * missing). `relaxedSimd` (wasm): whether the kernels will use relaxed SIMD (default: where the engine
 * has it); the candidates are timed as they will be built.
 */
export async function tuneDevice(on: TuneTarget, relaxedSimd?: boolean): Promise<{ measure: NonNullable<TuneOptions['measure']>; fingerprint: string }> {
  if (on === 'webgpu') return { measure: timeOnWebGpu, fingerprint: await webGpuFingerprint() };
  if (on === 'cuda') return { measure: timeOnCuda, fingerprint: cudaFingerprint() };
  return { measure: (source, sizes) => timeOnWasm(source, sizes, relaxedSimd), fingerprint: wasmFingerprint(relaxedSimd) };
}

/**
 * A dequant-GEMM's tuning request for its form on `on` (tiles for wasm, the GPU form for CUDA, the GPU
 * form without asynchronous copies for WebGPU) at sizes M, K, N. The kernel name keys the cache that
 * `tilebit gen --tune` and `tilebit build` share.
 */
export function dequantGemmRequest(options: DequantGemmOptions, sizes: { readonly M: number; readonly K: number; readonly N: number }, on: TuneTarget): TuneRequest & { readonly form: DequantGemmOptions } {
  const form: DequantGemmOptions = { ...options, target: on === 'wasm' ? 'cpu' : 'gpu', ...(on === 'webgpu' ? { asyncCopies: false } : {}) };
  // The weight order is part of the data: tuning keeps it, and in panels the N tile is the panel width.
  const order = options.weightOrder ?? 'rows';
  if (order === 'panels' && options.blockN === undefined) throw new TuneError('tuning a kernel that reads weights in panels needs their width as its N tile (blockN, --bn)');
  const kernel = `dequant-gemm ${on === 'wasm' ? '' : `${on} `}${options.weight} ${options.activation ?? 'f16'} ${options.scale ?? ''} g${options.groupSize} z${options.zeroPoint ?? '-'}${(options.splitK ?? 1) > 1 ? ' splitk' : ''}${order === 'rows' ? '' : ` ${order}${order === 'panels' ? options.blockN : ''}`}`;
  const all = on === 'wasm' ? dequantGemmCandidates(sizes.M, options.groupSize) : gpuDequantGemmCandidates(sizes, form);
  const candidates = order === 'rows' ? all : all.filter((c) => (order !== 'panels' || c.BN === undefined || c.BN === options.blockN) && generates(form, c));
  return { kernel, sizes, candidates, form, source: (c) => dequantGemm(withConfig(form, c)).source };
}

/** Candidate tiles of a dequant-GEMM on wasm for M rows and a group size. */
export function dequantGemmCandidates(M: number, groupSize: number): Config[] {
  const ms = M <= 4 ? [1] : [4, 8, 16, 32];
  const ks = [32, 64, 128].filter((k) => groupSize % k === 0);
  const out: Config[] = [];
  for (const BM of ms) for (const BN of [32, 64, 128]) for (const BK of ks.length ? ks : [groupSize]) out.push({ BM, BN, BK });
  return out;
}

/**
 * Candidate configurations of a dequant-GEMM's GPU form (CUDA, WebGPU) for sizes M, K, N: T threads per
 * block, with BK (the GEMV's K tile; and RK, its rows per thread) or BM and BN (the tiles') where M or
 * fragment order asks for the tiles. Tuning never
 * changes the kernel's parameters: a kernel split along K (base.splitK > 1: C is f32 and accumulated)
 * also tries SK = 2, 4, 8 and 16 blocks along K, up to the number of groups; an unsplit one stays
 * unsplit. Only configurations the generator accepts are listed.
 */
export function gpuDequantGemmCandidates(sizes: { readonly M: number; readonly K: number; readonly N: number }, base: DequantGemmOptions): Config[] {
  const groupSize = base.groupSize;
  const groups = Math.floor(sizes.K / groupSize);
  const splits = (base.splitK ?? 1) > 1 ? [...new Set([2, 4, 8, 16].filter((s) => s <= groups).concat(base.splitK!))].sort((a, b) => a - b) : [1];
  const out: Config[] = [];
  // Weights in fragment order are read by the MMA tiles at every M (the GEMV reads rows or panels).
  if (sizes.M <= 4 && base.weightOrder !== 'fragments') {
    const bks = [32, 64, 128].filter((b) => groupSize % b === 0);
    for (const T of [128, 256]) for (const BK of bks.length ? bks : [groupSize]) for (const SK of splits) out.push({ T, BK, SK });
    // And 8 rows of each K tile per thread (rowsPerThread), with the longest K tile.
    const BK = Math.max(...(bks.length ? bks : [groupSize]));
    for (const T of [128, 256]) for (const SK of splits) out.push({ T, BK, SK, RK: 8 });
  } else {
    const top = Math.min(128, Math.max(8, 2 ** Math.ceil(Math.log2(sizes.M))));
    // Tiles of 8 rows (M of 8 or fewer) put the weights in the MMA's A operand (the generator's
    // weightOperand default), 16 rows or more in its B operand.
    const bms = [...new Set([Math.max(16, top / 2), Math.min(64, top), top])].filter((b) => b >= 8);
    for (const BM of bms) {
      for (const BN of [32, 64, 128]) {
        for (const T of [128, 256]) {
          // Split-K where the output tiles are too few to fill a large GPU (about 4 per SM of 132).
          const tiles = Math.ceil(sizes.M / BM) * Math.ceil(sizes.N / BN);
          for (const SK of splits) if (SK === 1 || tiles * SK <= 4 * 132) out.push({ BM, BN, T, SK });
        }
      }
    }
  }
  return out.filter((c) => generates(base, c));
}

/** Whether the generator accepts options `base` with configuration `c`. */
function generates(base: DequantGemmOptions, c: Config): boolean {
  try {
    dequantGemm(withConfig(base, c));
    return true;
  } catch {
    return false;
  }
}

/** A dequant-GEMM's options with a tuned configuration (BM, BN, BK, T: threads, SK: split-K, RK: the GEMV's rows per thread) applied. */
export function withConfig(base: DequantGemmOptions, c: Config): DequantGemmOptions {
  return {
    ...base,
    ...(c.BM !== undefined ? { blockM: c.BM } : {}),
    ...(c.BN !== undefined ? { blockN: c.BN } : {}),
    ...(c.BK !== undefined ? { blockK: c.BK } : {}),
    ...(c.T !== undefined ? { threads: c.T } : {}),
    ...(c.SK !== undefined ? { splitK: c.SK } : {}),
    ...(c.RK !== undefined ? { rowsPerThread: c.RK } : {}),
  };
}
