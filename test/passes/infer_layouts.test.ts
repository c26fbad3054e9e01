// Layout inference for GPU targets (passes/infer_layouts.ts): broadcast operands learn their layout
// from the instruction that broadcasts them, so the lowering moves no data between threads for them.
// Whether the kernels still compute the right thing is checked on WebGPU (test/backends/webgpu.test.ts).

import { describe, expect, it } from 'vitest';
import { type RegisterLayout, compose, layoutEquals, local, replicated, spatial } from '../../ir/layout.ts';
import { MMA_M16N8K16, projectLayout, reshape } from '../../ir/layout_ops.ts';
import { printLayout } from '../../ir/layout_print.ts';
import type { Stmt as LStmt } from '../../ir/loop_ir.ts';
import type { Kernel, Stmt, TileType } from '../../ir/tile_ir.ts';
import { inferLayouts, mmaLayout } from '../../passes/infer_layouts.ts';
import { CUDA_FEATURES } from '../../backends/cuda/emit.ts';
import { NO_GPU_FEATURES } from '../../passes/lower_gpu.ts';
import { readFileSync } from 'node:fs';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { compile } from '../../src/api.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { gpuCases } from '../support/gpu_cases.ts';

/** The inferred type of the value named `name`. */
function typeOf(k: Kernel, name: string): TileType {
  let found: TileType | null = null;
  const walk = (body: readonly Stmt[]): void => {
    for (const s of body) {
      if (s.kind === 'def' && s.result.name === name && s.result.type.kind === 'tile') found = s.result.type;
      if (s.kind === 'for') walk(s.body);
      if (s.kind === 'if') [s.then, s.else].forEach(walk);
    }
  };
  walk(k.body);
  if (!found) throw new Error(`no tile named ${name}`);
  return found;
}

/** Barriers in a Loop IR body, and those inside its loops over a tile's K (`k0` loops). */
function barriers(body: readonly LStmt[], inLoop = false): { all: number; inK: number } {
  let all = 0;
  let inK = 0;
  for (const s of body) {
    if (s.k === 'barrier') {
      all++;
      if (inLoop) inK++;
    }
    const inner = s.k === 'for' ? [barriers(s.body, inLoop || s.var.startsWith('k0'))] : s.k === 'if' ? [barriers(s.then, inLoop), barriers(s.else, inLoop)] : [];
    for (const b of inner) {
      all += b.all;
      inK += b.inK;
    }
  }
  return { all, inK };
}

const blockBody = (k: Kernel): readonly LStmt[] => lowerForGpu(k).module.functions.find((f) => f.name === 'block')!.body;

describe('layout inference: broadcast operands', () => {
  const source = `kernel bc(x: f32[16, 64], r: f32[16], c: f32[64], y: f32[16, 64]) grid(1) threads(64) {
    let t = load x[0 :+ 16, 0 :+ 64];
    let row = load c[0 :+ 64];
    let col = cast<f32>(load r[0 :+ 16]) * 2.0;
    store y[0 :+ 16, 0 :+ 64] = t * row + unsqueeze(col, 1);
  }`;

  it('lays a broadcast row or column out as the projection of the tile it meets, back through its producers', () => {
    const k = inferLayouts(compile(source));
    const t = typeOf(k, 't').layout!;
    expect(printLayout(typeOf(k, 'row').layout!)).toBe(printLayout(projectLayout(t, [64])));
    expect(printLayout(typeOf(k, 'col').layout!)).toBe(printLayout(reshape(projectLayout(t, [16, 1]), [16])));
    expect(layoutEquals(typeOf(k, 'col').layout!, typeOf(k, 't').layout!)).toBe(false);
  });

  it('lowers those broadcasts with no exchange through shared memory', () => {
    expect(barriers(blockBody(compile(source))).all).toBe(0);
  });

  it('needs no exchange for a column whose locals skip the tile\'s inner local mode (WebGPU case broadcasts)', () => {
    expect(barriers(blockBody(compile(gpuCases.find((c) => c.name === 'broadcasts')!.source))).all).toBe(0);
  });

  it('keeps a layout written in the source, and exchanges data for it', () => {
    const written = source.replace('let row = load c[0 :+ 64];', 'let row = load c[0 :+ 64] @ spatial(64);');
    const k = inferLayouts(compile(written));
    expect(printLayout(typeOf(k, 'row').layout!)).toBe('spatial(64)');
    expect(barriers(blockBody(compile(written))).all).toBeGreaterThan(0);
  });
});

