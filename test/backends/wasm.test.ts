// The wasm backend against the VM: the DSL.md examples on edge shapes, casts between every pair of a
// spread of types on special values (bit for bit), f16 codes exhaustively, sub-byte stores from
// neighbouring blocks with one and two workers, and the VM's semantic cases.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { compileWasm, runWasmHere } from '../../backends/wasm/runtime.ts';
import { closeWorkers, runWasmOnWorkers } from '../../backends/wasm/workers.ts';
import { readBits } from '../../ir/bitstream.ts';
import { verifyModule } from '../../ir/loop_verify.ts';
import { forEachExpr } from '../../ir/loop_ir.ts';
import { decode } from '../../ir/codec.ts';
import { dtype as parseDType, narrowTypes } from '../../ir/dtype.ts';
import { type Kernel, outputTensors } from '../../ir/tile_ir.ts';
import { verifyKernel } from '../../ir/tile_verify.ts';
import { cloneTensors, compile, prepareTensors, runOnVM } from '../../src/api.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { compareTensors } from '../../src/testing/compare.ts';
import { type Tensor, tensorElements, tensorFrom } from '../../src/vm/memory.ts';

afterAll(closeWorkers);

const example = (name: string): string => readFileSync(new URL(`../../examples/${name}.tile`, import.meta.url), 'utf8');

interface Case {
  readonly source: string;
  readonly set?: Record<string, string | number>;
  readonly tensors?: Record<string, Tensor>;
  readonly seed?: number;
}

/** Runs on the VM and on wasm (optimized, on `workers` workers); returns both outputs. */
async function both(c: Case, workers = 1, optimize = 2): Promise<{ k: Kernel; vm: Map<string, Tensor>; wasm: Map<string, Tensor> }> {
  const set = new Map(Object.entries(c.set ?? {}).map(([a, b]) => [a, String(b)]));
  const k = compile(c.source, { set });
  const values = new Map([...set].filter(([n]) => !(n in k.template)).map(([n, v]) => [n, Number(v)]));
  const outputs = new Set(outputTensors(k));
  const inputs = prepareTensors(k, { tensors: new Map(Object.entries(c.tensors ?? {})), values, seed: c.seed ?? 5 }, outputs);
  const vm = runOnVM(k, cloneTensors(inputs), values);
  const wasm = cloneTensors(inputs);
  const wk = compileWasm(k, { optimize, after: (_, m) => verifyModule(m) });
  if (workers === 0) runWasmHere(wk, wasm, values, outputs);
  else await runWasmOnWorkers(wk, wasm, values, outputs, workers);
  return { k, vm, wasm };
}

function expectBitExact(r: { k: Kernel; vm: Map<string, Tensor>; wasm: Map<string, Tensor> }): void {
  for (const name of outputTensors(r.k)) {
    const [a, b] = [r.wasm.get(name)!, r.vm.get(name)!];
    const i = a.bytes.findIndex((x, j) => x !== b.bytes[j]);
    expect(i < 0 ? 'identical' : `${name}: byte ${i} differs (${a.bytes[i]} vs ${b.bytes[i]})`).toBe('identical');
  }
}

function expectClose(r: { k: Kernel; vm: Map<string, Tensor>; wasm: Map<string, Tensor> }): void {
  for (const name of outputTensors(r.k)) {
    const c = compareTensors(r.wasm.get(name)!, r.vm.get(name)!);
    expect(c.ok ? 'ok' : `${name}: ${c.mismatches} beyond ${c.tolerance}; first ${JSON.stringify(c.first)}`).toBe('ok');
  }
}

describe('examples on wasm agree with the VM', () => {
  it.each([1, 1023, 1025, 3001])('vector_add N = %i, bit for bit', async (N) => {
    expectBitExact(await both({ source: example('vector_add'), set: { N } }, 2));
  });
  it.each([[1, 1], [3, 997], [2, 1024]])('softmax M = %i, N = %i', async (M, N) => {
    expectClose(await both({ source: example('softmax'), set: { M, N } }));
  });
  it.each([[1, 1, 1], [37, 33, 66], [65, 97, 13]])('matmul M = %i, K = %i, N = %i', async (M, K, N) => {
    expectClose(await both({ source: example('matmul'), set: { M, K, N } }, 2));
  });
  it.each(['u1', 'i2', 'u3', 'u4', 'i5', 'u7', 'i8', 'f4e2m1', 'f6e3m2', 'f8e4m3', 'f8e5m2'])('dequant_gemm W = %s', async (W) => {
    const t = parseDType(W);
    const ZERO = t.kind === 'uint' ? 2 ** (t.bits - 1) : 0;
    // The weights are exact in f16 and so are the differences: the results match bit for bit.
    expectClose(await both({ source: example('dequant_gemm'), set: { W, ZERO, M: 3, K: 256, N: 70 } }, 2));
  });
  it.each([[1, 7, 1], [2, 65, 0], [1, 100, 1]])('flash_attention H = %i, S = %i, CAUSAL = %i', async (H, S, CAUSAL) => {
    expectClose(await both({ source: example('flash_attention'), set: { H, S, CAUSAL, scale: 0.125 } }, 2));
  });
});

