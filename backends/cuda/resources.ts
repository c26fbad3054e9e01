// What a generated kernel costs each streaming multiprocessor, known without a GPU: ptxas reports the
// registers, spills and static shared memory of each kernel for an architecture, and from those, the
// threads and the dynamic shared memory, the occupancy follows (the CUDA occupancy calculator's rules:
// registers allocated per warp in units of 256, shared memory per block in units of 128 bytes plus 1 KiB
// the system reserves on sm_80 and later). This is the theoretical occupancy Nsight Compute reports;
// what a kernel achieves also depends on its grid and its stalls.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CudaRunError, CudaUnavailable } from './runtime.ts';

/** What ptxas reports of one kernel. */
export interface PtxasInfo {
  readonly kernel: string;
  readonly arch: string;
  readonly registers: number;
  readonly staticSharedBytes: number;
  readonly stackBytes: number;
  readonly spillStoreBytes: number;
  readonly spillLoadBytes: number;
}

/** An SM's limits (CUDA C Programming Guide, compute capabilities table). */
export interface SmLimits {
  readonly warps: number;
  readonly blocks: number;
  readonly registers: number;
  /** Shared memory an SM can give its blocks, bytes (the carveout at its largest). */
  readonly sharedBytes: number;
  /** Shared memory the system reserves per block, bytes. */
  readonly reservedSharedBytes: number;
}

/** The architectures tilebit compiles for (sm_80: A100; sm_90 and sm_90a: H100, H200). */
export const SM_LIMITS: Readonly<Record<string, SmLimits>> = {
  sm_80: { warps: 64, blocks: 32, registers: 65536, sharedBytes: 164 * 1024, reservedSharedBytes: 1024 },
  sm_90: { warps: 64, blocks: 32, registers: 65536, sharedBytes: 228 * 1024, reservedSharedBytes: 1024 },
  sm_90a: { warps: 64, blocks: 32, registers: 65536, sharedBytes: 228 * 1024, reservedSharedBytes: 1024 },
};

export interface Occupancy {
  readonly blocksPerSm: number;
  readonly warpsPerSm: number;
  /** Resident warps over the SM's maximum, 0..1. */
  readonly fraction: number;
  /** What stops one more block: 'registers', 'shared memory', 'warps' or 'blocks'. */
  readonly limitedBy: 'registers' | 'shared memory' | 'warps' | 'blocks';
}

const roundUp = (x: number, unit: number): number => Math.ceil(x / unit) * unit;

/** Blocks of `threads` threads using `registers` per thread and `sharedBytes` per block that fit on one SM. */
export function occupancy(limits: SmLimits, threads: number, registers: number, sharedBytes: number): Occupancy {
  const warps = Math.ceil(threads / 32);
  const byWarps = Math.floor(limits.warps / warps);
  // Registers go to warps in units of 256 (8 per thread), from four quarters of the register file,
  // one per warp scheduler: a warp's registers come from one quarter.
  const perWarp = roundUp(Math.max(registers, 1) * 32, 256);
  const byRegisters = Math.floor((4 * Math.floor(limits.registers / 4 / perWarp)) / warps);
  const shared = sharedBytes > 0 ? roundUp(sharedBytes + limits.reservedSharedBytes, 128) : limits.reservedSharedBytes;
  const byShared = Math.floor(limits.sharedBytes / shared);
  // On a tie the hard limits (warps, blocks) are named.
  const candidates = [
    ['warps', byWarps],
    ['blocks', limits.blocks],
    ['registers', byRegisters],
    ['shared memory', byShared],
  ] as const;
  const [limitedBy, blocks] = candidates.reduce((a, b) => (b[1] < a[1] ? b : a));
  return { blocksPerSm: blocks, warpsPerSm: blocks * warps, fraction: (blocks * warps) / limits.warps, limitedBy };
}

/** The per-kernel lines of `ptxas -v` (nvcc -Xptxas -v). */
export function parsePtxasInfo(text: string): PtxasInfo[] {
  const out: PtxasInfo[] = [];
  let current: { kernel: string; arch: string; stack: number; stores: number; loads: number } | null = null;
  for (const line of text.split('\n')) {
    const entry = /Compiling entry function '([^']+)' for '([^']+)'/.exec(line);
    if (entry) {
      current = { kernel: entry[1]!, arch: entry[2]!, stack: 0, stores: 0, loads: 0 };
      continue;
    }
    const frame = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (frame && current) [current.stack, current.stores, current.loads] = [Number(frame[1]), Number(frame[2]), Number(frame[3])];
    const used = /Used (\d+) registers(?:.*?, (\d+) bytes smem)?/.exec(line);
    if (used && current) {
      out.push({
        kernel: current.kernel, arch: current.arch, registers: Number(used[1]), staticSharedBytes: Number(used[2] ?? 0),
        stackBytes: current.stack, spillStoreBytes: current.stores, spillLoadBytes: current.loads,
      });
      current = null;
    }
  }
  return out;
}

/** Compiles a `.cu` file's kernels for `arch` (a key of SM_LIMITS) with nvcc and returns what ptxas reports of each. */
export function ptxasInfo(cu: string, arch = 'sm_90a'): PtxasInfo[] {
  if (spawnSync('nvcc', ['--version']).status !== 0) throw new CudaUnavailable('nvcc is not on the PATH: install the CUDA toolkit to see what ptxas makes of a kernel');
  const dir = mkdtempSync(join(tmpdir(), 'tilebit-ptxas-'));
  try {
    writeFileSync(join(dir, 'kernels.cu'), cu);
    const r = spawnSync('nvcc', ['-cubin', `-arch=${arch}`, '-O3', '-Xptxas', '-v', '-o', join(dir, 'kernels.cubin'), join(dir, 'kernels.cu')], { encoding: 'utf8' });
    if (r.status !== 0) throw new CudaRunError(`nvcc failed on the generated CUDA C:\n${r.stderr}`);
    return parsePtxasInfo(r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
