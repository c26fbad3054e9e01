// The ahead-of-time builder: outputs, determinism, incrementality, atomicity, and the bindings used
// as an application would use them.

import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { build } from '../src/build.ts';
import { quantize } from '../src/quantize.ts';
import { type Tensor, tensorElements, tensorFrom } from '../src/vm/memory.ts';
import { compile, prepareTensors, runOnVM } from '../src/api.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';
import { fragmentOrderTensor } from '../src/kernels/fragment_order.ts';
import { panelOrderTensor } from '../src/kernels/panel_order.ts';
import { runChild } from './support/retry_child.ts';
import { main } from '../src/cli/main.ts';
import { decodeArgs } from './support/decode_args.ts';
import { attention } from '../src/testing/reference.ts';
import { symmetricZero } from '../src/quantize.ts';
import { dtype as parseDType } from '../ir/dtype.ts';

const lib = (weights: string[]) => ({
  name: 'demo',
  kernels: [
    { name: 'gemv_{weight}', generator: 'dequant-gemm', product: { weight: weights }, options: { groupSize: 32, activation: 'f32', m: 1 } },
    { name: 'attention', generator: 'flash-attention', options: { headDim: 64, causal: true } },
    { name: 'add', source: resolve('examples/vector_add.tile'), set: { BLOCK: 256 } },
  ],
});

function writeLib(dir: string, weights: string[]): string {
  const file = join(dir, 'lib.json');
  writeFileSync(file, JSON.stringify(lib(weights)));
  return file;
}

const files = (dir: string): Record<string, string> =>
  Object.fromEntries(['manifest.json', 'index.js', 'index.d.ts', ...readdirSync(join(dir, 'wasm')).map((f) => `wasm/${f}`)].map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));

/**
 * Runs the built library's GEMV `name` (f32 activations, M = 1, scales f32 per `group` rows) on weights
 * quantized from [K, N] values and stored by `order`, and expects the rows form's answer on the VM.
 */
async function builtGemvAgrees(out: string, name: string, weight: string, group: number, [K, N]: [number, number], order: (w: Tensor) => Tensor): Promise<void> {
  const q = quantize(Array.from({ length: K * N }, (_, i) => Math.sin(i)), K, N, { weight, groupSize: group, scale: 'f32' });
  const w = order(q.w);
  const a = Float32Array.from({ length: K }, (_, i) => Math.cos(i));
  const bindings = await import(pathToFileURL(join(out, 'index.js')).href);
  const { c } = await bindings[name]({ a: { data: a, shape: [1, K] }, w: { data: w.bytes, shape: w.shape }, s: { data: q.s.bytes, shape: [K / group, N] }, c: { data: new Float32Array(N), shape: [1, N] } });
  const k = compile(dequantGemm({ weight, groupSize: group, activation: 'f32', m: 1 }).source);
  const vm = runOnVM(k, prepareTensors(k, { tensors: new Map([['a', tensorFrom('f32', [1, K], a)], ['w', q.w], ['s', q.s]]) }, new Set(['c'])));
  const want = Array.from(tensorElements(vm.get('c')!));
  Array.from(new Float32Array(c.buffer)).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
}

