// The GPU lowering's choices that the WebGPU tests cannot see (they check results): how wide the
// global-to-shared copies move data, and where MMA dots read their fragments. Results: test/backends/webgpu.test.ts, cases copies_*, matmul and mma_*.

import { describe, expect, it } from 'vitest';
import { lowerForCuda } from '../../backends/cuda/emit.ts';
import { type Expr, type Stmt, forEachExpr } from '../../ir/loop_ir.ts';
import { type Kernel, walkStmts } from '../../ir/tile_ir.ts';
import { printShared } from '../../ir/tile_print.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { NO_GPU_FEATURES } from '../../passes/lower_gpu.ts';
import { compile } from '../../src/api.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { example, gpuCases } from '../support/gpu_cases.ts';

/** Words per global-to-shared `copywords`, in order. */
function wordLoads(body: readonly Stmt[]): number[] {
  const out: number[] = [];
  for (const s of body) {
    if (s.k === 'copywords') out.push(s.words);
    if (s.k === 'for') out.push(...wordLoads(s.body));
    if (s.k === 'if') out.push(...wordLoads(s.then), ...wordLoads(s.else));
  }
  return out;
}

const lowered = (source: string, set: Record<string, string | number> = {}): readonly Stmt[] =>
  lowerForGpu(compile(source, { set: new Map(Object.entries(set).map(([k, v]) => [k, String(v)])) })).module.functions.find((f) => f.name === 'block')!.body;

describe('global-to-shared copies', () => {
  it('move the widest runs the shared layout keeps aligned and whole', () => {
    const widths = Object.fromEntries(gpuCases.filter((c) => c.name.startsWith('copies_')).map((c) => [c.name, wordLoads(lowered(c.source, c.set))]));
    // Each run in its widest chunks (checked at run time: rows that leave the run misaligned go in words).
    expect(widths).toEqual({
      'copies_f16_0_row_major_swizzle_2_3_3_': [4, 1, 1, 1, 1], // a swizzle that moves 8 f16 together: 16 bytes
      copies_u4_0_row_major: [4, 1, 1, 1, 1], // 32 u4 per run
      'copies_f16_3_strided_40_1_': [4, 1, 1, 1, 1], // padded rows of 40 f16 keep 16-byte alignment
      'copies_u8_4_row_major_swizzle_1_2_4_': [1], // a swizzle that moves 4 bytes together: words
      copies_u3_0_row_major: [1, 1, 1], // rows of 12 bytes: 32 elements in three words
      copies_f6e3m2_0_row_major: [2, 2, 2, 1, 1, 1, 1, 1, 1], // rows of 24 bytes: 32 elements in three 8-byte chunks
      'copies_f16_0_row_major_swizzle_2_3_3__t4_c70': [4, 1, 1, 1, 1], // on 4 threads: two runs per thread
      copies_u4_0_row_major_t4_c130: [4, 1, 1, 1, 1],
      copies_u4_0_row_major_t4_c128: [4, 1, 1, 1, 1],
      copies_u3_0_row_major_t4_c128: [1, 1, 1],
      copies_f6e3m2_0_row_major_t4_c70: [2, 2, 2, 1, 1, 1, 1, 1, 1],
      copies_u4_shared_offset: [4, 1, 1, 1, 1], // as copies_u4, but its shared slice starts mid-word: element by element at run time
    });
  });

  it('move runs of elements that straddle chunks in several chunks (3-bit elements: 32 in three words), and go element by element where no run fits', () => {
    const source = gpuCases.find((c) => c.name === 'copies_u4_0_row_major')!;
    expect(wordLoads(lowered(source.source, { ...source.set, T: 'u3' }))).toEqual([1, 1, 1]);
    expect(wordLoads(lowered(source.source.replaceAll('32', '24'), { ...source.set, T: 'u3' }))).toEqual([]);
  });

  it('keep the loops of their rare paths (misaligned rows, the tensor\'s edge) rolled, so that they take no registers from the rest', () => {
    const rolled = (stmts: readonly Stmt[]): number =>
      stmts.reduce((n, s) => n + (s.k === 'for' ? (s.unroll === false ? 1 : 0) + rolled(s.body) : s.k === 'if' ? rolled(s.then) + rolled(s.else) : 0), 0);
    const source = gpuCases.find((c) => c.name === 'copies_u4_0_row_major')!;
    // One copy statement: the words shifted together from straddled global words, and the edge's words.
    expect(rolled(lowered(source.source, source.set))).toBe(2);
  });
});