describe('the VM property cases on wasm', () => {
  it('matmul on random edge shapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 37, 64, 65), fc.constantFrom(1, 31, 32, 33, 97), fc.constantFrom(1, 13, 64, 66), fc.nat(1000), async (M, K, N, seed) => {
        expectClose(await both({ source: example('matmul'), set: { M, K, N }, seed }, 2));
      }),
      { numRuns: 8, seed: 11 },
    );
  });
  it('dequant_gemm on random shapes and weight types', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 17), fc.constantFrom(128, 384), fc.constantFrom(1, 63, 65), fc.constantFrom('u3', 'i5', 'f6e3m2', 'u1', 'f8e5m2'), async (M, K, N, W) => {
        const ZERO = W === 'u3' ? 4 : W === 'u1' ? 1 : 0;
        expectClose(await both({ source: example('dequant_gemm'), set: { W, ZERO, M, K, N }, seed: M + K + N }, 2));
      }),
      { numRuns: 8, seed: 12 },
    );
  });
});

describe('dequant GEMV (dequantization fused into the dot)', () => {
  const gemv = readFileSync(new URL('../../bench/kernels/dequant_gemv.tile', import.meta.url), 'utf8');
  it.each([
    ['u4', 1, 1, 256, 4096 / 32], ['u3', 1, 1, 128, 70], ['i5', 8, 1, 96, 64], ['u8', 128, 2, 64, 65], ['u2', 2, 4, 64, 130],
    ['f4e2m1', 0, 1, 64, 64], ['i8', 0, 3, 32, 72],
  ] as const)('W = %s (ZERO %i), BM = %i, K = %i, N = %i', async (W, ZERO, BM, K, N) => {
    expectClose(await both({ source: gemv, set: { W, ZERO, BM, M: BM === 1 ? 1 : BM + 1, K, N } }, 2));
  });
});

