// The dequant-GEMM generator: C[M, N] = A[M, K] . ((W - Z) * S) as readable `.tile` source, for any
// weight type, activation type, scale type, group size and zero-point scheme. Within a group the zero
// point and the scale are the same for a column, so they are applied once to the group's partial
// sums: sum_k a_k (w_k - z) s = s (sum_k a_k w_k - z sum_k a_k). The weights it reads are exactly what
// src/quantize.ts writes.

import { dtype as parseDType } from '../../ir/dtype.ts';
import { symmetricZero } from '../quantize.ts';
import { UNIT_K, UNIT_N, unitsToTile } from './fragment_order.ts';

export interface DequantGemmOptions {
  /** Weight type: iN, uN (N = 1..8) or a minifloat. */
  readonly weight: string;
  /** Activation and output type: f16, bf16 or f32. */
  readonly activation?: string;
  /** Scale type: f16, bf16, f32 or e8m0 (default: the activation type, f16 for f32... see below). */
  readonly scale?: string;
  /** Rows of K per scale. */
  readonly groupSize: number;
  /** Zero points per group of this unsigned type; none means the symmetric zero of the weight type. */
  readonly zeroPoint?: string | null;
  /** The M the kernel is tuned for: 4 or fewer rows get the one-row decode tiles. */
  readonly m?: number;
  /**
   * The target the tiles are shaped for. 'cpu' (wasm, the default): register-blocked dots. 'gpu' (CUDA,
   * WebGPU): for M of 4 or fewer, a GEMV whose block splits K over its threads (see gpuGemv); else
   * output tiles of up to 64 rows (M rounded up to a power of two) by 64 columns, whose dot takes f16 or
   * bf16 operands when the activations are (tensor cores on CUDA).
   */
  readonly target?: 'cpu' | 'gpu';
  /** Tile sizes; defaults depend on m. */
  readonly blockM?: number;
  readonly blockN?: number;
  readonly blockK?: number;
  /**
   * GPU forms: whether the target copies global memory to shared memory asynchronously (CUDA's cp.async;
   * the default). WebGPU does not: there the GEMV loads its tiles straight into registers, since staging
   * them would only add copies and barriers (on an H200 through Dawn: 0.90 ms staged, 0.46 ms direct).
   */
  readonly asyncCopies?: boolean;
  /**
   * GPU tiles: false gives the activation tile in shared memory plain rows (`@ row_major`, for
   * comparison on a GPU); by default the source gives no layout, and the GPU lowering swizzles the tile,
   * which ldmatrix reads, free of bank conflicts (lower_gpu's sharedLayoutFor).
   */
  readonly swizzle?: boolean;
  /**
   * Blocks along K (default 1). With more, each block multiplies about 1/splitK of the groups of K and
   * adds its partial result into C with `store c[...] += ...`, so C is f32 (for every activation type)
   * and must hold zeros (or a bias) before the launch. For small M on large GPUs: the M = 16, N = 8192
   * GEMM has only 128 output tiles, too few blocks for 132 SMs.
   */
  readonly splitK?: number;
  /** GPU forms: threads per block (default 128: four warps). */
  readonly threads?: number;
  /** GPU forms: K tiles in shared memory at once (the copies run STAGES - 1 tiles ahead); default 4 for the GEMV, 3 for the tiles (2 where 3 take over 32 KB). */
  readonly stages?: number;
  /**
   * How the weight codes are stored. 'rows' (the default): W[K, N] row-major, as quantize() writes
   * them. 'fragments': the fragment order of src/kernels/fragment_order.ts, F[K / 16, ceil(N / 64), 32,
   * 32] (toFragmentOrder), in which each thread of the GPU tiles reads the codes of its MMA B fragments
   * as one wide word instead of one code at a time. On GPUs every M then runs on those tiles (16 rows
   * for decode-sized M, not the GEMV); the CPU tiles read the same tensor through the same reshape and
   * permute (gathers), so that one weight file serves every target.
   * 'panels' (every form): P[ceil(N / BN), K * BN], panel p holding columns p * BN
   * .. p * BN + BN - 1 of W row after row (src/kernels/panel_order.ts; the kernel's N tile BN is the
   * panel width), so that a block's K tile is one contiguous run of memory, copied in 16-byte chunks
   * whatever the width of the codes (in rows, a K tile's rows are BN * bits / 8 bytes each: 12 for 3-bit
   * codes at BN = 32, copied 4 bytes at a time). The CPU tiles and the GPU tiles (M over 4) read the
   * same panels where their N tile is the panel width (--bn; 64 by default in both).
   */
  readonly weightOrder?: 'rows' | 'fragments' | 'panels';
  /**
   * Where the GPU tiles apply the scales. 'sums' (the default): once per group, to the partial sums
   * (exact products; two accumulators). 'weights' (f16 or bf16 activations with scales of that type):
   * each dequantized weight is multiplied by its scale in the activation type before the dot, (code -
   * zero) * s rounded once (code - zero is exact in both types, zero points included), as Marlin-style
   * kernels do: one accumulator, so fewer registers, at the cost of one rounding of each weight
   * (relative 2^-11 in f16).
   */
  readonly applyScales?: 'sums' | 'weights';
  /**
   * The GPU GEMV (M of 4 or fewer): rows of each K tile that one thread multiplies (default 1). With
   * more, each thread holds RK rows by 8 columns, sums its rows' products per column first, and applies
   * the zero point and the scale once per RK rows instead of once per weight; integer codes become
   * 1 + code / 2^b by their bits alone (one logic operation per weight; see gpuGemvRows). For M of 2
   * to 4 (`m`), one block takes all those rows of A and decodes each weight once for them. The other
   * forms (CPU, GPU tiles) ignore it, so that one declaration serves every target.
   */
  readonly rowsPerThread?: number;
  /**
   * The GPU tiles with f16 or bf16 activations (tensor cores): which operand of the MMA (m16n8k16) holds
   * the weights. 'b': C = A . W, an atom 16 rows of A by 8 columns of W, so that M is padded to 16.
   * 'a': C^T = W^T . A^T, an atom 16 columns of W by 8 rows of A, each thread's A fragment 8 weights: for
   * M of 8 or fewer, no MMA multiplies padding rows (half the MMAs of 'b' at M <= 8), the activation tile
   * is 8 rows, and the weights' fragments are those of 'b' two atom columns at a time (the same fragment
   * order). Default: 'a' where the tile has 8 rows or fewer (M <= 8), else 'b'. The other forms (CPU
   * tiles, the GPU GEMV, f32 activations) have no MMA and ignore it.
   */
  readonly weightOperand?: 'a' | 'b';
  readonly name?: string;
}

