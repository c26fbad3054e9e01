// What the playground page does, without the page: compile a `.tile` source with its settings into the
// views the page shows (Tile IR, WGSL, CUDA C, wasm text, diagnostics with line and column), and run a
// compiled kernel on a target against the VM. The page (main.ts) only draws these; the tests call them
// in Node as well.

import { parse } from '../dsl/parse.ts';
import { DiagnosticError, lineColumn } from '../dsl/diagnostics.ts';
import { printKernel } from '../ir/tile_print.ts';
import { symbolsOf } from '../ir/sym.ts';
import { type Kernel, outputTensors } from '../ir/tile_ir.ts';
import { verifyKernel } from '../ir/tile_verify.ts';
import { lowerForGpu } from '../passes/pipeline.ts';
import { emitCudaFile, lowerForCuda } from '../backends/cuda/emit.ts';
import { emitWgsl } from '../backends/wgsl/emit.ts';
import { runWasmHere } from '../backends/wasm/runtime.ts';
import { runWasmOnWorkers, workersAvailable } from '../backends/wasm/workers.ts';
import { gpuContext, runWebGpu } from '../backends/wgsl/runtime.ts';
import { wasmKernel, webGpuKernel } from '../src/builds.ts';
import { cloneTensors, compile, prepareTensors } from '../src/api.ts';
import { compareTensors } from '../src/testing/compare.ts';
import { runKernel } from '../src/vm/interpret.ts';
import type { Tensor } from '../src/vm/memory.ts';

/** An error at a place in the source, 1-based. */
export interface Marker {
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
  readonly message: string;
}

/** A setting the kernel takes: a template parameter (with its default), a size, or a scalar parameter. */
export interface Setting {
  readonly name: string;
  readonly kind: 'template' | 'size' | 'scalar';
  /** The default written in the source (template parameters), as text. */
  readonly placeholder: string;
}

/** One generated artifact, or why it could not be made. */
export type Artifact = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string };

export interface Compiled {
  readonly kernel: Kernel | null;
  readonly markers: readonly Marker[];
  readonly settings: readonly Setting[];
  readonly tileIr: Artifact;
  readonly wgsl: Artifact;
  readonly cuda: Artifact;
  readonly wasm: Artifact;
}

const failed = (e: unknown): Artifact => ({ ok: false, error: e instanceof Error ? e.message : String(e) });

function artifact(make: () => string): Artifact {
  try {
    return { ok: true, text: make() };
  } catch (e) {
    return failed(e);
  }
}

function markersOf(e: DiagnosticError): Marker[] {
  return e.diagnostics.map((d) => {
    const from = lineColumn(e.source, d.span.start);
    const to = lineColumn(e.source, Math.max(d.span.end, d.span.start));
    return { line: from.line, column: from.column, endLine: to.line, endColumn: to.column, message: d.message };
  });
}

/** The template parameters a source declares (from its syntax, so they show even when it does not elaborate). */
function templateSettings(source: string): Setting[] {
  try {
    const program = parse(source);
    return (program.kernels[0]?.template ?? []).map((t) => ({
      name: t.name,
      kind: 'template' as const,
      placeholder: t.kind === 'dtype' ? (t.default ?? '') : t.default ? source.slice(t.default.span.start, t.default.span.end) : '',
    }));
  } catch {
    return [];
  }
}

/** The sizes (symbols of tensor shapes) and scalar parameters of an elaborated kernel. */
function launchSettings(k: Kernel): Setting[] {
  const sizes = new Set<string>();
  for (const p of k.params) if (p.kind === 'tensor') p.shape.forEach((d) => symbolsOf(d, sizes));
  return [
    ...[...sizes].map((name) => ({ name, kind: 'size' as const, placeholder: '' })),
    ...k.params.flatMap((p) => (p.kind === 'scalar' ? [{ name: p.name, kind: 'scalar' as const, placeholder: p.dtype }] : [])),
  ];
}

/** Compiles `source` with `settings` (template arguments, sizes and scalars by name, as text). */
export function compileForPage(source: string, settings: ReadonlyMap<string, string>): Compiled {
  const template = templateSettings(source);
  const none: Artifact = { ok: false, error: 'the kernel does not compile' };
  let kernel: Kernel;
  try {
    kernel = compile(source, { set: settings, file: 'kernel.tile' });
    verifyKernel(kernel);
  } catch (e) {
    const markers = e instanceof DiagnosticError ? markersOf(e) : [{ line: 1, column: 1, endLine: 1, endColumn: 1, message: e instanceof Error ? e.message : String(e) }];
    return { kernel: null, markers, settings: template, tileIr: failed(e), wgsl: none, cuda: none, wasm: none };
  }
  return {
    kernel,
    markers: [],
    settings: [...template, ...launchSettings(kernel)],
    tileIr: artifact(() => printKernel(kernel)),
    wgsl: artifact(() => emitWgsl(lowerForGpu(kernel)).code),
    cuda: artifact(() => emitCudaFile([lowerForCuda(kernel)])),
    wasm: artifact(() => wasmKernel(kernel).text()),
  };
}