describe('small-M dots decode packed weights a row window at a time', () => {
  const gemv = readFileSync(new URL('../../bench/kernels/dequant_gemv.tile', import.meta.url), 'utf8');
  /** Whether the wasm lowering of `set` takes the row-window micro-kernel (it names its window local win*). */
  const usesWindow = (set: Record<string, string | number>): boolean => {
    const k = compile(gemv, { set: new Map(Object.entries(set).map(([a, b]) => [a, String(b)])) });
    let found = false;
    compileWasm(k, { after: (pass, m) => pass === 'lower_cpu' && (found = m.functions[0]!.locals.some((l) => /^win/.test(l.name))) });
    return found;
  };

  it.each(['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u8', 'i3', 'i8', 'f4e2m1', 'f5e2m2', 'f6e3m2', 'f6e2m3', 'f8e3m4', 'f8e4m3', 'f8e5m2'])('W = %s, rows on byte boundaries', async (W) => {
    const set = { W, ZERO: W.startsWith('u') ? 1 : 0, M: 1, K: 64, N: 192 };
    // Minifloats of 5 to 8 bits too: their codes decode by arithmetic (no table of 32 to 256 entries),
    // which has a four-lane form.
    expect(usesWindow(set)).toBe(true);
    expectClose(await both({ source: gemv, set }, 2));
  });

  it.each([['u3', 100, 32], ['u5', 52, 16], ['u6', 84, 16]] as const)('W = %s, rows of %i fields starting mid-byte (BN = %i)', async (W, N, BN) => {
    const set = { W, ZERO: 2, M: 1, K: 96, N, BN };
    expect(usesWindow(set)).toBe(true);
    expectClose(await both({ source: gemv, set }, 1));
  });

  it.each([[2, 3], [1, 3], [2, 4]] as const)('BM = %i, M = %i (u4; 16 or 32 columns per window)', async (BM, M) => {
    const set = { W: 'u4', ZERO: 8, BM, M, K: 64, N: 128 };
    expect(usesWindow(set)).toBe(true);
    expectClose(await both({ source: gemv, set }, 2));
  });

  // Weights in panels: each K tile loaded flat and reshaped, read in place (a lazy reshape), so that the
  // dot sees the same row windows as in rows.
  it.each(['u4', 'u3', 'f6e3m2'])('W = %s in panels of 64 columns (the generated CPU tiles)', async (W) => {
    const source = dequantGemm({ weight: W, groupSize: 32, activation: 'f16', m: 1, weightOrder: 'panels' }).source;
    let windowed = false;
    compileWasm(compile(source), { after: (pass, m) => pass === 'lower_cpu' && (windowed = m.functions[0]!.locals.some((l) => /^win/.test(l.name))) });
    expect(windowed).toBe(true);
    expectClose(await both({ source, set: { M: 1, K: 64, N: 100 } }, 1));
  });

  it('infinities and NaN among the activations give NaN and infinities where the VM has them', async () => {
    const [K, N] = [64, 64];
    const a = Array.from({ length: K }, (_, i) => [Infinity, -Infinity, NaN, 1e-40, -3.5e38][i % 13] ?? (i % 7) - 3.25);
    const r = await both({ source: gemv, set: { W: 'u3', ZERO: 0, M: 1, K, N }, tensors: { a: tensorFrom('f32', [1, K], a) } }, 1);
    expectClose(r);
    const got = Array.from(tensorElements(r.wasm.get('c')!)).map((h) => (Number.isNaN(h) ? 'nan' : h === Infinity ? 'inf' : h === -Infinity ? '-inf' : 'finite'));
    expect(got).toEqual(Array.from(tensorElements(r.vm.get('c')!)).map((h) => (Number.isNaN(h) ? 'nan' : h === Infinity ? 'inf' : h === -Infinity ? '-inf' : 'finite')));
  });
});

describe('float dots on the register-blocked micro-kernel', () => {
  // MR rows of 4, 2 or 1; k unrolled by 4 (each row's four a elements in one vector load, a lane
  // splatted per step), by 2, or not at all, as K allows; accumulating into c when it is given.
  const source = `kernel fdot<M = 1, K = 1, N = 8>(a: f32[M, K], b: f32[K, N], c: f32[M, N]) grid(1) threads(32) {
    store c[0 :+ M, 0 :+ N] = dot(load a[0 :+ M, 0 :+ K], load b[0 :+ K, 0 :+ N], load c[0 :+ M, 0 :+ N]);
}`;
  it.each([[1, 1, 8], [2, 2, 8], [3, 3, 16], [4, 4, 8], [8, 5, 16], [4, 12, 24], [6, 8, 8], [1, 16, 32]] as const)('M = %i, K = %i, N = %i', async (M, K, N) => {
    const values = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed) * 4);
    const tensors = { a: tensorFrom('f32', [M, K], values(M * K, 1)), b: tensorFrom('f32', [K, N], values(K * N, 2)), c: tensorFrom('f32', [M, N], values(M * N, 3)) };
    expectClose(await both({ source, set: { M, K, N }, tensors }, 1));
  });
});

describe('float dots with a transposed b (q . K^T)', () => {
  // b read as transpose(b[N, K]): its elements are consecutive along k, so a small-M dot writes it out
  // k-contiguous and sums each column's products four k at a time. Tiles of BN x BK over tensors of
  // N x K: smaller tensors take the guarded variant at the edge.
  const source = `kernel tdot<M = 1, K = 4, N = 8, BK = 4, BN = 8>(a: f32[M, K], b: f32[N, K], c: f32[M, N]) grid(1) threads(32) {
    store c[0 :+ M, 0 :+ BN] = dot(load a[0 :+ M, 0 :+ BK], transpose(load b[0 :+ BN, 0 :+ BK]), load c[0 :+ M, 0 :+ BN]);
}`;
  const usesLanesSum = (set: Record<string, number>): boolean => {
    let found = false;
    const k = compile(source, { set: new Map(Object.entries(set).map(([x, y]) => [x, String(y)])) });
    compileWasm(k, { after: (pass, m) => pass === 'lower_cpu' && forEachExpr(m.functions[0]!.body, (e) => void (found ||= e.k === 'op' && e.op === 'f32x4.extract0')) });
    return found;
  };
  it.each([
    // M, K, N, BK, BN, whether the lanes-sum kernel is used
    [1, 64, 64, 64, 64, true], [4, 8, 16, 8, 16, true], [3, 12, 8, 12, 8, true], [2, 6, 8, 6, 8, false], [1, 8, 5, 8, 8, true], [1, 7, 8, 8, 8, true],
  ] as const)('M = %i, K = %i, N = %i (tiles %i x %i)', async (M, K, N, BK, BN, lanesSum) => {
    expect(usesLanesSum({ M, K, N, BK, BN })).toBe(lanesSum);
    const values = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 1.3 + seed) * 3);
    const tensors = { a: tensorFrom('f32', [M, K], values(M * K, 1)), b: tensorFrom('f32', [N, K], values(N * K, 2)), c: tensorFrom('f32', [M, N], values(M * N, 3)) };
    expectClose(await both({ source, set: { M, K, N, BK, BN }, tensors }, 1));
  });
});

