// Layout inference for GPU targets (passes/infer_layouts.ts): broadcast operands learn their layout
// from the instruction that broadcasts them, so the lowering moves no data between threads for them.
// Whether the kernels still compute the right thing is checked on WebGPU (test/backends/webgpu.test.ts).

import { describe, expect, it } from 'vitest';
import { layoutEquals } from '../../ir/layout.ts';
import { projectLayout, reshape } from '../../ir/layout_ops.ts';
import { printLayout } from '../../ir/layout_print.ts';
import type { Stmt as LStmt } from '../../ir/loop_ir.ts';
import type { Kernel, Stmt, TileType } from '../../ir/tile_ir.ts';
import { inferLayouts } from '../../passes/infer_layouts.ts';
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
  it('moves no data between threads inside its K loop (one reduction at the end)', () => {
    for (const weight of ['u4', 'u3', 'f4e2m1']) {
      const k = compile(dequantGemm({ weight, groupSize: 128, activation: 'f16', m: 1, target: 'gpu' }).source);
      const b = barriers(blockBody(k));
      expect(b.inK, weight).toBe(0);
      expect(b.all, weight).toBeGreaterThan(0);
    }
  });
});
