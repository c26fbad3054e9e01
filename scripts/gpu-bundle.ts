// Writes a bundle for checking the GPU backends on a machine with an NVIDIA GPU and no Node.js: the CUDA
// C of every case of test/support/gpu_cases.ts (with --bench-cases, the benchmark's kernels at small shapes too), the host harness, one launch file per case, the inputs
// and the VM's outputs, check.py (runs each case with the harness and compares with the VM), and the
// same kernels as WGSL with webgpu-runner.mjs (imports only `webgpu`; Node.js and Dawn come from
// ../shared/gpu/pack-webgpu.sh). scripts/gpu-check.sh builds and runs both there. With tilebit_host.h
// (backends/cuda/host), the CUDA C also builds and runs on a machine without a GPU (HOST=1 for
// scripts/gpu-check.sh; test/backends/cuda.test.ts does that in every test run).
//
// Usage: npx tsx scripts/gpu-bundle.ts [DIR] [--bench-cases] [--only REGEX]   (default .gpu/bundle;
// --bench-cases: also every kernel of the GPU benchmark at small shapes, CUDA only: about 30 MB more,
// which the GPU machine's 64 MiB for carried files does not leave room for beside the benchmark and
// WebGPU; the tests check them on the CPU. --only: just the cases whose names REGEX finds)

import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitCudaFile, emitCudaHeader, lowerForCuda } from '../backends/cuda/emit.ts';
import { harnessSource, launchFile } from '../backends/cuda/harness.ts';
import { dataImage } from '../ir/loop_ir.ts';
import { type GpuLowering, argWords } from '../passes/lower_gpu.ts';
import { type WgslBinding, emitWgsl } from '../backends/wgsl/emit.ts';
import { outputTensors } from '../ir/tile_ir.ts';
import { lowerForGpu } from '../passes/pipeline.ts';
import { cloneTensors, compile, prepareTensors, runOnVM } from '../src/api.ts';
import { TOLERANCE } from '../src/testing/compare.ts';
import { prepareLaunch } from '../src/vm/interpret.ts';
import { benchCases, gpuCases } from '../test/support/gpu_cases.ts';

// Runs every case with the harness and compares with the VM's outputs: bit for bit, except f32, f16 and
// bf16 outputs, which agree within the testing kit's tolerance (relative to the largest finite |value|).
const CHECK_PY = `import json, subprocess, sys
import numpy as np

spec = json.load(open("cases.json"))
tol = spec["tolerance"]

def values(raw, dtype):
    if dtype == "f32": return np.frombuffer(raw, dtype=np.float32).astype(np.float64)
    if dtype == "f16": return np.frombuffer(raw, dtype=np.float16).astype(np.float64)
    if dtype == "bf16": return (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return None

rows, failed = [], 0
for c in spec["cases"]:
    run = subprocess.run(["./harness", c["case"] + ".launch"], capture_output=True, text=True)
    if run.returncode != 0:
        rows.append((c["case"], "-", "FAILED: " + (run.stdout + run.stderr).strip().splitlines()[-1], "", "", ""))
        failed += 1
        continue
    ms = run.stdout.split()[-1]
    for o in c["outputs"]:
        got, want = open(o["got"], "rb").read(), open(o["want"], "rb").read()
        g, w = values(got, o["dtype"]), values(want, o["dtype"])
        if g is None:
            ok, err, t = got == want, "0" if got == want else "bytes differ", "exact"
        else:
            finite = w[np.isfinite(w)]
            t = tol.get(o["dtype"], 0) * (np.abs(finite).max() if finite.size else 0)
            same = (g == w) | (np.isnan(g) & np.isnan(w))
            diff = np.where(same, 0, np.abs(g - w))
            diff = np.where(np.isnan(diff), np.inf, diff)
            ok, err, t = bool((diff <= t).all()), "%.3g" % diff.max(), "%.3g" % t
        failed += not ok
        rows.append((c["case"], o["name"], "agrees" if ok else "DISAGREES", err, t, ms))

head = ("case", "output", "vs the VM", "max error", "tolerance", "ms")
widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(6)]
for r in [head] + rows:
    print("  ".join(str(x).ljust(widths[i]) for i, x in enumerate(r)))
print("%d of %d outputs disagree or failed" % (failed, len(rows)) if failed else "all %d outputs agree with the VM" % len(rows))
sys.exit(1 if failed else 0)
`;

