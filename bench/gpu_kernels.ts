// The kernels of the GPU benchmark (issues 5 and 9), as declarations: tilebit's dequant GEMM for u4, u3,
// u2, f4e2m1 and f6e3m2 weights (f16 activations and scales, group 128) at (M, K, N) = (1, 8192, 28672),
// (16, 8192, 8192) and (4096, 8192, 8192) with its tuning variants, flash attention (S = 2048, D = 64,
// 16 heads, causal) and decode attention (whole, and split over the cache). bench/gpu_bundle.ts writes
// them out for the GPU machine; test/support/gpu_cases.ts runs each at small shapes (smallSizes) against
// the VM, so that every kernel the benchmark times is also checked.

import type { CudaOptions } from '../backends/cuda/emit.ts';
import { dtype as parseDType } from '../ir/dtype.ts';
import { decodeAttention, flashAttention } from '../src/kernels/attention.ts';
import { dequantGemm } from '../src/kernels/dequant_gemm.ts';

export interface BenchKernel {
  readonly name: string;
  readonly kind: 'gemm' | 'attention' | 'decode';
  readonly source: string;
  /** Sizes and scalars of the benchmark's launch. */
  readonly sizes: Readonly<Record<string, number>>;
  readonly scalars: Readonly<Record<string, number>>;
  /** Bytes of weights (GEMM) or of q, k, v, o (attention): what bandwidth is reported against. */
  readonly bytes: number;
  readonly flops: number;
  /** false for CUDA only; true for the same source as WGSL; or the WebGPU form's source where it differs (no async copies there). */
  readonly wgsl: boolean | string;
  /**
   * For a kernel of a sequence (split decode: NAME_partial, then NAME_combine), the sequence's name and
   * this kernel's name in the source: gpu_peers.py reports the sum of its kernels' times as one more row.
   */
  readonly sequence?: { readonly name: string; readonly kernel: string };
  readonly cuda: CudaOptions;
}

