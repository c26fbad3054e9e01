// What a CUDA kernel costs an SM (backends/cuda/resources.ts): the occupancy rules on cases worked by
// hand, the parser on ptxas's own lines, and `tilebit compile --target cuda --resources` with nvcc.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SM_LIMITS, occupancy, parsePtxasInfo } from '../../backends/cuda/resources.ts';
import { main } from '../../src/cli/main.ts';

const H100 = SM_LIMITS.sm_90a!;

describe('theoretical occupancy', () => {
  it('follows the occupancy calculator\'s rules', () => {
    // Flash attention as Nsight Compute measured it on an H200 (bench/RESULTS.md): 143 registers, 4 warps,
    // 32 KiB: 144 x 32 = 4608 registers a warp, 14 warps' worth, 12 in whole quarters: 3 blocks, 19%.
    expect(occupancy(H100, 128, 143, 32768)).toEqual({ blocksPerSm: 3, warpsPerSm: 12, fraction: 12 / 64, limitedBy: 'registers' });
    // Registers round up to 8 per thread: 121 counts as 128, so 16 warps (4 blocks); 120 stays, 17 warps
    // by the register file, but quarters hold 4 each: still 16.
    expect(occupancy(H100, 128, 121, 0).warpsPerSm).toBe(16);
    expect(occupancy(H100, 128, 120, 0).warpsPerSm).toBe(16);
    expect(occupancy(H100, 128, 64, 0)).toMatchObject({ blocksPerSm: 8, fraction: 0.5, limitedBy: 'registers' });
    // Shared memory: 100 KiB + 1 KiB reserved per block: 2 blocks in 228 KiB, 1 in the A100's 164 KiB.
    expect(occupancy(H100, 256, 32, 100 * 1024)).toMatchObject({ blocksPerSm: 2, limitedBy: 'shared memory' });
    expect(occupancy(SM_LIMITS.sm_80!, 256, 32, 100 * 1024)).toMatchObject({ blocksPerSm: 1, limitedBy: 'shared memory' });
    // Warps (a tie with registers names the warps) and blocks.
    expect(occupancy(H100, 1024, 32, 0)).toMatchObject({ blocksPerSm: 2, fraction: 1, limitedBy: 'warps' });
    expect(occupancy(H100, 32, 16, 0)).toMatchObject({ blocksPerSm: 32, fraction: 0.5, limitedBy: 'blocks' });
    // A block of 33 threads takes two warps.
    expect(occupancy(H100, 33, 16, 0)).toMatchObject({ blocksPerSm: 32, warpsPerSm: 64 });
  });
});

describe('ptxas -v', () => {
  it('reads each kernel\'s registers, spills and static shared memory, and nothing of helpers', () => {
    // nvcc 13.0's lines (-Xptxas -v), a device function's included.
    const text = [
      "ptxas info    : 0 bytes gmem",
      "ptxas info    : Function properties for helper",
      "    16 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads",
      "ptxas info    : Compiling entry function 'flash' for 'sm_90a'",
      "ptxas info    : Function properties for flash",
      "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads",
      "ptxas info    : Used 155 registers, used 1 barriers, 32768 bytes smem",
      "ptxas info    : Compile time = 331.049 ms",
      "ptxas info    : Compiling entry function 'gemv' for 'sm_90a'",
      "ptxas info    : Function properties for gemv",
      "    40 bytes stack frame, 24 bytes spill stores, 28 bytes spill loads",
      "ptxas info    : Used 255 registers, used 0 barriers, 384 bytes cmem[0]",
    ].join('\n');
    expect(parsePtxasInfo(text)).toEqual([
      { kernel: 'flash', arch: 'sm_90a', registers: 155, staticSharedBytes: 32768, stackBytes: 0, spillStoreBytes: 0, spillLoadBytes: 0 },
      { kernel: 'gemv', arch: 'sm_90a', registers: 255, staticSharedBytes: 0, stackBytes: 40, spillStoreBytes: 24, spillLoadBytes: 28 },
    ]);
  });
});

const haveNvcc = spawnSync('nvcc', ['--version']).status === 0;

describe.skipIf(!haveNvcc)('tilebit compile --target cuda --resources', () => {
  async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const status = await main(argv, (l) => out.push(l), (l) => err.push(l));
    return { status, out: out.join('\n'), err: err.join('\n') };
  }

  it('reports what ptxas makes of a kernel and the occupancy that allows, for sm_90a and sm_80', async () => {
    for (const arch of ['sm_90a', 'sm_80']) {
      const r = await cli('compile', 'examples/matmul.tile', '--target', 'cuda', '--resources', '--arch', arch);
      expect(r.status, r.err).toBe(0);
      const m = /^matmul on (sm_\w+): (\d+) registers per thread, (no spills|.*spill.*), (\d+) bytes of shared memory per block of (\d+) threads\n {2}(\d+) blocks \((\d+) of 64 warps\) per SM: (\d+)% theoretical occupancy, limited by (\w[\w ]*)$/.exec(r.out);
      expect(m, r.out).not.toBeNull();
      const [, a, registers, , shared, threads, blocks] = m!;
      expect(a).toBe(arch);
      expect(Number(registers)).toBeGreaterThan(16);
      expect(Number(shared)).toBeGreaterThan(0); // matmul stages its tiles in shared memory
      expect(Number(blocks)).toBe(occupancy(SM_LIMITS[arch]!, Number(threads), Number(registers), Number(shared)).blocksPerSm);
    }
  }, 60_000);

  it('--min-blocks N: ptxas keeps the registers within what lets N blocks share an SM', async () => {
    // matmul: 128 threads; four blocks leave 65536 / 512 = 128 registers a thread, eight 64.
    for (const blocks of [4, 8]) {
      const r = await cli('compile', 'examples/matmul.tile', '--target', 'cuda', '--min-blocks', String(blocks), '--resources');
      expect(r.status, r.err).toBe(0);
      const registers = Number(/(\d+) registers per thread/.exec(r.out)![1]);
      expect(registers).toBeLessThanOrEqual(65536 / (blocks * 128));
      expect(Number(/(\d+) blocks \(/.exec(r.out)![1])).toBeGreaterThanOrEqual(blocks);
    }
    expect((await cli('compile', 'examples/matmul.tile', '--target', 'cuda', '--min-blocks', '17')).err).toMatch(/17 blocks of 128 threads cannot share one SM/);
    expect((await cli('compile', 'examples/matmul.tile', '--target', 'wgsl', '--min-blocks', '2')).err).toMatch(/needs --target cuda/);
  }, 60_000);

  it('names what it needs: --target cuda, a known architecture', async () => {
    expect((await cli('compile', 'examples/matmul.tile', '--resources')).err).toMatch(/needs --target cuda/);
    expect((await cli('compile', 'examples/matmul.tile', '--target', 'cuda', '--resources', '--arch', 'sm_70')).err).toMatch(/the architectures are sm_80, sm_90, sm_90a/);
  });
});