/**
 * How both GPU forms stage W's K tiles in `sw`: a stage's shape, and the copy of K tile `at` (of the
 * block's N tile) into stage `st`. In panels, one flat run of BK * BN codes; in rows, BK rows of BN.
 */
const stagedWeights = (panels: boolean): string => (panels ? 'BK * BN' : 'BK, BN');
const stageWeights = (panels: boolean, st: string, at: string): string => (panels
  ? `copy_async sw[${st}, 0 :+ BK * BN] <- w[n0 / BN, (${at}) * BN :+ BK * BN];`
  : `copy_async sw[${st}, 0 :+ BK, 0 :+ BN] <- w[${at} :+ BK, n0 :+ BN];`);

export class GeneratorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GeneratorError';
  }
}

export interface Generated {
  readonly name: string;
  readonly source: string;
  /** The kernel's parameters in order, for callers that bind tensors by name. */
  readonly params: readonly string[];
  /**
   * When the source holds several kernels: their names, in the order they run (the tensors of `params`
   * pass between them). Absent for a source of one kernel, named `name`.
   */
  readonly kernels?: readonly string[];
}

export function dequantGemm(o: DequantGemmOptions): Generated {
  const w = parseDType(o.weight);
  if (w.bits > 8 || w.kind === 'exponent') throw new GeneratorError(`weights are 1..8-bit integers or minifloats; got ${o.weight}`);
  const act = o.activation ?? 'f16';
  if (!['f16', 'bf16', 'f32'].includes(act)) throw new GeneratorError(`activations are f16, bf16 or f32; got ${act}`);
  const scale = o.scale ?? (act === 'f32' ? 'f32' : act);
  if (!['f16', 'bf16', 'f32', 'e8m0'].includes(scale)) throw new GeneratorError(`scales are f16, bf16, f32 or e8m0; got ${scale}`);
  const G = o.groupSize;
  if (!(Number.isInteger(G) && G >= 1)) throw new GeneratorError(`the group size must be a positive integer; got ${G}`);
  const zp = o.zeroPoint ?? null;
  if (zp && (parseDType(zp).kind !== 'uint' || w.kind !== 'uint')) throw new GeneratorError(`zero points are unsigned and go with unsigned weights; got ${zp} for ${o.weight}`);
  const decode = (o.m ?? 1) <= 4;
  const splitK = o.splitK ?? 1;
  if (!(Number.isInteger(splitK) && splitK >= 1)) throw new GeneratorError(`split-K needs a positive integer number of blocks along K; got ${splitK}`);
  const split = splitK > 1;
  const fragments = (o.weightOrder ?? 'rows') === 'fragments';
  const panels = o.weightOrder === 'panels';
  if (!['rows', 'fragments', 'panels'].includes(o.weightOrder ?? 'rows')) throw new GeneratorError(`the weight order is rows, fragments or panels; got ${o.weightOrder}`);
  if (fragments && G % UNIT_K !== 0) throw new GeneratorError(`weights in fragment order need a group size that is a multiple of ${UNIT_K}; got ${G}`);
  // What both forms share: the name's type suffix, the parameters and their declaration, the header.
  const shared: Shared = {
    scale, zeroPoint: zp,
    types: `${o.weight}_${act}_${scale}_g${G}${zp ? `_z${zp}` : ''}${split ? `_splitk${splitK}` : ''}${fragments ? '_frag' : ''}${panels ? '_panels' : ''}${o.applyScales === 'weights' ? '_sw' : ''}`,
    params: ['a', 'w', 's', ...(zp ? ['z'] : []), 'c'],
    declaration: `a: ${act}[M, K], w: ${o.weight}${fragments ? `[K / ${UNIT_K}, cdiv(N, ${UNIT_N}), 32, 32]` : panels ? '[cdiv(N, BN), K * BN]' : '[K, N]'}, s: ${scale}[K / ${G}, N],${zp ? ` z: ${zp}[K / ${G}, N],` : ''} c: ${split ? 'f32' : act}[M, N]`,
    about: `${o.weight} weights, ${act} activations, ${scale} scales per ${G} rows of K, ${zp ? `${zp} zero points` : `zero ${symmetricZero(w)}`}${split ? `, K split over ${splitK} blocks` : ''}`,
    kRange: split ? splitRange(G) : { lets: () => '', begin: '0', end: 'K' },
    splitK,
    store: (slice, acc) => (split ? `store c[${slice}] += ${acc};` : `store c[${slice}] = ${act === 'f32' ? acc : `cast<${act}>(${acc})`};`),
  };
  if (o.rowsPerThread !== undefined && !(Number.isInteger(o.rowsPerThread) && o.rowsPerThread >= 1)) throw new GeneratorError(`the GPU GEMV's rows per thread must be a positive integer; got ${o.rowsPerThread}`);
  // Weights in fragment order are read by the MMA tiles, also for decode-sized M on GPUs (8 rows, the
  // weights as the MMA's A operand).
  if (o.target === 'gpu' && decode && !fragments) return gpuGemv(o, w.bits, act, G, zp ? null : symmetricZero(w), shared);
  const gpu = o.target === 'gpu';
  // On GPUs, f16 and bf16 activations meet the weight codes in their own type (every code of 8 bits or
  // fewer is exact in both), so the dot can run on tensor cores (mma.sync, f32 accumulation): the same
  // products and sums as in f32.
  const halfDot = gpu && act !== 'f32';
  if (!['a', 'b', undefined].includes(o.weightOperand)) throw new GeneratorError(`the weights are the MMA's operand a or b; got ${o.weightOperand}`);
  // GPUs: as many rows as M asks for, up to 64 (at least 8 with the weights as the MMA's A operand, whose
  // atom takes 8 rows of A; at least 16 with them as B, the atom's rows, for f16 and bf16 activations
  // and for fragment order), and shorter K tiles (the dot stages both operands).
  const rowsFor = (least: number): number => Math.min(64, Math.max(least, 2 ** Math.ceil(Math.log2(o.m ?? 1))));
  const weightsA = halfDot && (o.weightOperand ?? ((o.blockM ?? rowsFor(8)) <= 8 ? 'a' : 'b')) === 'a';
  const BM = o.blockM ?? (decode && !gpu ? 1 : gpu ? rowsFor(weightsA ? 8 : halfDot || fragments ? 16 : 1) : 16);
  if (weightsA && BM % 8 !== 0) throw new GeneratorError(`with the weights as the MMA's A operand, the tile's rows of A are whole atoms of 8; got ${BM}`);
  const BN = o.blockN ?? 64;
  // K tiles of up to 64 rows on GPUs; 128 with the weights as the A operand in fragment order (M of 8 or
  // fewer: each K tile's copies, barriers and pipeline steps then serve twice the weights, 6.6 PTX per
  // weight of a thread's share in the u4 M = 1 K loop against 10.4; the GEMV, also memory-bound, ran at
  // 0.112 ms with K tiles of 128 rows against 0.140 with 64 on an H200). Not in rows, whose codes of
  // widths such as 3 bits are read one at a time: u3 at M = 8 took 153 registers with 128 rows, 85 with 64.
  const BK = o.blockK ?? largestDivisor(G, gpu ? (weightsA && fragments ? 128 : 64) : 128);
  if (G % BK !== 0) throw new GeneratorError(`the K tile ${BK} must divide the group size ${G}`);
  if (fragments && (BK % UNIT_K !== 0 || BN % UNIT_N !== 0)) {
    throw new GeneratorError(`weights in fragment order need K tiles of a multiple of ${UNIT_K} rows and N tiles of a multiple of ${UNIT_N} columns; got ${BK} and ${BN}`);
  }
  const name = o.name ?? `dequant_gemm_${shared.types}`;
  // A row of the N tile ([BN]) and a column of the M tile ([BM]) spread over the accumulators' tile:
  // [BM, BN], or [BN, BM] with the weights as the MMA's A operand (C^T).
  const overN = (x: string): string => `unsqueeze(${x}, ${weightsA ? 1 : 0})`;
  const overM = (x: string): string => `unsqueeze(${x}, ${weightsA ? 0 : 1})`;
  const zeroRow = `cast<f32>(load z[g0 / ${G}, n0 :+ BN])`;
  // (With the weights as B, a [BN] row broadcasts over [BM, BN] as it is, as the CPU tiles also use it.)
  const zero = zp ? (weightsA ? overN(zeroRow) : zeroRow) : `${symmetricZero(w)}.0`;
  // The activation and weight tiles are staged in shared memory by copy_async (whole 16-byte runs where
  // the rows allow: coalesced, where each thread's fragment elements are scattered over K rows), then
  // the dot reads its fragments from there (ldmatrix for the activations); STAGES stages: the copies of
  // the next STAGES - 1 K tiles (across group boundaries too) are in flight while this one is multiplied.
  // Three stages where they fit in 32 KB (the rest of the 48 KB of static shared memory is left to the
  // lowering's scratch), else two.
  const stageBytes = BM * BK * (parseDType(act).bits / 8) + (BK * BN * w.bits) / 8;
  const S = o.stages ?? (3 * stageBytes <= 32 * 1024 ? 3 : 2);
  const threads = o.threads ?? 128;
  if (![32, 64, 128, 256, 512].includes(threads)) throw new GeneratorError(`the tiles' blocks have 32, 64, 128, 256 or 512 threads; got ${threads}`);
  if (!(Number.isInteger(S) && S >= 2)) throw new GeneratorError(`the GPU tiles need at least 2 stages; got ${S}`);
  // Without zero points, the fixed zero of unsigned codes (2^(b-1)) is taken off the weights in the
  // activation type (code - zero is exact in f16 and bf16; on tensor cores it joins the magic-number
  // conversion's subtraction), so the dot needs no row sums of A, whose reduction across threads cost
  // two barriers per K tile; signed integers and minifloats have zero 0.
  const fixedZero = zp ? 0 : symmetricZero(w);
  // In fragment order, a K tile is BK / 16 by BN / 64 units, turned back into the [BK, BN] tile by a
  // reshape, a permute and a reshape (on GPUs they move no element: each thread's codes stay its own).
  const units = `BK / ${UNIT_K}, 0 :+ BN / ${UNIT_N}, 0 :+ 32, 0 :+ 32`;
  const unitTile = (load: string, transposed = false): string => unitsToTile(load, w.bits, `(BK / ${UNIT_K})`, `(BN / ${UNIT_N})`, transposed);
  // In panels a K tile is one run, stored flat and read as the [BK, BN] tile it is (no element moves).
  // With the weights as the MMA's A operand, the codes are the staged tile's transpose, [BN, BK] (the
  // fragment order's permute makes it directly): the cast and the zero then apply to the operand itself,
  // which the lowering turns into f16 pairs in the A fragments' registers.
  const transpose = (x: string): string => `permute(${x}, [1, 0])`;
  const stagedTile = panels ? 'reshape(load sw[cur, 0 :+ BK * BN], [BK, BN])' : 'load sw[cur, 0 :+ BK, 0 :+ BN]';
  const codes = fragments ? unitTile(`load sw[cur, 0 :+ ${units}]`, weightsA) : weightsA ? transpose(stagedTile) : stagedTile;
  // The dot's product of the activation tile and the weights: A . W, or W^T . A^T into accumulators [BN, BM].
  const staged = 'load sa[cur, 0 :+ BM, 0 :+ BK]';
  const product = (weights: string, acc: string): string => (weightsA ? `dot(${weights}, ${transpose(staged)}, ${acc})` : `dot(${staged}, ${weights}, ${acc})`);
  const accTile = weightsA ? 'zeros<f32>[BN, BM]' : 'zeros<f32>[BM, BN]';
  const weights = `cast<${act}>(${codes})${fixedZero ? ` - ${fixedZero}.0` : ''}`;
  const rowSums = zp !== null;
  const scaleWeights = (o.applyScales ?? 'sums') === 'weights';
  if (!['sums', 'weights'].includes(o.applyScales ?? 'sums')) throw new GeneratorError(`the scales apply to sums or weights; got ${o.applyScales}`);
  if (scaleWeights && (!halfDot || scale !== act)) {
    throw new GeneratorError(`scales apply to the weights in the GPU tiles (M over 4) with f16 or bf16 activations and scales of the same type; got ${act} activations, ${scale} scales${halfDot ? '' : `, ${gpu ? 'f32 activations' : 'the CPU tiles'}`}`);
  }
  const kr = shared.kRange;
  const tilePipeline = pipeline(kr, (st, at) => [
    `copy_async sa[${st}, 0 :+ BM, 0 :+ BK] <- a[m0 :+ BM, ${at} :+ BK];`,
    fragments
      ? `copy_async sw[${st}, 0 :+ ${units}] <- w[(${at}) / ${UNIT_K} :+ ${units.replace('0 :+ BN', `n0 / ${UNIT_N} :+ BN`)}];`
      : stageWeights(panels, st, at),
  ]);
  const body = halfDot
    ? `${tilePipeline.step('            ')}
            part = ${product(weights, 'part')};${rowSums ? `
            asum = asum + sum(cast<f32>(load sa[cur, 0 :+ BM, 0 :+ BK]), axis=1);` : ''}
            sync;`
    : `            let ta = ${act === 'f32' ? 'load a[m0 :+ BM, k0 :+ BK]' : `cast<f32>(load a[m0 :+ BM, k0 :+ BK])`};
            part = dot(ta, cast<f32>(${fragments ? unitTile(`load w[k0 / ${UNIT_K} :+ ${units.replace('0 :+ BN', `n0 / ${UNIT_N} :+ BN`)}]`) : panels ? 'reshape(load w[n0 / BN, k0 * BN :+ BK * BN], [BK, BN])' : 'load w[k0 :+ BK, n0 :+ BN]'}), part);
            asum = asum + sum(ta, axis=1);`;
  // Scales on the weights: one K loop, each K tile's weights (less their group's zero points, exactly)
  // times its group's scales, one accumulator.
  const zeroed = zp ? `(${weights} - ${overN(`cast<${act}>(load z[k0 / ${G}, n0 :+ BN])`)})` : `(${weights})`;
  // The group's term, acc + (part - asum z) s: on GPUs by fused multiply-adds (one rounding each, as
  // the VM's fma; one instruction instead of two per element), on the CPU tiles as written (wasm has
  // no fused multiply-add instruction: fma costs it several).
  const groupSum = !halfDot || rowSums ? (gpu ? `fma(-${overM('asum')}, ${zero}, part)` : `(part - unsqueeze(asum, 1) * ${zero})`) : 'part';
  const groupScales = `cast<f32>(load s[g0 / ${G}, n0 :+ BN])`;
  const groupTerm = gpu ? `acc = fma(${groupSum}, ${overN(groupScales)}, acc);` : `acc = acc + ${groupSum} * ${groupScales};`;
  const loops = scaleWeights
    ? `    for k0 in range(${kr.begin}, ${kr.end}, BK) {
${tilePipeline.step('        ')}
        acc = ${product(`${zeroed} * ${overN(`load s[k0 / ${G}, n0 :+ BN]`)}`, 'acc')};
        sync;
    }`
    : `    for g0 in range(${kr.begin}, ${kr.end}, ${G}) {
        var part = ${accTile};${!halfDot || rowSums ? `
        var asum = zeros<f32>[BM];` : ''}
        for k0 in range(g0, g0 + ${G}, BK) {
${body}
        }
        ${groupTerm}
    }`;
  const source = `// Generated by tilebit: dequant-GEMM, ${shared.about}.
// C = A . ((W - Z) * S); ${scaleWeights ? `the scale multiplies each weight in ${act} (rounded once), before the dot.` : 'the zero point and the scale apply once per group, to the partial sums.'}${weightsA ? `
// The weights are the MMA's A operand: the tile computes C^T = W^T . A^T, its accumulators [BN, BM].` : ''}
kernel ${name}<BM = ${BM}, BN = ${BN}, BK = ${BK}${halfDot ? `, STAGES = ${S}` : ''}${split ? `, SPLITK = ${splitK}` : ''}>(
    ${shared.declaration})
    grid(cdiv(M, BM), cdiv(N, BN)${split ? ', SPLITK' : ''}) threads(${threads}) {
    assert K % ${G} == 0, "K must be a multiple of the group size ${G}";
    let m0 = block.x * BM;
    let n0 = block.y * BN;${kr.lets('    ')}${halfDot ? `
    let sa = shared<${act}>[STAGES, BM, BK]${o.swizzle === false ? ' @ row_major' : ''};
    let sw = shared<${o.weight}>[STAGES, ${fragments ? `BK / ${UNIT_K}, BN / ${UNIT_N}, 32, 32` : stagedWeights(panels)}];
${tilePipeline.prologue('    ')}` : ''}
    var acc = ${accTile};
${loops}
    ${shared.store('m0 :+ BM, n0 :+ BN', weightsA ? transpose('acc') : 'acc')}
}
`;
  return { name, source, params: shared.params };
}

interface Shared {
  readonly scale: string;
  readonly zeroPoint: string | null;
  readonly types: string;
  readonly params: readonly string[];
  readonly declaration: string;
  readonly about: string;
  /** The rows of K this block multiplies: [begin, end), with the lets that define them. */
  readonly kRange: KRange;
  readonly splitK: number;
  /** The statement that writes (or, split along K, adds) the f32 result `acc` to a slice of C. */
  readonly store: (slice: string, acc: string) => string;
}

interface KRange {
  readonly lets: (indent: string) => string;
  readonly begin: string;
  readonly end: string;
}

/**
 * Split-K: block.z takes a run of whole groups of K (the last run may be shorter, or empty where there
 * are more blocks than groups: such a block adds zeros).
 */
function splitRange(G: number): KRange {
  return {
    lets: (i) => `
${i}let kb = block.z * cdiv(K / ${G}, SPLITK) * ${G};
${i}let ke = min(K, kb + cdiv(K / ${G}, SPLITK) * ${G});`,
    begin: 'kb',
    end: 'ke',
  };
}

/**
 * The GPU form for small M: one block per row of A and BN columns. Its threads split the K tile: each
 * holds one row of it and a run of R consecutive weights (up to 128 bits), multiplies them by the row's
 * activation and accumulates in registers (one fma per weight); the partial sums over K are reduced
 * across threads once, at the end (warp or subgroup shuffles, then shared memory). Scales, zero points and activations are laid
 * out so that each thread holds the ones it needs (broadcasts need no exchange).
 *
 * The weight, activation, scale (and zero-point) tiles reach shared memory by copy_async, STAGES - 1 K
 * tiles ahead of the one being multiplied: a thread's loads of a K tile wait for nothing but shared
 * memory, and every thread keeps several 16-byte copies in flight (one K tile's load straight from
 * global memory left the GPU waiting on memory latency once per tile: on an H200 every width took the
 * same 0.16 ms at 1x8192x28672).
 */
function gpuGemv(o: DequantGemmOptions, bits: number, act: string, G: number, symmetric: number | null, shared: Shared): Generated {
  if (o.blockM !== undefined && o.blockM !== 1) throw new GeneratorError(`the GPU GEMV handles one row of A per block; got --bm ${o.blockM}`);
  const THREADS = o.threads ?? 128;
  if (![64, 128, 256, 512].includes(THREADS)) throw new GeneratorError(`the GPU GEMV's blocks have 64, 128, 256 or 512 threads; got ${THREADS}`);
  const RK = o.rowsPerThread ?? 1;
  if (RK > 1) return gpuGemvRows(o, RK, act, G, symmetric, shared);
  const R = Math.min(32, Number.isInteger(128 / bits) ? 128 / bits : 32);
  const staged = o.asyncCopies !== false;
  // The largest power of two dividing the group size, up to 128 (G & -G is G's lowest set bit): on an
  // H200, K tiles of 128 rows (one column run per thread, N tiles of R columns, more blocks) ran the
  // staged u4 GEMV at 1x8192x28672 in 0.116 ms against 0.141 ms with 64. The direct form keeps 64.
  const BK = o.blockK ?? Math.min(staged ? 128 : 64, G & -G);
  if (!(THREADS % BK === 0 && G % BK === 0)) throw new GeneratorError(`the GPU GEMV's K tile ${BK} must divide ${THREADS} and the group size ${G}`);
  const TN = THREADS / BK;
  const BN = o.blockN ?? TN * R;
  if (BN % (TN * R) !== 0) throw new GeneratorError(`the GPU GEMV's N tile ${BN} must be a multiple of ${TN * R} (${TN} threads with runs of ${R})`);
  const zero = shared.zeroPoint ? null : `${symmetric}.0`;
  // In panels, thread r * TN + tn's run starts at element (r * TN + tn) * R of the K tile.
  return gemvSource(o, act, G, shared, { threads: THREADS, BK, BN, staged, rowOfThreads: TN * R, flat: `spatial(${BK * TN}) * local(${R})` },
    `the ${THREADS} threads split each K tile (${BK} rows), each
// with runs of ${R} weights, and reduce their partial sums once, at the end.`,
    `zeros<f32>[BK, BN] @ (local(1, BN / ${TN * R}) * spatial(BK, ${TN}) * local(1, ${R}))`,
    (t) => `let tw = (cast<f32>(${t.weights()}) - ${zero ?? t.row('z')}) * ${t.row('s')};
        ${t.acc(0)} = fma(unsqueeze(cast<f32>(${t.activations(0)}), 1), tw, ${t.acc(0)});`);
}

