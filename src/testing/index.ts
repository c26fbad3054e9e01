// tilebit/testing: property-based testing of kernels. fast-check arbitraries for data types, shapes,
// tensors (with subnormals, extremes, infinities and NaN where a type has them) and quantized weights,
// and checkKernel, which runs a kernel on every target asked for and compares each with the VM and the
// VM with reference math, shrinking to a small counterexample when they disagree.

import fc from 'fast-check';
import { decode } from '../../ir/codec.ts';
import { dtype as parseDType, narrowTypes } from '../../ir/dtype.ts';
import { type Kernel, outputTensors } from '../../ir/tile_ir.ts';
import { cloneTensors, compile, prepareTensors } from '../api.ts';
import { type QuantizeOptions, type Quantized, quantize } from '../quantize.ts';
import { type Target, runOn } from '../targets.ts';
import { type Tensor, elementCount, tensorElements, tensorFrom } from '../vm/memory.ts';
import { valueOf } from '../../ir/cast.ts';
import { compareTensors } from './compare.ts';

export { compareTensors, TOLERANCE } from './compare.ts';
export { attention, dequantGemm, dequantize as dequantizeReference, gemm, layerNorm, softmax } from './reference.ts';

/** Names of data types: every type of 8 bits or fewer, and the wide ones. */
export function dtypeArb(filter: (name: string) => boolean = () => true): fc.Arbitrary<string> {
  const names = [...narrowTypes().map((t) => t.name), 'i16', 'u16', 'i32', 'u32', 'f16', 'bf16', 'f32'].filter(filter);
  return fc.constantFrom(...names);
}

/** Extents that break tilings: 1, primes, powers of two and their neighbours. */
export function extentArb(max = 300): fc.Arbitrary<number> {
  const edges = [1, 2, 3, 7, 13, 31, 32, 33, 63, 64, 65, 97, 127, 128, 129, 255, 256, 257].filter((n) => n <= max);
  return fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 1, max }));
}

export function shapeArb(rank: number, max = 300): fc.Arbitrary<number[]> {
  return fc.array(extentArb(max), { minLength: rank, maxLength: rank });
}

/** Special values of a float type: zeros, the smallest subnormal and normal, the extremes, ±inf, NaN. */
function specialValues(name: string): number[] {
  const t = parseDType(name);
  const out = [0, -0, t.minSubnormal, -t.minSubnormal, t.minNormal, t.max, t.min, 1, -1];
  if (t.hasInf) out.push(Infinity, -Infinity);
  if (t.hasNaN) out.push(NaN);
  return out;
}

export interface TensorArbOptions {
  /** Include subnormals, extremes, infinities and NaN (default true). */
  readonly special?: boolean;
  /** Magnitude of ordinary float values (default 1). */
  readonly scale?: number;
}

/** A tensor of `dtype` and `shape`: codes of narrow types drawn over all codes; floats mostly ordinary. */
export function tensorArb(dtype: string, shape: readonly number[], options: TensorArbOptions = {}): fc.Arbitrary<Tensor> {
  const t = parseDType(dtype);
  const n = elementCount(shape);
  const special = options.special ?? true;
  let element: fc.Arbitrary<number>;
  if (t.bits <= 8 || dtype === 'i16' || dtype === 'u16') {
    const codes = Array.from({ length: 2 ** t.bits }, (_, c) => c).filter((c) => special || Number.isFinite(decode(t, c)));
    element = fc.constantFrom(...codes);
  } else if (dtype === 'i32' || dtype === 'u32') {
    element = special ? fc.integer({ min: t.min, max: t.max }) : fc.integer({ min: -1000, max: 1000 }).map((v) => (dtype === 'u32' ? Math.abs(v) : v));
  } else {
    const scale = options.scale ?? 1;
    const ordinary = fc.double({ min: -scale, max: scale, noNaN: true }).map((v) => valueOf(dtype, v));
    element = special ? fc.oneof({ weight: 9, arbitrary: ordinary }, { weight: 1, arbitrary: fc.constantFrom(...specialValues(dtype)) }) : ordinary;
    element = element.map((v) => (dtype === 'f32' ? Math.fround(v) : tensorElements(tensorFrom(dtype, [1], [v]))[0]!));
  }
  return fc.array(element, { minLength: n, maxLength: n }).map((held) => tensorFrom(dtype, shape, held));
}

/** Weights W[K, N] quantized as the kernels read them. */
export function quantizedArb(K: number, N: number, options: QuantizeOptions): fc.Arbitrary<Quantized> {
  return fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: K * N, maxLength: K * N }).map((x) => quantize(x, K, N, options));
}

