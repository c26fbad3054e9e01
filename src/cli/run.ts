// `tilebit run` and `tilebit check`: compile a kernel, run it on a target, write or summarize outputs.

import { readFileSync, writeFileSync } from 'node:fs';
import { checkSource } from '../../dsl/elaborate.ts';
import { printKernel } from '../../ir/tile_print.ts';
import { verifyKernel } from '../../ir/tile_verify.ts';
import { type Kernel, outputTensors } from '../../ir/tile_ir.ts';
import { passNames } from '../../passes/pipeline.ts';
import { cloneTensors, compile, prepareTensors } from '../api.ts';
import { TARGETS, type Target, runOn, wasmKernel } from '../targets.ts';
import { compareTensors } from '../testing/compare.ts';
import { readBytes, writeBytes } from '../io/files.ts';
import { npyFromTensor, readNpy, tensorFromNpy, writeNpy } from '../io/npy.ts';
import { type Tensor, tensorElements } from '../vm/memory.ts';
import { valueOf } from '../../ir/cast.ts';
import { compileWasm } from '../../backends/wasm/runtime.ts';
import { type CudaLowering, dynamicSharedBytes, emitCudaFile, emitCudaHeader, lowerForCuda } from '../../backends/cuda/emit.ts';
import { SM_LIMITS, occupancy, ptxasInfo } from '../../backends/cuda/resources.ts';
import { CudaRunError } from '../../backends/cuda/runtime.ts';
import { emitWgsl } from '../../backends/wgsl/emit.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import type { LModule } from '../../ir/loop_ir.ts';
import { printModule } from '../../ir/loop_print.ts';
import { type Args, UsageError } from './args.ts';
import { formatValue } from './dtype.ts';

/** `--set A=1,B=u3 --set C=2` as a map. */
export function readSettings(args: Args): Map<string, string> {
  const out = new Map<string, string>();
  for (const group of args.options.get('set') ?? []) {
    for (const item of group.split(',').filter((s) => s !== '')) {
      const eq = item.indexOf('=');
      if (eq <= 0) throw new UsageError(`--set ${item}: write NAME=VALUE`);
      out.set(item.slice(0, eq).trim(), item.slice(eq + 1).trim());
    }
  }
  return out;
}