describe('tilebit build', () => {
  it('writes artifacts, a manifest and bindings; is deterministic, incremental and atomic', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    const libFile = writeLib(work, ['u3', 'u4']);
    const [a, b] = [join(work, 'a'), join(work, 'b')];
    const first = await build(libFile, { out: a, workers: 2 });
    expect([...first.built].sort()).toEqual(['add', 'attention', 'gemv_u3', 'gemv_u4']);
    const manifest = JSON.parse(readFileSync(join(a, 'manifest.json'), 'utf8'));
    expect(manifest.kernels.map((k: { name: string }) => k.name)).toEqual(['add', 'attention', 'gemv_u3', 'gemv_u4']);
    const gemv = manifest.kernels.find((k: { name: string }) => k.name === 'gemv_u4');
    expect(gemv.params.map((p: { name: string; dtype: string }) => `${p.name}: ${p.dtype}`)).toEqual(['a: f32', 'w: u4', 's: f32', 'c: f32']);
    expect(gemv.outputs).toEqual(['c']);
    expect(gemv.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(readFileSync(join(a, 'index.d.ts'), 'utf8')).toContain('export function gemv_u4(tensors: { a: TensorArg<Float32Array>; w: TensorArg<Uint8Array>; s: TensorArg<Float32Array>; c: TensorArg<Float32Array> }, scalars?: Record<string, never>, options?: WasmOptions): Promise<{ c: Uint8Array }>;');
    // Deterministic: another build from scratch gives the same bytes.
    await build(libFile, { out: b, workers: 1 }); // on this thread: the same bytes as from workers
    expect(files(b)).toEqual(files(a));
    // Incremental: nothing changed, nothing is rebuilt; one new instance is the only one built.
    expect(await build(libFile, { out: a, workers: 1 })).toEqual({ built: [], reused: ['add', 'attention', 'gemv_u3', 'gemv_u4'] });
    const more = await build(writeLib(work, ['u3', 'u4', 'f4e2m1']), { out: a, workers: 1 });
    expect(more.built).toEqual(['gemv_f4e2m1']);
    // Atomic: a failing instance names itself and leaves the previous output as it was.
    const before = files(a);
    await expect(build(writeLib(work, ['u3', 'u9']), { out: a, workers: 1 })).rejects.toThrow(/^kernel 'gemv_u9' failed to build: 'u9' is not a data type/);
    expect(files(a)).toEqual(before);
    // A failure inside a compile worker too.
    writeFileSync(join(work, 'bad.tile'), 'kernel bad(x: f32[N]) grid(1) threads(32) { store x[0 :+ 4] = y; }');
    const badLib = join(work, 'bad.json');
    writeFileSync(badLib, JSON.stringify({ kernels: [...lib(['u3']).kernels, { name: 'bad', source: join(work, 'bad.tile') }] }));
    await expect(build(badLib, { out: a, workers: 2 })).rejects.toThrow(/^kernel 'bad' failed to build: bad.tile:1:63: unknown name 'y'/);
    expect(files(a)).toEqual(before);
    await expect(build(libFile, { out: a, targets: ['metal'] })).rejects.toThrow(/unknown target 'metal': the builder writes wasm, cuda, wgsl/);
    expect(files(a)).toEqual(before);
  });

  it('writes CUDA C with headers and WGSL, described in the manifest, and rebuilds when the targets change', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    const out = join(work, 'lib');
    const libFile = writeLib(work, ['u3']);
    await build(libFile, { out, workers: 1, targets: ['wasm', 'cuda', 'wgsl'] });
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const gemv = manifest.kernels.find((k: { name: string }) => k.name === 'gemv_u3');
    expect(gemv.targets).toEqual(['cuda', 'wasm', 'wgsl']);
    expect(readFileSync(join(out, gemv.cuda.file), 'utf8')).toMatch(/extern "C" __global__ void __launch_bounds__\(\d+\) gemv_u3\(/);
    expect(readFileSync(join(out, gemv.cuda.header), 'utf8')).toMatch(/__global__ void gemv_u3\(unsigned char\* g_a.*int\* tb_err, int tb_by0, int tb_bz0\);/);
    expect(gemv.cuda.blockOffsets).toBe(true); // its grid (M, cdiv(N, BN)) may pass 65535 blocks along y
    expect(readFileSync(join(out, gemv.wgsl.file), 'utf8')).toMatch(/@compute @workgroup_size\(\d+\)/);
    expect(gemv.wgsl.bindings.map((b: { name: string }) => b.name)).toEqual(['a', 'w', 's', 'c', 'tb_data', 'tb_args', 'tb_err']);
    expect(gemv.wgsl.args).toEqual(gemv.cuda.args);
    // The GPU GEMV and attention stage their tiles in shared memory by cp.async.
    expect(gemv.cuda.features.cpAsync).toBe(true);
    expect(manifest.kernels.find((k: { name: string }) => k.name === 'attention').cuda.features.cpAsync).toBe(true);
    // WebGPU has no asynchronous copies: its GEMV loads tiles straight into registers (shared memory
    // only for the final reduction).
    expect(gemv.wgsl.sharedBytes).toBeLessThan(gemv.cuda.sharedBytes);
    // A kernel whose copies run as cp.async and whose dot runs on mma.sync, fed by ldmatrix, says so.
    writeFileSync(join(work, 'mm.json'), JSON.stringify({ kernels: [{ name: 'mm', source: resolve('examples/matmul.tile') }] }));
    await build(join(work, 'mm.json'), { out: join(work, 'mm'), workers: 1, targets: ['cuda'] });
    const mm = JSON.parse(readFileSync(join(work, 'mm', 'manifest.json'), 'utf8')).kernels[0];
    expect(mm.cuda.features).toMatchObject({ cpAsync: true, mma: true, ldmatrix: true });
    expect(gemv.cuda.features.mma).toBe(false);
    // "cuda": { "minBlocksPerSm": N } reaches the launch bounds and the manifest, and only the CUDA
    // artifact: the WGSL is the same bytes.
    const attention = (cuda?: object) => ({ kernels: [{ name: 'fa', generator: 'flash-attention', options: { headDim: 64, causal: true }, ...(cuda ? { cuda } : {}) }] });
    const built: Record<string, { manifest: { kernels: { cuda: Record<string, unknown>; wgsl: { file: string } }[] }; cu: string; wgsl: string }> = {};
    for (const [tag, cuda] of [['plain', undefined], ['four', { minBlocksPerSm: 4 }]] as const) {
      writeFileSync(join(work, `fa_${tag}.json`), JSON.stringify(attention(cuda)));
      await build(join(work, `fa_${tag}.json`), { out: join(work, `fa_${tag}`), workers: 1, targets: ['cuda', 'wgsl'] });
      const manifest = JSON.parse(readFileSync(join(work, `fa_${tag}`, 'manifest.json'), 'utf8'));
      built[tag] = { manifest, cu: readFileSync(join(work, `fa_${tag}`, 'cuda', 'fa.cu'), 'utf8'), wgsl: readFileSync(join(work, `fa_${tag}`, manifest.kernels[0].wgsl.file), 'utf8') };
    }
    expect(built.plain!.cu).toMatch(/__launch_bounds__\(128, 1\) fa\(/);
    expect(built.four!.cu).toMatch(/__launch_bounds__\(128, 4\) fa\(/);
    expect(built.plain!.manifest.kernels[0]!.cuda.minBlocksPerSm).toBeUndefined();
    expect(built.four!.manifest.kernels[0]!.cuda.minBlocksPerSm).toBe(4);
    expect(built.four!.wgsl).toBe(built.plain!.wgsl);
    for (const [cuda, message] of [[{ minBlocksPerSm: 0 }, /"minBlocksPerSm" must be a whole number of blocks, at least 1; got 0/], [{ blocks: 2 }, /"cuda" has no option "blocks"/], [{ minBlocksPerSm: 17 }, /17 blocks of 128 threads cannot share one SM/]] as const) {
      writeFileSync(join(work, 'bad.json'), JSON.stringify(attention(cuda)));
      await expect(build(join(work, 'bad.json'), { out: join(work, 'bad'), workers: 1, targets: ['cuda'] })).rejects.toThrow(message);
    }
    // Only wasm now: the GPU artifacts go, nothing is reused across different target sets.
    const report = await build(libFile, { out, workers: 1, targets: ['wasm'] });
    expect(report.reused).toEqual([]);
    expect(existsSync(join(out, 'cuda'))).toBe(false);
  });

  it('the bindings launch WebGPU kernels too, with the answers of wasm', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    const out = join(work, 'lib');
    writeFileSync(join(work, 'lib.json'), JSON.stringify({ kernels: [
      { name: 'add', source: resolve('examples/vector_add.tile'), set: { BLOCK: 256 } },
      { name: 'rows', source: resolve('examples/softmax.tile'), set: { BN: 256 } },
      { name: 'gemv', generator: 'dequant-gemm', options: { weight: 'u4', groupSize: 32, activation: 'f32', m: 1 } },
      { name: 'decode', generator: 'decode-attention', options: { headDim: 64, cache: 'u4', dtype: 'f32', blockKV: 16 } },
      { name: 'decode_split', generator: 'decode-attention', options: { headDim: 64, cache: 'u4', dtype: 'f32', blockKV: 16, splitKV: 3 } },
    ] }));
    // The WGSL may use subgroups of 4 or more invocations (SwiftShader's size); the manifest says which kernels do.
    await build(join(work, 'lib.json'), { out, workers: 1, targets: ['wasm', 'wgsl'], wgslSubgroups: 4 });
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const features = Object.fromEntries(manifest.kernels.filter((k: { name: string }) => !k.name.startsWith('decode')).map((k: { name: string; wgsl: { features: unknown } }) => [k.name, k.wgsl.features]));
    expect(features).toEqual({
      add: { shaderF16: false, dot4x8: false, subgroups: false },
      rows: { shaderF16: false, dot4x8: false, subgroups: true, subgroupMinSize: 4 },
      gemv: { shaderF16: false, dot4x8: false, subgroups: false },
    });
    // The generated GEMV is shaped per target: register-blocked tiles for wasm, K split over a block's
    // threads on GPUs (its own grid: one block per row of A).
    const gemv = manifest.kernels.find((k: { name: string }) => k.name === 'gemv');
    expect(gemv.wgsl.grid[0]).toEqual({ kind: 'symbol', name: 'M' });
    expect(gemv.wgsl.grid).not.toEqual(gemv.grid);
    expect(readFileSync(join(out, 'wgsl/rows.wgsl'), 'utf8')).toContain('subgroupShuffleXor');
    expect(readFileSync(join(out, 'index.d.ts'), 'utf8')).toMatch(/export function add_webgpu\(tensors: \{ x: TensorArg<Float32Array>/);
    const child = fileURLToPath(new URL('./support/bindings_webgpu_child.ts', import.meta.url));
    const { most, ...add } = runChild<{ most: number }>(child, [out, 'add']);
    expect(add).toEqual({
      same: true, exact: true, failed: 'add: tensor y has shape [1001]; it needs [1000]',
      tooLarge: `add: tensor x holds ${most + 16} bytes; this device binds at most ${most} bytes per buffer (maxStorageBufferBindingSize, maxBufferSize)`,
    });
    expect(runChild<{ rowsError: number }>(child, [out, 'rows']).rowsError).toBeLessThan(1e-6);
    const { gemvErrors } = runChild<{ gemvErrors: number[] }>(child, [out, 'gemv']);
    expect(gemvErrors).toHaveLength(2);
    for (const e of gemvErrors) expect(e).toBeLessThan(1e-5);
    expect(runChild<{ decodeError: number }>(child, [out, 'decode']).decodeError).toBeLessThan(1e-5);
    await expect(build(join(work, 'lib.json'), { out, workers: 1, targets: ['wgsl'], wgslSubgroups: 3 })).rejects.toThrow('--wgsl-subgroups 3: the smallest subgroup size must be a power of two, at least 2');
  }, 300_000);

  it('the bindings load and launch kernels as an application would', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    const out = join(work, 'lib');
    await build(writeLib(work, ['u4']), { out, workers: 1 });
    const bindings = await import(pathToFileURL(join(out, 'index.js')).href);
    const x = Float32Array.from({ length: 1000 }, (_, i) => i / 7);
    const y = Float32Array.from({ length: 1000 }, (_, i) => Math.sqrt(i));
    const { out: sum } = await bindings.add({ x: { data: x, shape: [1000] }, y: { data: y, shape: [1000] }, out: { data: new Float32Array(1000), shape: [1000] } });
    expect(Array.from(new Float32Array(sum.buffer))).toEqual(Array.from(x, (v, i) => Math.fround(v + y[i]!)));
    // A quantized GEMV through the bindings gives the VM's answer.
    const [K, N] = [64, 64];
    const q = quantize(Array.from({ length: K * N }, (_, i) => Math.sin(i)), K, N, { weight: 'u4', groupSize: 32, scale: 'f32' });
    const a = Float32Array.from({ length: K }, (_, i) => Math.cos(i));
    const { c } = await bindings.gemv_u4({ a: { data: a, shape: [1, K] }, w: { data: q.w.bytes, shape: [K, N] }, s: { data: q.s.bytes, shape: [K / 32, N] }, c: { data: new Float32Array(N), shape: [1, N] } });
    const k = compile(dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f32', m: 1 }).source);
    const vm = runOnVM(k, prepareTensors(k, { tensors: new Map([['a', tensorFrom('f32', [1, K], a)], ['w', q.w], ['s', q.s]]) }, new Set(['c'])));
    const want = Array.from(tensorElements(vm.get('c')!));
    Array.from(new Float32Array(c.buffer)).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
    // On worker threads that share the memory (worker.js beside index.js): the same bytes.
    const big = { a: { data: a, shape: [1, K] }, w: { data: q.w.bytes, shape: [K, N] }, s: { data: q.s.bytes, shape: [K / 32, N] }, c: { data: new Float32Array(N), shape: [1, N] } };
    for (const workers of [2, 3]) expect((await bindings.gemv_u4(big, {}, { workers })).c).toEqual(c);
    const many = Float32Array.from({ length: 100_000 }, (_, i) => i % 97);
    const { out: sum3 } = await bindings.add({ x: { data: many, shape: [100_000] }, y: { data: many, shape: [100_000] }, out: { data: new Float32Array(100_000), shape: [100_000] } }, {}, { workers: 3 });
    expect(Array.from(new Float32Array(sum3.buffer)).every((v, i) => v === 2 * (i % 97))).toBe(true);
    expect(await bindings.availableWorkers()).toBeGreaterThanOrEqual(1);
    // Bound once, run again with new activations written in place: launch's answers for both.
    const bound = await bindings.bindLaunch('gemv_u4', big, {}, { workers: 2 });
    await bound.run();
    expect(bound.outputs.c.slice()).toEqual(c);
    const a2 = a.map((v) => v * 2 - 0.5);
    new Float32Array(bound.views.a.buffer, bound.views.a.byteOffset, K).set(a2);
    await bound.run();
    expect(bound.outputs.c.slice()).toEqual((await bindings.gemv_u4({ ...big, a: { data: a2, shape: [1, K] } })).c);
    await expect(bindings.add({ x: { data: x, shape: [1000] }, y: { data: y, shape: [1000] }, out: { data: x, shape: [1000] } }, {}, { workers: 0 })).rejects.toThrow('add: options.workers must be a positive integer; got 0');
    await expect(bindings.add({ x: { data: x, shape: [1000] }, y: { data: y, shape: [999] }, out: { data: x, shape: [1000] } })).rejects.toThrow("add: tensor y has shape [999]; it needs [1000]");
    // Shapes past 32-bit indexing are refused before their data is looked at.
    const long = { data: x, shape: [2 ** 31] };
    await expect(bindings.add({ x: long, y: long, out: long })).rejects.toThrow('add: tensor x has shape [2147483648]; kernels index a dimension by i32, so each may have at most 2147483647 elements');
    // Two tensors of 2^31 + 2^16 bytes (allocated, never written) and a third: past a wasm memory's 4 GiB.
    const huge = { data: new Float32Array(2 ** 29 + 2 ** 14), shape: [2 ** 29 + 2 ** 14] };
    await expect(bindings.add({ x: huge, y: huge, out: huge })).rejects.toThrow(/^add: the launch needs \d+ bytes of memory; a wasm memory holds at most 4294967296 \(4 GiB\)$/);
  });

  it('builds a dequant-GEMM that reads weights in fragment order, for every target from one declaration', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    const options = { weight: 'u4', groupSize: 32, activation: 'f32', m: 1, weightOrder: 'fragments' as const };
    writeFileSync(join(work, 'lib.json'), JSON.stringify({ name: 'frag', kernels: [{ name: 'gemv_frag', generator: 'dequant-gemm', options }] }));
    const out = join(work, 'lib');
    await build(join(work, 'lib.json'), { out, workers: 1, targets: ['wasm', 'cuda', 'wgsl'] });
    const gemv = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).kernels[0];
    expect(gemv.params.map((p: { name: string; shape: unknown }) => p.name)).toEqual(['a', 'w', 's', 'c']);
    expect(Object.keys(gemv).filter((x) => ['cuda', 'wgsl', 'file'].includes(x)).sort()).toEqual(['cuda', 'file', 'wgsl']);
    // The GPU forms read the same tensor on MMA tiles (8 rows for M = 1, the weights as the A operand).
    expect(dequantGemm({ ...options, target: 'gpu', activation: 'f16' } as const).source).toContain('<BM = 8, BN = 64');
    await builtGemvAgrees(out, 'gemv_frag', 'u4', 32, [64, 70], fragmentOrderTensor);
  });

  it('builds a dequant-GEMV that reads weights in panels, for every target from one declaration (N tiles of 64 in every form)', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    const options = { weight: 'u3', groupSize: 128, activation: 'f32', m: 1, rowsPerThread: 8, blockK: 128, blockN: 64, weightOrder: 'panels' as const };
    writeFileSync(join(work, 'lib.json'), JSON.stringify({ name: 'panels', kernels: [{ name: 'gemv_panels', generator: 'dequant-gemm', options }] }));
    const out = join(work, 'lib');
    await build(join(work, 'lib.json'), { out, workers: 1, targets: ['wasm', 'cuda', 'wgsl'] });
    const gemv = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).kernels[0];
    expect(Object.keys(gemv).filter((x) => ['cuda', 'wgsl', 'file'].includes(x)).sort()).toEqual(['cuda', 'file', 'wgsl']);
    for (const form of [{}, { target: 'gpu' }, { target: 'gpu', asyncCopies: false }] as const) expect(dequantGemm({ ...options, ...form }).source).toMatch(/\bBN = 64\b/);
    await builtGemvAgrees(out, 'gemv_panels', 'u3', 128, [256, 100], (w) => panelOrderTensor(w, 64));
  });

  it('tunes declared dequant-GEMMs, caches the choices, and builds from a cache made on another device', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    const libFile = join(work, 'lib.json');
    const options = { weight: 'u4', groupSize: 32, activation: 'f32', m: 1 };
    const writeDecl = (d: object): void => writeFileSync(libFile, JSON.stringify({ name: 't', tuneCache: 'tune.json', kernels: [{ name: 'gemv', generator: 'dequant-gemm', options, ...d }] }));
    const wasmOf = (out: string): string => readFileSync(join(out, 'wasm', 'gemv.wasm')).toString('base64');
    const manifestOf = (out: string) => JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).kernels[0];
    // The same kernel built with given tiles: what a tuned build must have written.
    const withTiles = async (c: { BN: number; BK: number }): Promise<string> => {
      writeDecl({ options: { ...options, blockN: c.BN, blockK: c.BK, target: 'cpu' } });
      await build(libFile, { out: join(work, 'plain'), workers: 1 });
      return wasmOf(join(work, 'plain'));
    };
    // No cache yet, and no --tune: the default tiles, said in the progress.
    writeDecl({ tune: { K: 128, N: 64 } });
    const quiet: string[] = [];
    await build(libFile, { out: join(work, 'untuned'), workers: 1, progress: (l) => quiet.push(l) });
    expect(quiet[0]).toMatch(/^gemv: wasm: default tiles \(.*tune.json has no wasm entry for M=1, K=128, N=64; --tune times the candidates\)$/);
    expect(manifestOf(join(work, 'untuned')).tuned).toBeUndefined();
    // --tune through the CLI: times the candidates on this machine, caches the choice beside lib.json.
    const lines: string[] = [];
    expect(await main(['build', libFile, '--out', join(work, 'a'), '--workers', '1', '--tune'], (l) => lines.push(l), (l) => lines.push(l))).toBe(0);
    expect(lines[0]).toMatch(/^gemv: wasm: BM=1, BN=\d+, BK=\d+ for M=1, K=128, N=64, [\d.]+ ms on wasm\/.+$/);
    const cache = JSON.parse(readFileSync(join(work, 'tune.json'), 'utf8'));
    const [key, entry] = Object.entries(cache.entries)[0] as [string, { config: { BN: number; BK: number } }];
    expect(Object.keys(cache.entries)).toEqual([key]);
    expect(key).toMatch(/^dequant-gemm u4 f32  g32 z- \| K=128,M=1,N=64 \| wasm\//);
    // Timed as it is built: without relaxed SIMD (the default), whatever this engine has.
    expect(key).toMatch(/\/simd$/);
    expect(manifestOf(join(work, 'a')).tuned.wasm.config).toEqual(entry.config);
    const tuned = wasmOf(join(work, 'a'));
    // Again, without --tune: the cached choice, nothing rebuilt.
    expect(await build(libFile, { out: join(work, 'a'), workers: 1 })).toEqual({ built: [], reused: ['gemv'] });
    expect(tuned).toBe(await withTiles(entry.config));
    // A cache made on another machine: its choice is used as it is, and recorded with its device.
    const elsewhere = { config: { BM: 1, BN: 32, BK: 32 }, ms: 1.5, measured: '2026-01-01T00:00:00.000Z' };
    const foreign = { version: 1, entries: { [key.replace(/wasm\/.*$/, 'wasm/another cpu/64 threads/simd')]: elsewhere } };
    writeFileSync(join(work, 'tune.json'), JSON.stringify(foreign));
    writeDecl({ tune: { K: 128, N: 64 } });
    const fromCache: string[] = [];
    await build(libFile, { out: join(work, 'b'), workers: 1, progress: (l) => fromCache.push(l) });
    expect(fromCache[0]).toBe('gemv: wasm: BM=1, BN=32, BK=32 for M=1, K=128, N=64, 1.500 ms on wasm/another cpu/64 threads/simd (from the cache)');
    expect(manifestOf(join(work, 'b')).tuned).toEqual({ wasm: { config: elsewhere.config, device: 'wasm/another cpu/64 threads/simd', ms: 1.5 } });
    expect(JSON.parse(readFileSync(join(work, 'tune.json'), 'utf8'))).toEqual(foreign); // nothing timed, nothing written
    const b = wasmOf(join(work, 'b'));
    expect(b).toBe(await withTiles({ BN: 32, BK: 32 }));
    // The GPU forms take their own entries: CUDA's and WebGPU's (threads 256 for WebGPU, 128 by default).
    const gpuKey = (on: string): string => key.replace(/^dequant-gemm /, `dequant-gemm ${on} `).replace(/wasm\/.*$/, `${on}/a GPU`);
    writeFileSync(join(work, 'tune.json'), JSON.stringify({ version: 1, entries: {
      [gpuKey('cuda')]: { config: { T: 128, BK: 32, SK: 1 }, ms: 0.01, measured: '2026-01-01T00:00:00.000Z' },
      [gpuKey('webgpu')]: { config: { T: 256, BK: 32, SK: 1 }, ms: 0.02, measured: '2026-01-01T00:00:00.000Z' },
    } }));
    writeDecl({ tune: { K: 128, N: 64 } });
    await build(libFile, { out: join(work, 'gpu'), workers: 1, targets: ['cuda', 'wgsl'] });
    const gpu = manifestOf(join(work, 'gpu'));
    expect([gpu.cuda.threads, gpu.wgsl.threads, gpu.tuned.cuda.ms, gpu.tuned.wgsl.ms]).toEqual([128, 256, 0.01, 0.02]);
    expect(readFileSync(join(work, 'gpu', gpu.wgsl.file), 'utf8')).toContain('@workgroup_size(256)');
    // A cached choice that the kernel cannot take is named with where it came from.
    writeFileSync(join(work, 'tune.json'), JSON.stringify({ version: 1, entries: { [gpuKey('webgpu')]: { config: { T: 256, BK: 64, SK: 1 }, ms: 0.02, measured: '2026-01-01T00:00:00.000Z' } } }));
    await expect(build(libFile, { out: join(work, 'c'), targets: ['wgsl'] })).rejects.toThrow(/^kernel 'gemv' failed to build: the wgsl tiles T=256, BK=64, SK=1 of .*tune.json \(tuned on webgpu\/a GPU\) do not fit: the GPU GEMV's K tile 64 must divide/);
    // What a declaration may not ask.
    writeFileSync(libFile, JSON.stringify({ kernels: [{ name: 'fa', generator: 'flash-attention', options: { headDim: 64 }, tune: { K: 64, N: 64 } }] }));
    await expect(build(libFile, { out: join(work, 'c') })).rejects.toThrow(`kernel 'fa' failed to build: "tune" applies to dequant-gemm declarations only`);
    writeDecl({ tune: { M: 4, K: 128, N: 64 } });
    await expect(build(libFile, { out: join(work, 'c') })).rejects.toThrow(`kernel 'gemv' failed to build: "tune": M 4 is not the kernel's m (1)`);
    writeDecl({ tune: { K: 128 } });
    await expect(build(libFile, { out: join(work, 'c') })).rejects.toThrow(`kernel 'gemv' failed to build: "tune": N must be a positive integer, not undefined`);
    writeDecl({});
    await expect(build(libFile, { out: join(work, 'c'), tune: ['wasm'] })).rejects.toThrow(/^--tune: no kernel of lib.json gives sizes to tune for/);
    writeDecl({ tune: { K: 128, N: 64 } });
    await expect(build(libFile, { out: join(work, 'c'), tune: ['cuda'] })).rejects.toThrow('--tune cuda: not a target of this build (wasm)');
    writeFileSync(join(work, 'tune.json'), '{"entries": 3}');
    await expect(build(libFile, { out: join(work, 'c') })).rejects.toThrow(/^kernel 'gemv' could not be tuned: tune cache .*tune.json: not a tilebit tuning cache/);
  });

  it('builds split decode attention as a kernel sequence that the bindings run as one call', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tilebit-build-'));
    const out = join(work, 'lib');
    const libFile = join(work, 'lib.json');
    const options = { headDim: 64, cache: 'u4', scales: 'token', dtype: 'f32', blockKV: 16 };
    writeFileSync(libFile, JSON.stringify({ name: 'dec', kernels: [
      { name: 'decode', generator: 'decode-attention', options },
      { name: 'decode_split', generator: 'decode-attention', options: { ...options, splitKV: 4 } },
    ] }));
    const report = await build(libFile, { out, workers: 1 });
    expect(report.built).toEqual(['decode', 'decode_split_combine', 'decode_split_partial']);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.sequences).toEqual([{ name: 'decode_split', kernels: ['decode_split_partial', 'decode_split_combine'] }]);
    expect(readFileSync(join(out, 'index.d.ts'), 'utf8')).toContain('export function decode_split(tensors: { q: TensorArg<Float32Array>; k: TensorArg<Uint8Array>; v: TensorArg<Uint8Array>; ks: TensorArg<Float32Array>; vs: TensorArg<Float32Array>; pm?: TensorArg<Float32Array>; pl?: TensorArg<Float32Array>; po?: TensorArg<Float32Array>; o: TensorArg<Float32Array> }, scalars: { scale: number }, options?: WasmOptions): Promise<{ o: Uint8Array }>;');
    const bindings = await import(pathToFileURL(join(out, 'index.js')).href);
    const [H, S, D] = [3, 100, 64];
    const tensors = decodeArgs(H, S, D);
    const whole = new Float32Array((await bindings.decode(tensors, { scale: 0.125 })).o.buffer);
    const split = await bindings.decode_split(tensors, { scale: 0.125 }, { workers: 2 });
    // Only the caller's tensors come back: the workspaces were made and dropped.
    expect(Object.keys(split)).toEqual(['o']);
    const got = new Float32Array(split.o.buffer);
    const scale = Math.max(...Array.from(whole, Math.abs));
    got.forEach((v, i) => expect(Math.abs(v - whole[i]!)).toBeLessThanOrEqual(1e-5 * scale));
    // And both against float64 attention over the dequantized cache: (code - 8) x the token's scale.
    const cache = (codes: Uint8Array, scales: Float32Array): number[] =>
      Array.from({ length: H * S * D }, (_, i) => (((codes[i >> 1]! >> ((i & 1) * 4)) & 15) - symmetricZero(parseDType('u4'))) * scales[Math.floor(i / D)]!);
    const want = attention(Array.from(tensors.q.data), cache(tensors.k.data, tensors.ks.data), cache(tensors.v.data, tensors.vs.data), { heads: H, kvHeads: H, queries: 1, keys: S, headDim: D, causal: false, scale: 0.125 });
    for (const out of [got, whole]) out.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-5 * scale));
    // Four chunks (32, 32, 32 and 4 tokens), and outputs that are not all alike.
    expect(new Set(Array.from(whole)).size).toBeGreaterThan(20);
  });
});
