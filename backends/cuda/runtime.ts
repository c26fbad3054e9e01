// Running CUDA kernels from Node.js: the kernel's CUDA C and the host harness are compiled with nvcc
// (cached by the source's hash), the launch's tensors are written to files, the harness runs the kernel
// and writes the outputs back. Where nvcc is missing, or there is no CUDA device, the run stops with a
// TargetUnavailable that says which (after compiling, when nvcc is there).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kernel, accumulatedTensors } from '../../ir/tile_ir.ts';
import { prepareLaunch } from '../../src/vm/interpret.ts';
import type { Tensor } from '../../src/vm/memory.ts';
import { emitCudaFile, emitCudaHeader, lowerForCuda } from './emit.ts';
import { argWords } from '../../passes/lower_gpu.ts';
import { harnessSource, launchFile } from './harness.ts';

export class CudaUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CudaUnavailable';
  }
}

export class CudaRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CudaRunError';
  }
}

/** The harness binary for a kernel: built once per source text. */
function harnessFor(k: Kernel): { binary: string; traps: readonly string[]; lowered: ReturnType<typeof lowerForCuda> } {
  const lowered = lowerForCuda(k);
  const cu = emitCudaFile([lowered]);
  const h = emitCudaHeader([{ kernel: lowered.kernel, lowered }]);
  const harness = harnessSource([lowered]);
  const hash = createHash('sha256').update(cu).update(harness).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'tilebit-cuda', hash);
  const binary = join(dir, 'harness');
  if (!existsSync(binary)) {
    if (spawnSync('nvcc', ['--version']).status !== 0) throw new CudaUnavailable('nvcc is not on the PATH: install the CUDA toolkit, or write the CUDA C with tilebit compile --target cuda');
    const build = mkdtempSync(join(tmpdir(), 'tilebit-nvcc-'));
    writeFileSync(join(build, 'kernels.cu'), cu);
    writeFileSync(join(build, 'kernels.h'), h);
    writeFileSync(join(build, 'harness.cu'), harness);
    const r = spawnSync('nvcc', ['-O3', '-arch=native', '-o', join(build, 'harness'), join(build, 'harness.cu'), join(build, 'kernels.cu')], { encoding: 'utf8' });
    if (r.status !== 0) throw new CudaRunError(`nvcc failed on the generated CUDA C (${build}):\n${r.stderr}`);
    mkdirSync(dir, { recursive: true });
    renameSync(join(build, 'harness'), binary);
    rmSync(build, { recursive: true, force: true });
  }
  return { binary, traps: lowered.module.traps, lowered };
}

/** Runs a kernel on the machine's CUDA device; outputs are written back into `tensors`; ms: the mean of ten timed launches after it. */
export function runCuda(k: Kernel, tensors: Map<string, Tensor>, scalars: ReadonlyMap<string, number>, outputs: Iterable<string>): { ms: number } {
  const launch = prepareLaunch(k, { tensors, scalars });
  const { binary, traps, lowered } = harnessFor(k);
  const work = mkdtempSync(join(tmpdir(), 'tilebit-run-'));
  try {
    const outs = new Set(outputs);
    const buffers = lowered.buffers.map((b) => {
      const t = tensors.get(b.tensor)!;
      writeFileSync(join(work, `${b.tensor}.in`), t.bytes);
      return [t.bytes.length, `${b.tensor}.in`, outs.has(b.tensor) ? `${b.tensor}.out` : '-'] as const;
    });
    const words = argWords(lowered.args, launch.symbols, scalars);
    // The timed launches zero the outputs stored with `+=` first (inside the timing); the outputs written
    // back are the first, untimed launch's.
    const accumulated = new Set(accumulatedTensors(k));
    const clear = lowered.buffers.flatMap((b, i) => (accumulated.has(b.tensor) ? [i] : []));
    writeFileSync(join(work, 'launch'), launchFile(lowered.kernel.name, launch.grid, lowered.threads, buffers, lowered.args, words, 10, 0, clear));
    const r = spawnSync(binary, ['launch'], { cwd: work, encoding: 'utf8' });
    if (r.status === 2) throw new CudaUnavailable(`the kernel compiled with nvcc, but this machine has no CUDA device to run it (${r.stderr.trim()})`);
    if (r.status === 3) throw new CudaRunError(traps[Number(r.stdout.trim().split(' ').at(-1)) - 1] ?? r.stdout.trim());
    if (r.status !== 0) throw new CudaRunError(`the CUDA harness failed: ${(r.stderr || r.stdout).trim()}`);
    for (const name of outs) tensors.get(name)!.bytes.set(readFileSync(join(work, `${name}.out`)));
    return { ms: Number(r.stdout.trim().split(' ').at(-1)) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