describe('shared layouts', () => {
  /** Each shared allocation's layout as the GPU lowering placed it, by name. */
  const placed = (k: Kernel): Record<string, string> => {
    const out: Record<string, string> = {};
    walkStmts(k.body, (s) => {
      if (s.kind === 'def' && s.result.type.kind === 'shared') out[s.result.name!] = printShared(s.result.type.layout);
    });
    return out;
  };
  it('swizzle 16-bit tiles that MMA fragments are read from in place, where the source gives no layout', () => {
    // matmul: A's rows are BK = 32 f16 (64 bytes), B's BN = 64 (128 bytes); ldmatrix reads both.
    expect(placed(lowerForCuda(compile(example('matmul'))).kernel)).toEqual({ sa: 'strided(2048, 32, 1).swizzle(2, 3, 3)', sb: 'strided(2048, 64, 1).swizzle(3, 3, 3)' });
    // Rows of 16 f16 (sc: B of the second dot); a layout the source gives stays as written.
    expect(placed(lowerForCuda(compile(gpuCases.find((x) => x.name === 'mma_shared_operands')!.source)).kernel)).toEqual({
      sa: 'strided(48, 1).swizzle(2, 3, 3)', sb: 'strided(1, 48)', sc: 'strided(16, 1).swizzle(1, 3, 3)',
    });
    expect(placed(lowerForCuda(compile(example('matmul').replace('shared<f16>[2, BM, BK]', 'shared<f16>[2, BM, BK] @ row_major'))).kernel).sa).toBe('strided(2048, 32, 1)');
  });

  it('swizzle weight codes by their element reads: u4 and u8 B fragments, not u2 (rows of 16 bytes) or u3', () => {
    const tiles = (weight: string) => placed(lowerForCuda(compile(dequantGemm({ weight, groupSize: 64, activation: 'f16', m: 16, target: 'gpu' }).source)).kernel);
    expect(tiles('u4')).toEqual({ sa: 'strided(1024, 64, 1).swizzle(3, 3, 3)', sw: 'strided(4096, 64, 1).swizzle(1, 5, 3)' });
    expect(tiles('u8').sw).toBe('strided(4096, 64, 1).swizzle(2, 4, 3)');
    expect(tiles('u2').sw).toBe('strided(4096, 64, 1)');
    expect(tiles('u3').sw).toBe('strided(4096, 64, 1)');
  });

  it('keep plain rows where no MMA reads fragments from them: WebGPU without MMAs, rows of 8 elements', () => {
    expect(placed(lowerForGpu(compile(example('matmul'))).kernel)).toEqual({ sa: 'strided(2048, 32, 1)', sb: 'strided(2048, 64, 1)' });
    expect(placed(lowerForCuda(compile(example('matmul'), { set: new Map([['BK', '8'], ['BN', '8']]) })).kernel)).toEqual({ sa: 'strided(512, 8, 1)', sb: 'strided(64, 8, 1)' });
  });
});