/**
 * The GPU GEMV with RK rows of each K tile per thread (rowsPerThread): the block's threads are RT = BK
 * / RK rows by TN columns of threads, each holding rows rt, rt + RT, ... (so that a warp's reads of one
 * row are contiguous in shared memory) and 8 consecutive columns. Each thread sums its rows' products
 * per column, p = sum_r a_r v_r, and adds the group's term to its accumulator once per K tile (a K tile
 * lies within one group): per weight a multiply and an add, per column and K tile the zero and the
 * scale (two fused multiply-adds). Integer codes are taken as v = 1 + (code + S) / 2^b (S: 2^(b-1) for signed codes, else 0),
 * which the GPU lowering forms from the code's bits alone (lower_gpu scaledConversion); then
 * sum_r a_r (w_r - z) = 2^b p - (2^b + S + z) sum_r a_r. Exact but for the sums' rounding, as the VM
 * computes the same expression. Minifloats: v = cast(code), no zero. Tuned for M of 2 to 4 (o.m), a
 * block takes that many rows of A: the values v are formed once per K tile, in registers, and each
 * row's sums read them (one fused multiply-add per weight and row).
 */
function gpuGemvRows(o: DequantGemmOptions, RK: number, act: string, G: number, symmetric: number | null, shared: Shared): Generated {
  const w = parseDType(o.weight);
  const THREADS = o.threads ?? 128;
  const staged = o.asyncCopies !== false;
  const BK = o.blockK ?? Math.min(staged ? 128 : 64, G & -G);
  if (!(G % BK === 0 && BK % RK === 0)) throw new GeneratorError(`the GPU GEMV's K tile ${BK} must divide the group size ${G} and be a multiple of the rows per thread ${RK}`);
  const RT = BK / RK;
  if (THREADS % RT !== 0) throw new GeneratorError(`the GPU GEMV's ${THREADS} threads must be a multiple of the ${RT} rows of threads (K tile ${BK} / ${RK} rows per thread)`);
  const TN = THREADS / RT;
  const R = 8;
  const BN = o.blockN ?? TN * R;
  if (BN % (TN * R) !== 0) throw new GeneratorError(`the GPU GEMV's N tile ${BN} must be a multiple of ${TN * R} (${TN} threads with runs of ${R})`);
  const layout = `local(${RK}, BN / ${TN * R}) * spatial(${RT}, ${TN}) * local(1, ${R})`;
  // Rows of A per block: M as tuned for (up to 4), so that each weight is decoded once for all of them.
  const MB = Math.min(4, Math.max(1, o.m ?? 1));
  const integer = w.kind === 'int' || w.kind === 'uint';
  const unit = 2 ** w.bits;
  const offset = w.kind === 'int' ? unit / 2 : 0;
  // In panels, the thread's rows are RT * BN elements apart, its run at (rt * TN + tn) * R in each.
  return gemvSource(o, act, G, shared, { threads: THREADS, BK, BN, staged, rowsOfA: MB, rowOfThreads: TN * R, flat: `local(${RK}) * spatial(${RT * TN}) * local(${R})` },
    `each of the ${THREADS} threads multiplies ${RK} rows of each K tile
// (${BK} rows) by runs of ${R} weights, sums them per column, and applies the ${integer ? 'zero point and the ' : ''}scale to that sum;
// the threads' partial sums are reduced once, at the end.${integer ? ` Each weight is taken as 1 + ${offset ? `(code + ${offset})` : 'code'} / ${unit}, so
// sum_r a_r (w_r - z) = ${unit} sum_r a_r v_r - (${unit + offset} + z) sum_r a_r.` : ''}`,
    `zeros<f32>[${RT}, BN] @ (local(1, BN / ${TN * R}) * spatial(${RT}, ${TN}) * local(1, ${R}))`,
    (t) => {
      const weights = `reshape(${t.weights(layout)}, [${RK}, ${RT}, BN])`;
      // The values v of the codes, and each column's term from p (the sums of a_r v_r) and asum (of a_r).
      const value = integer ? `((cast<f32>(${weights}) + ${unit + offset}.0) * ${2 ** -w.bits})` : `cast<f32>(${weights})`;
      // With several rows of A, the values (and the scale and zero rows) are formed once, and each row
      // of A multiplies them.
      const zeroRow = shared.zeroPoint ? `(${t.row('z')} + ${unit + offset}.0)` : null;
      const zero = zeroRow === null ? `${unit + offset + (symmetric ?? 0)}.0` : MB > 1 ? 'zr' : zeroRow;
      const scales = MB > 1 ? 'sr' : t.row('s');
      const v = MB > 1 ? 'v' : value;
      const rows = Array.from({ length: MB }, (_, i) => {
        // Row i's names: acc, p, ... with one row of A; acc0, p0, ... with several.
        const x = MB > 1 ? String(i) : '';
        const acc = t.acc(i);
        return `let ta${x} = cast<f32>(reshape(${t.activations(i)}, [${RK}, ${RT}]));
        let p${x} = sum(unsqueeze(ta${x}, 2) * ${v}, axis=0);${integer ? `
        let asum${x} = sum(ta${x}, axis=0);
        ${acc} = fma(fma(-unsqueeze(asum${x}, 1), ${zero}, p${x} * ${unit}.0), ${scales}, ${acc});` : `
        ${acc} = fma(p${x}, ${scales}, ${acc});`}`;
      });
      const once = [`let v = ${value};`, `let sr = ${t.row('s')};`, ...(zeroRow !== null && integer ? [`let zr = ${zeroRow};`] : [])];
      return (MB > 1 ? [...once, ...rows] : rows).join('\n        ');
    });
}

