// Running a compiled kernel on WebAssembly: one shared memory holding the constant tables, the argument
// words, one scratch region per worker and every tensor; the grid's blocks run on the calling thread or
// are split among workers (workers.ts).

import { compileKernel } from './engine.ts';
import { evalSym } from '../../ir/sym.ts';
import type { Kernel } from '../../ir/tile_ir.ts';
import type { LModule } from '../../ir/loop_ir.ts';
import type { CpuLowering } from '../../passes/lower_cpu.ts';
import { lowerForCpu } from '../../passes/pipeline.ts';
import { prepareLaunch } from '../../src/vm/interpret.ts';
import type { Tensor } from '../../src/vm/memory.ts';
import { type EmitOptions, emitWasm } from './emit.ts';
import { detectFeatures, wasmRules } from './rules.ts';

export interface WasmKernel {
  readonly kernel: Kernel;
  readonly lowering: CpuLowering;
  readonly module: WebAssembly.Module;
  readonly bytes: Uint8Array;
  readonly text: () => string;
}

/** A failed assert or a bad launch seen while running on wasm. */
export class WasmRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WasmRunError';
  }
}

export interface CompileOptions extends EmitOptions {
  /** Turn innermost contiguous loops into SIMD (default true). */
  readonly vectorize?: boolean;
  /** Called with the Loop IR after each pass ('lower_cpu', 'vectorize', 'isel'). */
  readonly after?: (pass: string, m: LModule) => void;
}

/** Tile IR -> Loop IR (CPU lowering, vectorization, instruction selection) -> binaryen. */
export function compileWasm(k: Kernel, options: CompileOptions = {}): WasmKernel {
  const features = { relaxedSimd: options.relaxedSimd ?? detectFeatures().relaxedSimd };
  const lowering = lowerForCpu(k, { rules: wasmRules(features), vectorize: options.vectorize, after: options.after });
  const binary = emitWasm(lowering.module, { ...options, ...features });
  return { kernel: k, lowering, module: compileKernel(binary.bytes), bytes: binary.bytes, text: binary.text };
}

/** Host math, computed as ir/arith.ts computes it for the VM (then rounded to f32 by the module). */
export const MATH_IMPORTS = {
  exp: Math.exp,
  exp2: (x: number) => 2 ** x,
  log: Math.log,
  log2: Math.log2,
  rsqrt: (x: number) => 1 / Math.sqrt(x),
  fmod: (a: number, b: number) => a % b,
};

const align = (n: number, a = 64): number => Math.ceil(n / a) * a;

/** Where everything sits in memory for one launch. */
export interface MemoryPlan {
  readonly argsAt: number;
  readonly scratchAt: number;
  readonly scratchBytes: number;
  readonly tensorAt: ReadonlyMap<string, number>;
  readonly bytes: number;
  readonly argWords: readonly { readonly value: number; readonly float: boolean }[];
  readonly grid: readonly [number, number, number];
}

