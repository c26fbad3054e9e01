import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { npyFromTensor, readNpy, tensorFromNpy, writeNpy } from '../../src/io/npy.ts';
import { tensorElements, tensorFrom } from '../../src/vm/memory.ts';

async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(argv, (l) => out.push(l), (l) => err.push(l));
  return { status, out: out.join('\n'), err: err.join('\n') };
}

describe('tilebit run', () => {
  it('runs dequant_gemm on the VM with random inputs (the README command)', async () => {
    const r = await cli('run', 'examples/dequant_gemm.tile', '--set', 'W=u3,M=1,K=256,N=64', '--target', 'vm', '--seed', '1', '--check');
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^c: f16\[1, 64\]/m);
    expect(r.out).toMatch(/^check c: agrees with the VM \(largest error 0, tolerance/m);
  });
  it('reads inputs from .npy and writes outputs to .npy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-'));
    const write = (name: string, dtype: string, shape: number[], v: number[]) => writeFileSync(join(dir, name), writeNpy(npyFromTensor(tensorFrom(dtype, shape, v))));
    write('x.npy', 'f32', [3], [1, 2, 3]);
    write('y.npy', 'f32', [3], [0.5, 0.25, -1]);
    const r = await cli('run', 'examples/vector_add.tile', '--target', 'vm', '--input', 'x=' + join(dir, 'x.npy'), '--input', `y=${join(dir, 'y.npy')}`, '--output', `out=${join(dir, 'out.npy')}`, '--quiet');
    expect(r.status).toBe(0);
    const out = tensorFromNpy(readNpy(new Uint8Array(readFileSync(join(dir, 'out.npy')))), 'f32', 'out.npy');
    expect(Array.from(tensorElements(out))).toEqual([1.5, 2.25, 2]);
  });
  it('prints the IR after a named pass', async () => {
    const r = await cli('run', 'examples/vector_add.tile', '--set', 'N=8', '--target', 'vm', '--dump-ir', 'elaborate', '--quiet');
    expect(r.out).toMatch(/^kernel vector_add<BLOCK = 1024>\(x: f32\[N\]/);
    expect((await cli('run', 'examples/vector_add.tile', '--dump-ir', 'nope')).err).toMatch(/the passes are elaborate, dce/);
  });
  it('exits 1 with a positioned diagnostic for bad source, and says what is unknown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-'));
    writeFileSync(join(dir, 'bad.tile'), 'kernel k(a: f32[N]) grid(1) threads(32) {\n  store a[0 :+ 4] = b;\n}\n');
    const r = await cli('check', join(dir, 'bad.tile'));
    expect(r.status).toBe(1);
    expect(r.err).toContain("bad.tile:2:21: unknown name 'b'");
    expect((await cli('run', 'examples/vector_add.tile', '--target', 'vm')).err).toMatch(/the size N is unknown: give it with --set N=\.\.\./);
    expect((await cli('run', 'examples/vector_add.tile', '--set', 'Q=3', '--target', 'vm')).err).toMatch(/--set Q: the kernel has no template parameter, size or scalar parameter named Q/);
  });
  it('runs on CUDA through nvcc and the harness, or says why it cannot', async () => {
    const r = await cli('run', 'examples/vector_add.tile', '--set', 'N=300', '--target', 'cuda', '--check');
    if (r.status === 0) expect(r.out).toMatch(/^check out: agrees with the VM/m);
    else expect(r.err).toMatch(/the kernel compiled with nvcc, but this machine has no CUDA device to run it|nvcc is not on the PATH/);
  }, 120_000);
  it('runs the CUDA C on the CPU with --emulate (g++), checked against the VM, and refuses --emulate elsewhere', async () => {
    // matmul: cp.async stages, ldmatrix and mma.sync; M, N and K not multiples of its 64 x 64 x 32 tiles.
    const r = await cli('run', 'examples/matmul.tile', '--set', 'M=70,N=72,K=96', '--target', 'cuda', '--emulate', '--check');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^check c: agrees with the VM/m);
    expect(r.out).toMatch(/on cuda \(emulated on the CPU\)/);
    expect((await cli('run', 'examples/vector_add.tile', '--set', 'N=30', '--emulate')).err).toMatch(/--emulate runs the CUDA C on the CPU: it needs --target cuda/);
  }, 120_000);
  it('compiles to CUDA C with a header and to WGSL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-compile-'));
    const r = await cli('compile', 'examples/softmax.tile', '--target', 'cuda', '-o', join(dir, 'softmax.cu'));
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, 'softmax.cu'), 'utf8')).toMatch(/extern "C" __global__ void __launch_bounds__\(128\) softmax\(/);
    expect(readFileSync(join(dir, 'softmax.h'), 'utf8')).toMatch(/softmax: grid \(M\), 128 threads, \d+ bytes of static shared memory/);
    const w = await cli('compile', 'examples/softmax.tile', '--target', 'wgsl');
    expect(w.status).toBe(0);
    expect(w.out).toMatch(/@compute @workgroup_size\(128\)/);
  });
  it('runs on wasm by default and checks against the VM', async () => {
    const r = await cli('run', 'examples/dequant_gemm.tile', '--set', 'W=u3,M=1,K=256,N=64', '--check', '--workers', '2');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^check c: agrees with the VM \(largest error/m);
    expect(r.out).toMatch(/dequant_gemm on wasm: compiled in [\d.]+ ms, ran in [\d.]+ ms \(one run, with copies in and out/);
    expect(r.status).toBe(0);
  });
  it('summarizes outputs of millions of elements', async () => {
    const r = await cli('run', 'examples/vector_add.tile', '--set', 'N=2000000', '--workers', '2');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^out: f32\[2000000\]  min -\d/m);
  });
  it('writes the wasm module and its text form', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-'));
    const r = await cli('compile', 'examples/vector_add.tile', '--target', 'wasm', '-o', join(dir, 'k.wasm'), '--text');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/\(import "env" "memory" \(memory \$mem 1 65536 shared\)\)/);
    expect(WebAssembly.validate(readFileSync(join(dir, 'k.wasm')))).toBe(true);
  });
  it('checks every example', async () => {
    for (const f of ['vector_add', 'softmax', 'matmul', 'dequant_gemm', 'flash_attention']) {
      expect((await cli('check', `examples/${f}.tile`)).out).toBe(`examples/${f}.tile: ok (${f})`);
    }
  });
});

