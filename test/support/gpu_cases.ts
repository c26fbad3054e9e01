// The kernels every GPU target is checked on against the VM: the DSL.md examples on edge shapes,
// explicit layouts, views, partial-word stores from neighbouring blocks, and the dequant-GEMM generator
// over weight types. Shared by the WebGPU tests, the CUDA compile tests and scripts/gpu-bundle.ts.

import { readFileSync } from 'node:fs';
import { decodeAttention, flashAttention } from '../../src/kernels/attention.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';
import { benchKernels, smallSizes } from '../../bench/gpu_kernels.ts';

export interface GpuCase {
  readonly name: string;
  readonly source: string;
  /** Which kernel of a source with several (default: its only one). */
  readonly kernel?: string;
  /** Template arguments, sizes and scalars, as `--set` takes them. */
  readonly set?: Record<string, string | number>;
  readonly seed?: number;
  /** WebGPU only: blocks per dispatch, to make the runtime split the grid. */
  readonly maxWorkgroupsPerDimension?: number;
  /** WebGPU only: compile for the device's features (the default) or for none (the fallbacks). */
  readonly features?: 'device' | 'none';
  /** WebGPU only: unroll the lowering's marked loops up to this many iterations (emitWgsl's option). */
  readonly unroll?: number;
  /**
   * WebGPU only: f16/bf16 dots on emulated warp MMAs (GpuFeatures.mma 'emulate'): the layouts, fragment
   * reads and accumulator placement that CUDA's mma.sync uses, with the instruction computed through
   * shared memory as the PTX ISA defines it. (CUDA always uses the instruction.)
   */
  readonly mma?: boolean;
  /**
   * Checked on CUDA only: outputs that depend on f32 subnormals, which WGSL lets implementations flush
   * to zero (SwiftShader does), more shared memory than WebGPU devices offer, or a lowering only CUDA
   * takes (WebGPU's own is checked by other cases).
   */
  readonly cudaOnly?: boolean;
}

export const example = (name: string): string => readFileSync(new URL(`../../examples/${name}.tile`, import.meta.url), 'utf8');

/**
 * Accumulating stores from many blocks into the same elements (B blocks add rows of x and y into c and
 * d), the sums split over blocks along K as split-K GEMMs do (SPLIT blocks per column tile, each adding
 * a reduced partial whose layout is replicated over threads: one thread of each set adds it), and a
 * scalar added by every block (e counts the blocks).
 */
const ACCUMULATE = `kernel accumulate<BN = 16, BK = 8, SPLIT = 3>(x: f32[B, N], y: i32[B, N], c: f32[N], d: i32[N], e: f32[N], p: f32[N], q: i32[N])
    grid(B) threads(32) {
  store c[0 :+ 64] += load x[block.x, 0 :+ 64];
  store d[0 :+ 64] += load y[block.x, 0 :+ 64];
  if block.x < cdiv(N, BN) * SPLIT {
    let n0 = (block.x / SPLIT) * BN;
    let chunk = cdiv(B, SPLIT * BK) * BK;
    let k0 = (block.x % SPLIT) * chunk;
    var s = zeros<f32>[BN];
    var t = zeros<i32>[BN];
    for k in range(k0, min(B, k0 + chunk), BK) {
      s = s + sum(load x[k :+ BK, n0 :+ BN], axis=0);
      t = t + sum(load y[k :+ BK, n0 :+ BN], axis=0);
    }
    store p[n0 :+ BN] += s;
    store q[n0 :+ BN] += t;
  }
  store e[0 :+ 64] += 1.0;
}`;