describe('integer dots (i16 pairs along k, i32x4.dot_i16x8_s)', () => {
  const source = (T: string): string => `kernel idot<M = 1, K = 1, N = 4>(a: ${T}[M, K], b: ${T}[K, N], c: i32[M, N]) grid(1) threads(32) {
    store c[0 :+ M, 0 :+ N] = dot(load a[0 :+ M, 0 :+ K], load b[0 :+ K, 0 :+ N]);
}`;
  const cases = [['i8', 3, 7, 12], ['i8', 1, 1, 4], ['u8', 5, 16, 8], ['u8', 2, 9, 20], ['i8', 4, 64, 32]] as const;
  it.each(cases)('%s, M = %i, K = %i, N = %i, bit for bit with the VM', async (T, M, K, N) => {
    const k = compile(source(T), { set: new Map([['M', String(M)], ['K', String(K)], ['N', String(N)]]) });
    let paired = false;
    compileWasm(k, { after: (pass, m) => pass === 'isel' && forEachExpr(m.functions[0]!.body, (e) => void (paired ||= e.k === 'op' && e.op === 'i32x4.dot_i16x8_s')) });
    expect(paired).toBe(true);
    // Extremes first: -128 * -128 sums and 255 * 255 sums, then random codes.
    const extremes = T === 'i8' ? [-128, 127, -1, 0] : [255, 254, 1, 0];
    const values = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => (i < 8 ? extremes[i % 4]! : ((i * 2654435761 + seed) >>> 0) % 256 - (T === 'i8' ? 128 : 0)));
    const codes = (xs: number[]): number[] => xs.map((x) => x & 0xff);
    expectBitExact(await both({ source: source(T), set: { M, K, N }, tensors: { a: tensorFrom(T, [M, K], codes(values(M * K, 7))), b: tensorFrom(T, [K, N], codes(values(K * N, 3))) } }, 1));
  });
});

/** Values that exercise every rounding rule: signed zeros, ties, subnormals, extremes, NaN, infinities. */
const SPECIAL = [0, -0, 0.5, 1.5, 2.5, -2.5, 3.5, 0.25, 0.125, 1e-8, -1e-8, 6e-5, 3e-8, 5.960464477539063e-8, 1e-40,
  65504, 65520, 65519.99, 70000, 448, 464, 480, 57344, 61440, 1e9, -1e9, 3.4e38, -3.4e38, NaN, Infinity, -Infinity,
  127.5, 128.5, -128.5, 255.5, 2147483520, -2147483648, 4294967040, 1 / 3, -7.75, 6, 7, 0.1,
  // Integers past 2^24 whose f32 rounding lands on a bf16 midpoint: one rounding must happen, not two.
  16842753, -16842753, 33685505, 2139127809, 2147483647, 25165823, 25165825];