export interface CheckKernelOptions {
  /** `.tile` source or a compiled kernel. */
  readonly kernel: string | Kernel;
  /** Template parameters for source, as `--set` takes them. */
  readonly set?: Readonly<Record<string, string | number>>;
  /** Draws the inputs of one case: tensors by name, and values of sizes and scalar parameters. */
  readonly inputs: fc.Arbitrary<{ readonly tensors: Readonly<Record<string, Tensor>>; readonly values?: Readonly<Record<string, number>> }>;
  /** The exact outputs, in float64, from the inputs' values: checked against the VM. */
  readonly reference?: (inputs: ReadonlyMap<string, number[]>, values: ReadonlyMap<string, number>) => Readonly<Record<string, ArrayLike<number>>>;
  /** How far the VM may be from the reference, for an output of this type, relative to its largest
   * magnitude (default: 2^-16 for f32, 2^-8 for f16, 2^-5 for bf16, 0 otherwise). */
  readonly referenceTolerance?: (dtype: string) => number;
  /** Targets to compare with the VM (default: wasm). */
  readonly targets?: readonly Target[];
  readonly numRuns?: number;
  readonly seed?: number;
}

const DEFAULT_TOLERANCE: Readonly<Record<string, number>> = { f32: 2 ** -16, f16: 2 ** -8, bf16: 2 ** -5 };

/**
 * Runs the kernel on the VM and on each target for many drawn inputs. Fails (with fast-check's shrunk
 * counterexample) when a target disagrees with the VM beyond the dtype tolerance, or when the VM
 * disagrees with the reference.
 */
export async function checkKernel(o: CheckKernelOptions): Promise<void> {
  const k = typeof o.kernel === 'string' ? compile(o.kernel, { set: new Map(Object.entries(o.set ?? {}).map(([a, b]) => [a, String(b)])) }) : o.kernel;
  const outputs = outputTensors(k);
  const targets = o.targets ?? ['wasm'];
  const result = await fc.check(
    fc.asyncProperty(o.inputs, async (input) => {
      const values = new Map(Object.entries(input.values ?? {}));
      const given = new Map(Object.entries(input.tensors));
      const tensors = prepareTensors(k, { tensors: given, values }, new Set(outputs));
      const vm = cloneTensors(tensors);
      await runOn('vm', k, vm, values);
      for (const target of targets) {
        const out = cloneTensors(tensors);
        await runOn(target, k, out, values);
        for (const name of outputs) {
          const c = compareTensors(out.get(name)!, vm.get(name)!);
          if (!c.ok) throw new Error(`${target} disagrees with the VM on ${name}: element ${c.first!.index} is ${c.first!.got}, the VM has ${c.first!.want} (tolerance ${c.tolerance})`);
        }
      }
      if (o.reference) {
        const decoded = new Map([...tensors].map(([n, t]) => [n, Array.from(tensorElements(t), (h) => valueOf(t.dtype, h))]));
        const want = o.reference(decoded, values);
        for (const [name, expected] of Object.entries(want)) {
          const t = vm.get(name)!;
          const got = Array.from(tensorElements(t), (h) => valueOf(t.dtype, h));
          const scale = Array.from(expected).reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 0);
          const tol = (o.referenceTolerance ?? ((d) => DEFAULT_TOLERANCE[d] ?? 0))(t.dtype) * scale;
          const bad = got.findIndex((v, i) => !(v === expected[i] || (Number.isNaN(v) && Number.isNaN(expected[i]!)) || Math.abs(v - expected[i]!) <= tol));
          if (bad >= 0) throw new Error(`the VM disagrees with the reference on ${name}: element ${bad} is ${got[bad]}, the reference has ${expected[bad]} (tolerance ${tol})`);
        }
      }
    }),
    { numRuns: o.numRuns ?? 20, seed: o.seed },
  );
  if (result.failed) {
    const [input] = result.counterexample ?? [];
    const why = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
    throw new Error(`${why}\nCounterexample (seed ${result.seed}, shrunk ${result.numShrinks} times):\n${input ? describeInput(input) : '(none)'}`);
  }
}

/** Inputs as a reader wants them: decoded values, not bytes. */
function describeInput(input: { readonly tensors: Readonly<Record<string, Tensor>>; readonly values?: Readonly<Record<string, number>> }): string {
  const lines = Object.entries(input.tensors).map(([name, t]) => {
    const v = Array.from(tensorElements(t), (h) => valueOf(t.dtype, h));
    return `  ${name}: ${t.dtype}[${t.shape.join(', ')}] = [${v.slice(0, 16).join(', ')}${v.length > 16 ? ', ...' : ''}]`;
  });
  for (const [name, v] of Object.entries(input.values ?? {})) lines.push(`  ${name} = ${v}`);
  return lines.join('\n');
}