export const gpuCases: readonly GpuCase[] = [
  { name: 'vector_add_1', source: example('vector_add'), set: { N: 1 } },
  { name: 'vector_add_997', source: example('vector_add'), set: { N: 997 } },
  { name: 'softmax_1', source: example('softmax'), set: { M: 2, N: 1 } },
  { name: 'softmax_700', source: example('softmax'), set: { M: 3, N: 700 } },
  {
    // A general permute: rank 4, moved through the scratch (the loaded layout does not permute into the
    // stored one), beside the free permute-reshape chain of dequant_gemm_gpu_mma_*_frag.
    name: 'permute_rank4',
    source: `kernel permute_rank4(x: f32[A, B, C, D], y: f32[C, A, D, B]) grid(1) threads(64) {
      store y[0 :+ 4, 0 :+ 3, 0 :+ 8, 0 :+ 5] = permute(load x[0 :+ 3, 0 :+ 5, 0 :+ 4, 0 :+ 8], [2, 0, 3, 1]) * 2.0;
    }`,
    set: { A: 3, B: 5, C: 4, D: 8 },
  },
  { name: 'matmul', source: example('matmul'), set: { M: 37, K: 40, N: 33, BM: 32, BN: 32, BK: 16 } },
  // (K and N kept small: SwiftShader crashes more often the longer a dispatch runs; see the README.)
  // The same GEMM on m16n8k16 MMAs: 2x2 warps of 1x2 atoms each, K chunks of 16, edges zero-filled.
  { name: 'matmul_mma', source: example('matmul'), set: { M: 37, K: 40, N: 33, BM: 32, BN: 32, BK: 16 }, mma: true },
  { name: 'dequant_gemm_u3', source: example('dequant_gemm'), set: { W: 'u3', ZERO: 4, M: 5, K: 128, N: 70 } },
  { name: 'dequant_gemm_f4e2m1', source: example('dequant_gemm'), set: { W: 'f4e2m1', ZERO: 0, M: 1, K: 128, N: 37, BN: 32 } },
  { name: 'flash_attention_causal', source: example('flash_attention'), set: { D: 16, BQ: 16, BKV: 16, CAUSAL: 1, H: 2, S: 37, scale: 0.25 } },
  { name: 'flash_attention', source: example('flash_attention'), set: { D: 16, BQ: 16, BKV: 16, CAUSAL: 0, H: 2, S: 37, scale: 0.25 } },
  { name: 'flash_attention_mma', source: example('flash_attention'), set: { D: 16, BQ: 16, BKV: 16, CAUSAL: 1, H: 1, S: 21, scale: 0.25 }, mma: true },
  // The generator's GPU form: K and V tiles staged in shared memory (two stages), a tail tile, GQA.
  // Decode attention split over a u4 cache (flash-decoding): both kernels, on random inputs (the chain
  // is checked against float64 attention on the VM and wasm in test/kernels/attention.test.ts).
  ...(() => {
    const g = decodeAttention({ headDim: 64, cache: 'u4', scales: 'token', splitKV: 3, blockKV: 16 });
    return g.kernels!.map((kernel, i) => ({ name: `decode_split_${['partial', 'combine'][i]}`, source: g.source, kernel, set: { H: 2, HKV: 1, S: 77, scale: 0.125 } }));
  })(),
  { name: 'flash_attention_staged_mma', source: flashAttention({ headDim: 64, causal: true, target: 'gpu' }).source, set: { BQ: 16, BKV: 16, H: 2, HKV: 1, S: 37, SK: 37, scale: 0.125 }, mma: true },
  {
    // bf16 MMAs with an addend, three atom rows in one warp (K = 29: the chunk's tail is zeros; M and N
    // not whole tiles), and a 16x8 f16 dot over two warps, where each warp computes the one atom
    // (replicated).
    name: 'mma_bf16_replicated',
    source: `kernel mma_mix(a: bf16[M, K], b: bf16[K, N], c: f32[M, N], y: f32[M, N], p: f16[16, 32], q: f16[32, 8], z: f16[16, 8])
        grid(cdiv(M, 48), cdiv(N, 16)) threads(64) {
      let m0 = block.x * 48;
      let n0 = block.y * 16;
      store y[m0 :+ 48, n0 :+ 16] = dot(load a[m0 :+ 48, 0 :+ 32], load b[0 :+ 32, n0 :+ 16], load c[m0 :+ 48, n0 :+ 16]);
      store z[0 :+ 16, 0 :+ 8] = cast<f16>(dot(load p[0 :+ 16, 0 :+ 32], load q[0 :+ 32, 0 :+ 8]) * 0.5);
    }`,
    set: { M: 45, K: 29, N: 13 },
    seed: 29,
    mma: true,
  },
  {
    // Fragments read straight from shared tensors: by ldmatrix where rows of 8 elements are contiguous and
    // aligned (a swizzle of 8-element units; K contiguous in a column-major B; N contiguous, transposed),
    // one word per pair where only pairs are (slices from column 2), two halves where a slice starts at an
    // odd column; and an operand that goes through scratch (a store comes between its load and the dot,
    // and its written layout is not the fragments').
    name: 'mma_shared_operands',
    source: `kernel mma_shared(a: f16[32, 48], b: f16[48, 16], y: f32[32, 16], z: f32[32, 16], u: f32[32, 16], v: f32[32, 16]) grid(1) threads(64) {
      let sa = shared<f16>[32, 48] @ row_major.swizzle(2, 3, 3);
      let sb = shared<f16>[48, 16] @ column_major;
      let sc = shared<f16>[48, 16];
      store sa[0 :+ 32, 0 :+ 48] = load a[0 :+ 32, 0 :+ 48];
      store sb[0 :+ 48, 0 :+ 16] = load b[0 :+ 48, 0 :+ 16];
      store sc[0 :+ 48, 0 :+ 16] = load b[0 :+ 48, 0 :+ 16];
      sync;
      store y[0 :+ 32, 0 :+ 16] = dot(load sa[0 :+ 32, 16 :+ 32], load sb[16 :+ 32, 0 :+ 16]);
      store z[0 :+ 32, 0 :+ 16] = dot(load sa[0 :+ 32, 3 :+ 32], load sc[3 :+ 32, 0 :+ 16]);
      let early = load sa[0 :+ 32, 8 :+ 32] @ (spatial(8, 8) * local(4, 4));
      store sc[0 :+ 1, 0 :+ 16] = zeros<f16>[1, 16];
      store u[0 :+ 32, 0 :+ 16] = dot(early, load sb[8 :+ 32, 0 :+ 16]);
      store v[0 :+ 32, 0 :+ 16] = dot(load sa[0 :+ 32, 2 :+ 32], load sb[2 :+ 32, 0 :+ 16]);
    }`,
    seed: 37,
    mma: true,
  },
  {
    // An accumulator layout written in the source that divides by the accumulator fragment (atoms in
    // column order over the warps), and f16 dots that stay generic: 8 rows, and K = 8.
    name: 'mma_written_layouts',
    source: `kernel mma_written(a: f16[32, 16], b: f16[16, 32], y: f32[32, 32], z: f32[8, 32], w: f32[32, 32]) grid(1) threads(64) {
      let ta = load a[0 :+ 32, 0 :+ 16];
      let tb = load b[0 :+ 16, 0 :+ 32];
      var acc = zeros<f32>[32, 32] @ (column_spatial(1, 2) * column_local(2, 2) * local(2, 1) * spatial(8, 4) * local(1, 2));
      acc = dot(ta, tb, acc);
      store y[0 :+ 32, 0 :+ 32] = acc;
      store z[0 :+ 8, 0 :+ 32] = dot(load a[0 :+ 8, 0 :+ 16], tb);
      store w[0 :+ 32, 0 :+ 32] = dot(load a[0 :+ 32, 0 :+ 8], load b[0 :+ 8, 0 :+ 32]);
    }`,
    seed: 31,
    mma: true,
  },
  {
    name: 'layouts',
    source: `kernel layouts(x: f32[16, 8], y: f32[8], z: f32[8, 16]) grid(1) threads(32) {
      let a = load x[0 :+ 16, 0 :+ 8] @ (local(2, 1) * spatial(8, 4) * local(1, 2));
      store z[0 :+ 8, 0 :+ 16] = transpose(a) * 2.0;
      store y[0 :+ 8] = sum(a, axis=0) + max(a, axis=0);
    }`,
    seed: 3,
  },
  {
    // Broadcasts that need no exchange between threads (each thread holds what it broadcasts): a
    // column against a tile with local modes in both dimensions (its locals skip the inner one) and a row.
    name: 'broadcasts',
    source: `kernel broadcasts(x: f32[16, 8], r: f32[16], c: f32[8], y: f32[16, 8]) grid(1) threads(32) {
      let t = load x[0 :+ 16, 0 :+ 8] @ (local(2, 1) * spatial(8, 4) * local(1, 2));
      let col = load r[0 :+ 16] * 3.0;
      let row = load c[0 :+ 8];
      store y[0 :+ 16, 0 :+ 8] = t * unsqueeze(col, 1) + row;
    }`,
    seed: 5,
  },
  {
    // Reductions along the innermost thread mode (subgroup exchanges where the device has them), after
    // a transpose has filled the scratch region with other data: reading a partial nobody wrote shows.
    name: 'reductions',
    source: `kernel reductions(x: f32[8, 64], y: f32[8], z: f32[8], w: f32[64, 8]) grid(1) threads(32) {
      let a = load x[0 :+ 8, 0 :+ 64] @ (local(2, 1) * spatial(4, 8) * local(1, 8));
      store w[0 :+ 64, 0 :+ 8] = transpose(a) + 100.0;
      store y[0 :+ 8] = max(a - 100.0, axis=1);
      store z[0 :+ 8] = sum(a, axis=1) + min(a, axis=1);
    }`,
    seed: 4,
  },
  ...(['i8', 'u8'] as const).map((T) => ({
    // 8-bit dots accumulate in i32 (four packed pairs per dot4 where the target has it); K = 40 runs in
    // chunks with a remainder-free multiple of four.
    name: `dot_${T}`,
    source: `kernel idot<M = 1, K = 4, N = 4>(a: ${T}[M, K], b: ${T}[K, N], c: i32[M, N]) grid(1) threads(64) {
      store c[0 :+ M, 0 :+ N] = dot(load a[0 :+ M, 0 :+ K], load b[0 :+ K, 0 :+ N]);
    }`,
    set: { M: 12, K: 40, N: 20 },
    seed: T === 'i8' ? 6 : 7,
  })),
  {
    name: 'views',
    source: `kernel views(x: u8[N], y: u4[M], z: u8[P]) grid(1) threads(64) {
      let t = load x[0 :+ 24];
      store y[0 :+ 48] = view<u4>(t);
      store z[0 :+ 6] = view<u8>(cast<u2>(t));
    }`,
    set: { N: 24, M: 48, P: 6 },
    seed: 9,
  },
  {
    // Every f16 code to f32, by load (low and high halves of a word) and from registers: outputs are
    // integers (the value times 2^24, exact below 128 in magnitude; the value itself, exact from 1024 up),
    // so a flushed subnormal or a misplaced half shows bit for bit.
    name: 'f16_codes',
    source: `kernel f16_codes(x: u16[N], h: f16[N], a: i32[N], b: i32[N], c: i32[N], d: i32[N], e: i32[N]) grid(cdiv(N, 256)) threads(64) {
      let i0 = block.x * 256;
      store e[i0 :+ 256] = cast<i32>(cast<f32>(load h[i0 :+ 256]) * 16777216.0);
      let u = cast<f32>(view<f16>(load x[i0 :+ 256]));
      let v = cast<f32>(view<f16>(cast<u16>(iota<i32>[256](0) + i0)));
      store a[i0 :+ 256] = cast<i32>(u * 16777216.0);
      store b[i0 :+ 256] = cast<i32>(u);
      store c[i0 :+ 256] = cast<i32>(v * 16777216.0);
      store d[i0 :+ 256] = cast<i32>(v);
    }`,
    set: { N: 65536 },
    seed: 17,
  },
  ...['u3', 'i5', 'f6e3m2', 'f16', 'u8'].map((W) => ({
    name: `stores_${W}`,
    source: `kernel stores<W: dtype = u8>(x: f32[N], y: W[N]) grid(cdiv(N, 5)) threads(32) {
      store y[block.x * 5 :+ 5] = cast<W>(load x[block.x * 5 :+ 5] * 8.0);
    }`,
    set: { W, N: 67 },
    seed: 11,
  })),
  // Global-to-shared copies by 16-, 8- and 4-byte runs (swizzled or padded shared layouts, sub-byte
  // elements), with slices that start misaligned and runs that cross the tensor's edge (element by
  // element, zeros outside): what arrives in shared memory is stored back out.
  ...([
    ['f16', 'row_major.swizzle(2, 3, 3)', 0, 37, 70],
    ['u4', 'row_major', 0, 20, 130],
    ['f16', 'strided(40, 1)', 3, 17, 45],
    ['u8', 'row_major.swizzle(1, 2, 4)', 4, 9, 64],
    ['u3', 'row_major', 0, 20, 128], // runs of 32 elements in three words
    ['f6e3m2', 'row_major', 0, 9, 70], // runs of 16 in three words; rows of 420 bits: misaligned ones go element by element
    // On 4 threads: two runs per thread, each checked (at the edge, rows that leave runs misaligned).
    ['f16', 'row_major.swizzle(2, 3, 3)', 0, 37, 70, 4],
    ['u4', 'row_major', 0, 20, 130, 4],
    ['u4', 'row_major', 0, 20, 128, 4],
    ['u3', 'row_major', 0, 20, 128, 4],
    ['f6e3m2', 'row_major', 0, 9, 70, 4],
  ] as const).map(([T, layout, c0, R, C, threads = 32]) => ({
    name: `copies_${T}_${c0}_${layout.replace(/\W+/g, '_')}${threads === 32 ? '' : `_t${threads}_c${C}`}`,
    source: `kernel copies<T: dtype = f16>(x: T[R, C], y: T[R, C]) grid(cdiv(R, 8), cdiv(C, 32)) threads(${threads}) {
      let s = shared<T>[8, 32] @ ${layout};
      copy_async s[0 :+ 8, 0 :+ 32] <- x[block.x * 8 :+ 8, block.y * 32 + ${c0} :+ 32];
      wait_async(0);
      sync;
      store y[block.x * 8 :+ 8, block.y * 32 :+ 32] = load s[0 :+ 8, 0 :+ 32];
    }`,
    set: { T, R, C },
    seed: 23,
  })),
  // Codes of 1, 2, 4 and 8 bits read one by one from a swizzled tile (each thread 8 rows by 2 columns
  // 32 apart: no runs), where the thread's part and the local's part of each offset combine by an
  // exclusive or (bit 5 ^= bit 6 moves a column 32 apart by the thread's row), so that each code is
  // read at the thread's byte xor the local's and shifted by the thread's own bit position (readSplit).
  ...(['u1', 'u2', 'u4', 'u8'] as const).map((T) => ({
    name: `swizzled_reads_${T}`,
    source: `kernel swizzled_reads<T: dtype = u4>(x: T[16, 64], y: T[16, 64]) grid(1) threads(64) {
      let s = shared<T>[16, 64] @ row_major.swizzle(1, 5, 1);
      copy_async s[0 :+ 16, 0 :+ 64] <- x[0 :+ 16, 0 :+ 64];
      wait_async(0);
      sync;
      store y[0 :+ 16, 0 :+ 64] = load s[0 :+ 16, 0 :+ 64] @ (local(8, 2) * spatial(2, 32));
    }`,
    set: { T },
    seed: 29,
  })),
  // fma: a * b + c rounded once (CUDA's __fmaf_rn; WGSL's fma may round the product first, within the
  // tolerance), with a scalar operand, and in f16 (the f32 fma rounded once more).
  {
    name: 'fma',
    source: `kernel fma_k(a: f32[N], b: f32[N], c: f32[N], o: f32[N], h: f16[N]) grid(cdiv(N, 64)) threads(32) {
      let i = block.x * 64;
      let x = load a[i :+ 64];
      let y = load b[i :+ 64];
      store o[i :+ 64] = fma(x, y, load c[i :+ 64]);
      store h[i :+ 64] = fma(cast<f16>(x), cast<f16>(y), 0.5);
    }`,
    set: { N: 100 },
  },
  // A copy into a shared slice that starts mid-word (5 u4 in): each run element by element; rows of 35
  // bytes leave global runs misaligned too, and the last block's runs cross the tensor's edge.
  {
    name: 'copies_u4_shared_offset',
    source: `kernel copies_at(x: u4[R, C], y: u4[R, C]) grid(cdiv(R, 8), cdiv(C, 32)) threads(32) {
      let s = shared<u4>[8, 64];
      copy_async s[0 :+ 8, 5 :+ 32] <- x[block.x * 8 :+ 8, block.y * 32 :+ 32];
      wait_async(0);
      sync;
      store y[block.x * 8 :+ 8, block.y * 32 :+ 32] = load s[0 :+ 8, 5 :+ 32];
    }`,
    set: { R: 13, C: 70 },
    seed: 29,
  },
  // Integers of 8 bits or fewer to floats (the GPU lowering's exponent-field conversion), every code.
  ...['u1', 'u3', 'i3', 'i5', 'u8', 'i8'].map((W) => ({
    name: `int_casts_${W}`,
    source: `kernel int_casts<W: dtype = u8>(x: W[N], y: f32[N], z: f16[N]) grid(cdiv(N, 64)) threads(32) {
      let v = load x[block.x * 64 :+ 64];
      store y[block.x * 64 :+ 64] = cast<f32>(v) * 1024.0;
      store z[block.x * 64 :+ 64] = cast<f16>(v);
    }`,
    set: { W, N: 1000 },
    seed: 19,
  })),
  // Minifloats to f32, every code, compared bit for bit (as i32): CUDA decodes them by arithmetic at
  // every width, whose subnormal codes pass through f32 subnormals (kept on CUDA without -ftz; WebGPU,
  // which may flush them, as SwiftShader does, keeps its tables).
  ...['f3e1m1', 'f4e1m2', 'f4e3m0', 'f4e2m1', 'f5e2m2', 'f6e3m2', 'f7e3m3', 'f8e4m3', 'f8e5m2'].map((W) => ({
    name: `minifloat_casts_${W}`,
    source: `kernel minifloat_casts<W: dtype = f6e3m2>(x: W[N], y: i32[N], z: f16[N]) grid(cdiv(N, 64)) threads(32) {
      let v = load x[block.x * 64 :+ 64];
      store y[block.x * 64 :+ 64] = view<i32>(cast<f32>(v));
      store z[block.x * 64 :+ 64] = cast<f16>(v);
    }`,
    set: { W, N: 1000 },
    seed: 29,
  })),
  // 4-bit minifloats to f32 in a product sum over codes unpacked from shared words (as in the GEMV with
  // several rows per thread), which CUDA takes by byte lookups: rows times distinct powers of two, so
  // that every sum is exact and compared bit for bit (as i32), every code at every place of its word.
  ...['f4e2m1', 'f4e1m2', 'f4e3m0'].map((W) => ({
    name: `lookup_casts_${W}`,
    source: `kernel lookup_casts<W: dtype = f4e2m1>(w: W[32, N], y: i32[N]) grid(cdiv(N, 64)) threads(32) {
      let sw = shared<W>[32, 64];
      copy_async sw[0 :+ 32, 0 :+ 64] <- w[0 :+ 32, block.x * 64 :+ 64];
      wait_async(0);
      sync;
      let v = cast<f32>(load sw[0 :+ 32, 0 :+ 64] @ (local(8, 1) * spatial(4, 8) * local(1, 8)));
      let a = view<f32>((iota<i32>[32](0) % 8 + 124) << 23);
      store y[block.x * 64 :+ 64] = view<i32>(sum(unsqueeze(a, 1) * v, axis=0));
    }`,
    set: { W, N: 130 },
    seed: 31,
  })),
  // Casts of codes with a constant added or taken off, which the GPU lowering folds into the
  // conversion's own subtraction where every result is exact (u8 - 300 in f32, i4 + 3 in f16, u8 - 200
  // in bf16) and leaves as two operations where not (u8 - 300 in bf16: not every result is a bf16).
  {
    name: 'biased_casts',
    source: `kernel biased_casts(x: u8[N], q: i4[N], y: f32[N], z: f16[N], u: bf16[N], v: bf16[N]) grid(cdiv(N, 64)) threads(32) {
      store y[block.x * 64 :+ 64] = cast<f32>(load x[block.x * 64 :+ 64]) - 300.0;
      store z[block.x * 64 :+ 64] = cast<f16>(load q[block.x * 64 :+ 64]) + 3.0;
      store u[block.x * 64 :+ 64] = cast<bf16>(load x[block.x * 64 :+ 64]) - 200.0;
      store v[block.x * 64 :+ 64] = cast<bf16>(load x[block.x * 64 :+ 64]) - 300.0;
    }`,
    set: { N: 300 },
    seed: 23,
  },
  // Runs of whole words: loads and stores by words where aligned and inside, per element elsewhere.
  ...([['u3', 64], ['u3', 70], ['i2', 64], ['f16', 64], ['f4e2m1', 66]] as const).map(([W, N]) => ({
    name: `runs_${W}_${N}`,
    source: `kernel runs<W: dtype = u8>(x: W[M, N], y: W[M, N]) grid(cdiv(M, 8)) threads(16) {
      store y[block.x * 8 :+ 8, 0 :+ 64] = load x[block.x * 8 :+ 8, 0 :+ 64];
    }`,
    set: { W, M: 20, N },
    seed: 13,
  })),
  // More blocks than one dispatch may have (65,535 per dimension; 7 here, on WebGPU): the grid is split.
  {
    name: 'grid_split',
    source: `kernel grid_split(x: i32[N, M], y: i32[N, M]) grid(N, M) threads(32) {
      store y[block.x :+ 1, block.y :+ 1] = load x[block.x :+ 1, block.y :+ 1] + block.x * 100 + block.y;
    }`,
    set: { N: 23, M: 9 },
    maxWorkgroupsPerDimension: 7,
  },
  // The generator's GPU form for small M (a block splits K over its threads; broadcasts in registers),
  // with N not a multiple of the tile, a group size below the default K tile, and zero points.
  ...([['u4', 32, null, 100], ['u3', 64, null, 70], ['f4e2m1', 32, null, 40], ['i8', 64, null, 33], ['u2', 16, 'u4', 130]] as const).map(([w, G, zero, N]) => ({
    name: `dequant_gemv_gpu_${w}${zero ? `_z${zero}` : ''}`,
    source: dequantGemm({ weight: w, groupSize: G, activation: 'f16', m: 1, target: 'gpu', zeroPoint: zero }).source,
    set: { M: 2, K: 4 * G, N },
  })),
  // The GEMV over minifloats of 5 to 8 bits, which CUDA decodes by arithmetic and WebGPU from tables.
  ...['f6e3m2', 'f8e4m3', 'f8e5m2'].map((w) => ({ name: `dequant_gemv_gpu_${w}`, source: dequantGemm({ weight: w, groupSize: 32, activation: 'f16', m: 1, target: 'gpu' }).source, set: { M: 2, K: 128, N: 70 } })),
  // The GEMV with several rows of each K tile per thread (rowsPerThread): integer codes as 1 + code / 2^b
  // from their bits, the zero off the row sums; runs of 8 codes (24 bits of u3, read in pieces), N not
  // a multiple of the 64-column tile, signed codes, zero points, a minifloat, WebGPU's direct form; 2-
  // and 4-bit codes by byte permutations on CUDA (four codes of a word per shift and mask).
  ...([['u4', 128, null, 8, 130, true], ['u3', 64, 'u3', 8, 70, true], ['i4', 32, null, 4, 100, true], ['f6e3m2', 32, null, 8, 70, true], ['u4', 64, null, 8, 100, false], ['u2', 64, 'u2', 8, 70, true], ['i2', 32, null, 8, 40, true]] as const).map(([w, G, zero, rows, N, staged]) => ({
    name: `dequant_gemv_gpu_${w}${zero ? `_z${zero}` : ''}_rows${rows}${staged ? '' : '_direct'}`,
    source: dequantGemm({ weight: w, groupSize: G, activation: 'f16', m: 1, target: 'gpu', zeroPoint: zero, rowsPerThread: rows, asyncCopies: staged }).source,
    set: { M: 2, K: 2 * G, N },
  })),
  // And several rows of A per block (M = 3 and 2 as tuned for; 5 rows make a block with rows past M):
  // the weights decoded once, each row's products summed from the same registers.
  ...([['u4', 128, null, 3, true], ['u3', 64, 'u3', 2, false]] as const).map(([w, G, zero, m, staged]) => ({
    name: `dequant_gemv_gpu_${w}${zero ? `_z${zero}` : ''}_rows8_m${m}${staged ? '' : '_direct'}`,
    source: dequantGemm({ weight: w, groupSize: G, activation: 'f16', m, target: 'gpu', zeroPoint: zero, rowsPerThread: 8, asyncCopies: staged }).source,
    set: { M: 5, K: 2 * G, N: 70 },
  })),
  // Its WebGPU form: tiles straight from global memory into registers (WebGPU has no asynchronous copies).
  { name: 'dequant_gemv_gpu_u4_direct', source: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', m: 1, target: 'gpu', asyncCopies: false }).source, set: { M: 2, K: 128, N: 100 } },
  { name: 'dequant_gemm_gpu_tiles', source: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', m: 16, target: 'gpu' }).source, set: { M: 17, K: 64, N: 40 } },
  // The same tiles with their f16 (bf16) dots on MMAs, as CUDA runs them.
  // (One block: SwiftShader crashes more often the more blocks run this kernel's many barriers.)
  { name: 'dequant_gemm_gpu_mma_u4', source: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', m: 16, target: 'gpu' }).source, set: { M: 13, K: 64, N: 40 }, mma: true },
  // Eight warps (the threads option): one 16x8 atom column per warp.
  { name: 'dequant_gemm_gpu_mma_u4_w8', source: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', m: 16, target: 'gpu', threads: 256 }).source, set: { M: 13, K: 64, N: 40 }, mma: true },
  // Signed codes to f16 pairs by the magic-number conversion (the sign bit flipped, then 1024 + 8 off).
  { name: 'dequant_gemm_gpu_mma_i4', source: dequantGemm({ weight: 'i4', groupSize: 32, activation: 'f16', m: 16, target: 'gpu' }).source, set: { M: 13, K: 32, N: 40 }, mma: true },
  // Finite minifloats to f16 pairs by moving their fields and one f16x2 multiplication (exponent
  // re-bias), every code drawn (subnormal codes included); bf16 the same way, below.
  ...['f4e2m1', 'f6e2m3'].map((w) => ({ name: `dequant_gemm_gpu_mma_${w}`, source: dequantGemm({ weight: w, groupSize: 32, activation: 'f16', m: 16, target: 'gpu' }).source, set: { M: 13, K: 32, N: 40 }, mma: true })),
  // Scales applied to the weights: each f16 pair of dequantized weights times its scales, rounded once
  // (mul.rn.f16x2 on CUDA; in f32 with a software rounding in the emulation), one accumulator.
  ...([['u4', 'rows'], ['f4e2m1', 'fragments']] as const).map(([w, order]) => ({
    name: `dequant_gemm_gpu_mma_${w}_sw${order === 'fragments' ? '_frag' : ''}`,
    source: dequantGemm({ weight: w, groupSize: 32, activation: 'f16', m: 16, target: 'gpu', applyScales: 'weights', weightOrder: order }).source,
    set: { M: 13, K: 64, N: 40 },
    mma: true,
  })),
  // And with zero points: each weight's code less its group's zero point (exact in f16), times the scale.
  { name: 'dequant_gemm_gpu_mma_u4_sw_zu8_frag', source: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', zeroPoint: 'u8', m: 16, target: 'gpu', applyScales: 'weights', weightOrder: 'fragments' }).source, set: { M: 13, K: 64, N: 70 }, mma: true },
  // FP8: f8e4m3 re-biased like the finite minifloats, its NaN code (S.1111.111) made an f16 NaN after;
  // f8e5m2 shifted into f16's top byte (infinities and NaNs included). Every code drawn.
  ...['f8e4m3', 'f8e5m2'].map((w) => ({ name: `dequant_gemm_gpu_mma_${w}`, source: dequantGemm({ weight: w, groupSize: 32, activation: 'f16', m: 16, target: 'gpu' }).source, set: { M: 13, K: 32, N: 40 }, mma: true })),
  // The FP8 codes the random inputs leave out (NaN, and f8e5m2's infinities): u8 tensors draw all 256
  // codes, viewed as FP8 and cast to f16 (or bf16) for the MMA, so NaN and inf reach the outputs where
  // CUDA and the VM must agree on them.
  ...(['f16', 'bf16'] as const).flatMap((t) => ['f8e4m3', 'f8e5m2'].map((w) => ({
    name: `mma_specials_${t === 'f16' ? '' : 'bf16_'}${w}`,
    source: `kernel mma_specials_${t === 'f16' ? '' : 'bf16_'}${w}(a: ${t}[M, K], w: u8[K, N], c: f32[M, N]) grid(1) threads(128) {
      store c[0 :+ 16, 0 :+ 64] = dot(load a[0 :+ 16, 0 :+ 32], cast<${t}>(view<${w}>(load w[0 :+ 32, 0 :+ 64])));
    }`,
    set: { M: 16, K: 32, N: 64 },
    mma: true,
  }))),
  // bf16 activations: integer codes of 7 bits or fewer by the magic number 128 (bf16 bits 0x4300) and
  // one bf16x2 subtraction; 8-bit codes through f32. Split along K, so that C is f32 and compared to
  // the VM within f32's tolerance, not bf16's (where a code off by one could hide).
  ...['u4', 'i7', 'u7', 'u8', 'i8'].map((w) => ({ name: `dequant_gemm_gpu_mma_${w}_bf16`, source: dequantGemm({ weight: w, groupSize: 32, activation: 'bf16', m: 16, target: 'gpu', splitK: 2 }).source, set: { M: 13, K: 64, N: 40 }, mma: true })),
  // Every FP8 code (u8 viewed as FP8) cast to f16 and bf16, their bits compared exactly: CUDA decodes by
  // arithmetic (NaN codes to the positive quiet NaN, as the casts give them), WebGPU by tables.
  ...['f8e4m3', 'f8e5m2'].map((w) => ({
    name: `fp8_cast_bits_${w}`,
    source: `kernel fp8_cast_bits_${w}(x: u8[N], y: u16[N], z: u16[N]) grid(cdiv(N, 64)) threads(32) {
      let v = view<${w}>(load x[block.x * 64 :+ 64]);
      store y[block.x * 64 :+ 64] = view<u16>(cast<f16>(v));
      store z[block.x * 64 :+ 64] = view<u16>(cast<bf16>(v));
    }`,
    set: { N: 1000 },
  })),
  { name: 'dequant_gemm_gpu_mma_f6e3m2_bf16', source: dequantGemm({ weight: 'f6e3m2', groupSize: 32, activation: 'bf16', m: 16, target: 'gpu' }).source, set: { M: 13, K: 32, N: 40 }, mma: true },
  // bf16 from minifloats on CUDA: fields in bf16's places, one bf16x2 multiplication by 2^(127 - bias)
  // (subnormal codes through bf16 subnormals), FP8's infinities and NaNs fixed up after; WebGPU converts
  // through f32 (dequant_gemm_gpu_mma_f6e3m2_bf16 checks that). Split along K, f32 C, as above; every
  // finite code drawn (the specials: mma_specials_bf16_*).
  ...([['f4e2m1', 'rows'], ['f4e2m1', 'fragments'], ['f6e2m3', 'rows'], ['f8e4m3', 'rows'], ['f8e5m2', 'fragments']] as const).map(([w, order]) => ({
    name: `dequant_gemm_gpu_mma_${w}_bf16${order === 'fragments' ? '_frag' : ''}`,
    source: dequantGemm({ weight: w, groupSize: 32, activation: 'bf16', m: 16, target: 'gpu', splitK: 2, weightOrder: order }).source,
    set: { M: 13, K: 64, N: 40 },
    cudaOnly: true,
  })),
  // Weights in fragment order (src/kernels/fragment_order.ts): each thread reads its B fragments' codes
  // as whole words; widths of 4 and 2 bits put each f16 pair's codes 16 bits apart, 3 bits in order.
  ...['u4', 'u2', 'u3', 'f4e2m1'].map((w) => ({
    name: `dequant_gemm_gpu_mma_${w}_frag`,
    source: dequantGemm({ weight: w, groupSize: 32, activation: 'f16', m: 16, target: 'gpu', weightOrder: 'fragments' }).source,
    set: { M: 13, K: 64, N: w === 'u4' ? 100 : 40 },
    mma: true,
  })),
  // M of 8 or fewer: the weights as the MMA's A operand (C^T = W^T . A^T, tiles of 8 rows of A, the
  // accumulators [BN, BM] stored transposed). In fragment order (the A fragments two B fragments
  // apart), one row of A and N past the last unit, u3's bytes, minifloats, two blocks of M; in rows with
  // u8 zero points (the row sums of A spread along the accumulators' columns); in panels, split along
  // K; scales on the weights; bf16; the WebGPU form (no asynchronous copies); 16 rows of A.
  ...([
    ['u4_frag_m1', 'u4', { m: 1, weightOrder: 'fragments' }, { M: 1, K: 64, N: 100 }],
    // Groups of 128: K tiles of 128 rows (the default with the weights as A), three of them.
    ['u4_frag_g128', 'u4', { m: 1, weightOrder: 'fragments', groupSize: 128 }, { M: 3, K: 384, N: 70 }],
    ['u3_frag_m4', 'u3', { m: 4, weightOrder: 'fragments' }, { M: 5, K: 64, N: 40 }],
    // Signed 4-bit codes: pairs taken 4 bits up carry their sign flip there too (codesWord).
    ['i4_frag_m8', 'i4', { m: 8, weightOrder: 'fragments' }, { M: 8, K: 64, N: 70 }],
    ['f4e2m1_frag_m8', 'f4e2m1', { m: 8, weightOrder: 'fragments' }, { M: 13, K: 32, N: 64 }],
    ['u4_zu8_m8', 'u4', { m: 8, zeroPoint: 'u8' }, { M: 13, K: 64, N: 70 }],
    ['u3_panels_splitk_m6', 'u3', { m: 6, weightOrder: 'panels', splitK: 2 }, { M: 7, K: 128, N: 100 }],
    ['u4_sw_zu4_frag_m8', 'u4', { m: 8, applyScales: 'weights', zeroPoint: 'u4', weightOrder: 'fragments' }, { M: 9, K: 64, N: 70 }],
    ['i8_bf16_m8', 'i8', { m: 8, activation: 'bf16' }, { M: 8, K: 64, N: 40 }],
    ['u2_direct_m5', 'u2', { m: 5, asyncCopies: false }, { M: 6, K: 64, N: 72 }],
    // 16 rows of A: two atoms of 8 along the accumulators' columns.
    ['u4_frag_bm16', 'u4', { m: 16, weightOrder: 'fragments', weightOperand: 'a' }, { M: 20, K: 64, N: 70 }],
  ] as const).map(([name, w, o, set]) => ({
    name: `dequant_gemm_gpu_mma_wa_${name}`,
    source: dequantGemm({ weight: w, groupSize: 32, activation: 'f16', target: 'gpu', ...o }).source,
    set,
    mma: true,
  })),
  // 64-row tiles (warps 2 by 2): each thread's 16 codes of 5 bits per unit are five 16-bit halves
  // (the 16-row tiles above read u3's 8 codes as three bytes).
  {
    name: 'dequant_gemm_gpu_mma_u5_frag64',
    source: dequantGemm({ weight: 'u5', groupSize: 32, activation: 'f16', m: 64, target: 'gpu', weightOrder: 'fragments' }).source,
    set: { M: 13, K: 64, N: 40 },
    mma: true,
  },
  // 64-row tiles in fragment order at 2 bits: the pairs of each word's four byte positions share a
  // shift (codesWord's pairs taken 0, 2, 4 or 6 bits up).
  {
    name: 'dequant_gemm_gpu_mma_u2_frag64',
    source: dequantGemm({ weight: 'u2', groupSize: 32, activation: 'f16', m: 64, target: 'gpu', weightOrder: 'fragments' }).source,
    set: { M: 13, K: 64, N: 70 },
    mma: true,
  },
  // 64-row tiles reading u8 codes in rows, which the lowering swizzles (readSwizzle): each element's
  // address is the thread's part exclusive-or the local's (splitSwizzle), as the two parts do not add.
  {
    name: 'dequant_gemm_gpu_mma_u8_rows64',
    source: dequantGemm({ weight: 'u8', groupSize: 32, activation: 'f16', m: 64, target: 'gpu' }).source,
    set: { M: 13, K: 64, N: 40 },
    mma: true,
  },
  ...['u1', 'u2', 'i4', 'u8', 'f8e4m3'].map((w) => ({
    name: `dequant_gen_${w}`,
    source: dequantGemm({ weight: w, groupSize: 32, activation: 'f16', m: 3 }).source,
    set: { M: 3, K: 64, N: 40 },
  })),
  // Split-K: blocks along K add their partial tiles into an f32 C (three blocks over four groups: the
  // last has one group), on MMAs; and the GEMV split in two.
  // Scales on the weights, split along K: C is f32, so the f16 rounding of each scaled weight is checked
  // to f32's tolerance (the WebGPU emulation of mul.rn.f16x2 once truncated the products, taking f16
  // codes of inexact f32 values, which the f16 outputs of the other cases hid).
  { name: 'dequant_gemm_gpu_mma_u4_sw_splitk', source: dequantGemm({ weight: 'u4', groupSize: 64, activation: 'f16', m: 16, target: 'gpu', asyncCopies: false, splitK: 2, applyScales: 'weights' }).source, set: { M: 17, K: 256, N: 72 }, mma: true },
  { name: 'dequant_gemm_gpu_mma_u4_splitk', source: dequantGemm({ weight: 'u4', groupSize: 16, activation: 'f16', m: 16, target: 'gpu', splitK: 3 }).source, set: { M: 13, K: 64, N: 40 }, mma: true },
  { name: 'dequant_gemv_gpu_u4_splitk', source: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f16', m: 1, target: 'gpu', splitK: 2 }).source, set: { M: 2, K: 128, N: 100 } },
  // Weights in panels of the N tile (a K tile is one run of memory, loaded flat and reshaped): the
  // 8-rows form staged, with u3 zero points, N past the last whole panel; and the direct form (WebGPU's)
  // split along K.
  { name: 'dequant_gemv_gpu_u3_panels_rows8', source: dequantGemm({ weight: 'u3', groupSize: 64, activation: 'f16', zeroPoint: 'u3', m: 2, target: 'gpu', rowsPerThread: 8, weightOrder: 'panels' }).source, set: { M: 3, K: 128, N: 100 } },
  { name: 'dequant_gemv_gpu_u5_panels_direct_splitk', source: dequantGemm({ weight: 'u5', groupSize: 32, activation: 'bf16', m: 1, target: 'gpu', asyncCopies: false, splitK: 2, weightOrder: 'panels' }).source, set: { M: 2, K: 128, N: 70 } },
  // The MMA tiles (M over 4) read the same panels: each K tile copied flat into shared memory and read
  // as the [BK, BN] tile it is. u3 with u8 zero points, N past the last whole panel; u4 split along K in
  // the WebGPU form (no asynchronous copies).
  { name: 'dequant_gemm_gpu_mma_u3_panels', source: dequantGemm({ weight: 'u3', groupSize: 64, activation: 'f16', zeroPoint: 'u8', m: 16, target: 'gpu', weightOrder: 'panels' }).source, set: { M: 20, K: 128, N: 100 }, mma: true },
  { name: 'dequant_gemm_gpu_mma_u4_panels_splitk', source: dequantGemm({ weight: 'u4', groupSize: 64, activation: 'f16', m: 16, target: 'gpu', asyncCopies: false, splitK: 2, weightOrder: 'panels' }).source, set: { M: 17, K: 256, N: 72 }, mma: true },
  {
    // 53 KB of shared memory, beyond CUDA's 48 KB of static shared memory: declared extern and given at
    // launch (first and last rows used). CUDA only: WebGPU devices offer 16 to 48 KiB of workgroup storage.
    name: 'shared_dynamic',
    source: `kernel shared_dynamic(x: f32[N], y: f32[N]) grid(cdiv(N, 128)) threads(128) {
      let s = shared<f32>[104, 128];
      let t = load x[block.x * 128 :+ 128];
      store s[0, 0 :+ 128] = t;
      store s[103, 0 :+ 128] = t * 2.0;
      sync;
      store y[block.x * 128 :+ 128] = load s[0, 0 :+ 128] + load s[103, 0 :+ 128];
    }`,
    set: { N: 300 },
    cudaOnly: true,
  },
  { name: 'accumulate', source: ACCUMULATE, set: { B: 40, N: 37 }, seed: 41 },
  {
    // f32 subnormals added from 40 blocks: exact in every order, so only a flush shows (CUDA's float
    // atomicAdd on global memory flushes them; the lowering's compare-and-swap loop does not).
    name: 'accumulate_subnormals',
    source: `kernel accumulate_subnormals(x: f32[B, N], t: f32[N]) grid(B) threads(32) {
      store t[0 :+ 64] += load x[block.x, 0 :+ 64] * 1e-40;
    }`,
    set: { B: 40, N: 50 },
    cudaOnly: true,
  },
];

/**
 * Every kernel of the GPU benchmark (bench/gpu_kernels.ts) at small shapes (smallSizes), checked as CUDA
 * C (on the CPU in the tests, and on the GPU by scripts/gpu-check.sh): the benchmark times only kernels
 * that agree with the VM. Variants that differ only in their launch bounds (`cuda` options) are the
 * same code and are left out.
 */
export const benchCases: readonly GpuCase[] = benchKernels()
  .filter((k) => Object.keys(k.cuda).length === 0)
  .map((k) => ({ name: `bench_${k.name}`, source: k.source, kernel: k.sequence?.kernel, set: { ...smallSizes(k), ...k.scalars }, cudaOnly: true }));