export function planMemory(wk: WasmKernel, tensors: ReadonlyMap<string, Tensor>, scalars: ReadonlyMap<string, number>, workers: number): MemoryPlan {
  // The kernel computes with dimensions and element indices as 32-bit integers: past these they would
  // wrap, silently.
  for (const p of wk.kernel.params) {
    const t = p.kind === 'tensor' ? tensors.get(p.name) : undefined;
    if (!t) continue;
    const what = `tensor '${p.name}' (${p.dtype}[${t.shape.join(', ')}])`;
    const d = t.shape.findIndex((n) => n > 2 ** 31 - 1);
    if (d >= 0) throw new WasmRunError(`${what} has ${t.shape[d]} elements along dimension ${d}; kernels index a dimension by i32, so each may have at most ${2 ** 31 - 1} (2^31 - 1): split it along that dimension over several launches, or run on the VM`);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements > 2 ** 32 - 1) throw new WasmRunError(`${what} holds ${elements} elements; kernels index a tensor's elements by 32-bit integers, so each may hold at most ${2 ** 32 - 1} (2^32 - 1): split it over several launches, or run on the VM`);
  }
  const launch = prepareLaunch(wk.kernel, { tensors, scalars });
  const { args, module } = wk.lowering;
  const argsAt = align(module.dataBytes) + 64; // the 64 bytes below the arguments: the block counter
  const words = args.tensors.length + args.symbols.length + args.scalars.length;
  const scratchAt = align(argsAt + 4 * words);
  const scratchBytes = align(module.scratchBytes);
  let top = scratchAt + workers * scratchBytes;
  const tensorAt = new Map<string, number>();
  for (const name of args.tensors) {
    top = align(top);
    tensorAt.set(name, top);
    top += tensors.get(name)!.bytes.length + 16; // sub-byte reads and atomic stores touch up to a word past the end
  }
  const env = { symbols: launch.symbols, params: new Map(scalars) };
  const bytes = align(top, 65536);
  if (bytes > 2 ** 32) throw new WasmRunError(`the launch needs ${bytes} bytes of memory (its tensors, arguments and scratch); a wasm memory holds at most ${2 ** 32} (4 GiB): split the tensors over several launches, or run on a GPU or the VM`);
  const argWords = [
    ...args.tensors.map((n) => ({ value: tensorAt.get(n)!, float: false })),
    ...args.symbols.map((s) => ({ value: evalSym({ kind: 'symbol', name: s }, env), float: false })),
    ...args.scalars.map((s) => ({ value: scalars.get(s.name)!, float: s.dtype === 'f32' })),
  ];
  return { argsAt, scratchAt, scratchBytes, tensorAt, bytes, argWords, grid: launch.grid };
}

/** Copies arguments and tensors into memory. */
export function fillMemory(memory: WebAssembly.Memory, plan: MemoryPlan, tensors: ReadonlyMap<string, Tensor>): void {
  const view = new DataView(memory.buffer);
  plan.argWords.forEach((w, i) => (w.float ? view.setFloat32(plan.argsAt + 4 * i, w.value, true) : view.setUint32(plan.argsAt + 4 * i, w.value >>> 0, true)));
  const bytes = new Uint8Array(memory.buffer);
  for (const [name, at] of plan.tensorAt) bytes.set(tensors.get(name)!.bytes, at);
}

/** Copies the output tensors back out of memory. */
export function readBack(memory: WebAssembly.Memory, plan: MemoryPlan, tensors: ReadonlyMap<string, Tensor>, outputs: Iterable<string>): void {
  const bytes = new Uint8Array(memory.buffer);
  for (const name of outputs) {
    const t = tensors.get(name)!;
    t.bytes.set(bytes.subarray(plan.tensorAt.get(name)!, plan.tensorAt.get(name)! + t.bytes.length));
  }
}

export function newMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.max(1, bytes / 65536);
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

export function trapMessage(wk: WasmKernel, code: number, block: readonly number[]): string {
  return `block (${block.join(', ')}): ${wk.lowering.module.traps[code - 1] ?? `trap ${code}`}`;
}

/** Runs every block on the calling thread; outputs are written back into `tensors`. */
export function runWasmHere(wk: WasmKernel, tensors: Map<string, Tensor>, scalars: ReadonlyMap<string, number>, outputs: Iterable<string>): void {
  const plan = planMemory(wk, tensors, scalars, 1);
  const memory = newMemory(plan.bytes);
  fillMemory(memory, plan, tensors);
  const instance = new WebAssembly.Instance(wk.module, { env: { memory, ...MATH_IMPORTS } });
  const block = instance.exports.block as (x: number, y: number, z: number, args: number, scratch: number) => number;
  const [gx, gy, gz] = plan.grid;
  for (let z = 0; z < gz; z++) {
    for (let y = 0; y < gy; y++) {
      for (let x = 0; x < gx; x++) {
        const code = block(x, y, z, plan.argsAt, plan.scratchAt);
        if (code !== 0) throw new WasmRunError(trapMessage(wk, code, [x, y, z]));
      }
    }
  }
  readBack(memory, plan, tensors, outputs);
}
