// The library's entry points: compile a `.tile` source to Tile IR, and run a kernel on the VM.

import { type ElaborateOptions, compileSource } from '../dsl/elaborate.ts';
import { evalSym } from '../ir/sym.ts';
import type { Kernel } from '../ir/tile_ir.ts';
import { runTilePasses } from '../passes/pipeline.ts';
import { randomTensor, rng } from './testing/random.ts';
import { VMError, runKernel } from './vm/interpret.ts';
import { type Tensor, allocTensor } from './vm/memory.ts';

export interface CompileOptions extends ElaborateOptions {
  /** Called with the IR after each pass ('elaborate', then the passes of passes/pipeline.ts). */
  readonly after?: (pass: string, k: Kernel) => void;
}

/** Parses, elaborates and optimizes one kernel; throws DiagnosticError for bad source. */
export function compile(source: string, options: CompileOptions = {}): Kernel {
  return runTilePasses(compileSource(source, options), options.after);
}

export interface Inputs {
  /** Tensors given by the caller. */
  readonly tensors?: ReadonlyMap<string, Tensor>;
  /** Sizes of symbols that no given tensor fixes, and scalar parameters. */
  readonly values?: ReadonlyMap<string, number>;
  /** Seed for the tensors that are not given. */
  readonly seed?: number;
}

/**
 * Every tensor a launch needs: the given ones, random ones for other inputs, zeros for outputs that
 * are never read. Sizes come from the given tensors first, then from `values`.
 */
export function prepareTensors(k: Kernel, inputs: Inputs, outputs: ReadonlySet<string>): Map<string, Tensor> {
  const given = inputs.tensors ?? new Map<string, Tensor>();
  const symbols = new Map<string, number>();
  for (const p of k.params) {
    if (p.kind !== 'tensor') continue;
    const t = given.get(p.name);
    p.shape.forEach((d, i) => {
      if (t && d.kind === 'symbol' && !symbols.has(d.name) && t.shape.length === p.shape.length) symbols.set(d.name, t.shape[i]!);
    });
  }
  for (const [name, v] of inputs.values ?? []) if (!symbols.has(name)) symbols.set(name, v);
  const params = new Map([...(inputs.values ?? [])]);
  const next = rng(inputs.seed ?? 0);
  const tensors = new Map<string, Tensor>();
  for (const p of k.params) {
    if (p.kind !== 'tensor') continue;
    const t = given.get(p.name);
    if (t) {
      tensors.set(p.name, t);
      continue;
    }
    let shape: number[];
    try {
      shape = p.shape.map((d) => evalSym(d, { symbols, params }));
    } catch (e) {
      const missing = /'(\w+)'/.exec((e as Error).message)?.[1] ?? '?';
      throw new VMError(`the size ${missing} is unknown: give it with --set ${missing}=... or pass '${p.name}' with --input`);
    }
    tensors.set(p.name, outputs.has(p.name) && !reads(k, p.name) ? allocTensor(p.dtype, shape) : randomTensor(p.dtype, shape, next));
  }
  return tensors;
}

function reads(k: Kernel, tensor: string): boolean {
  let found = false;
  const visit = (body: Kernel['body']): void => {
    for (const s of body) {
      if (s.kind === 'def' && s.inst.op === 'load' && s.inst.tensor === tensor) found = true;
      if (s.kind === 'copy_async' && s.tensor === tensor) found = true;
      if (s.kind === 'for') visit(s.body);
      if (s.kind === 'if') [s.then, s.else].forEach(visit);
    }
  };
  visit(k.body);
  return found;
}

/** Runs on the VM; returns the tensors (outputs written in place). */
export function runOnVM(k: Kernel, tensors: Map<string, Tensor>, values: ReadonlyMap<string, number> = new Map()): Map<string, Tensor> {
  runKernel(k, { tensors, scalars: values });
  return tensors;
}

/** A deep copy of tensors, so two targets can run on the same inputs. */
export const cloneTensors = (ts: ReadonlyMap<string, Tensor>): Map<string, Tensor> =>
  new Map([...ts].map(([n, t]) => [n, { ...t, bytes: t.bytes.slice() }]));
