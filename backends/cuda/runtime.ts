// Running CUDA kernels from Node.js: the kernel's CUDA C and the host harness are compiled with nvcc
// (cached by the source's hash), the launch's tensors are written to files, the harness runs the kernel
// and writes the outputs back. Where nvcc is missing, or there is no CUDA device, the run stops with a
// TargetUnavailable that says which (after compiling, when nvcc is there). Emulated (`emulate`), the
// same CUDA C and harness are compiled with g++ against host/tilebit_host.h and run on the CPU: no GPU
// needed, nothing timed.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kernel, accumulatedTensors } from '../../ir/tile_ir.ts';
import { prepareLaunch } from '../../src/vm/interpret.ts';
import { checkGpuTensorSizes } from '../gpu_addressing.ts';
import type { Tensor } from '../../src/vm/memory.ts';
import { readBytes, writeBytes } from '../../src/io/files.ts';
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

/** The CUDA API and PTX helpers for running the CUDA C on the CPU (copied into dist/ beside this file). */
const HOST_HEADER = new URL('./host/tilebit_host.h', import.meta.url);

/**
 * g++'s flags for the CUDA C on the CPU (then `-I` the header's folder, `-o`, the files): C++17, f32
 * arithmetic never contracted into fused multiply-adds (as the kernels' `__f*_rn` intrinsics), and
 * CUDA's pragmas and unused helpers unwarned.
 */
export const HOST_CXX_FLAGS: readonly string[] = ['-std=c++17', '-O1', '-ffp-contract=off', '-DTILEBIT_HOST', '-w', '-x', 'c++'];

/**
 * Throws CudaRunError where a launch's grid has more than CUDA's 2^31 - 1 blocks along x, also on the
 * CPU build, so that it fails as the GPU would. (Past 65535 blocks along y or z, the harness launches
 * the grid in pieces: GpuLowering.blockOffsets.)
 */
export function checkCudaGrid(name: string, grid: readonly number[]): void {
  if ((grid[0] ?? 1) > 2 ** 31 - 1) throw new CudaRunError(`kernel ${name}: its grid (${grid.join(', ')}) has ${grid[0]} blocks along x; CUDA allows at most 2147483647 (2^31 - 1)`);
}

/** The harness binary for a kernel: built once per source text (and per compiler: nvcc, or g++ to emulate). */
function harnessFor(k: Kernel, emulate: boolean): { binary: string; traps: readonly string[]; lowered: ReturnType<typeof lowerForCuda> } {
  const lowered = lowerForCuda(k);
  const cu = emitCudaFile([lowered]);
  const h = emitCudaHeader([{ kernel: lowered.kernel, lowered }]);
  const harness = harnessSource([lowered]);
  const header = emulate ? readFileSync(HOST_HEADER, 'utf8') : '';
  const hash = createHash('sha256').update(cu).update(harness).update(header).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), emulate ? 'tilebit-cuda-host' : 'tilebit-cuda', hash);
  const binary = join(dir, 'harness');
  if (!existsSync(binary)) {
    const [compiler, flags] = emulate
      ? ['g++', HOST_CXX_FLAGS]
      : ['nvcc', ['-O3', '-arch=native']];
    if (spawnSync(compiler, ['--version']).status !== 0) {
      throw new CudaUnavailable(emulate ? 'g++ is not on the PATH: it compiles the CUDA C for the CPU (--emulate)' : 'nvcc is not on the PATH: install the CUDA toolkit, or write the CUDA C with tilebit compile --target cuda (or run it on the CPU with --emulate)');
    }
    const build = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    writeFileSync(join(build, 'kernels.cu'), cu);
    writeFileSync(join(build, 'kernels.h'), h);
    writeFileSync(join(build, 'harness.cu'), harness);
    if (emulate) writeFileSync(join(build, 'tilebit_host.h'), header);
    const r = spawnSync(compiler, [...flags, '-I', build, '-o', join(build, 'harness'), join(build, 'harness.cu'), join(build, 'kernels.cu')], { encoding: 'utf8' });
    if (r.status !== 0) throw new CudaRunError(`${compiler} failed on the generated CUDA C (${build}):\n${r.stderr}`);
    mkdirSync(dir, { recursive: true });
    renameSync(join(build, 'harness'), binary);
    rmSync(build, { recursive: true, force: true });
  }
  return { binary, traps: lowered.module.traps, lowered };
}

/**
 * Runs a kernel on the machine's CUDA device; outputs are written back into `tensors`; ms: the mean of
 * ten timed launches after it. `emulate`: on the CPU instead (ms is NaN: nothing is timed), and `report`
 * holds what the emulation printed (its shared-memory profile, where TILEBIT_HOST_PROFILE is set).
 */
export function runCuda(k: Kernel, tensors: Map<string, Tensor>, scalars: ReadonlyMap<string, number>, outputs: Iterable<string>, emulate = false): { ms: number; report: string } {
  checkGpuTensorSizes(k, tensors, 'CUDA C');
  const launch = prepareLaunch(k, { tensors, scalars });
  checkCudaGrid(k.name, launch.grid);
  const { binary, traps, lowered } = harnessFor(k, emulate);
  const work = mkdtempSync(join(tmpdir(), 'tilebit-run-'));
  try {
    const outs = new Set(outputs);
    const buffers = lowered.buffers.map((b) => {
      const t = tensors.get(b.tensor)!;
      writeBytes(join(work, `${b.tensor}.in`), t.bytes);
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
    if (r.status !== 0) {
      // A harness killed by a signal (a kernel's fault on the CPU build: SIGSEGV) prints nothing.
      const how = r.signal ? `killed by ${r.signal}` : r.error ? r.error.message : `exit status ${r.status}`;
      throw new CudaRunError(`the CUDA harness failed (${how})${(r.stderr || r.stdout).trim() ? `: ${(r.stderr || r.stdout).trim()}` : ''}`);
    }
    for (const name of outs) readBytes(join(work, `${name}.out`), tensors.get(name)!.bytes);
    return { ms: emulate ? NaN : Number(r.stdout.trim().split(' ').at(-1)), report: emulate ? r.stderr : '' };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