const argv = process.argv.slice(2);
const onlyAt = argv.indexOf('--only');
const only = onlyAt < 0 ? null : new RegExp(argv[onlyAt + 1] ?? '');
const dir = argv.find((a, i) => !a.startsWith('--') && (onlyAt < 0 || i !== onlyAt + 1)) ?? '.gpu/bundle';
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'data'), { recursive: true });

const lowered = [];
interface WgslCase {
  readonly file: string;
  readonly data: string;
  readonly bindings: readonly WgslBinding[];
  readonly buffers: readonly { name: string; file: string }[];
  /** The words after the dispatch offsets in tb_args: size symbols, then scalars' bits. */
  readonly args: readonly number[];
}
const manifest: { case: string; kernel: string; grid: readonly number[]; outputs: { name: string; dtype: string; got: string; want: string }[]; wgsl: WgslCase | null }[] = [];
/** The same kernel as WGSL, for scripts/webgpu-runner.mjs: its code, constant tables and launch. */
function wgslCase(name: string, l: GpuLowering, words: readonly number[]): WgslCase {
  const w = emitWgsl(l);
  writeFileSync(join(dir, `${name}.wgsl`), w.code);
  writeFileSync(join(dir, `data/${name}.tables`), dataImage(l.module));
  return {
    file: `${name}.wgsl`, data: `data/${name}.tables`, bindings: w.bindings,
    buffers: l.buffers.map((b) => ({ name: b.tensor, file: `data/${name}.${b.tensor}.in` })), args: words,
  };
}

const cases = [...gpuCases, ...(argv.includes('--bench-cases') ? benchCases : [])].filter((c) => only === null || only.test(c.name));
for (const c of cases) {
  const set = new Map(Object.entries(c.set ?? {}).map(([n, v]) => [n, String(v)]));
  const k0 = compile(c.source, { set, kernel: c.kernel });
  const k = { ...k0, name: `k_${c.name}` };
  const values = new Map([...set].filter(([n]) => !(n in k.template)).map(([n, v]) => [n, Number(v)]));
  const outputs = new Set(outputTensors(k));
  const inputs = prepareTensors(k, { values, seed: c.seed ?? 5 }, outputs);
  const vm = runOnVM(k, cloneTensors(inputs), values);
  const l = lowerForGpu(k);
  lowered.push(lowerForCuda(k)); // the CUDA C uses warp shuffles and __dp4a; launches are the same
  const launch = prepareLaunch(k, { tensors: inputs, scalars: values });
  const buffers: (readonly [number, string, string])[] = [];
  const outs: (typeof manifest)[number]['outputs'] = [];
  for (const b of l.buffers) {
    const t = inputs.get(b.tensor)!;
    const input = `data/${c.name}.${b.tensor}.in`;
    writeFileSync(join(dir, input), t.bytes);
    const isOut = outputs.has(b.tensor);
    const got = `data/${c.name}.${b.tensor}.got`;
    buffers.push([t.bytes.length, input, isOut ? got : '-']);
    if (isOut) {
      const want = `data/${c.name}.${b.tensor}.want`;
      writeFileSync(join(dir, want), vm.get(b.tensor)!.bytes);
      outs.push({ name: b.tensor, dtype: b.dtype, got, want });
    }
  }
  const words = argWords(l.args, launch.symbols, values);
  writeFileSync(join(dir, `${c.name}.launch`), launchFile(k.name, launch.grid, l.threads, buffers, l.args, words, 20));
  manifest.push({ case: c.name, kernel: k.name, grid: launch.grid, outputs: outs, wgsl: c.cudaOnly ? null : wgslCase(c.name, l, words) });
}

writeFileSync(join(dir, "kernels.cu"), emitCudaFile(lowered));
writeFileSync(join(dir, 'kernels.h'), emitCudaHeader(lowered.map((l) => ({ kernel: l.kernel, lowered: l }))));
writeFileSync(join(dir, 'harness.cu'), harnessSource(lowered));
writeFileSync(join(dir, 'cases.json'), `${JSON.stringify({ tolerance: TOLERANCE, cases: manifest }, null, 1)}\n`);
writeFileSync(join(dir, 'check.py'), CHECK_PY);
copyFileSync(fileURLToPath(new URL('./webgpu-runner.mjs', import.meta.url)), join(dir, 'webgpu-runner.mjs'));
// CUDA C on the CPU: the same harness and kernels compiled with TILEBIT_HOST (see the header).
copyFileSync(fileURLToPath(new URL('../backends/cuda/host/tilebit_host.h', import.meta.url)), join(dir, 'tilebit_host.h'));
console.log(`wrote ${cases.length} cases to ${dir}`);