describe('MMA operands', () => {
  const barriers = (stmts: readonly Stmt[]): number =>
    stmts.reduce((n, s) => n + (s.k === 'barrier' ? 1 : s.k === 'for' ? barriers(s.body) : s.k === 'if' ? barriers(s.then) + barriers(s.else) : 0), 0);
  /** Per loop over 16 of K of an MMA dot, in order: its ldmatrix (x2, x4, .trans), 32- and 16-bit shared loads and scratch pair reads. */
  function fragmentReads(body: readonly Stmt[]): { ldmatrix: string[]; load32: number; load16: number; scratch: number }[] {
    const out: { ldmatrix: string[]; load32: number; load16: number; scratch: number }[] = [];
    for (const s of body) {
      if (s.k === 'for' && s.var.startsWith('kk')) {
        const n = { ldmatrix: [] as string[], load32: 0, load16: 0, scratch: 0 };
        const visit = (stmts: readonly Stmt[]): void => {
          for (const x of stmts) {
            if (x.k === 'loadwords') n.scratch++;
            if (x.k === 'ldmatrix') n.ldmatrix.push(`x${x.names.length}${x.trans ? '.trans' : ''}`);
            if (x.k === 'for') visit(x.body);
          }
          forEachExpr(stmts.filter((x) => x.k !== 'for'), (e) => {
            if (e.k === 'load' && e.mem === 'shared') n[e.bits === 32 ? 'load32' : 'load16']++;
          });
        };
        visit(s.body);
        out.push(n);
      } else if (s.k === 'for') out.push(...fragmentReads(s.body));
      else if (s.k === 'if') out.push(...fragmentReads(s.then), ...fragmentReads(s.else));
    }
    return out;
  }

  it('come straight from shared tensors: ldmatrix where 8-element rows are aligned, a word per pair where pairs are, two halves where not; through scratch after a store', () => {
    const c = gpuCases.find((x) => x.name === 'mma_shared_operands')!;
    const body = lowerForCuda(compile(c.source)).module.functions.find((f) => f.name === 'block')!.body;
    expect(fragmentReads(body)).toEqual([
      // y: A swizzled by 8-element units (four matrices), B column-major (K contiguous: two, not transposed)
      { ldmatrix: ['x4', 'x2'], load32: 0, load16: 0, scratch: 0 },
      // z: A from an odd column (halves); B row-major (N contiguous: two, transposed)
      { ldmatrix: ['x2.trans'], load32: 0, load16: 2, scratch: 0 },
      // u: A loaded before a store (scratch), B column-major
      { ldmatrix: ['x2'], load32: 0, load16: 0, scratch: 1 },
      // v: slices from column 2: pairs whole, rows of 8 not aligned: a word per pair
      { ldmatrix: [], load32: 2, load16: 0, scratch: 0 },
    ]);
    // The kernel's sync and the staged dot's two barriers; the direct dots need none.
    expect(barriers(body)).toBe(3);
  });

  it('accumulate onto an f32 addend (the accumulators start as it: no addition after the MMAs); another type is added after', () => {
    const source = (t: string): string => `kernel dots(a: f16[16, 16], b: f16[16, 8], c: ${t}[16, 8], o: ${t}[16, 8]) grid(1) threads(32) {
    store o[0 :+ 16, 0 :+ 8] = dot(load a[0 :+ 16, 0 :+ 16], load b[0 :+ 16, 0 :+ 8], load c[0 :+ 16, 0 :+ 8]);
}`;
    const adds = (t: string): number => {
      let n = 0;
      forEachExpr(lowerForCuda(compile(source(t))).module.functions.find((f) => f.name === 'block')!.body, (e) => {
        if (e.k === 'op' && e.op === 'f32.add') n++;
      });
      return n;
    };
    expect(adds('f32')).toBe(0);
    expect(adds('f16')).toBe(1); // in the loop over the result's locals
  });

  it('come from registers when they were loaded as the fragments (layout inference hints them back to the loads)', () => {
    const c = gpuCases.find((x) => x.name === 'mma_bf16_replicated')!;
    const body = lowerForCuda(compile(c.source)).module.functions.find((f) => f.name === 'block')!.body;
    expect(fragmentReads(body)).toEqual([{ ldmatrix: [], load32: 0, load16: 0, scratch: 0 }, { ldmatrix: [], load32: 0, load16: 0, scratch: 0 }]);
    expect(barriers(body)).toBe(0);
  });
});