describe('casts agree with the VM bit for bit', () => {
  const targets = [...narrowTypes().map((t) => t.name), 'i16', 'u16', 'i32', 'u32', 'f16', 'bf16', 'f32'];
  it.each(['f32', 'i32', 'u32'])('from %s to every type', async (from) => {
    const xs = from === 'f32' ? SPECIAL : SPECIAL.filter(Number.isFinite).map((v) => Math.trunc(v) | 0).map((v) => (from === 'u32' ? v >>> 0 : v));
    const outs = targets.map((t, i) => `o${i}: ${t}[N]`).join(', ');
    const body = targets.map((t, i) => `  store o${i}[0 :+ ${xs.length}] = cast<${t}>(x);`).join('\n');
    const source = `kernel k(a: ${from}[N], ${outs}) grid(1) threads(32) {\n  let x = load a[0 :+ ${xs.length}];\n${body}\n}`;
    expectBitExact(await both({ source, tensors: { a: tensorFrom(from, [xs.length], xs) } }, 0, 0));
  });
  it.each(['u3', 'i4', 'f4e2m1', 'f5e2m2', 'f6e2m3', 'f6e3m2', 'f7e3m3', 'f8e3m4', 'f8e4m3', 'f8e5m2', 'e8m0', 'f16', 'bf16', 'i16'])('from every code of %s to every type', async (from) => {
    const t = parseDType(from);
    const codes = Array.from({ length: Math.min(2 ** t.bits, 4096) }, (_, i) => (t.bits === 16 ? (i * 16 + (i % 16)) & 0xffff : i));
    const held = t.name === 'f16' || t.name === 'bf16' ? codes.map((c) => decode(t, c)) : codes;
    const outs = targets.map((x, i) => `o${i}: ${x}[N]`).join(', ');
    const body = targets.map((x, i) => `  store o${i}[0 :+ ${codes.length}] = cast<${x}>(x);`).join('\n');
    const source = `kernel k(a: ${from}[N], ${outs}) grid(1) threads(32) {\n  let x = load a[0 :+ ${codes.length}];\n${body}\n}`;
    expectBitExact(await both({ source, tensors: { a: tensorFrom(from, [codes.length], held) } }, 0, 0));
  });
});

describe('fma agrees with the VM bit for bit', () => {
  // Every pair of special values with a third, and products nearly cancelled by c (where rounding the
  // product first, or the sum twice, gives another result); in f32, and in f16 and bf16 (the f32 fma
  // rounded once more).
  it('on special values and nearly cancelling triples, in f32, f16 and bf16', async () => {
    const n = SPECIAL.length;
    const a = Array.from({ length: n * n }, (_, i) => SPECIAL[i % n]!);
    const b = Array.from({ length: n * n }, (_, i) => SPECIAL[Math.floor(i / n)]!);
    const c = a.map((_, i) => (i % 3 === 0 ? -Math.fround(a[i]! * b[i]!) : i % 3 === 1 ? SPECIAL[(i * 7) % n]! : Math.fround(a[i]! * b[i]!) * -(1 + 2 ** -20)));
    const N = a.length;
    const source = `kernel k(a: f32[N], b: f32[N], c: f32[N], o: f32[N], h: f16[N], g: bf16[N]) grid(1) threads(32) {
      let x = load a[0 :+ ${N}];
      let y = load b[0 :+ ${N}];
      let z = load c[0 :+ ${N}];
      store o[0 :+ ${N}] = fma(x, y, z);
      store h[0 :+ ${N}] = fma(cast<f16>(x), cast<f16>(y), cast<f16>(z));
      store g[0 :+ ${N}] = fma(cast<bf16>(x), cast<bf16>(y), cast<bf16>(z));
    }`;
    const r = await both({ source, tensors: { a: tensorFrom('f32', [N], a), b: tensorFrom('f32', [N], b), c: tensorFrom('f32', [N], c) } }, 0, 0);
    expect(() => verifyKernel(r.k)).not.toThrow();
    expectBitExact(r);
    // Not the unfused result everywhere: the cancelling triples keep the product's rounding error.
    const o = r.vm.get('o')!;
    expect(tensorElements(o).some((v, i) => v !== 0 && Math.fround(Math.fround(a[i]! * b[i]!) + c[i]!) === 0)).toBe(true);
  });
  it('on runtime scalars', async () => {
    // (1 + 2^-23)^2 - (1 + 2^-22) is 2^-46 fused, 0 with the product rounded first.
    const source = `kernel k(a: f32[N], o: f32[N], s: f32, t: f32) grid(1) threads(32) {
      store o[0 :+ 4] = load a[0 :+ 4] + fma(s, s, t);
    }`;
    const r = await both({ source, set: { N: 4, s: 1 + 2 ** -23, t: -(1 + 2 ** -22) }, tensors: { a: tensorFrom('f32', [4], [0, 1, -1, 2 ** -40]) } }, 0, 0);
    expectBitExact(r);
    expect(tensorElements(r.wasm.get('o')!)[0]).toBe(2 ** -46);
  });
});