/** Every kernel of the benchmark; `small`: the main kernels only, at tiny shapes (checking the bundle on a CPU driver). */
export function benchKernels(small = false): BenchKernel[] {
  const out: BenchKernel[] = [];
  const add = (name: string, kind: BenchKernel['kind'], source: string, sizes: Record<string, number>, scalars: Record<string, number>, bytes: number, flops: number, wgsl: boolean | string = true, sequence?: BenchKernel['sequence'], cuda: CudaOptions = {}): void => {
    out.push({ name, kind, source, sizes, scalars, bytes, flops, wgsl, sequence, cuda });
  };
  for (const weight of ['u4', 'u3', 'u2', 'f4e2m1', 'f6e3m2']) {
    for (const [M, K, N] of small ? ([[1, 256, 512]] as const) : ([[1, 8192, 28672], [16, 8192, 8192]] as const)) {
      const bits = parseDType(weight).bits;
      // The generator's GPU shapes (M = 1: K split over a block's threads; M = 16: 64x64 tiles) and, for
      // comparison, its CPU shapes, which were all this bundle had before.
      for (const target of ['gpu', 'cpu'] as const) {
        const o = { weight, groupSize: 128, activation: 'f16', m: M, target } as const;
        // WGSL: the WebGPU form (without asynchronous copies) where it differs.
        add(`gemm_${weight}_m${M}_n${N}${target === 'cpu' ? '_cputiles' : ''}`, 'gemm', dequantGemm(o).source, { M, K, N }, {}, Math.ceil((K * N * bits) / 8), 2 * M * K * N, dequantGemm({ ...o, asyncCopies: false }).source);
      }
    }
  }
  // Tile variants for tuning, u4 only: pipeline depths, the GEMV's K tile at M = 1, narrower N tiles (more blocks) at M = 16.
  if (!small) {
    for (const [M, N, extra, tag] of [
      [1, 28672, { stages: 2 }, 's2'], [1, 28672, { stages: 6 }, 's6'], [1, 28672, { blockK: 64 }, 'bk64'],
      [16, 8192, { stages: 2 }, 's2'], [16, 8192, { stages: 4 }, 's4'], [16, 8192, { blockN: 32, stages: 4 }, 'bn32s4'],
      // M = 1 on the tensor cores: the 16-row MMA tiles (15 rows padding), whose dequantization is one
      // sub.f16x2 per two weights, against the GEMV's f32 arithmetic (bound by instruction issue).
      [1, 28672, { m: 16 }, 'mma'],
      // Eight warps per block: more warps per SM for the small grid of M = 16, fewer registers per thread at M = 4096.
      [16, 8192, { threads: 256 }, 'w8'], [4096, 8192, { threads: 256 }, 'w8'],
      // Split-K: 128 output tiles at M = 16 are too few blocks for 132 SMs; 4 and 8 blocks along K add
      // into an f32 C (zeroed before each launch, inside the timing). And the GEMV split in 2.
      [16, 8192, { splitK: 4 }, 'splitk4'], [16, 8192, { splitK: 8 }, 'splitk8'], [16, 8192, { splitK: 16 }, 'splitk16'], [16, 8192, { splitK: 4, blockN: 32 }, 'bn32splitk4'],
      [1, 28672, { splitK: 2 }, 'splitk2'],
      // Tiles larger than 64x64, which need more than the 48 KB of static shared memory (dynamic shared
      // memory; 57 to 127 KB): 128x64 and 64x128 on eight warps (160 registers), 128x128 (251).
      [4096, 8192, { blockM: 128, threads: 256 }, 'bm128w8'], [4096, 8192, { blockN: 128, threads: 256 }, 'bn128w8'],
      [4096, 8192, { blockM: 128, blockN: 128, threads: 256, stages: 3 }, 't128w8'],
      // Weights in fragment order (src/kernels/fragment_order.ts): each thread reads its B fragments'
      // codes as one 64- or 32-bit word per 16 rows of K instead of one byte per code (M = 4096: below).
      [16, 8192, { weightOrder: 'fragments' }, 'frag'],
      [16, 8192, { weightOrder: 'fragments', splitK: 4 }, 'fragsplitk4'], [1, 28672, { m: 16, weightOrder: 'fragments' }, 'mmafrag'],
      // And the scales multiplied into the f16 weights before the dot (one accumulator: M = 16 46
      // registers instead of 56).
      [16, 8192, { weightOrder: 'fragments', applyScales: 'weights' }, 'fragsw'], [16, 8192, { weightOrder: 'fragments', applyScales: 'weights', splitK: 4 }, 'fragswsplitk4'],
      [1, 28672, { m: 16, weightOrder: 'fragments', applyScales: 'weights' }, 'mmafragsw'],
      // M = 1 with the weights as the MMA's A operand (C^T = W^T . A^T: 8-row tiles, 7 rows padding,
      // half the MMAs of the 16-row tiles, 40 registers instead of 45); split along K for more blocks
      // (448 output tiles); scales on the weights; K tiles of 64 rows (the default is 128 there). And at
      // M = 16 (two atoms of 8 rows), for comparison.
      [1, 28672, { weightOrder: 'fragments' }, 'wafrag'], [1, 28672, { weightOrder: 'fragments', splitK: 4 }, 'wafragsplitk4'],
      [1, 28672, { weightOrder: 'fragments', applyScales: 'weights' }, 'wafragsw'], [1, 28672, { weightOrder: 'fragments', blockK: 64 }, 'wafragbk64'],
      [16, 8192, { weightOrder: 'fragments', weightOperand: 'a' }, 'wafrag'],
      // The larger tiles with both: 105 registers on eight warps, two blocks per SM.
      [4096, 8192, { blockM: 128, threads: 256, weightOrder: 'fragments', applyScales: 'weights' }, 'bm128w8fragsw'],
      [4096, 8192, { blockN: 128, threads: 256, weightOrder: 'fragments', applyScales: 'weights' }, 'bn128w8fragsw'],
      // 128x128 on eight warps (each 64x32: 16 MMAs per 16 of K against 8 in the 64x64 tiles), in
      // fragment order: 4.75 compute PTX per MMA against 6.2 (185 registers, one block per SM), and
      // with the scales on the weights (121 registers, two blocks per SM).
      [4096, 8192, { blockM: 128, blockN: 128, threads: 256, stages: 3, weightOrder: 'fragments' }, 't128w8frag'],
      [4096, 8192, { blockM: 128, blockN: 128, threads: 256, stages: 3, weightOrder: 'fragments', applyScales: 'weights' }, 't128w8fragsw'],
      // Weights in panels of the 64-column N tile (one file for every form): each K tile one 16-byte-copied
      // run, read from shared memory as in rows.
      [16, 8192, { weightOrder: 'panels' }, 'panels'], [4096, 8192, { weightOrder: 'panels' }, 'panels'],
      // The activation tile in plain rows, as before it was swizzled: ldmatrix's 8 rows of 128 bytes
      // then share their banks (8 wavefronts where 1 would do; TILEBIT_HOST_PROFILE counts them).
      [16, 8192, { swizzle: false }, 'noswizzle'], [4096, 8192, { swizzle: false }, 'noswizzle'],
    ] as const) {
      const source = dequantGemm({ weight: 'u4', groupSize: 128, activation: 'f16', m: M, target: 'gpu', ...extra }).source;
      add(`gemm_u4_m${M}_n${N}_${tag}`, 'gemm', source, { M, K: 8192, N }, {}, (8192 * N) / 2, 2 * M * 8192 * N, false);
    }
  }
  // The GEMV with several rows of each K tile per thread (rowsPerThread): zero and scale once per 8 rows,
  // integer codes as 1 + code / 2^b from their bits; about 4 instead of 7 operations per weight (bound by
  // instruction issue on the H200). As CUDA C and as WGSL (WebGPU's direct form).
  if (!small) {
    const [K, N] = [8192, 28672];
    for (const weight of ['u4', 'u3', 'u2', 'f4e2m1', 'f6e3m2']) {
      const bits = parseDType(weight).bits;
      const o = { weight, groupSize: 128, activation: 'f16', m: 1, target: 'gpu', rowsPerThread: 8 } as const;
      add(`gemm_${weight}_m1_n${N}_rows8`, 'gemm', dequantGemm(o).source, { M: 1, K, N }, {}, Math.ceil((K * N * bits) / 8), 2 * K * N, dequantGemm({ ...o, asyncCopies: false }).source);
    }
    // 8 rows per thread give 1792 warps at this N (13.6 per SM); 4 rows, or 8 split along K in 2, give 3584,
    // as the default GEMV has.
    const u4 = { weight: 'u4', groupSize: 128, activation: 'f16', m: 1, target: 'gpu' } as const;
    add(`gemm_u4_m1_n${N}_rows4`, 'gemm', dequantGemm({ ...u4, rowsPerThread: 4 }).source, { M: 1, K, N }, {}, (K * N) / 2, 2 * K * N, false);
    add(`gemm_u4_m1_n${N}_rows8splitk2`, 'gemm', dequantGemm({ ...u4, rowsPerThread: 8, splitK: 2 }).source, { M: 1, K, N }, {}, (K * N) / 2, 2 * K * N, false);
    // Split-K across blocks, as CUDA C and as WGSL: without asynchronous copies (WebGPU) a thread has one
    // K tile's loads in flight, so more blocks are the way to more bytes in flight (a plain WGSL GEMV split
    // 16 ways ran at 0.106 ms on an H100, against 0.46 for this one unsplit). f32 C, added into.
    for (const [extra, tag] of [[{ splitK: 4 }, 'splitk4'], [{ splitK: 8 }, 'splitk8'], [{ splitK: 16 }, 'splitk16'], [{ rowsPerThread: 8, splitK: 4 }, 'rows8splitk4']] as const) {
      const o = { ...u4, ...extra };
      add(`gemm_u4_m1_n${N}_${tag}`, 'gemm', dequantGemm(o).source, { M: 1, K, N }, {}, (K * N) / 2, 2 * K * N, dequantGemm({ ...o, asyncCopies: false }).source);
    }
    // On the H200 (2026-11-27) the default GEMV's times lined up with the width of its weight copies, not its
    // bytes: u4 and f4e2m1 (rows of 16 bytes per block, 16-byte copies) 0.112 and 0.122 ms, u2 (8-byte)
    // 0.151, u3 (12-byte rows, 4-byte copies) 0.190. The same u3 kernel with 8-byte copies (N tiles of 64)
    // and with 16-byte ones (N tiles of 128), split along K so that both have 1792 blocks, tests that.
    for (const [bn, splitK, tag] of [[64, 4, 'rows8splitk4'], [128, 8, 'rows8bn128splitk8']] as const) {
      const o = { ...u4, weight: 'u3', rowsPerThread: 8, splitK, blockN: bn } as const;
      add(`gemm_u3_m1_n${N}_${tag}`, 'gemm', dequantGemm(o).source, { M: 1, K, N }, {}, (K * N * 3) / 8, 2 * K * N, false);
    }
    // Weights in panels of the N tile (tilebit quantize --order panels): every K tile one run of memory,
    // copied in 16-byte chunks whatever the width; the rest of each kernel as in rows. As CUDA C, and the
    // u3 and u4 ones as WGSL too: there a warp's loads of a K tile become one contiguous run (in rows, 16
    // rows of 32 bytes each for u4), also split along K in 8 for more blocks.
    for (const weight of ['u3', 'u2', 'f6e3m2', 'u4']) {
      const bits = parseDType(weight).bits;
      for (const [extra, tag] of [[{}, 'panels'], [{ rowsPerThread: 8 }, 'rows8panels'], [{ splitK: 8 }, 'panelssplitk8']] as const) {
        const o = { ...u4, weight, weightOrder: 'panels', ...extra } as const;
        const wgsl = ['u3', 'u4'].includes(weight);
        if (tag === 'panelssplitk8' && !wgsl) continue;
        add(`gemm_${weight}_m1_n${N}_${tag}`, 'gemm', dequantGemm(o).source, { M: 1, K, N }, {}, Math.ceil((K * N * bits) / 8), 2 * K * N, wgsl && dequantGemm({ ...o, asyncCopies: false }).source);
      }
    }
    // M = 4 (small-batch decoding): the default GEMV runs a block per row of A, each decoding the same
    // weights; with rows per thread, one block takes all four rows and decodes each weight once.
    add(`gemm_u4_m4_n${N}`, 'gemm', dequantGemm({ ...u4, m: 4 }).source, { M: 4, K, N }, {}, (K * N) / 2, 2 * 4 * K * N, false);
    add(`gemm_u4_m4_n${N}_rows8`, 'gemm', dequantGemm({ ...u4, m: 4, rowsPerThread: 8 }).source, { M: 4, K, N }, {}, (K * N) / 2, 2 * 4 * K * N, false);
    // And the 8-row MMA tiles with the weights as the A operand, in fragment order: each weight decoded
    // once per block for all four rows, on tensor cores. M = 8 in rows: the same tiles (before, 8-row
    // tiles had no MMA: 72 registers and spills).
    add(`gemm_u4_m4_n${N}_wafrag`, 'gemm', dequantGemm({ ...u4, m: 4, weightOrder: 'fragments' }).source, { M: 4, K, N }, {}, (K * N) / 2, 2 * 4 * K * N, false);
    add(`gemm_u4_m8_n${N}`, 'gemm', dequantGemm({ ...u4, m: 8 }).source, { M: 8, K, N }, {}, (K * N) / 2, 2 * 8 * K * N, false);
  }
  // Prefill-sized GEMMs, CUDA only (WGSL has no tensor cores and no f16 here), with the generator's tiles
  // (64x64; larger tiles still need more shared memory for layout conversions than a static allocation has).
  if (!small) {
    const [M, K, N] = [4096, 8192, 8192];
    for (const weight of ['u4', 'u3', 'u2', 'f4e2m1', 'f6e3m2']) {
      const bits = parseDType(weight).bits;
      const source = dequantGemm({ weight, groupSize: 128, activation: 'f16', m: M, target: 'gpu' }).source;
      add(`gemm_${weight}_m${M}_n${N}`, 'gemm', source, { M, K, N }, {}, Math.ceil((K * N * bits) / 8), 2 * M * K * N, false);
      // u3: 191 registers, 2 blocks per SM; asked for 4, 128 registers and no spills (bench/RESULTS.md).
      // Weights in fragment order; and with the scales multiplied into the f16 weights (one accumulator:
      // 107 to 119 registers instead of 130 to 196, four blocks per SM).
      const frag = dequantGemm({ weight, groupSize: 128, activation: 'f16', m: M, target: 'gpu', weightOrder: 'fragments' }).source;
      add(`gemm_${weight}_m${M}_n${N}_frag`, 'gemm', frag, { M, K, N }, {}, Math.ceil((K * N * bits) / 8), 2 * M * K * N, false);
      const fragsw = dequantGemm({ weight, groupSize: 128, activation: 'f16', m: M, target: 'gpu', weightOrder: 'fragments', applyScales: 'weights' }).source;
      add(`gemm_${weight}_m${M}_n${N}_fragsw`, 'gemm', fragsw, { M, K, N }, {}, Math.ceil((K * N * bits) / 8), 2 * M * K * N, false);
      // u4: 130 registers, 3 blocks per SM; asked for 4, 128 registers (12 bytes of spill stores).
      if (weight === 'u4') add(`gemm_${weight}_m${M}_n${N}_fragmb4`, 'gemm', frag, { M, K, N }, {}, Math.ceil((K * N * bits) / 8), 2 * M * K * N, false, undefined, { minBlocksPerSm: 4 });
      if (weight === 'u3') add(`gemm_${weight}_m${M}_n${N}_mb4`, 'gemm', source, { M, K, N }, {}, Math.ceil((K * N * bits) / 8), 2 * M * K * N, false, undefined, { minBlocksPerSm: 4 });
    }
  }
  {
    const [H, S, D] = small ? [1, 64, 64] : [16, 2048, 64];
    const flops = 2 * 2 * H * S * S * D / 2;
    add(`attention_s${S}_d${D}`, 'attention', flashAttention({ headDim: D, causal: true, target: 'gpu' }).source, { H, HKV: H, S, SK: S }, { scale: 1 / Math.sqrt(D) }, 4 * H * S * D * 2, flops,
      flashAttention({ headDim: D, causal: true, target: 'gpu', asyncCopies: false }).source);
    if (!small) {
      // The CPU form (K and V straight from global memory into fragments) and a taller Q tile, CUDA only.
      add(`attention_s${S}_d${D}_direct`, 'attention', flashAttention({ headDim: D, causal: true }).source, { H, HKV: H, S, SK: S }, { scale: 1 / Math.sqrt(D) }, 4 * H * S * D * 2, flops, false);
      add(`attention_s${S}_d${D}_noswizzle`, 'attention', flashAttention({ headDim: D, causal: true, target: 'gpu', swizzle: false }).source, { H, HKV: H, S, SK: S }, { scale: 1 / Math.sqrt(D) }, 4 * H * S * D * 2, flops, false);
    add(`attention_s${S}_d${D}_bq128`, 'attention', flashAttention({ headDim: D, causal: true, target: 'gpu', blockQ: 128 }).source, { H, HKV: H, S, SK: S }, { scale: 1 / Math.sqrt(D) }, 4 * H * S * D * 2, flops, false);
      // Four blocks per SM (128 registers, no spills; 155 and 3 blocks without): 512 blocks in one wave of 132 SMs.
      add(`attention_s${S}_d${D}_mb4`, 'attention', flashAttention({ headDim: D, causal: true, target: 'gpu' }).source, { H, HKV: H, S, SK: S }, { scale: 1 / Math.sqrt(D) }, 4 * H * S * D * 2, flops, false, undefined, { minBlocksPerSm: 4 });
    }
  }

  // Decode attention (one query per head) over a KV cache of 8192 tokens, 32 query and 8 KV heads: a u4
  // cache with per-token f16 scales, and an f16 one. Bytes: the cache (and its scales) read once.
  {
    const [H, HKV, S, D] = small ? [4, 2, 256, 64] : [32, 8, 8192, 64];
    for (const cache of ['u4', 'f16']) {
      const bits = parseDType(cache).bits;
      const bytes = 2 * HKV * S * ((D * bits) / 8 + (cache === 'f16' ? 0 : 2));
      add(`decode_${cache}_s${S}_d${D}`, 'decode', decodeAttention({ headDim: D, cache }).source, { H, HKV, S }, { scale: 1 / Math.sqrt(D) }, bytes, 2 * 2 * H * S * D);
      // Split over the cache (flash-decoding): 32 heads are 32 blocks for 132 SMs; P chunks make 32 P.
      // Each of the two kernels is timed on its own (the harness flushes the L2 before each launch, so
      // the combining kernel reads the partial results from memory: a little pessimistic).
      for (const P of small ? [2] : [4, 16]) {
        const seq = `decode_${cache}_s${S}_d${D}_split${P}`;
        const g = decodeAttention({ headDim: D, cache, splitKV: P, name: seq });
        for (const kernel of g.kernels!) {
          add(kernel, 'decode', g.source, { H, HKV, S }, { scale: 1 / Math.sqrt(D) }, kernel.endsWith('_partial') ? bytes : 0, kernel.endsWith('_partial') ? 2 * 2 * H * S * D : 0, true, { name: seq, kernel });
        }
      }
    }
  }  return out;
}

/**
 * Shapes at which a benchmark kernel is checked against the VM: every size cut down, keeping what its
 * tiles need (K a multiple of the group, M up to a 128-row tile) and leaving partial tiles at the edges
 * (N and the sequence lengths are not multiples of any tile).
 */
export function smallSizes(k: BenchKernel): Record<string, number> {
  const s = k.sizes;
  if (k.kind === 'gemm') return { M: Math.min(s.M!, 128), K: 512, N: 328 };
  if (k.kind === 'attention') return { H: 2, HKV: 2, S: 136, SK: 136 };
  return { H: 4, HKV: 2, S: 300 };
}