describe('dequantized MMA operands', () => {
  const intrinsics = (weight: string, activation = 'f16'): Record<string, number> => {
    const k = compile(dequantGemm({ weight, groupSize: 32, activation, m: 16, target: 'gpu' }).source);
    const out: Record<string, number> = {};
    forEachExpr(lowerForCuda(k).module.functions.find((f) => f.name === 'block')!.body, (e) => {
      if (e.k === 'intrinsic' && e.name.includes('f16x2')) out[e.name] = (out[e.name] ?? 0) + 1;
    });
    return out;
  };

  it('become f16 pairs from integer codes by one f16x2 subtraction (the magic number), minifloats by one f16x2 multiplication', () => {
    // Per B fragment word (A comes by ldmatrix from shared memory): two codes in an f16 pair of 1024,
    // minus 1024 (+ S); finite minifloats' fields in f16's places, times 2^(15 - bias) (f4e2m1: 2^14,
    // f16 bits 0x7400), f8e4m3 too (its NaN code fixed up after); f8e5m2 is f16's top byte (shifts only).
    expect(intrinsics('u4')).toEqual({ 'gpu.f16x2_sub': 1 });
    expect(intrinsics('i3')).toEqual({ 'gpu.f16x2_sub': 1 });
    expect(intrinsics('f4e2m1')).toEqual({ 'gpu.f16x2_mul': 1 });
    expect(intrinsics('f6e3m2')).toEqual({ 'gpu.f16x2_mul': 1 });
    expect(intrinsics('f8e4m3')).toEqual({ 'gpu.f16x2_mul': 1 });
    expect(intrinsics('f8e5m2')).toEqual({});
    // bf16: integer codes of 7 bits or fewer in a bf16 pair of 128, one bf16x2 subtraction; 8-bit codes
    // by way of f32, both rounded to a bf16 pair at once; minifloats, FP8 included, re-biased by one
    // bf16x2 multiplication by 2^(127 - bias).
    expect(intrinsics('u4', 'bf16')).toEqual({ 'gpu.bf16x2_sub': 1 });
    expect(intrinsics('i7', 'bf16')).toEqual({ 'gpu.bf16x2_sub': 1 });
    expect(intrinsics('u8', 'bf16')).toEqual({ 'gpu.pack_bf16x2': 1 });
    expect(intrinsics('i8', 'bf16')).toEqual({ 'gpu.pack_bf16x2': 1 });
    for (const w of ['f4e2m1', 'f6e3m2', 'f8e4m3', 'f8e5m2']) expect(intrinsics(w, 'bf16')).toEqual({ 'gpu.bf16x2_mul': 1 });
    const factors = (weight: string, activation: string): number[] => {
      const k = compile(dequantGemm({ weight, groupSize: 32, activation, m: 16, target: 'gpu' }).source);
      const out: number[] = [];
      forEachExpr(lowerForCuda(k).module.functions.find((f) => f.name === 'block')!.body, (e) => {
        if (e.k === 'intrinsic' && e.name.endsWith('x2_mul') && e.args[1]!.k === 'const') out.push(Number(e.args[1]!.value) >>> 0);
      });
      return out;
    };
    // 2^14 as f16 (bits 0x7400); 2^126 and 2^112 as bf16 (0x7e80, 0x7780).
    expect(factors('f4e2m1', 'f16')).toEqual([0x74007400]);
    expect(factors('f4e2m1', 'bf16')).toEqual([0x7e807e80]);
    expect(factors('f8e5m2', 'bf16')).toEqual([0x77807780]);
  });

  it('leave bf16 from minifloats and 8-bit codes to f32 on WebGPU (whose f32 arithmetic may flush the bf16 subnormals, and which has no bf16 rounding)', () => {
    for (const weight of ['f4e2m1', 'u8']) {
      const k = compile(dequantGemm({ weight, groupSize: 32, activation: 'bf16', m: 16, target: 'gpu' }).source);
      const names = new Set<string>();
      forEachExpr(lowerForGpu(k, undefined, { ...NO_GPU_FEATURES, mma: 'emulate' }).module.functions.find((f) => f.name === 'block')!.body, (e) => {
        if (e.k === 'intrinsic') names.add(e.name);
      });
      expect([...names].filter((n) => n.includes('bf16x2')), weight).toEqual([]);
    }
  });

  it('form both codes of a pair at once: one mask of lo | hi << 16, one exclusive or for the sign bits and the magic exponent', () => {
    // ((lo & m) | hi << 16) & (m | m << 16) ^ (magic | S) * 0x10001: where lo and hi are fields of one
    // word 16 bits apart, nvcc sees one shift and one mask of the word (cuda.test.ts checks its PTX).
    const words = (weight: string, activation = 'f16'): string[] => {
      const k = compile(dequantGemm({ weight, groupSize: 32, activation, m: 16, target: 'gpu' }).source);
      const out: string[] = [];
      forEachExpr(lowerForCuda(k).module.functions.find((f) => f.name === 'block')!.body, (e) => {
        if (e.k !== 'intrinsic' || !e.name.endsWith('x2_sub')) return;
        const x = e.args[0]!;
        const masked = x.k === 'op' && x.op === 'i32.xor' ? x.args[0]! : null;
        const pair = masked?.k === 'op' && masked.op === 'i32.and' ? masked.args[0]! : null;
        const hex = (v: Expr): string => (v.k === 'const' ? (Number(v.value) >>> 0).toString(16) : '?');
        if (x.k === 'op' && masked?.k === 'op' && pair?.k === 'op' && pair.op === 'i32.or' && pair.args[1]!.k === 'op' && pair.args[1]!.op === 'i32.shl') out.push(`${hex(masked.args[1]!)} ^ ${hex(x.args[1]!)}`);
        else out.push('not paired');
      });
      return out;
    };
    expect(words('u4')).toEqual(['f000f ^ 64006400']);
    expect(words('i4')).toEqual(['f000f ^ 64086408']);
    expect(words('u2')).toEqual(['30003 ^ 64006400']);
    expect(words('i3', 'bf16')).toEqual(['70007 ^ 43044304']);
  });

  it("take a constant zero point off in that subtraction (1024 + zero), and then need no row sums of A", () => {
    // The constants each f16x2 subtraction takes off both halves, as f16 bits: u4 codes - 8 (the fixed
    // zero), i4 codes + 8 - 8 (the flipped sign bit), and with u4 zero points none (their row sums stay).
    const subtrahends = (weight: string, zeroPoint?: string): number[] => {
      const k = compile(dequantGemm({ weight, groupSize: 32, activation: 'f16', m: 16, target: 'gpu', ...(zeroPoint ? { zeroPoint } : {}) }).source);
      const out: number[] = [];
      forEachExpr(lowerForCuda(k).module.functions.find((f) => f.name === 'block')!.body, (e) => {
        if (e.k === 'intrinsic' && e.name === 'gpu.f16x2_sub' && e.args[1]!.k === 'const') out.push(Number(e.args[1]!.value) & 0xffff);
      });
      return out;
    };
    expect(subtrahends('u4')).toEqual([0x6408]);
    expect(subtrahends('i4')).toEqual([0x6408]);
    expect(subtrahends('u4', 'u4')).toEqual([0x6400]);
    const source = (zeroPoint?: string): string => dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', m: 16, target: 'gpu', ...(zeroPoint ? { zeroPoint } : {}) }).source;
    expect(source()).not.toContain('asum');
    expect(source('u4')).toContain('asum');
  });
});

