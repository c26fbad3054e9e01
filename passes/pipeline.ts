// The order of the passes. Each is a pure function from IR to IR; `--dump-ir NAME` prints the IR after
// the pass of that name, and tests run the verifier after every one.

import type { LModule } from '../ir/loop_ir.ts';
import type { Kernel } from '../ir/tile_ir.ts';
import { dce } from './dce.ts';
import { type CpuLowering, lowerCpu } from './lower_cpu.ts';
import { type GpuFeatures, type GpuLowering, NO_GPU_FEATURES, lowerGpu } from './lower_gpu.ts';
import { GPU_RULES } from './gpu_rules.ts';
import { type Rule, selectInstructions } from './select_instructions.ts';
import { simplifyLoops } from './simplify_loops.ts';
import { vectorizeLoops } from './vectorize_loops.ts';

export interface TilePass {
  readonly name: string;
  readonly run: (k: Kernel) => Kernel;
}

/** Tile IR passes, after elaboration. */
export const tilePasses: readonly TilePass[] = [{ name: 'dce', run: dce }];

/** Loop IR passes for CPU targets, after lowering; instruction selection takes the target's rules. */
export const cpuLoopPasses = (rules: readonly Rule[]): readonly { name: string; run: (m: LModule) => LModule }[] => [
  { name: 'simplify', run: simplifyLoops },
  { name: 'vectorize', run: vectorizeLoops },
  { name: 'isel', run: (m) => selectInstructions(m, rules) },
];

/** Every name --dump-ir accepts, in pipeline order. */
export const passNames = (): string[] => ['elaborate', ...tilePasses.map((p) => p.name), 'lower_cpu', ...cpuLoopPasses([]).map((p) => p.name), 'lower_gpu'];

export interface CpuOptions {
  readonly rules: readonly Rule[];
  /** Skip vectorization (for comparisons). */
  readonly vectorize?: boolean;
  readonly after?: (name: string, m: LModule) => void;
}

/** Tile IR -> Loop IR for CPUs: lowering, then the Loop IR passes. */
export function lowerForCpu(k: Kernel, options: CpuOptions): CpuLowering {
  const lowered = lowerCpu(k);
  options.after?.('lower_cpu', lowered.module);
  let m = lowered.module;
  for (const p of cpuLoopPasses(options.rules)) {
    if (p.name === 'vectorize' && options.vectorize === false) continue;
    m = p.run(m);
    options.after?.(p.name, m);
  }
  return { ...lowered, module: m };
}

/** Runs the Tile IR passes; `after` sees the IR after each (and after elaboration, as 'elaborate'). */
export function runTilePasses(k: Kernel, after?: (name: string, k: Kernel) => void): Kernel {
  after?.('elaborate', k);
  return tilePasses.reduce((ir, p) => {
    const out = p.run(ir);
    after?.(p.name, out);
    return out;
  }, k);
}

/** Loop IR passes for GPU targets, after lowering; instruction selection takes a target's own rules first. */
export const gpuLoopPasses = (targetRules: readonly Rule[] = []): readonly { name: string; run: (m: LModule) => LModule }[] => [
  { name: 'simplify', run: simplifyLoops },
  { name: 'isel', run: (m) => selectInstructions(m, [...targetRules, ...GPU_RULES]) },
];

/**
 * Tile IR -> Loop IR for GPUs: layout inference and the distributed lowering, then the Loop IR passes,
 * with the target's instruction-selection rules (CUDA's: backends/cuda/rules.ts).
 */
export function lowerForGpu(k: Kernel, after?: (name: string, m: LModule) => void, features: GpuFeatures = NO_GPU_FEATURES, targetRules: readonly Rule[] = []): GpuLowering {
  const lowered = lowerGpu(k, features);
  after?.('lower_gpu', lowered.module);
  let m = lowered.module;
  for (const p of gpuLoopPasses(targetRules)) {
    m = p.run(m);
    after?.(p.name, m);
  }
  return { ...lowered, module: m };
}