describe('the dequant-GEMV for GPUs', () => {
  it('moves no data between threads inside its K loop but its staged copies (one reduction at the end)', () => {
    for (const weight of ['u4', 'u3', 'f4e2m1', 'f6e3m2']) {
      const k = compile(dequantGemm({ weight, groupSize: 128, activation: 'f16', m: 1, target: 'gpu' }).source);
      const b = barriers(blockBody(k));
      // wait_async's barrier (in both branches) and the one that frees the stage read: no exchanges.
      expect(b.inK, weight).toBe(3);
      expect(b.all, weight).toBeGreaterThan(3);
    }
  });

  // Several rows per thread: the K tile reshaped to [rows per thread, rows of threads, BN] keeps its
  // layout (a reshape takes its source's layout reshaped), and the sums over each thread's own rows
  // fold in registers (a reduction along an axis no thread spans).
  it('with several rows per thread, reshapes and sums its K tile in registers: no exchange in the K loop either', () => {
    for (const weight of ['u4', 'u3', 'i4', 'f6e3m2']) {
      const k = compile(dequantGemm({ weight, groupSize: 128, activation: 'f16', m: 1, target: 'gpu', rowsPerThread: 8 }).source);
      expect(barriers(blockBody(k)).inK, weight).toBe(3);
      const laid = inferLayouts(k);
      expect(layoutEquals(typeOf(laid, 'p').layout!, compose(spatial(16, 8), local(1, 8))), weight).toBe(true);
    }
  });
});

describe('layout inference: reshapes, reductions and stale projections', () => {
  const source = `kernel rs(x: f32[8, 64], y: f32[4, 64], s: f32[64]) grid(1) threads(32) {
    let t = reshape(load x[0 :+ 8, 0 :+ 64] @ (local(2, 1) * spatial(4, 8) * local(1, 8)), [2, 4, 64]);
    let p = sum(t, axis=0);
    var acc = zeros<f32>[4, 64] @ (spatial(4, 8) * local(1, 8));
    acc = acc + p * unsqueeze(load s[0 :+ 64], 0);
    store y[0 :+ 4, 0 :+ 64] = acc;
  }`;

  it('gives a reshape its source\'s layout reshaped, and folds a reduction along a thread-local axis in registers', () => {
    const k = inferLayouts(compile(source));
    expect(printLayout(typeOf(k, 't').layout!)).toBe(printLayout(reshape(compose(local(2, 1), spatial(4, 8), local(1, 8)), [2, 4, 64])));
    expect(barriers(blockBody(compile(source))).all).toBe(0);
  });

  it('takes a broadcast operand\'s projection after the result\'s own layout settled (the row of p * row)', () => {
    // p * row first gets p's default layout, then acc's through the addition; the row must follow the
    // layout the product ends with, not the one it started with (which would need an exchange).
    const k = inferLayouts(compile(source.replace('unsqueeze(load s[0 :+ 64], 0)', 'unsqueeze(row, 0)').replace('var acc', 'let row = load s[0 :+ 64];\n    var acc')));
    expect(printLayout(typeOf(k, 'row').layout!)).toBe(printLayout(projectLayout(compose(spatial(4, 8), local(1, 8)), [64])));
  });
});