describe('integer codes to floats', () => {
  it('take a constant zero point off in the conversion\'s own subtraction (one add per element, not two)', () => {
    // cast<f32>(u4 code) - 8.0: 2^23 + code (exponent-field trick) minus 2^23 + 8, exact.
    const constants: number[] = [];
    let nested = 0;
    forEachExpr(lowered(dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', m: 1, target: 'gpu' }).source), (e) => {
      if (e.k === 'op' && e.op === 'f32.sub' && e.args[0]!.k === 'op' && e.args[0]!.op === 'f32.from_bits' && e.args[1]!.k === 'const') constants.push(Number(e.args[1]!.value));
      if (e.k === 'op' && e.op === 'f32.sub' && e.args[0]!.k === 'op' && e.args[0]!.op === 'f32.sub') nested++;
    });
    expect(constants).toEqual([2 ** 23 + 8]);
    expect(nested).toBe(0);
  });
});

describe('minifloat codes to floats', () => {
  it('on CUDA by arithmetic at every width (a table there is in constant memory, one read per distinct code of a warp); WebGPU reads its table', () => {
    const tableReads = (weight: string, cuda: boolean, rowsPerThread?: number): number => {
      const k = compile(dequantGemm({ weight, groupSize: 128, activation: 'f16', m: 1, target: 'gpu', rowsPerThread }).source);
      let n = 0;
      forEachExpr((cuda ? lowerForCuda(k) : lowerForGpu(k)).module.functions.find((f) => f.name === 'block')!.body, (e) => {
        if (e.k === 'load' && e.mem === undefined) n++;
      });
      return n;
    };
    for (const weight of ['f4e2m1', 'f3e1m1', 'f6e3m2']) {
      expect(tableReads(weight, true), weight).toBe(0);
      expect(tableReads(weight, true, 8), weight).toBe(0);
    }
    expect(tableReads('f4e2m1', false)).toBeGreaterThan(0);
  });

  it('on CUDA, 4-bit ones unpacked from shared words by byte lookups: two per half word, one permutation per code', () => {
    // f4e2m1 with 8 rows per thread: 64 codes per thread per K tile, 8 words, 16 halves of 4 codes.
    const intrinsics = (weight: string, cuda: boolean): Record<string, number> => {
      const k = compile(dequantGemm({ weight, groupSize: 128, activation: 'f16', m: 1, target: 'gpu', rowsPerThread: 8 }).source);
      const out: Record<string, number> = {};
      forEachExpr((cuda ? lowerForCuda(k) : lowerForGpu(k)).module.functions.find((f) => f.name === 'block')!.body, (e) => {
        if (e.k === 'intrinsic' && (e.name === 'gpu.prmt' || e.name === 'gpu.byte_perm')) out[e.name] = (out[e.name] ?? 0) + 1;
      });
      return out;
    };
    // Each code's expression names its half's two lookups (nvcc computes them once per half).
    expect(intrinsics('f4e2m1', true)).toEqual({ 'gpu.prmt': 64, 'gpu.byte_perm': 128 });
    expect(intrinsics('f4e1m2', true)).toEqual({ 'gpu.prmt': 64, 'gpu.byte_perm': 128 });
    expect(intrinsics('f6e3m2', true)).toEqual({});
    expect(intrinsics('f4e2m1', false)).toEqual({});
  });
});