describe('tilebit gen', () => {
  it('prints kernels that compile, and says which kinds exist', async () => {
    for (const argv of [['dequant-gemm', '--weight', 'u3', '--group', '64'], ['flash-attention', '--head-dim', '64', '--causal'], ['decode-attention', '--head-dim', '128', '--cache', 'f8e4m3', '--scales', 'channel']]) {
      const r = await cli('gen', ...argv);
      expect(r.status).toBe(0);
      expect(r.out).toMatch(/^\/\/ Generated by tilebit/);
      const dir = mkdtempSync(join(tmpdir(), 'tilebit-gen-'));
      writeFileSync(join(dir, 'k.tile'), r.out);
      expect((await cli('check', join(dir, 'k.tile'))).status).toBe(0);
    }
    const bad = await cli('gen', 'softmax');
    expect(bad.status).toBe(2);
    expect(bad.err).toMatch(/unknown kernel kind 'softmax'; the kinds are: dequant-gemm, flash-attention, decode-attention/);
  });
  it('shapes dequant-GEMM tiles for the target named by --target', async () => {
    const argv = ['dequant-gemm', '--weight', 'u4', '--group', '128', '--m', '1'];
    expect((await cli('gen', ...argv)).out).toMatch(/^kernel dequant_gemm_u4_f16_f16_g128<BM = 1, BN = 64, BK = 128>/m);
    expect((await cli('gen', ...argv, '--target', 'cuda')).out).toMatch(/^kernel dequant_gemv_u4_f16_f16_g128<BN = 32, BK = 128, STAGES = 4>/m);
    expect((await cli('gen', ...argv, '--target', 'webgpu')).out).toMatch(/^kernel dequant_gemv_u4_f16_f16_g128<BN = 64, BK = 64>/m);
    expect((await cli('gen', 'dequant-gemm', '--weight', 'u4', '--group', '128', '--m', '16', '--target', 'cuda', '--stages', '4')).out).toMatch(/^kernel dequant_gemm_u4_f16_f16_g128<BM = 16, BN = 64, BK = 64, STAGES = 4>/m);
    expect((await cli('gen', 'dequant-gemm', '--weight', 'u4', '--group', '128', '--m', '16', '--target', 'cuda', '--threads', '256')).out).toMatch(/threads\(256\)/);
    expect((await cli('gen', 'dequant-gemm', '--weight', 'u4', '--group', '128', '--m', '16', '--target', 'cuda', '--threads', '96')).err).toMatch(/32, 64, 128, 256 or 512 threads; got 96/);
    const split = (await cli('gen', 'dequant-gemm', '--weight', 'u4', '--group', '128', '--m', '16', '--target', 'cuda', '--split-k', '4')).out;
    expect(split).toMatch(/^kernel dequant_gemm_u4_f16_f16_g128_splitk4<BM = 16, BN = 64, BK = 64, STAGES = 3, SPLITK = 4>/m);
    expect(split).toMatch(/c: f32\[M, N\]\)\n    grid\(cdiv\(M, BM\), cdiv\(N, BN\), SPLITK\)/);
    expect(split).toMatch(/store c\[m0 :\+ BM, n0 :\+ BN\] \+= acc;/);
    expect((await cli('gen', 'dequant-gemm', '--weight', 'u4', '--group', '128', '--split-k', '0')).err).toMatch(/split-K needs a positive integer number of blocks along K; got 0/);
    // M of 8 or fewer: 8-row MMA tiles with the weights as the A operand (C^T), or 16-row ones with them as B.
    const m8 = ['dequant-gemm', '--weight', 'u4', '--group', '128', '--m', '8', '--target', 'cuda'];
    expect((await cli('gen', ...m8)).out).toMatch(/^kernel dequant_gemm_u4_f16_f16_g128<BM = 8, BN = 64, BK = 64, STAGES = 3>[^]*part = dot\(cast<f16>\(permute\(load sw/m);
    expect((await cli('gen', ...m8, '--weight-operand', 'b')).out).toMatch(/^kernel dequant_gemm_u4_f16_f16_g128<BM = 16, [^]*part = dot\(load sa/m);
    const bad = await cli('gen', ...m8, '--weight-operand', 'c');
    expect([bad.status, bad.err]).toEqual([2, expect.stringMatching(/--weight-operand c: a or b/)]);
    // Flash attention's GPU form stages K and V in shared memory; its CPU form loads them directly.
    expect((await cli('gen', 'flash-attention', '--head-dim', '64', '--causal', '--target', 'cuda')).out).toMatch(/copy_async sk\[0, 0 :\+ BKV, 0 :\+ 64\] <- k/);
    expect((await cli('gen', 'flash-attention', '--head-dim', '64', '--causal', '--target', 'webgpu')).out).not.toMatch(/copy_async/);
    expect((await cli('gen', 'flash-attention', '--head-dim', '64', '--causal')).out).not.toMatch(/copy_async/);
    const splitKV = (await cli('gen', 'decode-attention', '--head-dim', '64', '--cache', 'u4', '--split-kv', '4')).out;
    expect(splitKV.match(/^kernel \w+/gm)).toEqual(['kernel decode_attention_u4_d64_token_partial', 'kernel decode_attention_u4_d64_token_combine']);
    expect(splitKV).toMatch(/grid\(H, 4\)/);
    expect((await cli('gen', ...argv, '--target', 'tpu')).err).toMatch(/--target tpu: the tiles are shaped for wasm, webgpu or cuda/);
  });
});

describe('tilebit build', () => {
  it('takes --wgsl-subgroups with its value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    writeFileSync(join(dir, 'lib.json'), JSON.stringify({ kernels: [{ name: 'add', source: join(process.cwd(), 'examples/vector_add.tile') }] }));
    const r = await cli('build', join(dir, 'lib.json'), '--out', join(dir, 'out'), '--targets', 'wgsl', '--wgsl-subgroups', '3');
    expect(r.err).toMatch(/--wgsl-subgroups 3: the smallest subgroup size must be a power of two/);
  });
});