describe('memory', () => {
  it.each([[1, 1], [3, 1], [3, 2], [5, 2], [7, 2]])('u%i stores from neighbouring blocks keep each other\'s bits (%i workers)', async (bits, workers) => {
    // Each block stores 3 elements at 3 * block.x: stores start and end inside bytes, and inside words.
    const N = 301;
    const codes = Array.from({ length: N }, (_, i) => (i * 7 + 3) % 2 ** bits);
    const source = `kernel k(x: u${bits}[N], o: u${bits}[N]) grid(cdiv(N, 3)) threads(32) { store o[block.x * 3 :+ 3] = load x[block.x * 3 :+ 3]; }`;
    const r = await both({ source, tensors: { x: tensorFrom(`u${bits}`, [N], codes) } }, workers);
    expectBitExact(r);
    const o = r.wasm.get('o')!;
    expect(codes.every((c, i) => readBits(o.bytes, i * bits, bits) === c)).toBe(true);
  });
  it('views, shared memory with a swizzle, and asynchronous copies', async () => {
    const src = `kernel k(a: u8[N], o: u4[M], q: f32[R, C], p: f32[C, R]) grid(1) threads(32) {
      store o[0 :+ 16] = view<u4>(load a[0 :+ 8]);
      let s = shared<f32>[8, 16] @ row_major.swizzle(2, 2, 2);
      copy_async s[0 :+ 8, 0 :+ 16] <- q[0 :+ 8, 0 :+ 16];
      wait_async(0);
      store p[0 :+ 16, 0 :+ 8] = transpose(load s[0 :+ 8, 0 :+ 16]) * 2.0;
    }`;
    const q = tensorFrom('f32', [7, 13], Array.from({ length: 91 }, (_, i) => i));
    expectBitExact(await both({ source: src, set: { M: 16 }, tensors: { a: tensorFrom('u8', [8], [1, 0x21, 0xff, 0x80, 7, 9, 0x10, 0x0f]), q, p: tensorFrom('f32', [13, 7], new Array(91).fill(0)) } }));
  });
});

describe('permutes', () => {
  // Rank 4 or more: one loop through a table of source offsets (a K tile of weights in fragment order
  // has 8 dimensions); fewer: the loop nest. Random shapes and orders, f32, i32 and packed codes, the
  // permute used alone and under an element-wise operation; bit for bit.
  it('agree with the VM bit for bit (random ranks 2 to 6, shapes, orders and element types)', async () => {
    const arb = fc.integer({ min: 2, max: 6 }).chain((rank) => fc.record({
      shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: rank, maxLength: rank }),
      perm: fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank }),
      dtype: fc.constantFrom('f32', 'i32', 'u4', 'u3'),
      scaled: fc.boolean(),
    }));
    await fc.assert(fc.asyncProperty(arb, async ({ shape, perm, dtype, scaled }) => {
      const out = perm.map((p) => shape[p]!);
      const all = (dims: readonly number[]): string => dims.map((n) => `0 :+ ${n}`).join(', ');
      const value = `permute(load x[${all(shape)}], [${perm.join(', ')}])`;
      const source = `kernel k(x: ${dtype}[${shape.join(', ')}], y: ${dtype}[${out.join(', ')}]) grid(1) threads(32) {
        store y[${all(out)}] = ${!scaled ? value : dtype === 'f32' ? `${value} * 2.0` : dtype === 'i32' ? `${value} ^ 1` : `cast<${dtype}>(cast<i32>(${value}) ^ 1)`};
      }`;
      expectBitExact(await both({ source, seed: shape.length }));
    }), { numRuns: 25, seed: 17 });
  });
});