export type PageTarget = 'vm' | 'wasm' | 'webgpu';

/** Whether this environment can run WebGPU (a browser with `navigator.gpu`, or Node with the webgpu package). */
export async function webGpuAvailable(): Promise<boolean> {
  try {
    await gpuContext();
    return true;
  } catch {
    return false;
  }
}

export interface OutputCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly maxError: number;
  readonly tolerance: number;
  readonly mismatches: number;
}

export interface RunResult {
  readonly target: PageTarget;
  /** How the target ran: 'wasm on 4 workers', the GPU adapter, ... */
  readonly detail: string;
  /** Milliseconds of one run (a second run, after a first one that compiles pipelines and checks). */
  readonly ms: number;
  readonly checks: readonly OutputCheck[];
  readonly ok: boolean;
}

/** The numeric values of settings that are not template parameters. */
export function launchValues(k: Kernel, settings: ReadonlyMap<string, string>): Map<string, number> {
  const values = new Map<string, number>();
  for (const [name, text] of settings) {
    if (name in k.template || text.trim() === '') continue;
    const v = Number(text);
    if (Number.isNaN(v) && text.trim() !== 'nan') throw new Error(`${name}=${text}: not a number`);
    values.set(name, v);
  }
  return values;
}

const references = new Map<string, Map<string, Tensor>>();

/** The VM's outputs for the launch (cached per kernel, values and seed). */
function reference(k: Kernel, inputs: ReadonlyMap<string, Tensor>, values: ReadonlyMap<string, number>, seed: number): Map<string, Tensor> {
  const key = `${printKernel(k)}\n${[...values].join(';')}\n${seed}`;
  let out = references.get(key);
  if (!out) {
    out = cloneTensors(inputs);
    runKernel(k, { tensors: out, scalars: values });
    references.set(key, out);
  }
  return out;
}

async function runOnce(target: PageTarget, k: Kernel, tensors: Map<string, Tensor>, values: ReadonlyMap<string, number>): Promise<string> {
  const outputs = outputTensors(k);
  switch (target) {
    case 'vm':
      runKernel(k, { tensors, scalars: values });
      return 'the tilebit VM';
    case 'wasm': {
      const wk = wasmKernel(k);
      if (!workersAvailable()) {
        runWasmHere(wk, tensors, values, outputs);
        return 'wasm on the page thread (not cross-origin isolated)';
      }
      const count = Math.max(1, Math.min(4, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 2));
      await runWasmOnWorkers(wk, tensors, values, outputs, count);
      return `wasm on ${count} worker${count > 1 ? 's' : ''}`;
    }
    case 'webgpu': {
      const ctx = await gpuContext();
      const wk = webGpuKernel(k, ctx.gpuFeatures, ctx.wgslOptions);
      await runWebGpu(wk, tensors, values, outputs);
      return `WebGPU on ${(await gpuContext()).adapterInfo}`;
    }
  }
}

/**
 * Runs the kernel on `target` with random inputs (seeded), compares every output with the VM's, then
 * runs once more for the time.
 */
export async function runForPage(k: Kernel, target: PageTarget, settings: ReadonlyMap<string, string>, seed = 0): Promise<RunResult> {
  const values = launchValues(k, settings);
  const outputs = new Set(outputTensors(k));
  const inputs = prepareTensors(k, { values, seed }, outputs);
  const want = reference(k, inputs, values, seed);
  const got = cloneTensors(inputs);
  const detail = await runOnce(target, k, got, values);
  const checks = [...outputs].map((name) => {
    const c = compareTensors(got.get(name)!, want.get(name)!);
    return { name, ok: c.ok, maxError: c.maxError, tolerance: c.tolerance, mismatches: c.mismatches };
  });
  const again = cloneTensors(inputs);
  const start = performance.now();
  await runOnce(target, k, again, values);
  const ms = performance.now() - start;
  return { target, detail, ms, checks, ok: checks.every((c) => c.ok) };
}
