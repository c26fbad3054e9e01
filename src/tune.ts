// The autotuner: times candidate tile configurations of a generated kernel on the target at hand and
// remembers the fastest in a JSON cache, keyed by kernel, shape bucket and a fingerprint of the device.
// With a cache entry present nothing is timed, so a given cache makes builds deterministic.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { compileWasm } from '../backends/wasm/runtime.ts';
import { bindLaunch } from '../backends/wasm/workers.ts';
import { detectFeatures } from '../backends/wasm/rules.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { compile, prepareTensors } from './api.ts';

export type Config = Readonly<Record<string, number>>;

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
  /** Milliseconds per run, as measured when the entry was made. */
  readonly ms: number;
  readonly fromCache: boolean;
  readonly key: string;
}

interface CacheFile {
  readonly version: 1;
  readonly entries: Record<string, { config: Config; ms: number; measured: string }>;
}

/** The wasm device: CPU model, cores, relaxed SIMD. */
export function wasmFingerprint(): string {
  return `wasm/${cpus()[0]?.model.trim() ?? 'cpu'}/${availableParallelism()} threads/${detectFeatures().relaxedSimd ? 'relaxed-simd' : 'simd'}`;
}

/** M in powers of two (decode-sized Ms each their own); other sizes exactly. */
export function shapeBucket(sizes: Readonly<Record<string, number>>): string {
  return Object.entries(sizes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${k === 'M' && v > 4 ? `<=${2 ** Math.ceil(Math.log2(v))}` : v}`)
    .join(',');
}

/** Times one configuration on wasm: compile, bind random inputs, best of a few runs. */
export async function timeOnWasm(source: string, sizes: Readonly<Record<string, number>>): Promise<number> {
  const k = compile(source);
  const values = new Map(Object.entries(sizes));
  const outputs = new Set(outputTensors(k));
  const launch = bindLaunch(compileWasm(k), prepareTensors(k, { values }, outputs), values);
  await launch.run();
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await launch.run();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

export interface TuneOptions {
  /** The JSON cache; created when missing. */
  readonly cache?: string;
  readonly fingerprint?: string;
  /** How a candidate is timed (default: on wasm). */
  readonly measure?: (source: string, sizes: Readonly<Record<string, number>>) => Promise<number>;
}

export async function tune(request: TuneRequest, options: TuneOptions = {}): Promise<TuneResult> {
  if (request.candidates.length === 0) throw new Error(`tune: no candidate configurations for ${request.kernel}`);
  const key = `${request.kernel} | ${shapeBucket(request.sizes)} | ${options.fingerprint ?? wasmFingerprint()}`;
  const file: CacheFile = options.cache && existsSync(options.cache) ? JSON.parse(readFileSync(options.cache, 'utf8')) : { version: 1, entries: {} };
  const hit = file.entries[key];
  if (hit) return { config: hit.config, ms: hit.ms, fromCache: true, key };
  const measure = options.measure ?? timeOnWasm;
  let best: { config: Config; ms: number } | null = null;
  for (const config of request.candidates) {
    const ms = await measure(request.source(config), request.sizes);
    if (!best || ms < best.ms) best = { config, ms };
  }
  file.entries[key] = { ...best!, measured: new Date().toISOString() };
  if (options.cache) writeFileSync(options.cache, JSON.stringify(file, null, 2) + '\n');
  return { ...best!, fromCache: false, key };
}

/** Candidate tiles of a dequant-GEMM on wasm for M rows and a group size. */
export function dequantGemmCandidates(M: number, groupSize: number): Config[] {
  const ms = M <= 4 ? [1] : [4, 8, 16, 32];
  const ks = [32, 64, 128].filter((k) => groupSize % k === 0);
  const out: Config[] = [];
  for (const BM of ms) for (const BN of [32, 64, 128]) for (const BK of ks.length ? ks : [groupSize]) out.push({ BM, BN, BK });
  return out;
}