describe('accumulating stores (store ... +=)', () => {
  // 40 blocks add rows of x and y into the same 50 elements of c and d, which start from given values.
  // The f32 terms are small integers and multiples of 2^-140 (subnormal), so every order of the
  // additions gives the same exact sum; the i32 terms are large enough that the sums wrap.
  const B = 40;
  const N = 50;
  const source = `kernel acc(x: f32[B, N], y: i32[B, N], c: f32[N], d: i32[N]) grid(B) threads(32) {
    store c[0 :+ 64] += load x[block.x, 0 :+ 64];
    store d[0 :+ 64] += load y[block.x, 0 :+ 64];
  }`;
  const tiny = 2 ** -140;
  const xs = Array.from({ length: B * N }, (_, i) => (i % N < 5 ? tiny * ((i % 7) + 1) : ((i * 37) % 23) - 11));
  const ys = Array.from({ length: B * N }, (_, i) => ((i * 2654435761) % 2 ** 31) - 2 ** 30 + (i % 3) * 2 ** 29);
  const c0 = Array.from({ length: N }, (_, n) => (n < 5 ? 0 : n - 20));
  const d0 = Array.from({ length: N }, (_, n) => 2 ** 31 - 1 - n);
  const expected = {
    c: c0.map((v, n) => Array.from({ length: B }, (_, b) => xs[b * N + n]!).reduce((a, x) => a + x, v)),
    d: d0.map((v, n) => Array.from({ length: B }, (_, b) => ys[b * N + n]!).reduce((a, y) => (a + y) | 0, v)),
  };

  it.each([0, 1, 2])('add every block\'s terms to the initial values (%i workers; f32 exact with subnormals, i32 wrapping)', async (workers) => {
    const tensors = { x: tensorFrom('f32', [B, N], xs), y: tensorFrom('i32', [B, N], ys), c: tensorFrom('f32', [N], c0), d: tensorFrom('i32', [N], d0) };
    const r = await both({ source, tensors }, workers);
    expect(expected.c.slice(0, 5).every((v) => v !== 0 && Math.abs(v) < 2 ** -126)).toBe(true); // the subnormal sums
    expect(Array.from(tensorElements(r.vm.get('c')!))).toEqual(expected.c);
    expect(Array.from(tensorElements(r.vm.get('d')!))).toEqual(expected.d);
    expectBitExact(r);
  });
});

describe('Loop IR passes', () => {
  it.each([
    ['vectorized', { vectorize: true, relaxedSimd: false }],
    ['scalar', { vectorize: false, relaxedSimd: false }],
    ['relaxed SIMD', { vectorize: true, relaxedSimd: true }],
  ] as const)('matmul and dequant_gemm agree with the VM %s', async (_, options) => {
    for (const c of [{ source: example('matmul'), set: { M: 33, K: 40, N: 72 } }, { source: example('dequant_gemm'), set: { W: 'u4', M: 5, K: 128, N: 64 } }]) {
      const set = new Map(Object.entries(c.set).map(([a, b]) => [a, String(b)]));
      const k = compile(c.source, { set });
      const values = new Map([...set].filter(([n]) => !(n in k.template)).map(([n, v]) => [n, Number(v)]));
      const outputs = new Set(outputTensors(k));
      const inputs = prepareTensors(k, { values, seed: 9 }, outputs);
      const vm = runOnVM(k, cloneTensors(inputs), values);
      const wasm = cloneTensors(inputs);
      runWasmHere(compileWasm(k, { ...options, after: (_, m) => verifyModule(m) }), wasm, values, outputs);
      expectClose({ k, vm, wasm });
    }
  });
  it('the verifier rejects ill-typed Loop IR', () => {
    const bad = { functions: [{ name: 'block', result: null, params: [], locals: [{ name: 'x', type: 'i32' as const }], body: [{ k: 'set' as const, name: 'x', value: { k: 'const' as const, type: 'f32' as const, value: 1 } }] }], traps: [], data: [], dataBytes: 64, scratchBytes: 16 };
    expect(() => verifyModule(bad)).toThrow('block: x: i32 is set to a f32');
  });
});

describe('exp and exp2 on wasm', () => {
  it.each(['exp2', 'exp'])('%s is within 2 ulp of the VM over the whole range, scalar and vectorized', async (fn) => {
    const xs = Array.from({ length: 40000 }, (_, i) => Math.fround(-160 + (260 * i) / 40000 + Math.sin(i) * 1e-3));
    xs.push(NaN, Infinity, -Infinity, 0, -0, 128, -149, -150, 127.99, 88.7, -103.9, 1e-30, -1e-30, 0.5);
    const n = xs.length;
    for (const vectorize of [true, false]) {
      const source = `kernel k(x: f32[N], o: f32[N]) grid(1) threads(32) { store o[0 :+ ${n}] = ${fn}(load x[0 :+ ${n}]); }`;
      const k = compile(source);
      const inputs = prepareTensors(k, { tensors: new Map([['x', tensorFrom('f32', [n], xs)]]) }, new Set(['o']));
      const vm = runOnVM(k, cloneTensors(inputs), new Map());
      const wasm = cloneTensors(inputs);
      runWasmHere(compileWasm(k, { vectorize }), wasm, new Map(), ['o']);
      const [a, b] = [new Int32Array(vm.get('o')!.bytes.buffer), new Int32Array(wasm.get('o')!.bytes.buffer)];
      const worst = a.reduce((w, bitsA, i) => (Number.isNaN(xs[i]!) ? w : Math.max(w, Math.abs(bitsA - b[i]!))), 0);
      expect(worst).toBeLessThanOrEqual(2);
      expect(Number.isNaN(new Float32Array(wasm.get('o')!.bytes.buffer)[xs.findIndex(Number.isNaN)]!)).toBe(true);
    }
  });
});