function pairs(args: Args, option: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of args.options.get(option) ?? []) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${option} ${v}: write NAME=FILE`);
    out.set(v.slice(0, eq), v.slice(eq + 1));
  }
  return out;
}

function sourceOf(args: Args, verb: string): { file: string; source: string } {
  const file = args.positional[0];
  if (!file) throw new UsageError(`usage: tilebit ${verb} FILE.tile [options]`);
  try {
    return { file, source: readFileSync(file, 'utf8') };
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
}

function compileWithDump(args: Args, print: (l: string) => void): Kernel {
  const { file, source } = sourceOf(args, 'run');
  const dump = args.options.get('dump-ir')?.at(-1);
  if (dump !== undefined && !passNames().includes(dump)) throw new UsageError(`--dump-ir ${dump}: the passes are ${passNames().join(', ')}`);
  const k = compile(source, {
    file, kernel: args.options.get('kernel')?.at(-1), set: readSettings(args),
    after: (pass, ir) => {
      if (pass === dump) print(printKernel(ir).trimEnd());
    },
  });
  return k;
}

export function checkCommand(args: Args, print: (l: string) => void): number {
  const { file, source } = sourceOf(args, 'check');
  const kernels = checkSource(source, file, readSettings(args));
  kernels.forEach(verifyKernel);
  print(`${file}: ok (${kernels.map((k) => k.name).join(', ')})`);
  return 0;
}

function summarize(name: string, t: Tensor): string {
  const values = Array.from(tensorElements(t), (h) => valueOf(t.dtype, h));
  // A loop, not Math.min(...values): outputs can have millions of elements.
  let [lo, hi] = [Infinity, -Infinity];
  for (const v of values) if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const head = values.slice(0, 6).map(formatValue).join(' ');
  const stats = lo <= hi ? `min ${formatValue(lo)}, max ${formatValue(hi)}` : 'no finite values';
  return `${name}: ${t.dtype}[${t.shape.join(', ')}]  ${stats}  [${head}${values.length > 6 ? ' ...' : ''}]`;
}

export async function runCommand(args: Args, print: (l: string) => void): Promise<number> {
  const target = args.options.get('target')?.at(-1) ?? 'wasm';
  if (!(TARGETS as readonly string[]).includes(target)) throw new UsageError(`--target ${target}: the targets are ${TARGETS.join(', ')}`);
  const k = compileWithDump(args, print);
  verifyKernel(k);
  const settings = readSettings(args);
  const known = new Set([...Object.keys(k.template), ...k.params.map((p) => p.name), ...k.params.flatMap((p) => (p.kind === 'tensor' ? p.shape.flatMap((d) => (d.kind === 'symbol' ? [d.name] : [])) : []))]);
  for (const name of settings.keys()) {
    if (!known.has(name)) throw new UsageError(`--set ${name}: the kernel has no template parameter, size or scalar parameter named ${name}`);
  }
  const values = new Map([...settings].filter(([n]) => !(n in k.template)).map(([n, v]) => {
    const x = Number(v);
    if (Number.isNaN(x) && v !== 'nan') throw new UsageError(`--set ${n}=${v}: not a number`);
    return [n, x] as const;
  }));
  const given = new Map<string, Tensor>();
  for (const [name, path] of pairs(args, 'input')) {
    const p = k.params.find((q) => q.name === name);
    if (!p || p.kind !== 'tensor') throw new UsageError(`--input ${name}: the kernel has no tensor parameter named ${name}`);
    given.set(name, tensorFromNpy(readNpy(readBytes(path), path), p.dtype, path));
  }
  const outputs = new Set(outputTensors(k));
  const seed = Number(args.options.get('seed')?.at(-1) ?? '0');
  const tensors = prepareTensors(k, { tensors: given, values, seed }, outputs);
  const workers = args.options.has('workers') ? Number(args.options.get('workers')!.at(-1)) : undefined;
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1)) throw new UsageError('--workers needs a positive integer');
  const dump = args.options.get('dump-ir')?.at(-1);
  const gpu = target === 'webgpu' || target === 'cuda';
  if (dump && gpu && ['lower_gpu', 'simplify', 'isel'].includes(dump)) (target === 'cuda' ? lowerForCuda : lowerForGpu)(k, (pass, m) => pass === dump && print(printModule(m).trimEnd()));
  else if (dump && ['lower_cpu', 'simplify', 'vectorize', 'isel'].includes(dump)) compileWasm(k, { after: (pass, m) => pass === dump && print(printModule(m).trimEnd()) });
  const inputs = cloneTensors(tensors);
  // wasm compiles apart from the run, so the two times are told apart (other targets compile in the run).
  const compileStart = performance.now();
  if (target === 'wasm') wasmKernel(k);
  const compileMs = performance.now() - compileStart;
  const start = performance.now();
  const emulate = args.options.has('emulate');
  if (emulate && target !== 'cuda') throw new UsageError('--emulate runs the CUDA C on the CPU: it needs --target cuda');
  await runOn(target as Target, k, tensors, values, { workers, emulate, report: (text) => print(text.trimEnd()) });
  const ms = performance.now() - start;
  let failed = false;
  if (args.options.has('check')) {
    const reference = cloneTensors(inputs);
    await runOn('vm', k, reference, values);
    for (const name of outputs) {
      const c = compareTensors(tensors.get(name)!, reference.get(name)!);
      const detail = c.first ? `; first at element ${c.first.index}: ${formatValue(c.first.got)}, the VM has ${formatValue(c.first.want)}` : '';
      print(`check ${name}: ${c.ok ? 'agrees with' : 'DISAGREES with'} the VM (largest error ${formatValue(c.maxError)}, tolerance ${formatValue(c.tolerance)}${c.mismatches ? `, ${c.mismatches} elements beyond it` : ''}${detail})`);
      failed ||= !c.ok;
    }
  }
  const writes = pairs(args, 'output');
  for (const [name, path] of writes) {
    const t = tensors.get(name);
    if (!t) throw new UsageError(`--output ${name}: the kernel has no tensor parameter named ${name}`);
    writeBytes(path, writeNpy(npyFromTensor(t)));
  }
  if (!args.options.has('quiet')) {
    for (const name of outputs) print(summarize(name, tensors.get(name)!));
    print(target === 'wasm'
      ? `${k.name} on wasm: compiled in ${compileMs.toFixed(1)} ms, ran in ${ms.toFixed(1)} ms (one run, with copies in and out${target === 'wasm' && (workers ?? 2) > 1 ? ' and the worker threads\' start' : ''})`
      : `${k.name} on ${target}${emulate ? ' (emulated on the CPU)' : ''}: ${ms.toFixed(1)} ms (compiling and one run)`);
  }
  return failed ? 1 : 0;
}

/**
 * `compile --target cuda --resources [--arch sm_90a]`: ptxas's registers, spills and shared memory, and
 * the occupancy they allow on one SM of the architecture.
 */
function printResources(lowered: CudaLowering, cu: string, arch: string, print: (l: string) => void): void {
  const limits = SM_LIMITS[arch];
  if (!limits) throw new UsageError(`--arch ${arch}: the architectures are ${Object.keys(SM_LIMITS).join(', ')}`);
  const info = ptxasInfo(cu, arch).find((i) => i.kernel === lowered.kernel.name);
  if (!info) throw new CudaRunError(`ptxas reported nothing about ${lowered.kernel.name}`);
  const shared = info.staticSharedBytes + dynamicSharedBytes(lowered);
  const o = occupancy(limits, lowered.threads, info.registers, shared);
  const spills = info.spillStoreBytes + info.spillLoadBytes > 0 ? `${info.spillStoreBytes} bytes of spill stores and ${info.spillLoadBytes} of spill loads` : 'no spills';
  print(`${lowered.kernel.name} on ${arch}: ${info.registers} registers per thread, ${spills}, ${shared} bytes of shared memory per block of ${lowered.threads} threads`);
  print(`  ${o.blocksPerSm} blocks (${o.warpsPerSm} of ${limits.warps} warps) per SM: ${Math.round(o.fraction * 100)}% theoretical occupancy, limited by ${o.limitedBy}`);
}

/** `tilebit compile FILE [--target wasm|cuda|wgsl] [-o FILE] [--text] [--resources [--arch A]]`. */
export function compileCommand(args: Args, print: (l: string) => void): number {
  const target = args.options.get('target')?.at(-1) ?? 'wasm';
  if (![...TARGETS, 'wgsl'].includes(target)) throw new UsageError(`--target ${target}: the targets are ${[...TARGETS, 'wgsl'].join(', ')}`);
  if (args.options.has('resources') && target !== 'cuda') throw new UsageError('--resources reports what ptxas makes of the CUDA C: it needs --target cuda');
  const k = compileWithDump(args, print);
  verifyKernel(k);
  const dump = args.options.get('dump-ir')?.at(-1);
  const out = args.options.get('o')?.at(-1) ?? args.options.get('output')?.at(-1);
  if (target === 'cuda' || target === 'webgpu' || target === 'wgsl') {
    const minBlocks = args.options.get('min-blocks')?.at(-1);
    if (minBlocks !== undefined && target !== 'cuda') throw new UsageError('--min-blocks sets CUDA\'s launch bounds: it needs --target cuda');
    if (minBlocks !== undefined && !/^\d+$/.test(minBlocks)) throw new UsageError(`--min-blocks ${minBlocks}: a number of blocks per SM`);
    const after = (pass: string, m: LModule): void => {
      if (pass === dump) print(printModule(m).trimEnd());
    };
    const lowered = target === 'cuda' ? lowerForCuda(k, after, minBlocks === undefined ? {} : { minBlocksPerSm: Number(minBlocks) }) : lowerForGpu(k, after);
    if (target === 'cuda') {
      const cu = emitCudaFile([lowered]);
      if (out) {
        writeFileSync(out, cu);
        const header = out.replace(/\.cu$/, '') + '.h';
        writeFileSync(header, emitCudaHeader([{ kernel: lowered.kernel, lowered }]));
        print(`${k.name}: wrote ${out} and ${header} (${lowered.threads} threads, ${lowered.sharedBytes} bytes of shared memory)`);
      } else if (!args.options.has('resources')) print(cu.trimEnd());
      if (args.options.has('resources')) printResources(lowered, cu, args.options.get('arch')?.at(-1) ?? 'sm_90a', print);
      return 0;
    }
    const wgsl = emitWgsl(lowered);
    if (out) {
      writeFileSync(out, wgsl.code);
      print(`${k.name}: wrote ${out} (${wgsl.threads} invocations per workgroup, ${wgsl.sharedBytes} bytes of workgroup storage, ${wgsl.bindings.length} bindings)`);
    } else print(wgsl.code.trimEnd());
    return 0;
  }
  const wk = dump && ['lower_cpu', 'simplify', 'vectorize', 'isel'].includes(dump)
    ? compileWasm(k, { after: (pass, m) => pass === dump && print(printModule(m).trimEnd()) })
    : wasmKernel(k);
  if (out) writeFileSync(out, wk.bytes);
  if (args.options.has('text')) print(wk.text().trimEnd());
  if (!out && !args.options.has('text')) print(`${k.name}: ${wk.bytes.length} bytes of wasm (write them with -o FILE, print them with --text)`);
  return 0;
}