describe('the GEMV with several rows per thread', () => {
  const gemv = (weight: string, m = 1): readonly Stmt[] => lowered(dequantGemm({ weight, groupSize: 128, activation: 'f16', m, target: 'gpu', rowsPerThread: 8 }).source);

  it('takes integer codes as 1 + code / 2^b by their bits alone: no float arithmetic between the code and the product', () => {
    // (cast<f32>(code) + 16.0) * 0.0625: bits 0x3F800000 | code << 19 (u4); signed codes flip the sign bit
    // first. With 4 rows of A per block the values are used 4 times: built the same way, into registers once.
    for (const [weight, exponent, m] of [['u4', 0x3f800000, 1], ['u2', 0x3f800000, 1], ['i4', 0x3f800000, 1], ['u8', 0x3f800000, 1], ['u4', 0x3f800000, 4], ['i4', 0x3f800000, 4]] as const) {
      const ors: number[] = [];
      let subs = 0;
      forEachExpr(gemv(weight, m), (e) => {
        if (e.k === 'op' && e.op === 'f32.from_bits' && e.args[0]!.k === 'op' && e.args[0]!.op === 'i32.or' && e.args[0]!.args[1]!.k === 'const') ors.push(Number(e.args[0]!.args[1]!.value));
        if (e.k === 'op' && e.op === 'f32.sub' && e.args[0]!.k === 'op' && e.args[0]!.op === 'f32.from_bits') subs++;
      });
      expect(ors.length, weight).toBeGreaterThan(0);
      expect(new Set(ors), weight).toEqual(new Set([exponent]));
      expect(subs, weight).toBe(0);
    }
  });

  it('on CUDA, takes a word\'s 4-bit codes by byte permutations: one shift and mask per four codes, then one prmt per code', () => {
    // u4: the even codes' fields to bits 3..6 of their bytes (bit 7: the exponent's lowest), then each
    // f32 is its byte under 0x3F: 0x3F800000 | code << 19. 2-bit codes in runs of 8 (16 bits) share
    // their place in a byte two at a time only, which saves nothing: those keep a shift and a mask each.
    const perms = (weight: string, m: number, cuda: boolean) => {
      const k = compile(dequantGemm({ weight, groupSize: 128, activation: 'f16', m, target: 'gpu', rowsPerThread: 8 }).source);
      const body = (cuda ? lowerForCuda(k) : lowerForGpu(k)).module.functions.find((f) => f.name === 'block')!.body;
      const selectors = new Map<number, number>();
      forEachExpr(body, (e) => {
        if (e.k === 'intrinsic' && e.name === 'gpu.byte_perm') {
          expect(e.args[1]).toEqual({ k: 'const', type: 'i32', value: 0x3f });
          const s = e.args[2]!.k === 'const' ? Number(e.args[2]!.value) : -1;
          selectors.set(s, (selectors.get(s) ?? 0) + 1);
        }
      });
      return Object.fromEntries(selectors);
    };
    // 64 weights per thread per K tile (8 rows, 8 columns), 16 from each byte of their words.
    const each = { [0x4055]: 16, [0x4155]: 16, [0x4255]: 16, [0x4355]: 16 };
    expect(perms('u4', 1, true)).toEqual(each);
    expect(perms('i4', 1, true)).toEqual(each);
    expect(perms('u4', 4, true)).toEqual(each); // the values built once into registers for 4 rows of A
    expect(perms('u2', 1, true)).toEqual({});
    expect(perms('u4', 1, false)).toEqual({}); // a target without byte permutations (WebGPU)
  });

  it('sums each thread\'s rows of products by fused multiply-adds, the products never rounded on their own', () => {
    let fmas = 0;
    forEachExpr(gemv('u4'), (e) => {
      if (e.k === 'intrinsic' && e.name === 'gpu.fma') fmas++;
    });
    // 8 columns per thread, each a chain of 7 fused steps after the first product.
    expect(fmas).toBe(8 * 7);
  });
});

describe('register tiles from shared memory', () => {
  /** Words per `loadwords` from shared memory, in order. */
  const sharedWordLoads = (body: readonly Stmt[]): number[] => body.flatMap((s): number[] =>
    s.k === 'loadwords' && s.mem === 'shared' ? [s.names.length] : s.k === 'for' ? sharedWordLoads(s.body) : s.k === 'if' ? [...sharedWordLoads(s.then), ...sharedWordLoads(s.else)] : []);

  it('read each thread\'s runs as words, up to 128 bits at once, where the runs are contiguous and aligned', () => {
    // The GPU GEMV's K loop: 32 u4 weights (one 16-byte read), 32 f16 scales (four) per thread.
    const gemv = lowered(dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', m: 1, target: 'gpu' }).source);
    expect(sharedWordLoads(gemv)).toEqual([4, 4, 4, 4, 4]);
    // 3-bit runs of 32 (12 bytes) are whole words but not a power-of-two access: element by element.
    const u3 = lowered(dequantGemm({ weight: 'u3', groupSize: 128, activation: 'f16', m: 1, target: 'gpu' }).source);
    expect(sharedWordLoads(u3)).toEqual([4, 4, 4, 4]);
  });
});