describe('layout inference: dots on MMAs', () => {
  it('spreads m16n8k16 accumulator fragments over the warps, fewest fragment loads first, replicating where warps are left over', () => {
    const C = MMA_M16N8K16.c;
    const is = (M: number, N: number, threads: number, ...parts: RegisterLayout[]): boolean => layoutEquals(mmaLayout(M, N, threads)!, compose(...parts, C));
    expect(is(64, 64, 128, spatial(2, 2), local(2, 4))).toBe(true);
    expect(is(16, 64, 128, spatial(1, 4), local(1, 2))).toBe(true);
    expect(is(48, 16, 128, replicated(2), spatial(1, 2), local(3, 1))).toBe(true);
    expect(is(16, 8, 128, replicated(4))).toBe(true);
    expect(is(64, 64, 128, spatial(4, 1), local(1, 8))).toBe(false);
    expect(mmaLayout(8, 64, 128)).toBeNull();
    expect(mmaLayout(16, 12, 128)).toBeNull();
    expect(mmaLayout(16, 16, 48)).toBeNull();
  });

  const matmul = readFileSync(new URL('../../examples/matmul.tile', import.meta.url), 'utf8');
  const mmaCount = (body: readonly LStmt[]): number =>
    body.reduce((n, s) => n + (s.k === 'mma' ? 1 : s.k === 'for' ? mmaCount(s.body) : s.k === 'if' ? mmaCount(s.then) + mmaCount(s.else) : 0), 0);
  const cudaBody = (k: Kernel): readonly LStmt[] => lowerForGpu(k, undefined, CUDA_FEATURES).module.functions.find((f) => f.name === 'block')!.body;

  it('lays the loop-carried accumulator out as fragments, so it never moves between threads', () => {
    const k = inferLayouts(compile(matmul), { mma: true });
    let accLayout = '';
    const walk = (body: readonly Stmt[]): void => {
      for (const s of body) {
        if (s.kind === 'var' && s.name === 'acc' && s.type.kind === 'tile') accLayout = printLayout(s.type.layout!);
        if (s.kind === 'for') walk(s.body);
      }
    };
    walk(k.body);
    expect(accLayout).toBe(printLayout(mmaLayout(64, 64, 128)!));
    // Per K step: the kernel's two syncs and the barrier after each branch's wait_async (counted in both
    // branches); nothing for the accumulator, and on MMAs nothing for the dot either (its operands are
    // read from the shared tensors), where the generic dot stages them with two.
    expect(mmaCount(cudaBody(compile(matmul)))).toBe(1);
    expect(barriers(cudaBody(compile(matmul))).inK).toBe(4);
    expect(barriers(blockBody(compile(matmul))).inK).toBe(6);
    // Without MMAs the dot is generic and the accumulator keeps the default layout.
    expect(mmaCount(blockBody(compile(matmul)))).toBe(0);
    expect(lowerForGpu(compile(matmul), undefined, NO_GPU_FEATURES).features.mma).toBe(false);
  });

  it('lays out an accumulator the dot result reaches through a var (a group\'s partial sums, scaled once per group) as the fragments too', () => {
    // The dequant-GEMM tiles: part = dot(...) over a group, then acc = acc + part * scale after the
    // group's loop. acc as fragments: no conversion of part through the scratch once per group.
    const k = compile(dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', m: 16, target: 'gpu' }).source);
    const vars = new Map<string, string>();
    const walk = (body: readonly Stmt[]): void => {
      for (const s of body) {
        if (s.kind === 'var' && s.type.kind === 'tile') vars.set(s.name, printLayout(s.type.layout!));
        if (s.kind === 'for') walk(s.body);
      }
    };
    walk(inferLayouts(k, { mma: true }).body);
    expect(vars.get('acc')).toBe(vars.get('part'));
    expect(vars.get('part')).toBe(printLayout(mmaLayout(16, 64, 128)!));
    // In the loop over groups but outside its K tile loop: no barrier (the scratch needed two).
    const perGroup = (body: readonly LStmt[], inGroup = false): number => body.reduce((n, s) => {
      if (s.k === 'barrier') return n + (inGroup ? 1 : 0);
      if (s.k === 'for') return s.var.startsWith('k0') ? n : n + perGroup(s.body, inGroup || s.var.startsWith('g0'));
      if (s.k === 'if') return n + perGroup(s.then, inGroup) + perGroup(s.else, inGroup);
      return n;
    }, 0);
    expect(perGroup(cudaBody(k))).toBe(0);
  });

  it('chains flash attention\'s dots through registers: S, P and the output split rows over the warps, so P\'s A fragments are S\'s accumulator in each thread', () => {
    const fa = compile(readFileSync(new URL('../../examples/flash_attention.tile', import.meta.url), 'utf8'));
    const k = inferLayouts(fa, { mma: true });
    const rows = printLayout(mmaLayout(64, 64, 128, true)!);
    expect(rows).toBe(printLayout(compose(spatial(4, 1), local(1, 8), MMA_M16N8K16.c)));
    for (const name of ['sc', 'st', 'p']) expect(printLayout(typeOf(k, name).layout!)).toBe(rows);
    // K is loaded as the transposed B fragments (the transpose moves nothing), the row maxima and sums
    // reduce by shuffles within each quad of lanes into the rows' own layout, and the running max and
    // sum take that layout: no barrier at all (14 with warps over columns, 8 with K's transpose through
    // scratch, 6 with the reductions' results through shared memory).
    expect(barriers(cudaBody(fa)).all).toBe(0);
  });

  it('keeps the generic dot for other inputs and shapes: f32 or 8-bit inputs, K not a multiple of 16, rows not whole atoms', () => {
    const dot = (ta: string, tb: string, m: number, kk: number, n: number): number =>
      mmaCount(cudaBody(compile(`kernel d(a: ${ta}[${m}, ${kk}], b: ${tb}[${kk}, ${n}], c: f32[${m}, ${n}]) grid(1) threads(64) {
        store c[0 :+ ${m}, 0 :+ ${n}] = cast<f32>(dot(load a[0 :+ ${m}, 0 :+ ${kk}], load b[0 :+ ${kk}, 0 :+ ${n}]));
      }`)));
    expect(dot('f16', 'f16', 32, 32, 16)).toBe(1);
    expect(dot('bf16', 'bf16', 32, 32, 16)).toBe(1);
    expect(dot('f32', 'f32', 32, 32, 16)).toBe(0);
    expect(dot('i8', 'i8', 32, 32, 16)).toBe(0);
    expect(dot('f16', 'f16', 32, 24, 16)).toBe(0);
    expect(dot('f16', 'f16', 8, 32, 16)).toBe(0);
  });
});