describe('semantics shared with the VM', () => {
  it('integer division, remainders, shifts and wrap-around', async () => {
    const source = `kernel k(x: i32[N], y: i32[N], o1: i32[N], o2: i32[N], o3: i32[N], o4: u32[N], o5: i32[N]) grid(1) threads(32) {
      let a = load x[0 :+ 8];
      let b = load y[0 :+ 8];
      store o1[0 :+ 8] = a / b;
      store o2[0 :+ 8] = a % b;
      store o3[0 :+ 8] = (a << b) + a * b;
      store o4[0 :+ 8] = cast<u32>(a) >> cast<u32>(b);
      store o5[0 :+ 8] = max(a, b) - min(a, b) + abs(a);
    }`;
    const x = tensorFrom('i32', [8], [7, -7, -2147483648, 5, 100, -1, 2147483647, 0]);
    const y = tensorFrom('i32', [8], [2, 2, -1, 0, 33, 31, 3, -5]);
    expectBitExact(await both({ source, tensors: { x, y } }, 0, 0));
  });
  it('f16 and bf16 arithmetic rounds like the VM, including overflow and subnormals', async () => {
    const source = `kernel k(x: f16[N], y: bf16[N], o: f16[N], p: bf16[N], q: f32[N]) grid(1) threads(32) {
      let a = load x[0 :+ 64];
      let b = load y[0 :+ 64];
      store o[0 :+ 64] = a * a + a / 3.0 - sqrt(abs(a));
      store p[0 :+ 64] = b * b - exp(b) + rsqrt(abs(b) + 1.0);
      store q[0 :+ 64] = cast<f32>(a) * cast<f32>(b) + exp2(log2(abs(cast<f32>(a)) + 1.0));
    }`;
    const f = Array.from({ length: 64 }, (_, i) => [0, -0, 6e-5, 1e-7, 65504, -65504, 300, 1 / 3][i % 8]! * (1 + i / 64));
    expectBitExact(await both({ source, tensors: { x: tensorFrom('f16', [64], f.map((v) => decode(parseDType('f16'), encodeF16(v)))), y: tensorFrom('bf16', [64], f.map((v) => Math.fround(v))) } }, 0, 0));
  });
  it('a var read keeps its value across a later assignment of the var', async () => {
    const source = `kernel k(o: f32[N], p: f32[N]) grid(1) threads(32) {
      var x = full<f32>[4](1.0);
      let old = x;
      x = old + 1.0;
      x = old * 3.0 + x;
      store o[0 :+ 4] = x;
      var acc = zeros<f32>[4];
      for i in range(0, 3) { acc = acc * 2.0 + x; }
      store p[0 :+ 4] = acc;
    }`;
    const r = await both({ source, set: { N: 4 } }, 0);
    expectBitExact(r);
    expect(Array.from(tensorElements(r.wasm.get('o')!))).toEqual([5, 5, 5, 5]);
    expect(Array.from(tensorElements(r.wasm.get('p')!))).toEqual([35, 35, 35, 35]);
  });
  it('reports a failed assert with its message and block', async () => {
    const k = compile('kernel k(o: f32[N]) grid(4) threads(32) { assert block.x < 3, "too far"; }');
    const t = new Map([['o', tensorFrom('f32', [4], [0, 0, 0, 0])]]);
    expect(() => runWasmHere(compileWasm(k), t, new Map(), ['o'])).toThrow('block (3, 0, 0): assertion failed: too far');
    await expect(runWasmOnWorkers(compileWasm(k), t, new Map(), ['o'], 2)).rejects.toThrow('block (3, 0, 0): assertion failed: too far');
  });
});

function encodeF16(v: number): number {
  const t = parseDType('f16');
  let best = 0;
  for (let c = 0; c < 65536; c += 1) if (Math.abs(decode(t, c) - v) < Math.abs(decode(t, best) - v)) best = c;
  return best;
}