/**
 * The GPU GEMV's kernel around the work of its K loop: one block per rowsOfA rows of A (default 1) and
 * BN columns, the weight, activation and scale (and zero-point) tiles staged in shared memory by
 * copy_async STAGES - 1 K tiles ahead (staged) or loaded straight from their tensors (direct: each K
 * tile at k0), and one accumulator per row of A, each initialized to `zero` (a tile expression), reduced
 * over its first axis and stored at the end. `body` writes the loop's work from the loads of the K
 * tile's weights and of row i's activations, from `row`, a group's scales or zero points as a [1, BN]
 * f32 row, and from `acc(i)`, the name of row i's accumulator. With weights in panels, `g.flat` is the
 * 1-D layout of a K tile's BK * BN codes that reshapes to the form's layout of the [BK, BN] tile, which
 * holds only where the N tile is one row of threads' runs (`g.rowOfThreads` columns).
 */
function gemvSource(o: DequantGemmOptions, act: string, G: number, shared: Shared, g: { readonly threads: number; readonly BK: number; readonly BN: number; readonly staged: boolean; readonly rowsOfA?: number; readonly rowOfThreads: number; readonly flat: string }, about: string, zero: string,
  body: (tiles: { readonly weights: (layout?: string) => string; readonly activations: (i: number) => string; readonly row: (t: 's' | 'z') => string; readonly acc: (i: number) => string }) => string): Generated {
  const MB = g.rowsOfA ?? 1;
  const S = o.stages ?? 4;
  if (!(Number.isInteger(S) && S >= 2)) throw new GeneratorError(`the GPU GEMV needs at least 2 stages; got ${S}`);
  const { staged } = g;
  const name = o.name ?? `dequant_gemv_${shared.types}`;
  const zp = shared.zeroPoint;
  // Staged: the tiles of K tile `at` go to stage `st` of shared memory, read back at stage `cur`.
  // Direct (no asynchronous copies): each K tile straight from its tensor.
  const kr = shared.kRange;
  const split = shared.splitK > 1;
  const panels = o.weightOrder === 'panels';
  if (panels && g.BN !== g.rowOfThreads) throw new GeneratorError(`weights in panels need the GPU GEMV's N tile to be one run of each thread, ${g.rowOfThreads} columns; got ${g.BN}`);
  const stages = pipeline(kr, (st, at) => [
    stageWeights(panels, st, at),
    MB > 1 ? `copy_async sa[${st}, 0 :+ ${MB}, 0 :+ BK] <- a[m0 :+ ${MB}, ${at} :+ BK];` : `copy_async sa[${st}, 0 :+ BK] <- a[m, ${at} :+ BK];`,
    `copy_async ss[${st}, 0 :+ BN] <- s[(${at}) / ${G}, n0 :+ BN];`,
    ...(zp ? [`copy_async sz[${st}, 0 :+ BN] <- z[(${at}) / ${G}, n0 :+ BN];`] : []),
  ]);
  // Row i of the block's rows of A (with several, m0 + i; rows past M read zeros).
  const rowOfA = (i: number): string => (MB > 1 ? `m0 + ${i}` : 'm');
  const acc = (i: number): string => (MB > 1 ? `acc${i}` : 'acc');
  const tiles = {
    acc,
    // The K tile's weights [BK, BN], laid out as `layout` where given. In panels, the K tile is one run
    // of memory, loaded flat in the layout that reshapes to the form's own (g.flat): it moves nothing.
    weights: (layout?: string): string => panels
      ? `reshape(${staged ? 'load sw[cur, 0 :+ BK * BN]' : 'load w[n0 / BN, k0 * BN :+ BK * BN]'} @ (${g.flat}), [BK, BN])`
      : `${staged ? 'load sw[cur, 0 :+ BK, 0 :+ BN]' : 'load w[k0 :+ BK, n0 :+ BN]'}${layout ? ` @ (${layout})` : ''}`,
    activations: (i: number): string => (staged ? `load sa[cur, ${MB > 1 ? `${i}, ` : ''}0 :+ BK]` : `load a[${rowOfA(i)}, k0 :+ BK]`),
    row: (t: 's' | 'z'): string => `unsqueeze(cast<f32>(load ${staged ? `s${t}[cur, 0 :+ BN]` : `${t}[k0 / ${G}, n0 :+ BN]`}), 0)`,
  };
  const source = `// Generated by tilebit: dequant-GEMV for GPUs${staged ? '' : ' without asynchronous copies'}, ${shared.about}.
// One block per ${MB > 1 ? `${MB} rows` : 'row'} of A and ${g.BN} columns; ${about}${staged ? ` The tiles of weights,
// activations and scales reach shared memory by copy_async, ${S - 1} K tiles ahead of the one in use.` : ''}${panels ? `
// W in panels of ${g.BN} columns (tilebit quantize --order panels --panel ${g.BN}): a K tile is one run of memory.` : ''}
kernel ${name}<BN = ${g.BN}, BK = ${g.BK}${staged ? `, STAGES = ${S}` : ''}${split ? `, SPLITK = ${shared.splitK}` : ''}>(
    ${shared.declaration})
    grid(${MB > 1 ? `cdiv(M, ${MB})` : 'M'}, cdiv(N, BN)${split ? ', SPLITK' : ''}) threads(${g.threads}) {
    assert K % ${G} == 0, "K must be a multiple of the group size ${G}";
    let ${MB > 1 ? `m0 = block.x * ${MB}` : 'm = block.x'};
    let n0 = block.y * BN;${kr.lets('    ')}${staged ? `
    let sw = shared<${o.weight}>[STAGES, ${stagedWeights(panels)}];
    let sa = shared<${act}>[STAGES, ${MB > 1 ? `${MB}, ` : ''}BK];
    let ss = shared<${shared.scale}>[STAGES, BN];${zp ? `
    let sz = shared<${zp}>[STAGES, BN];` : ''}
${stages.prologue('    ')}` : ''}
    ${Array.from({ length: MB }, (_, i) => `var ${acc(i)} = ${zero};`).join('\n    ')}
    for k0 in range(${kr.begin}, ${kr.end}, BK) {${staged ? `
${stages.step('        ')}` : ''}
        ${body(tiles)}${staged ? `
        sync;` : ''}
    }
    ${Array.from({ length: MB }, (_, i) => shared.store(`${rowOfA(i)}, n0 :+ BN`, `sum(${acc(i)}, axis=0)`)).join('\n    ')}
}
`;
  return { name, source, params: shared.params };
}

/**
 * The copy_async pipeline of a K loop `for k0 in range(begin, end, BK)` (the range's bounds are `kr`'s)
 * over shared buffers of STAGES K tiles (a template parameter): `copies(stage, at)` are the copies of
 * the K tile at row `at` into `stage`. The prologue fills stages 0 .. STAGES - 2; each step copies the
 * tile STAGES - 1 ahead into the stage read last (the step ends with a sync, which the caller writes
 * after its reads) and waits for the tile at k0, which it leaves in stage `cur`.
 */
function pipeline(kr: KRange, copies: (stage: string, at: string) => readonly string[]): { prologue: (indent: string) => string; step: (indent: string) => string } {
  const lines = (indent: string, xs: readonly string[]): string => xs.map((x) => indent + x).join('\n');
  const from = (x: string): string => (kr.begin === '0' ? x : `${kr.begin} + ${x}`);
  return {
    prologue: (i) => lines(i, ['for t in range(0, STAGES - 1) {', `    if ${from('t * BK')} < ${kr.end} {`, ...copies('t', from('t * BK')).map((c) => `        ${c}`), '    }', '}']),
    step: (i) => lines(i, [
      `let cur = (${kr.begin === '0' ? 'k0' : `(k0 - ${kr.begin})`} / BK) % STAGES;`,
      'let ahead = k0 + (STAGES - 1) * BK;',
      `if ahead < ${kr.end} {`,
      ...copies('(cur + STAGES - 1) % STAGES', 'ahead').map((c) => `    ${c}`),
      '    wait_async(STAGES - 1);',
      '} else {',
      '    wait_async(0);',
      '}',
    ]),
  };
}

function largestDivisor(n: number, limit: number): number {
  for (let d = Math.min(n, limit); d >= 1; d--) if (n % d === 0) return d;
  return 1;
}
