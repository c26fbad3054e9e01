// WebGPU sides of the autotuner, in a child process (see tune.test.ts and retry_child.ts). Prints one
// line, `RESULT <json>`.
//
// Usage: node --import ./src/register.mjs test/support/tune_webgpu_child.ts cli ARGS...   (tilebit with ARGS: its lines)
//        node --import ./src/register.mjs test/support/tune_webgpu_child.ts timed          (a bound split-K launch: time, then run)

import { outputTensors } from '../../ir/tile_ir.ts';
import { bindWebGpu, gpuContext } from '../../backends/wgsl/runtime.ts';
import { cloneTensors, compile, prepareTensors, runOnVM } from '../../src/api.ts';
import { webGpuKernel } from '../../src/builds.ts';
import { main } from '../../src/cli/main.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { type Tensor, tensorElements } from '../../src/vm/memory.ts';
import { valueOf } from '../../ir/cast.ts';

const [mode, ...rest] = process.argv.slice(2);
let result: unknown;
if (mode === 'cli') {
  const lines: string[] = [];
  const status = await main(rest, (l) => lines.push(l), (l) => lines.push(l));
  result = { status, lines };
} else {
  // A split-K GEMV (C accumulated with +=): timed three times, then run once more. The timed launches
  // zero C first, so the run adds onto one launch's sums: C holds twice the VM's.
  const k = compile(dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f32', target: 'gpu', asyncCopies: false, splitK: 2 }).source);
  const values = new Map([['M', 1], ['K', 64], ['N', 64]]);
  const outputs = new Set(outputTensors(k));
  const inputs = prepareTensors(k, { values, seed: 3 }, outputs);
  const vm = runOnVM(k, cloneTensors(inputs), values);
  const gpu = cloneTensors(inputs);
  const ctx = await gpuContext();
  const launch = await bindWebGpu(webGpuKernel(k, ctx.gpuFeatures, ctx.wgslOptions), gpu, values, outputs);
  const ms = await launch.time(3);
  await launch.run();
  launch.destroy();
  const numbers = (t: Tensor): number[] => Array.from(tensorElements(t), (h) => valueOf(t.dtype, h));
  result = { ms, got: numbers(gpu.get('c')!), vm: numbers(vm.get('c')!) };
}
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
