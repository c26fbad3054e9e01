// Lowering of Tile IR to Loop IR for GPUs. The block function runs once per thread: its parameters are
// the block indices, the thread index `tid`, then the size symbols (`sym_NAME`) and runtime scalars
// (`param_NAME`). Every register tile is distributed over the threads by its layout (see
// passes/infer_layouts.ts): thread t holds local j of tile %v in the local `r<v>_<j>`, and the logical
// coordinates of that element are a compile-time part (from j) plus a per-thread part computed once in
// the prologue. Instructions whose operands are laid out as their result work on registers alone;
// everything that moves elements between threads (a layout conversion, broadcast, permute, reshape,
// view, reduce, dot) goes through a scratch region of shared memory, with barriers around it.
//
// Memory: global tensors are byte-addressed buffers ('g:NAME'), shared allocations and the scratch
// region live in 'shared'; tables of constants are the module's data (accesses with no memory named).
// Elements outside a tensor are masked as in the VM: loads give zero, stores are skipped. Stores of
// sub-byte elements use atomic and/or on words, so threads and blocks that write neighbours in one
// word never clobber each other.

import { castElement, codeOf } from '../ir/cast.ts';
import { dtype as parseDType } from '../ir/dtype.ts';
import { type RegisterLayout, entryExtent, gcd, layoutEquals, localSize, logicalIndex, multiply, threadCount } from '../ir/layout.ts';
import {
  MMA_M16N8K16, broadcastLocalTerms, divide, localPermutation, mmaOperandLayouts, permute as permuteLayout, projectLayout,
  reduce as reduceLayout, tryReshape,
} from '../ir/layout_ops.ts';
import { type Expr, type LFunction, type LModule, type LType, type Stmt, add, f32, forLoop, get, i32, ifThen, mul, op, set } from '../ir/loop_ir.ts';
import { type SharedLayout, type WarpAccess, ldmatrixSwizzle, readSwizzle, sharedSpan, swizzleOffset, withSwizzle } from '../ir/shared_layout.ts';
import {
  type IndexEntry, type Inst, type Kernel, type SharedType, type Stmt as TStmt, type TileType, type Type, type ValueId, rowMajorStrides,
  walkStmts,
} from '../ir/tile_ir.ts';
import { inferLayouts, mmaInputs } from './infer_layouts.ts';
import { Tables, castHeld, codeFromHeld, heldFromCode, heldOf, heldZero } from './lower/element.ts';
import { FLOAT_HELPERS } from './lower/float_bits.ts';
import { alignedFieldByte, fieldBit, fieldBlock, fieldByte, fieldWord, isPow2, setBits, sharedElementOffset, subByteStore, swizzled } from './lower/memory.ts';
import { LowererBase, fusibleValues } from './lower/base.ts';
import { binaryElem, fmaElem, scalarInst, symExpr, unaryElem } from './lower/scalar.ts';

/** A global buffer: one per tensor parameter, in parameter order. */
export interface GpuBuffer {
  readonly tensor: string;
  /** The memory name accesses use: `g:` + the tensor's name. */
  readonly mem: string;
  readonly dtype: string;
  /** Whether the kernel stores to it. */
  readonly written: boolean;
}

export interface GpuLowering {
  /** The kernel with every tile's layout filled in. */
  readonly kernel: Kernel;
  /** `block(bx, by, bz, tid, ...args)`, run by every thread of every block. */
  readonly module: LModule;
  readonly threads: number;
  /** Bytes of shared memory a block uses: its allocations, then the scratch region. */
  readonly sharedBytes: number;
  readonly buffers: readonly GpuBuffer[];
  /** Launch arguments after the buffers: size symbols then scalar parameters, as block parameters. */
  readonly args: readonly { readonly name: string; readonly type: 'i32' | 'f32' }[];
  /** Target features the code uses. */
  readonly features: GpuFeaturesUsed;
  /**
   * Whether the grid may have more than 65535 blocks along y or z (they are not constants within
   * that): CUDA launches such a grid in pieces of at most 65535 blocks along each, and the kernel takes
   * its piece's first block along y and z as two more arguments. (An offset from an argument costs no
   * registers; a block's place decoded from one flat launch costs some: 48 to 56 in the u4 dequant
   * GEMM at 16 rows.)
   */
  readonly blockOffsets: boolean;
}

/**
 * What the target offers beyond the baseline. `subgroupMinSize`: threads t and t ^ m, for m below it,
 * are in one subgroup and may exchange values (`gpu.shuffle_xor`); null when the target has no such
 * exchange (or it is not wanted).
 */
export interface GpuFeatures {
  readonly subgroupMinSize: number | null;
  /** Dot products of four packed 8-bit integers (`gpu.dot4_i8`, `gpu.dot4_u8`). */
  readonly dot4x8: boolean;
  /**
   * Warp-wide matrix multiply-accumulate (the Loop IR `mma` statement) for f16/bf16 dots whose result
   * layout divides by the accumulator fragment: 'native' where the target has the instruction (CUDA),
   * 'emulate' to expand each one into shared-memory exchanges that compute what the instruction computes
   * (so that a target without it, WebGPU, runs and checks the same fragment movement), null for neither.
   * With either, layout inference lays dot results out as MMA fragments.
   */
  readonly mma: 'native' | 'emulate' | null;
  /**
   * Minifloats of every width to f32 by arithmetic (CastOptions.minifloatArithmetic and
   * narrowMinifloatArithmetic: fields moved, one exact rescale) instead of a table lookup per element.
   * On CUDA the tables live in constant memory, which serves a warp's different addresses one after
   * another (a 64-entry f6e3m2 table: up to 32 reads, a 16-entry f4e2m1 one up to 16, where the
   * arithmetic is about six full-rate operations); WebGPU keeps its tables in a storage buffer.
   */
  readonly minifloatArithmetic?: boolean;
  /**
   * Byte permutations of two words: `gpu.byte_perm(a, b, s)`, byte n of the result is byte s_n & 7 of
   * b:a, s_n the selector's nibble n (bit 3 unused, as CUDA's `__byte_perm` has it); `gpu.prmt(a, b,
   * s)` the same, but that byte's top bit in all its bits where s_n's bit 3 is set (PTX `prmt.b32`).
   */
  readonly bytePermute?: boolean;
}

export const NO_GPU_FEATURES: GpuFeatures = { subgroupMinSize: null, dot4x8: false, mma: null };

export interface GpuFeaturesUsed {
  /** Some reduction exchanges partials within subgroups. */
  readonly subgroups: boolean;
  /** Some 8-bit dot multiplies four packed pairs at once. */
  readonly dot4x8: boolean;
  /** Some dot runs on warp MMAs (the instruction, or its emulation where GpuFeatures.mma says so). */
  readonly mma: boolean;
}

/**
 * The launch arguments after the buffers as 32-bit words, in GpuLowering.args order: each size symbol's
 * value, each scalar's (f32 scalars as their bits).
 */
export function argWords(args: GpuLowering['args'], symbols: ReadonlyMap<string, number>, scalars: ReadonlyMap<string, number>): number[] {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  return args.map((a) => {
    const v = a.name.startsWith('sym_') ? symbols.get(a.name.slice(4)) : scalars.get(a.name.slice(6));
    if (v === undefined) throw new Error(`no value for ${a.name.startsWith('sym_') ? 'size' : 'scalar'} ${a.name.slice(a.name.indexOf('_') + 1)}`);
    if (a.type !== 'f32') return Math.trunc(v) >>> 0;
    f32[0] = v;
    return u32[0]!;
  });
}

/** Where a code in a register array came from: its word (numbered across the array's runs) and bit shift there. */
interface CodeField {
  readonly word: number;
  readonly shift: number;
}
/** Per element of a register array of codes, its CodeField (undefined: not known). */
type CodeFields = readonly (CodeField | undefined)[];

/** A register tile: thread t's local j is element j of the register array `array`. */
interface RTile {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly layout: RegisterLayout;
  readonly array: string;
  /** The layout's local size: the array's length. */
  readonly length: number;
}

const aget = (x: RTile, j: Expr): Expr => ({ k: 'aget', array: x.array, index: j });
const aset = (x: RTile | string, j: Expr, value: Expr): Stmt => ({ k: 'aset', array: typeof x === 'string' ? x : x.array, index: j, value });

interface SharedSlot {
  /** Byte offset in shared memory. */
  readonly offset: number;
  readonly type: SharedType;
}

interface TensorInfo {
  readonly mem: string;
  readonly dims: readonly string[];
  readonly dtype: string;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((s, i) => s === b[i]);
const align16 = (n: number): number => Math.ceil(n / 16) * 16;
/** Bytes of scratch a dot's operand chunks may use: chunks of K keep (M + N) * KC words under it. */
const DOT_SCRATCH_BYTES = 8192;
/** CUDA's most blocks along y and z of a grid (x: 2^31 - 1). */
const CUDA_GRID_YZ = 65535;

export function lowerGpu(k: Kernel, features: GpuFeatures = NO_GPU_FEATURES): GpuLowering {
  return new GpuLowerer(inferLayouts(k, { mma: features.mma !== null }), features).run();
}

/**
 * The layout a shared allocation gets on a GPU: the source's where it gave one; else row-major, and
 * swizzled (ldmatrixSwizzle) where the allocation holds 16-bit elements whose MMA fragments are read
 * from it in place (ldmatrix, or 32-bit fragment reads), which a plain layout with rows of 32 bytes or
 * more serves with bank conflicts (examples/matmul.tile: 13 wavefronts per 16-byte request where 3 would
 * do). The swizzle moves whole 16-byte chunks, so copies into the tile keep their width. Any other
 * allocation is swizzled where `reads`, the warp-wide element reads of its loads into registers, take a
 * quarter fewer wavefronts or more so (readSwizzle: the u4 weight tiles of the M = 16 dequant-GEMM, whose
 * B fragments are read a code at a time, 2-way conflicted in plain rows).
 */
export function sharedLayoutFor(t: SharedType, fragmentsReadInPlace: boolean, reads: readonly WarpAccess[] = []): SharedType {
  if (t.layoutGiven || t.shape.length < 2) return t;
  const bits = parseDType(t.dtype).bits;
  const s = fragmentsReadInPlace ? (bits === 16 ? ldmatrixSwizzle(t.shape.at(-1)!) : null) : readSwizzle(t.layout, bits, reads);
  return s ? { ...t, layout: withSwizzle(t.layout, s.bits, s.base, s.shift) } : t;
}

/** The kernel with each shared allocation's type as placed (sharedLayoutFor). */
function withSharedTypes(k: Kernel, slots: ReadonlyMap<ValueId, SharedSlot>): Kernel {
  const visit = (body: readonly TStmt[]): TStmt[] =>
    body.map((s): TStmt => {
      if (s.kind === 'def' && slots.has(s.result.id)) return { ...s, result: { ...s.result, type: slots.get(s.result.id)!.type } };
      if (s.kind === 'for') return { ...s, body: visit(s.body) };
      if (s.kind === 'if') return { ...s, then: visit(s.then), else: visit(s.else) };
      return s;
    });
  return { ...k, body: visit(k.body) };
}

/**
 * A slice of a shared tensor read in place: tile coordinates map to the slice's through `index`, after
 * swapping the two for a transposed view (a dot operand `transpose(load s[...])`).
 */
interface SharedView {
  readonly slot: SharedSlot;
  readonly index: readonly IndexEntry[];
  readonly transposed?: boolean;
}

/** A view's tile coordinates as the slice's. */
const viewCoords = (view: SharedView, coords: readonly Expr[]): readonly Expr[] => (view.transposed ? [coords[1]!, coords[0]!] : coords);
/** A view's tile dimension as the slice's. */
const viewDim = (view: SharedView, dim: number): number => (view.transposed ? 1 - dim : dim);

class GpuLowerer extends LowererBase {
  readonly locals = new Map<string, LType>();
  readonly params: { name: string; type: LType }[] = [];
  readonly arrays: { name: string; type: 'i32' | 'f32'; length: number }[] = [];
  readonly prologue: Stmt[] = [];
  readonly tiles = new Map<ValueId, RTile>();
  /** Element-wise tiles with one use, computed where that use needs each element (no array). */
  readonly lazy = new Map<ValueId, { readonly dtype: string; readonly shape: readonly number[]; readonly layout: RegisterLayout; readonly at: (j: Expr) => Expr }>();
  fusible = new Set<ValueId>();
  readonly vars = new Map<number, RTile | string>();
  readonly tensors = new Map<string, TensorInfo>();
  readonly shared = new Map<ValueId, SharedSlot>();
  readonly tables = new Tables(new Set(FLOAT_HELPERS.map((f) => f.name)));
  /** Per-thread coordinate locals of each layout used, by its canonical text. */
  readonly layoutVars = new Map<string, { coords: string[]; primary: Expr }>();
  sharedTop = 0;
  scratchBase = 0;
  scratchBytes = 0;
  counter = 0;

  usedSubgroups = false;
  usedDot4 = false;
  usedMma = false;
  /** Shared-memory loads that an MMA dot reads fragments from directly (see directMmaOperands). */
  deferredShared = new Set<ValueId>();
  readonly sharedOperands = new Map<ValueId, SharedView>();
  readonly valueTypes = new Map<ValueId, TileType>();
  /** The operand of each cast, by the cast's value (see mmaDot's codes of small integers). */
  readonly castSources = new Map<ValueId, ValueId>();
  /** `cast(x) - c` or `cast(x) + c` (c a constant) by result: the cast and the constant taken off. */
  readonly biasedCasts = new Map<ValueId, { readonly cast: ValueId; readonly bias: number }>();
  /** f32 products defined lazily, by result: their operands' elements (see reduce: sums of products). */
  readonly products = new Map<ValueId, { readonly a: (j: Expr) => Expr; readonly b: (j: Expr) => Expr }>();
  /** `(cast(x) + c) * m` (c, m constants) by result: the biased cast and m (see scaledConversion). */
  readonly scaledBiasedCasts = new Map<ValueId, { readonly biased: ValueId; readonly scale: number }>();
  /**
   * Biased casts lowered as one conversion (biasedConversion): the codes' elements, their type, the
   * bias, and where the codes are a register array unpacked from words, each element's field.
   */
  readonly biasedCodes = new Map<ValueId, { readonly codes: (j: Expr) => Expr; readonly from: string; readonly bias: number; readonly fields?: CodeFields }>();
  /** f16 products `cast(codes) [- c] * s` (scales applied to dequantized weights): the cast, and s. */
  readonly scaledCasts = new Map<ValueId, { readonly cast: ValueId; readonly scale: ValueId }>();
  /** Such products defined lazily with the cast still lazy: its layout and the scale's elements. */
  readonly scaledOperands = new Map<ValueId, { readonly cast: ValueId; readonly layout: RegisterLayout; readonly scale: (j: Expr) => Expr }>();
  /** Rank-0 tiles that are a constant (`full` of one): literals in tile expressions. */
  readonly constantTiles = new Map<ValueId, number>();
  /** Scalar constants of the kernel, by value (what sharedPair needs to know of slice offsets). */
  readonly constants = new Map<ValueId, number>();
  /**
   * Register arrays of codes unpacked from words (vectorLoadShared), and their register permutations:
   * for each element, the word it came from and its bit shift there; what mmaDot needs to form f16 pairs
   * of codes with fewer shifts (codesWord). A hint only: that form is exact for any codes, so an array
   * later overwritten with other values costs instructions, never correctness.
   */
  readonly codeFields = new Map<string, CodeFields>();
  /**
   * Where the target permutes bytes: for a register array of codes that vectorLoadShared unpacked, the
   * array that keeps its words (numbered as CodeField.word), which castByLookup reads. Unlike the
   * fields, not a hint: such an array is written once, where it is loaded (a var's tile is its own
   * array, filled by copies), so its words stay its codes' words.
   */
  readonly codeWords = new Map<string, string>();

  constructor(readonly kernel: Kernel, readonly features: GpuFeatures) {
    super();
  }

  /** A new local; the underscore keeps names such as f32 or i8, which are types in CUDA C and WGSL, away. */
  fresh(prefix: string, type: LType): string {
    const name = `${prefix}${prefix.endsWith('_') ? '' : '_'}${this.counter++}`;
    this.locals.set(name, type);
    return name;
  }

  run(): GpuLowering {
    const k = this.kernel;
    for (const name of ['bx', 'by', 'bz', 'tid']) this.params.push({ name, type: 'i32' });
    const symbols = [...new Set(k.params.flatMap((p) => (p.kind === 'tensor' ? p.shape.flatMap((d) => (d.kind === 'symbol' ? [d.name] : [])) : [])))];
    const args: { name: string; type: 'i32' | 'f32' }[] = [
      ...symbols.map((s) => ({ name: `sym_${s}`, type: 'i32' as const })),
      ...k.params.flatMap((p) => (p.kind === 'scalar' ? [{ name: `param_${p.name}`, type: p.dtype === 'f32' ? ('f32' as const) : ('i32' as const) }] : [])),
    ];
    this.params.push(...args);
    const written = new Set<string>();
    walkStmts(k.body, (s) => {
      if (s.kind === 'store') written.add(s.tensor);
    });
    this.fusible = fusibleValues(k);
    this.recordValues(k.body);
    this.deferredShared = this.directMmaOperands(k.body);
    const fragmentSources = new Set<ValueId>();
    walkStmts(k.body, (s) => {
      if (s.kind === 'def' && s.inst.op === 'load_shared' && this.deferredShared.has(s.result.id)) fragmentSources.add(s.inst.shared);
    });
    const reads = this.sharedReads(k.body);
    walkStmts(k.body, (s) => {
      if (s.kind === 'def' && s.inst.op === 'alloc_shared' && s.result.type.kind === 'shared') {
        const t = sharedLayoutFor(s.result.type, fragmentSources.has(s.result.id), reads.get(s.result.id));
        this.shared.set(s.result.id, { offset: this.sharedTop, type: t });
        this.sharedTop += align16(Math.ceil((sharedSpan(t.layout) * parseDType(t.dtype).bits) / 8));
      }
    });
    this.scratchBase = this.sharedTop;
    const buffers: GpuBuffer[] = [];
    for (const p of k.params) {
      if (p.kind !== 'tensor') continue;
      const dims = p.shape.map((d, i) => {
        const name = this.fresh(`dim_${p.name}_${i}_`, 'i32');
        this.prologue.push(set(name, symExpr(d, this.tables)));
        return name;
      });
      const mem = `g:${p.name}`;
      this.tensors.set(p.name, { mem, dims, dtype: p.dtype });
      buffers.push({ tensor: p.name, mem, dtype: p.dtype, written: written.has(p.name) });
    }
    this.body(k.body);
    const block: LFunction = {
      name: 'block', result: null,
      params: this.params,
      locals: [...this.locals].map(([name, type]) => ({ name, type })),
      arrays: this.arrays,
      body: [...this.prologue, ...this.out],
    };
    const module: LModule = {
      functions: [block, ...FLOAT_HELPERS, ...this.tables.functions],
      traps: this.traps,
      data: this.tables.segments,
      dataBytes: this.tables.bytes,
      scratchBytes: 0,
    };
    const blockOffsets = k.grid.slice(1).some((d) => !(d.kind === 'const' && d.value <= CUDA_GRID_YZ));
    return { kernel: withSharedTypes(k, this.shared), module, threads: k.threads, sharedBytes: this.scratchBase + this.scratchBytes, buffers, args, features: { subgroups: this.usedSubgroups, dot4x8: this.usedDot4, mma: this.usedMma }, blockOffsets };
  }

  /**
   * Each shared allocation's loads into registers as warp-wide element reads (local by local, the lanes
   * of the first warp; slice offsets that are not constants taken as 0), for sharedLayoutFor. Loads that
   * an MMA reads in place (deferredShared) are left out: ldmatrixSwizzle serves those.
   */
  sharedReads(body: readonly TStmt[]): Map<ValueId, WarpAccess[]> {
    const out = new Map<ValueId, WarpAccess[]>();
    walkStmts(body, (s) => {
      if (s.kind !== 'def' || s.inst.op !== 'load_shared' || this.deferredShared.has(s.result.id)) return;
      const layout = s.result.type.kind === 'tile' ? s.result.type.layout : null;
      if (!layout) return;
      const index = s.inst.index;
      const lanes = Math.min(32, threadCount(layout));
      const reads = out.get(s.inst.shared) ?? [];
      for (let j = 0; j < localSize(layout); j++) {
        reads.push(Array.from({ length: lanes }, (_, lane) => {
          const coords = logicalIndex(layout, lane, j);
          let d = 0;
          return index.map((e) => (this.constants.get(e.offset) ?? 0) + (e.extent === null ? 0 : coords[d++]!));
        }));
      }
      out.set(s.inst.shared, reads);
    });
    return out;
  }

  // ---- layouts ----

  /** The per-thread coordinate locals of a layout and the condition "this thread is replica 0". */
  layoutOf(l: RegisterLayout): { coords: string[]; primary: Expr } {
    const key = JSON.stringify(l);
    const hit = this.layoutVars.get(key);
    if (hit) return hit;
    const parts: Expr[] = l.shape.map(() => i32(0));
    const primary: Expr[] = [];
    let inner = 1;
    for (let p = l.spatial.length - 1; p >= 0; p--) {
      const e = l.spatial[p]!;
      const ext = entryExtent(l, e);
      const digit = op('i32.rem_u', op('i32.div_u', get('tid'), i32(inner)), i32(ext));
      if (e < 0) primary.push(op('i32.eqz', digit));
      else {
        const m = l.modes[e]!;
        parts[m.dim] = add(parts[m.dim]!, mul(digit, i32(innerStride(l, e))));
      }
      inner *= ext;
    }
    const coords = parts.map((part, d) => {
      const name = this.fresh(`t${this.layoutVars.size}_d${d}_`, 'i32');
      this.prologue.push(set(name, part));
      return name;
    });
    let prim: Expr = i32(1);
    if (primary.length) {
      const name = this.fresh(`t${this.layoutVars.size}_primary`, 'i32');
      this.prologue.push(set(name, primary.reduce((x, y) => op('i32.and', x, y))));
      prim = get(name);
    }
    const out = { coords, primary: prim };
    this.layoutVars.set(key, out);
    return out;
  }

  /** The coordinates of local j (a constant or a loop variable) of a tile laid out by l. */
  coordsOf(l: RegisterLayout, j: Expr): Expr[] {
    const { coords } = this.layoutOf(l);
    if (j.k === 'const') return localCoords(l, j.value).map((c, d) => add(get(coords[d]!), i32(c)));
    return this.addLocalCoords(l, j, coords.map((c) => get(c)));
  }

  /** The coordinates of local `j` less the thread's: what coordsOf adds to the thread's coordinate locals. */
  localCoordsOf(l: RegisterLayout, j: Expr): Expr[] {
    if (j.k === 'const') return localCoords(l, j.value).map((c) => i32(c));
    return this.addLocalCoords(l, j, l.shape.map(() => i32(0)));
  }

  /** `parts` plus the coordinates of local `j` (an expression) in a layout. */
  addLocalCoords(l: RegisterLayout, j: Expr, from: readonly Expr[]): Expr[] {
    const parts = [...from];
    let inner = 1;
    for (let p = l.local.length - 1; p >= 0; p--) {
      const e = l.local[p]!;
      const ext = entryExtent(l, e);
      // The outermost digit needs no remainder: j < localSize.
      const digit = p === 0 ? op('i32.div_u', j, i32(inner)) : op('i32.rem_u', op('i32.div_u', j, i32(inner)), i32(ext));
      const dim = l.modes[e]!.dim;
      parts[dim] = add(parts[dim]!, mul(digit, i32(innerStride(l, e))));
      inner *= ext;
    }
    return parts;
  }

  /** A loop over a thread's locals, unrolled by backends that can. */
  forLocals(n: number, body: (j: Expr) => Stmt[]): Stmt[] {
    if (n === 1) return body(i32(0));
    const j = this.fresh('j', 'i32');
    return [{ k: 'for', var: j, start: i32(0), end: i32(n), step: i32(1), body: body(get(j)), unroll: true }];
  }

  primaryOf(l: RegisterLayout): Expr {
    return this.layoutOf(l).primary;
  }

  /** A per-thread register array (its name). */
  newArray(type: 'i32' | 'f32', length: number, prefix: string): string {
    const name = `${prefix}_${this.counter++}`;
    this.arrays.push({ name, type, length });
    return name;
  }

  newTile(dtype: string, shape: readonly number[], layout: RegisterLayout, prefix = 'r'): RTile {
    const array = `${prefix}${prefix.endsWith('_') ? '' : '_'}${this.counter++}`;
    const length = localSize(layout);
    this.arrays.push({ name: array, type: heldOf(dtype), length });
    return { dtype, shape, layout, array, length };
  }

  // ---- scratch: moving elements between threads ----

  needScratch(bytes: number): void {
    this.scratchBytes = Math.max(this.scratchBytes, align16(bytes));
  }

  scratchWord(index: Expr, offsetBytes = 0): Expr {
    return add(mul(index, i32(4)), i32(this.scratchBase + offsetBytes));
  }

  /** Every replica-0 thread writes its elements of `x` to scratch, row-major, one word each. */
  spill(x: RTile, offsetBytes = 0, value: (v: Expr) => Expr = (v) => v): Stmt[] {
    this.needScratch(offsetBytes + size(x.shape) * 4);
    const st = rowMajorStrides(x.shape);
    const writes = this.forLocals(x.length, (j) => [
      { k: 'store', bits: 32, addr: this.scratchWord(linearOf(this.coordsOf(x.layout, j), st), offsetBytes), offset: 0, value: value(aget(x, j)), mem: 'shared' },
    ]);
    return [ifThen(this.primaryOf(x.layout), writes)];
  }

  readScratch(type: LType, index: Expr, offsetBytes = 0): Expr {
    return { k: 'load', type: type === 'f32' ? 'f32' : 'i32', bits: 32, signed: false, addr: this.scratchWord(index, offsetBytes), offset: 0, mem: 'shared' };
  }

  /**
   * A new tile of `shape` laid out by `layout` whose element at c is x's element at row-major index
   * source(c): x goes through scratch.
   */
  gather(x: RTile, dtype: string, shape: readonly number[], layout: RegisterLayout, source: (coords: Expr[]) => Expr): RTile {
    const out = this.newTile(dtype, shape, layout);
    this.out.push({ k: 'barrier' }, ...this.spill(x), { k: 'barrier' });
    this.out.push(...this.forLocals(out.length, (j) => [aset(out, j, this.readScratch(heldOf(dtype), source(this.coordsOf(layout, j))))]));
    return out;
  }

  /** x laid out by `layout` (the same tile when it already is). */
  convert(x: RTile, layout: RegisterLayout): RTile {
    if (layoutEquals(x.layout, layout)) return x;
    // Each thread already holds the elements, in another order: move registers.
    const perm = localPermutation(x.layout, layout);
    if (perm) {
      const out = this.newTile(x.dtype, x.shape, layout);
      this.out.push(...perm.map((from, j) => aset(out, i32(j), aget(x, i32(from)))));
      const fields = this.codeFields.get(x.array);
      if (fields) this.codeFields.set(out.array, perm.map((from) => fields[from]));
      const words = this.codeWords.get(x.array);
      if (words) this.codeWords.set(out.array, words);
      return out;
    }
    const st = rowMajorStrides(x.shape);
    return this.gather(x, x.dtype, x.shape, layout, (c) => linearOf(c, st));
  }

  /** A tile operand broadcast to `shape` and laid out by `layout`. */
  broadcastTo(x: RTile, shape: readonly number[], layout: RegisterLayout): RTile {
    if (sameShape(x.shape, shape)) return this.convert(x, layout);
    const inThread = this.inThreadBroadcast(x, shape, layout);
    if (inThread) {
      const out = this.newTile(x.dtype, shape, layout);
      this.out.push(...this.forLocals(out.length, (j) => [aset(out, j, aget(x, inThread(j)))]));
      return out;
    }
    const st = rowMajorStrides(x.shape);
    const off = shape.length - x.shape.length;
    return this.gather(x, x.dtype, shape, layout, (c) => x.shape.reduce<Expr>((acc, n, d) => (n === 1 ? acc : add(acc, mul(c[d + off]!, i32(st[d]!)))), i32(0)));
  }

  /**
   * When x is laid out as the projection of `layout` (ir/layout.ts projectLayout), every thread holds
   * the elements it broadcasts: the local of x that local j of the broadcast tile reads. Else null.
   */
  inThreadBroadcast(x: RTile, shape: readonly number[], layout: RegisterLayout): ((j: Expr) => Expr) | null {
    const off = shape.length - x.shape.length;
    if (off < 0 || x.shape.some((n, d) => n !== 1 && n !== shape[d + off])) return null;
    if (!layoutEquals(x.layout, projectLayout(layout, x.shape))) return null;
    const terms = broadcastLocalTerms(layout, x.shape);
    return (j) => terms.reduce<Expr>((acc, t) => {
      const digit = op('i32.rem_u', t.stride === 1 ? j : op('i32.div_u', j, i32(t.stride)), i32(t.extent));
      return add(acc, t.weight === 1 ? digit : mul(digit, i32(t.weight)));
    }, i32(0));
  }

  // ---- statements ----

  typeOfValue(id: ValueId): string {
    return this.scalarTypes.get(id) ?? this.lazy.get(id)?.dtype ?? this.tiles.get(id)!.dtype;
  }

  /**
   * A value's register tile, computing a lazy one's elements now: in a loop over the locals, or, with
   * `unrolled`, one statement per local (constant indices: scaledConversion's byte permutations need them).
   */
  tile(id: ValueId, unrolled = false): RTile {
    const l = this.lazy.get(id);
    if (l) {
      const out = this.newTile(l.dtype, l.shape, l.layout);
      if (unrolled) for (let j = 0; j < out.length; j++) this.out.push(aset(out, i32(j), l.at(i32(j))));
      else this.out.push(...this.forLocals(out.length, (j) => [aset(out, j, l.at(j))]));
      this.lazy.delete(id);
      this.tiles.set(id, out);
    }
    return this.tiles.get(id)!;
  }

  copyInto(to: RTile, from: RTile): void {
    const x = this.convert(from, to.layout);
    this.out.push(...this.forLocals(to.length, (j) => [aset(to, j, aget(x, j))]));
  }

  stmt(s: TStmt): void {
    switch (s.kind) {
      case 'def':
        return this.def(s.result.id, s.result.type, s.inst);
      case 'var': {
        if (s.type.kind === 'tile') {
          const v = this.newTile(s.type.dtype, s.type.shape, s.type.layout!, `var${s.var}_`);
          this.copyInto(v, this.tile(s.init));
          this.vars.set(s.var, v);
        } else {
          const name = this.fresh(`var${s.var}_`, heldOf(s.type.dtype));
          this.out.push(set(name, this.scalar(s.init)));
          this.vars.set(s.var, name);
        }
        return;
      }
      case 'assign': {
        const target = this.vars.get(s.var)!;
        if (typeof target === 'string') this.out.push(set(target, this.scalar(s.value)));
        else this.copyInto(target, this.tile(s.value));
        return;
      }
      case 'store':
        return this.storeGlobal(s.tensor, s.index, this.scalars.has(s.value) ? null : this.tile(s.value), s.value, s.accumulate === true);
      case 'store_shared': {
        const sh = this.shared.get(s.shared)!;
        const x = this.scalars.has(s.value) ? null : this.tile(s.value);
        if (!x) {
          // A scalar stored to a slice: every element of the slice, spread over the threads.
          const v = this.scalar(s.value);
          this.out.push(...this.forSliceElements(s.index, (coords) => this.writeShared(sh, coords, codeFromHeld(sh.type.dtype, v))));
          return;
        }
        const writes = this.forLocals(x.length, (j) => this.writeShared(sh, sliceCoords(s.index, this.coordsOf(x.layout, j), (id) => this.scalar(id)), codeFromHeld(sh.type.dtype, aget(x, j))));
        this.out.push(ifThen(this.primaryOf(x.layout), writes));
        return;
      }
      case 'copy_async': {
        // The copy is done at once, spread over the threads; wait_async makes it visible to all.
        const sh = this.shared.get(s.shared)!;
        const t = this.tensors.get(s.tensor)!;
        const runs = this.copyByRuns(sh, s.sharedIndex, t, s.index);
        if (runs) {
          this.out.push(...runs);
          return;
        }
        const v = this.fresh('cp', 'i32');
        this.out.push(...this.forSliceElements(s.sharedIndex, (coords, sliceVars) => {
          const src = sliceCoords(s.index, sliceVars, (id) => this.scalar(id));
          return [...this.readGlobalCode(t, src, v), ...this.writeShared(sh, coords, get(v))];
        }));
        return;
      }
      case 'commit_async':
        this.out.push({ k: 'asynccommit' });
        return;
      case 'wait_async':
        // This thread's copies of the finished groups are in; the barrier makes every thread's visible.
        this.out.push({ k: 'asyncwait', pending: s.pending }, { k: 'barrier' });
        return;
      case 'sync':
        this.out.push({ k: 'barrier' });
        return;
      case 'for':
      case 'if':
      case 'assert':
        return this.control(s);
    }
  }

  /**
   * Loops over the elements of a slice, spread over the threads (thread t takes elements t, t + T, ...):
   * `f` gets the indexed coordinates and the slice's own coordinates.
   */
  forSliceElements(index: readonly IndexEntry[], f: (coords: Expr[], sliceVars: Expr[]) => Stmt[]): Stmt[] {
    const shape = index.flatMap((e) => (e.extent === null ? [] : [e.extent]));
    const e = this.fresh('e', 'i32');
    const st = rowMajorStrides(shape);
    const vars = shape.map((n, d) => op('i32.rem_u', op('i32.div_u', get(e), i32(st[d]!)), i32(n)));
    const coords = sliceCoords(index, vars, (id) => this.scalar(id));
    return [forLoop(e, get('tid'), i32(size(shape)), f(coords, vars), i32(this.kernel.threads))];
  }

  /**
   * A global-to-shared copy by runs moved in chunks of 16, 8 or 4 bytes (the widest that fits; a run is
   * one chunk, or several where elements straddle chunks, as 3-bit ones do), when the slice's last
   * dimension is the tensor's last and contiguous in shared memory, the shared strides and slot offset
   * keep chunks aligned, a swizzle moves whole runs, and the slice's last extent is a whole number of
   * runs. Each thread copies runs as words (`copywords`: asynchronous where the target has it, CUDA's
   * cp.async); checked at run time, a run inside the tensor that is misaligned for its chunks goes by
   * 4-byte chunks where both ends allow; else, and at the tensor's edge, each of its shared words is
   * shifted together from the global words it straddles, at once, with zeros outside; a run misaligned
   * in shared memory goes element by element. Null when it does not apply.
   */
  copyByRuns(sh: SharedSlot, sharedIndex: readonly IndexEntry[], t: TensorInfo, index: readonly IndexEntry[]): Stmt[] | null {
    const bits = parseDType(t.dtype).bits;
    const shape = sharedIndex.flatMap((e) => (e.extent === null ? [] : [e.extent]));
    const l = sh.type.layout;
    if (shape.length === 0 || sharedIndex.at(-1)!.extent === null || index.at(-1)!.extent === null || l.strides.at(-1) !== 1) return null;
    // A run is the fewest whole elements that fill whole chunks of n bytes: for 3-bit elements and 8-byte
    // chunks, 64 elements in three chunks. Inside a run the chunks split elements, but the run moves whole.
    const runOfChunk = (n: number): number => (n * 8) / gcd(bits, n * 8);
    const bytes = [16, 8, 4].find((n) => {
      const run = runOfChunk(n);
      return shape.at(-1)! % run === 0 && sh.offset % n === 0 &&
        l.strides.every((st, d) => d === l.strides.length - 1 || (st * bits) % (n * 8) === 0) &&
        (!l.swizzle || (1 << l.swizzle.base) % run === 0);
    });
    if (bytes === undefined) return null;
    const run = runOfChunk(bytes);
    const runShape = [...shape.slice(0, -1), shape.at(-1)! / run];
    const st = rowMajorStrides(runShape);
    const r = this.fresh('r', 'i32');
    const vars = runShape.map((n, d) => {
      const v = op('i32.rem_u', op('i32.div_u', get(r), i32(st[d]!)), i32(n));
      return d === runShape.length - 1 ? mul(v, i32(run)) : v;
    });
    const src = sliceCoords(index, vars, (id) => this.scalar(id));
    const dst = sliceCoords(sharedIndex, vars, (id) => this.scalar(id));
    const d = src.length - 1;
    const inside = op('i32.and', this.inside(t, src), op('i32.lt_u', add(src[d]!, i32(run - 1)), get(t.dims[d]!)));
    // The global end's bytes from its element index (alignedFieldByte: its offset in bits wraps past 512
    // MiB, though not its low bits, which the alignment tests read); the shared end by its bit offset.
    const linear = this.globalLinear(t, src);
    const bitAt = mul(linear, i32(bits));
    const sharedBitAt = mul(sharedElementOffset(l, dst), i32(bits));
    const to = add(i32(sh.offset), op('i32.shr_u', sharedBitAt, i32(3)));
    // Both ends aligned to n bytes (a slice may start anywhere along the last dimension, in either memory).
    const aligned = (n: number, at: Expr): Expr => op('i32.eqz', op('i32.and', at, i32(n * 8 - 1)));
    const both = (n: number): Expr => aligned(n, op('i32.or', bitAt, sharedBitAt));
    const inChunks = (n: number): Stmt[] => Array.from({ length: (run * bits) / (n * 8) }, (_, c) => ({
      k: 'copywords', mem: t.mem, addr: add(alignedFieldByte(linear, bits, n * 8), i32(c * n)), sharedAddr: add(to, i32(c * n)), words: (n / 4) as 1 | 2 | 4,
    }));
    // A run that its row leaves misaligned for the chunk (a row of 328 u4 is 164 bytes) goes by words
    // where both ends are word-aligned. Else, where the shared end is, its shared words are stored whole
    // (they are this thread's: no atomics), put together from the global words they straddle; else
    // element by element, at once, with zeros outside.
    const u = this.fresh('u', 'i32');
    const code = this.fresh('cp', 'i32');
    const at = (coords: Expr[]): Expr[] => [...coords.slice(0, -1), add(coords.at(-1)!, get(u))];
    const slow: Stmt[] = [{ k: 'for', var: u, start: i32(0), end: i32(run), step: i32(1), body: [...this.readGlobalCode(t, at(src), code), ...this.writeShared(sh, at(dst), get(code))] }];
    const words = (run * bits) / 32;
    const straddling = this.shiftedWords(t.mem, linear, bits, to, words);
    const edge = zeroCode(t.dtype) === 0 ? this.edgeWordsToShared(t, src, linear, run, bits, to) : slow;
    const misaligned = ifThen(aligned(4, sharedBitAt), [ifThen(inside, straddling, edge)], slow);
    const inside4 = bytes > 4 ? ifThen(op('i32.and', inside, both(4)), inChunks(4), [misaligned]) : misaligned;
    return [forLoop(r, get('tid'), i32(size(runShape)), [ifThen(op('i32.and', inside, both(bytes)), inChunks(bytes), [inside4])], i32(this.kernel.threads))];
  }

  /**
   * Stores `words` words at shared byte `to`: the global bits from field `linear` (of `bits` bits) on
   * (not word-aligned: s bits into a global word, 0 < s < 32), each word shifted together from the two
   * global words it straddles, in a loop kept rolled (unrolled, the twelve words of a u3 run took 8 more
   * registers in the u3 GEMV).
   */
  shiftedWords(mem: string, linear: Expr, bits: number, to: Expr, words: number): Stmt[] {
    const [s, w, lo, hi] = [this.fresh('s', 'i32'), this.fresh('w', 'i32'), this.fresh('cw', 'i32'), this.fresh('cw', 'i32')];
    const from = this.fresh('ga', 'i32');
    const globalWord = (at: Expr): Expr => ({ k: 'load', type: 'i32', bits: 32, signed: false, addr: at, offset: 0, mem });
    return [
      set(s, fieldBit(linear, bits)),
      set(from, op('i32.shl', fieldWord(linear, bits), i32(2))),
      set(lo, globalWord(get(from))),
      {
        k: 'for', var: w, start: i32(0), end: i32(words), step: i32(1), unroll: false, body: [
          set(hi, globalWord(add(get(from), op('i32.shl', add(get(w), i32(1)), i32(2))))),
          { k: 'store', bits: 32, addr: add(to, op('i32.shl', get(w), i32(2))), offset: 0, mem: 'shared', value: op('i32.or', op('i32.shr_u', get(lo), get(s)), op('i32.shl', get(hi), op('i32.sub', i32(32), get(s)))) },
          set(lo, get(hi)),
        ],
      },
    ];
  }

  /**
   * Stores the words of a run at the tensor's edge (edgeRun) at shared byte `to`, in a loop: each word
   * from the one or two global words holding its bits inside the tensor (only those are read), its bits
   * past the edge 0, the code of zero; the loop kept rolled (unrolled, as edgeWords is, it took 7 more
   * registers in the u4 M = 4096 tiles).
   */
  edgeWordsToShared(t: TensorInfo, first: readonly Expr[], linear: Expr, run: number, bits: number, to: Expr): Stmt[] {
    const { stmts, inBits, pos, sh } = this.edgeRun(t, first, linear, run, bits);
    const [w, word, valid] = [this.fresh('w', 'i32'), this.fresh('cw', 'i32'), this.fresh('nv', 'i32')];
    const at = op('i32.add', get(pos), get(w));
    return [...stmts, { k: 'for', var: w, start: i32(0), end: i32((run * bits) / 32), step: i32(1), unroll: false, body: [
      set(valid, op('i32.sub', get(inBits), op('i32.shl', get(w), i32(5)))),
      set(word, i32(0)),
      ifThen(op('i32.gt_s', get(valid), i32(0)), [...straddledWord(t.mem, at, sh, get(valid), word), set(word, op('i32.and', get(word), lowBits(get(valid))))]),
      { k: 'store', bits: 32, addr: add(to, op('i32.shl', get(w), i32(2))), offset: 0, mem: 'shared', value: get(word) },
    ] }];
  }

  // ---- global and shared memory ----

  globalLinear(t: TensorInfo, coords: readonly Expr[]): Expr {
    return coords.reduce<Expr>((acc, c, i) => (i === 0 ? c : add(mul(acc, get(t.dims[i]!)), c)), i32(0));
  }

  inside(t: TensorInfo, coords: readonly Expr[]): Expr {
    return coords.map((c, i) => op('i32.lt_u', c, get(t.dims[i]!))).reduce((a, b) => op('i32.and', a, b));
  }

  readCode(mem: string, bits: number, linear: Expr): Expr {
    if (bits === 32) return { k: 'load', type: 'i32', bits: 32, signed: false, addr: mul(linear, i32(4)), offset: 0, mem };
    if (bits === 16 || bits === 8) return { k: 'load', type: 'i32', bits, signed: false, addr: mul(linear, i32(bits / 8)), offset: 0, mem };
    // The field within its short block (fieldBlock): the bit-field read's index * width stays small.
    const { byte, index } = fieldBlock(linear, bits);
    return { k: 'bits', base: byte, index, width: bits, mem };
  }

  /** Sets `into` to the code of a global element, or to the code of zero outside the tensor. */
  readGlobalCode(t: TensorInfo, coords: readonly Expr[], into: string): Stmt[] {
    const bits = parseDType(t.dtype).bits;
    const zero = zeroCode(t.dtype);
    return [ifThen(this.inside(t, coords), [set(into, this.readCode(t.mem, bits, this.globalLinear(t, coords)))], [set(into, i32(zero))])];
  }

  writeCode(mem: string, base: Expr, bits: number, linear: Expr, code: Expr): Stmt[] {
    if (bits === 32 || bits === 16 || bits === 8) {
      return [{ k: 'store', bits: bits as 8 | 16 | 32, addr: add(base, mul(linear, i32(bits / 8))), offset: 0, value: code, mem }];
    }
    return subByteStore(mem, base, linear, code, bits, (prefix) => this.fresh(prefix, 'i32'));
  }

  writeShared(sh: SharedSlot, coords: readonly Expr[], code: Expr): Stmt[] {
    const bits = parseDType(sh.type.dtype).bits;
    return this.writeCode('shared', i32(sh.offset), bits, sharedElementOffset(sh.type.layout, coords), code);
  }

  readShared(sh: SharedSlot, coords: readonly Expr[]): Expr {
    return this.readSharedAt(sh, sharedElementOffset(sh.type.layout, coords));
  }

  /** The code of the shared element at offset `o` (an element offset, swizzle applied). */
  readSharedAt(sh: SharedSlot, o: Expr): Expr {
    const bits = parseDType(sh.type.dtype).bits;
    if (bits >= 8) return { k: 'load', type: 'i32', bits: bits as 8 | 16 | 32, signed: false, addr: add(mul(o, i32(bits / 8)), i32(sh.offset)), offset: 0, mem: 'shared' };
    return { k: 'bits', base: i32(sh.offset), index: o, width: bits, mem: 'shared' };
  }

  /** The unswizzled element offset in `l` of the thread's first element of a slice laid out by `layout`. */
  threadOffset(l: SharedLayout, index: readonly IndexEntry[], layout: RegisterLayout): Expr {
    return sharedElementOffset({ ...l, swizzle: null }, sliceCoords(index, this.layoutOf(layout).coords.map((c) => get(c)), (v) => this.scalar(v)));
  }

  /**
   * The swizzled offsets of a slice's elements held in `layout` as the sum of a thread's part and a
   * local's, each swizzled on its own, where that sum equals the swizzle of the whole offset for every
   * thread and local (checked here, element by element; slice offsets that are not constants must move
   * by whole periods of the swizzle): the thread's part is then computed once, the local's is a constant
   * in an unrolled loop, and the sum is an address plus an immediate; else, where their exclusive or
   * equals the swizzle of the whole (the parts share no bit), one exclusive or per element. Without
   * either, each element's offset is swizzled whole: about five more operations per element read (the u4
   * B tiles of the M = 16 dequant-GEMM: 62 -> 103 registers on sm_90a). Null where neither holds.
   */
  splitSwizzle(sh: SharedSlot, index: readonly IndexEntry[], layout: RegisterLayout): SplitSwizzle | null {
    const l = sh.type.layout;
    const sw = l.swizzle;
    if (!sw) return null;
    const period = 2 ** (sw.base + sw.shift + sw.bits);
    const f = (o: number): number => swizzleOffset(sw, o);
    // The slice's dimensions: constant offsets, or multiples of the period.
    const fixed: number[] = [];
    for (let d = 0; d < index.length; d++) {
      const c = this.constants.get(index[d]!.offset);
      if (c === undefined && l.strides[d]! % period !== 0) return null;
      fixed.push(c ?? 0);
    }
    const offsetOf = (coords: readonly number[]): number => tileOffset(l, index, coords);
    const base = fixed.reduce((o, c, d) => o + c * l.strides[d]!, 0);
    const locals = Array.from({ length: localSize(layout) }, (_, j) => offsetOf(localCoords(layout, j)));
    // The two parts combine by an addition (foldable into the address) where that gives every element's
    // offset, else by an exclusive or where that does (the swizzle is linear over it), else not at all.
    const holds = (combine: (x: number, y: number) => number): boolean => {
      for (let t = 0; t < threadCount(layout); t++) {
        const a = base + offsetOf(logicalIndex(layout, t, 0));
        for (const c of locals) if (f(a + c) !== combine(f(a), f(c))) return false;
      }
      return true;
    };
    const combine = holds((x, y) => x + y) ? 'add' : holds((x, y) => x ^ y) ? 'xor' : null;
    if (!combine) return null;
    return {
      thread: swizzled(sw, this.threadOffset(l, index, layout)),
      local: (j) => swizzled(sw, tileOffsetExpr(l, index, this.localCoordsOf(layout, j))),
      locals: locals.map(f),
      combine,
    };
  }

  /**
   * The reads of a load's elements at the offsets of a split swizzle (splitSwizzle). Codes of whole
   * bytes: at the thread's address combined with the local's, both scaled to bytes (an addition
   * becomes the load's immediate offset). Codes of 1, 2 or 4 bits where every local's part holds whole
   * bytes: the byte at the thread's byte plus (or exclusive or) the local's, shifted by the thread's own
   * bit position, one shift and one mask per code (the whole offset's byte and bit position took about
   * ten operations per code: the u4 B tiles of the M = 16 dequant-GEMM). Else each offset whole.
   */
  readSplit(sh: SharedSlot, split: SplitSwizzle): (j: Expr) => Expr {
    const bits = parseDType(sh.type.dtype).bits;
    const join = (x: Expr, y: Expr): Expr => (split.combine === 'add' ? add(x, y) : op('i32.xor', x, y));
    // Multiplying by a power of two distributes over both combinations, shifting right over an
    // exclusive or, and over an addition whose second term is a multiple of the divisor.
    if (bits === 8 || bits === 16 || bits === 32) {
      const b = i32(bits / 8);
      return (j) => ({ k: 'load', type: 'i32', bits, signed: false, addr: add(join(mul(split.thread, b), mul(split.local(j), b)), i32(sh.offset)), offset: 0, mem: 'shared' });
    }
    const per = 8 / bits;
    if (Number.isInteger(per) && split.locals.every((v) => v % per === 0)) {
      const s = Math.log2(per);
      const byte = op('i32.shr_u', split.thread, i32(s));
      const shift = mul(op('i32.and', split.thread, i32(per - 1)), i32(bits));
      return (j) => op('i32.and', op('i32.shr_u', { k: 'load', type: 'i32', bits: 8, signed: false, addr: add(join(byte, op('i32.shr_u', split.local(j), i32(s))), i32(sh.offset)), offset: 0, mem: 'shared' }, shift), i32((1 << bits) - 1));
    }
    return (j) => this.readSharedAt(sh, join(split.thread, split.local(j)));
  }

  /**
   * A store to a global slice, by the threads that hold the elements (one of each set of replicas).
   * Accumulating stores add each element atomically (no wide accesses: a word at a time).
   */
  storeGlobal(name: string, index: readonly IndexEntry[], x: RTile | null, id: ValueId, accumulate: boolean): void {
    const t = this.tensors.get(name)!;
    const bits = parseDType(t.dtype).bits;
    if (accumulate) {
      const addTo = (coords: Expr[], v: Expr): Stmt[] => [ifThen(this.inside(t, coords), [
        { k: 'atomic', op: t.dtype === 'f32' ? 'fadd' : 'add', addr: mul(this.globalLinear(t, coords), i32(4)), value: v, mem: t.mem },
      ])];
      if (!x) this.out.push(...this.forSliceElements(index, (coords) => addTo(coords, this.scalar(id))));
      else this.out.push(ifThen(this.primaryOf(x.layout), this.forLocals(x.length, (j) => addTo(sliceCoords(index, this.coordsOf(x.layout, j), (v) => this.scalar(v)), aget(x, j)))));
      return;
    }
    if (!x) {
      const v = codeFromHeld(t.dtype, this.scalar(id));
      this.out.push(...this.forSliceElements(index, (coords) => [ifThen(this.inside(t, coords), this.writeCode(t.mem, i32(0), bits, this.globalLinear(t, coords), v))]));
      return;
    }
    const run = runOf(x.layout);
    if (run !== null && (run * bits) % 32 === 0 && index.at(-1)!.extent !== null) {
      this.out.push(ifThen(this.primaryOf(x.layout), this.vectorStore(t, index, x, run, bits)));
      return;
    }
    const writes = this.forLocals(x.length, (j) => {
      const coords = sliceCoords(index, this.coordsOf(x.layout, j), (v) => this.scalar(v));
      return [ifThen(this.inside(t, coords), this.writeCode(t.mem, i32(0), bits, this.globalLinear(t, coords), codeFromHeld(t.dtype, aget(x, j))))];
    });
    this.out.push(ifThen(this.primaryOf(x.layout), writes));
  }

  // ---- definitions ----

  def(id: ValueId, type: Type, inst: Inst): void {
    if (type.kind === 'shared') return; // placed before lowering
    if (inst.op === 'load_shared' && this.deferredShared.has(id)) {
      this.sharedOperands.set(id, { slot: this.shared.get(inst.shared)!, index: inst.index });
      return;
    }
    if (inst.op === 'permute' && this.deferredShared.has(id)) {
      const source = this.sharedOperands.get(inst.x)!;
      this.sharedOperands.set(id, { ...source, transposed: !source.transposed });
      return;
    }
    if (type.kind === 'scalar') {
      const name = this.fresh('s', heldOf(type.dtype));
      this.scalars.set(id, name);
      this.scalarTypes.set(id, type.dtype);
      this.out.push(set(name, scalarInst(inst, type.dtype, {
        value: (x) => this.scalar(x),
        dtypeOf: (x) => this.typeOfValue(x),
        varName: (v) => this.vars.get(v) as string,
        tables: this.tables,
      })));
      return;
    }
    // A value built from bits (scaledConversion) is formed the same way where it has several uses, and
    // then computed into registers once.
    const bitsBuilt = this.scaledBiasedCasts.has(id) && !this.fusible.has(id);
    if ((this.fusible.has(id) || bitsBuilt) && ['unary', 'binary', 'select', 'fma', 'cast', 'iota'].includes(inst.op)) {
      const layout = type.layout!;
      const shape = type.shape;
      // Operands are taken now (converted if they need it), elements later, where the one use needs them.
      const probe: RTile = { dtype: type.dtype, shape, layout, array: '', length: localSize(layout) };
      const coords = (j: Expr): Expr[] => this.coordsOf(layout, j);
      let at: (j: Expr) => Expr;
      switch (inst.op) {
        case 'unary': {
          const x = this.elementOperand(inst.x, probe);
          at = (j) => unaryElem(inst.fn, type.dtype, x(j), this.tables);
          break;
        }
        case 'binary': {
          // (cast(codes) - c) * s: the cast stays lazy until the element form is needed, so that a dot
          // can take the codes and the scales (fragmentCodes) and multiply them as f16 pairs.
          const scaled = this.scaledCasts.get(id);
          const inner = scaled && this.lazy.get(scaled.cast);
          if (scaled && inner && layoutEquals(inner.layout, layout) && sameShape(inner.shape, shape)) {
            const scale = this.elementOperand(scaled.scale, probe);
            this.scaledOperands.set(id, { cast: scaled.cast, layout, scale });
            let x: ((j: Expr) => Expr) | null = null;
            at = (j) => binaryElem('mul', type.dtype, (x ??= this.elementOperand(scaled.cast, probe))(j), scale(j), this.tables);
            break;
          }
          // (cast(codes) + c) * m: bits alone (see scaledConversion).
          const bits = this.scaledConversion(id, probe);
          if (bits) {
            at = bits;
            break;
          }
          // cast(codes) - c (a fixed zero point): c joins the cast's own subtraction (see cast).
          const folded = this.biasedConversion(id, probe);
          if (folded) {
            at = folded;
            break;
          }
          const operandType = this.typeOfValue(inst.a);
          const [a, b] = [this.elementOperand(inst.a, probe), this.elementOperand(inst.b, probe)];
          if (inst.fn === 'mul' && type.dtype === 'f32') this.products.set(id, { a, b });
          at = (j) => binaryElem(inst.fn, operandType, a(j), b(j), this.tables);
          break;
        }
        case 'select': {
          const [c, a, b] = [this.elementOperand(inst.cond, probe), this.elementOperand(inst.a, probe), this.elementOperand(inst.b, probe)];
          at = (j) => ({ k: 'select', cond: c(j), a: a(j), b: b(j) });
          break;
        }
        case 'fma': {
          const [a, b, c] = [this.elementOperand(inst.a, probe), this.elementOperand(inst.b, probe), this.elementOperand(inst.c, probe)];
          at = (j) => fmaElem(type.dtype, a(j), b(j), c(j), this.tables);
          break;
        }
        case 'cast': {
          const from = this.typeOfValue(inst.x);
          const looked = this.castByLookup(inst.x, from, type.dtype, probe);
          const x = this.elementOperand(inst.x, probe);
          at = (j) => (j.k === 'const' ? looked?.(j.value) : undefined) ?? this.cast(from, type.dtype, x(j));
          break;
        }
        default: {
          const axis = (inst as { axis: number }).axis;
          at = (j) => castHeld('i32', type.dtype, coords(j)[axis]!, this.tables);
        }
      }
      this.lazy.set(id, { dtype: type.dtype, shape, layout, at });
      if (bitsBuilt) this.tile(id, this.features.bytePermute === true);
      return;
    }
    this.tiles.set(id, this.defTile(type, inst));
  }

  /**
   * A cast of one element. From an integer of 8 bits or fewer to a float, the code goes into the
   * mantissa of 2^23 (f32 bits 0x4B000000 | code, exactly 2^23 + code) and 2^23 is subtracted: a logic
   * operation and an add, both full-rate on GPUs, instead of an integer-to-float conversion, which
   * runs at a quarter of that rate or less and limits low-bit GEMVs. Signed codes flip their sign bit
   * first (code ^ S is the value + S) and subtract 2^23 + S. Exact for every code, as the VM's cast.
   */
  cast(from: string, to: string, v: Expr, bias = 0): Expr {
    const t = parseDType(from);
    if (!((t.kind === 'int' || t.kind === 'uint') && t.bits <= 8 && heldOf(to) === 'f32' && to !== 'bool')) return castHeld(from, to, v, this.tables, { minifloatArithmetic: this.features.minifloatArithmetic === true, narrowMinifloatArithmetic: this.features.minifloatArithmetic === true });
    const mask = (1 << t.bits) - 1;
    const sign = t.kind === 'int' ? 1 << (t.bits - 1) : 0;
    const field = t.kind === 'int' ? op('i32.and', op('i32.xor', v, i32(sign)), i32(mask)) : v;
    // Held as f32 for f16 and bf16 too, where every such integer is exact (as castHeld has it). A bias
    // (biasedConversion) is taken off in the same subtraction: 2^23 + field - (2^23 + S + bias), exact.
    return op('f32.sub', op('f32.from_bits', op('i32.or', field, i32(0x4b000000))), f32(2 ** 23 + sign + bias));
  }

  /**
   * The elements of `cast(codes) - c` (or `+ c`; biasedCasts), codes integers of 8 bits or fewer and c
   * a constant, as one conversion whose subtraction takes c off too: one add per element instead of
   * two. Only where every result is an integer the result type holds exactly, as the VM's cast then
   * subtraction gives it. Null otherwise.
   */
  biasedConversion(id: ValueId, probe: RTile): ((j: Expr) => Expr) | null {
    const biased = this.biasedCasts.get(id);
    const src = biased && this.castSources.get(biased.cast);
    if (!biased || src === undefined || !this.lazy.has(biased.cast) || this.scalars.has(src)) return null;
    const from = parseDType(this.typeOfValue(src));
    if (!(from.kind === 'int' || from.kind === 'uint') || from.bits > 8 || heldOf(probe.dtype) !== 'f32' || probe.dtype === 'bool') return null;
    const [lo, hi] = from.kind === 'int' ? [-(2 ** (from.bits - 1)), 2 ** (from.bits - 1) - 1] : [0, 2 ** from.bits - 1];
    const limit = probe.dtype === 'f32' ? 2 ** 24 : 256; // integers every float type holds (bf16: 256)
    if (!Number.isInteger(biased.bias) || Math.max(Math.abs(lo - biased.bias), Math.abs(hi - biased.bias)) > limit) return null;
    // The one constant subtracted, 2^23 + S + bias, must be an f32 integer too.
    const subtrahend = 2 ** 23 + (from.kind === 'int' ? -lo : 0) + biased.bias;
    if (subtrahend < 0 || subtrahend > 2 ** 24) return null;
    this.lazy.delete(biased.cast);
    const held = this.heldLike(src, probe);
    const fields = held && this.codeFields.get(held.array);
    const x = this.elementOperand(src, probe);
    this.biasedCodes.set(id, { codes: x, from: from.name, bias: biased.bias, fields });
    return (j) => this.cast(from.name, probe.dtype, x(j), biased.bias);
  }

  /**
   * The elements of `(cast(codes) + c) * m` as f32 bits alone, no arithmetic: where the codes' field
   * (signed codes with the sign bit flipped, as in cast) plus c is 2^e + field with field < 2^e, that
   * sum's f32 bits are 2^e's with the field in the top of the mantissa, and m, a power of two, only
   * moves the exponent: (cast(u4) + 16) * 0.0625 = 1 + code / 16 is bits 0x3F800000 | code << 19. The
   * dequant GEMV's rows-per-thread form takes its weights so (one logic operation each, with the
   * shift that extracts the field) and takes 1 (and the zero) off once per group of rows. Exact, as the
   * VM's cast, addition and multiplication give it. Null where the constants do not allow it.
   */
  scaledConversion(id: ValueId, probe: RTile): ((j: Expr) => Expr) | null {
    const scaled = this.scaledBiasedCasts.get(id);
    const codes = scaled && this.biasedCodes.get(scaled.biased);
    if (!scaled || !codes || probe.dtype !== 'f32') return null;
    const biased = this.lazy.get(scaled.biased);
    if (!biased || !sameShape(biased.shape, probe.shape) || !layoutEquals(biased.layout, probe.layout)) return null;
    const t = parseDType(codes.from);
    const sign = t.kind === 'int' ? 1 << (t.bits - 1) : 0;
    // cast(code) - bias = field - sign - bias: 2^e + field for e = log2(-(sign + bias)).
    const e = Math.log2(-(sign + codes.bias));
    const shift = Math.log2(Math.abs(scaled.scale));
    const exponent = 127 + e + shift;
    if (!(Number.isInteger(e) && e >= t.bits && e <= 23 && Number.isInteger(shift) && scaled.scale > 0 && exponent >= 1 && exponent <= 254)) return null;
    this.lazy.delete(scaled.biased);
    const mask = (1 << t.bits) - 1;
    const fieldOf = (j: Expr): Expr => (t.kind === 'int' ? op('i32.and', op('i32.xor', codes.codes(j), i32(sign)), i32(mask)) : codes.codes(j));
    const bytes = this.features.bytePermute ? this.fieldBytes(codes.fields, t.bits, 7 - e) : null;
    return (j) => {
      // Codes of one word that share their place in a byte (u4: the even ones, the odd ones): their
      // fields moved to bit 7 - e of their bytes at once (one shift and one mask of the word, once the
      // compiler below sees the fields' shifts and masks of one word), with exponent's lowest bit above
      // them; then each code's f32 is one byte permutation: that byte to bits 16..23 under the
      // exponent's other bits. u4: 12 instructions for a word's 8 codes instead of 16.
      const group = j.k === 'const' ? bytes?.get(j.value) : undefined;
      if (group) {
        const placed = group.members.map(({ element, byte }) => op('i32.shl', fieldOf(i32(element)), i32(8 * byte + 7 - e))).reduce((x, y) => op('i32.or', x, y));
        const x = op('i32.or', placed, i32((exponent & 1) * 0x80808080 | 0));
        return op('f32.from_bits', { k: 'intrinsic', name: 'gpu.byte_perm', type: 'i32', args: [x, i32(exponent >> 1), i32(0x4055 | (group.byte << 8))] });
      }
      return op('f32.from_bits', op('i32.or', op('i32.shl', fieldOf(j), i32(23 - e)), i32(exponent << 23)));
    };
  }

  /**
   * Casts of 4-bit minifloat codes to f32 (or to f16 or bf16, held as f32) by byte lookups, where the
   * target permutes bytes and the codes are a register array whose words are kept (codeWords): a
   * 4-bit minifloat's value has at most 2 mantissa bits, so its f32's low 16 bits are 0, and the top
   * two bytes of the 8 magnitudes' values make two 8-entry byte tables. For four codes in one 16-bit half
   * of a word, that half selects (each nibble's low three bits: the magnitude) their top bytes from one
   * table and their second bytes from the other, one permutation each; each code's f32 is then one
   * permutation of those two words, its low bytes 0 (a top byte's top bit, which is 0, replicated), and
   * its sign bit, moved by one shift and one mask of the word. About 4 integer instructions per code
   * against the fields-and-multiply conversion's 5 or 6. The value of element j (a constant index), or
   * undefined where its half of a word holds fewer than three codes of the array; null where no element
   * qualifies.
   */
  castByLookup(src: ValueId, from: string, to: string, probe: RTile): ((j: number) => Expr | undefined) | null {
    const t = parseDType(from);
    if (!this.features.bytePermute || t.kind !== 'float' || t.bits !== 4 || t.specials !== 'finite' || heldOf(to) !== 'f32' || to === 'bool') return null;
    const held = this.heldLike(src, probe);
    if (!held) return null;
    const [fields, words] = [this.codeFields.get(held.array), this.codeWords.get(held.array)];
    if (!fields || !words) return null;
    // The f32 bits of each magnitude's value: 0 below bit 16, a positive top byte, and each negative
    // code's bits the positive one's with the sign bit set.
    const bitsOf = (c: number): number => codeOf('f32', castElement(from, to, c));
    const values = Array.from({ length: 8 }, (_, c) => bitsOf(c));
    if (values.some((v, c) => (v & 0xffff) !== 0 || v >>> 31 !== 0 || bitsOf(c | 8) !== (v | 0x80000000) >>> 0)) return null;
    const table = (byte: number): [Expr, Expr] => {
      const b = values.map((v) => (v >>> (8 * byte)) & 0xff);
      return [i32(b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)), i32(b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24))];
    };
    const [top, second] = [table(3), table(2)];
    // Codes per 16-bit half of a word (numbered 2 word + half).
    const halfOf = (fd: CodeField): number => fd.word * 2 + (fd.shift >> 4);
    const count = new Map<number, number>();
    for (const fd of fields) if (fd && (fd.shift & 3) === 0) count.set(halfOf(fd), (count.get(halfOf(fd)) ?? 0) + 1);
    if (![...count.values()].some((n) => n >= 3)) return null;
    const perm = (name: 'gpu.byte_perm' | 'gpu.prmt', a: Expr, b: Expr, s: Expr): Expr => ({ k: 'intrinsic', name, type: 'i32', args: [a, b, s] });
    return (j) => {
      const fd = fields[j];
      if (!fd || (fd.shift & 3) !== 0 || (count.get(halfOf(fd)) ?? 0) < 3) return undefined;
      const word: Expr = { k: 'aget', array: words, index: i32(fd.word) };
      const half = fd.shift >= 16 ? op('i32.shr_u', word, i32(16)) : word;
      const q = (fd.shift >> 2) & 3;
      const [hi, lo] = [perm('gpu.byte_perm', top[0], top[1], half), perm('gpu.byte_perm', second[0], second[1], half)];
      // Bytes 0 and 1: the top byte's top bit (0) replicated; byte 2: the second byte; byte 3: the top byte.
      const bits = perm('gpu.prmt', lo, hi, i32(((4 + q) << 12) | (q << 8) | ((12 + q) << 4) | (12 + q)));
      return op('f32.from_bits', op('i32.or', bits, op('i32.and', op('i32.shl', word, i32(28 - fd.shift)), i32(0x80000000 | 0))));
    };
  }

  /**
   * For scaledConversion's byte permutations: each element of a register array of codes whose word
   * holds at least two other codes (three in all, where the permutations save instructions) at the
   * same place in their bytes, wholly inside them, and with room to move to bit `to` of the byte: the
   * byte it lies in and those codes (itself included), by element and byte. Null without fields.
   */
  fieldBytes(fields: CodeFields | undefined, bits: number, to: number): Map<number, { readonly byte: number; readonly members: readonly { readonly element: number; readonly byte: number }[] }> | null {
    if (!fields || to < 0 || to + bits > 7) return null;
    const groups = new Map<string, { element: number; byte: number }[]>();
    fields.forEach((f, element) => {
      if (!f || (f.shift & 7) + bits > 8) return;
      const key = `${f.word}:${f.shift & 7}`;
      const members = groups.get(key) ?? [];
      if (!members.some((m) => m.byte === f.shift >> 3)) members.push({ element, byte: f.shift >> 3 });
      groups.set(key, members);
    });
    const out = new Map<number, { byte: number; members: { element: number; byte: number }[] }>();
    for (const members of groups.values()) {
      if (members.length < 3) continue;
      for (const m of members) out.set(m.element, { byte: m.byte, members });
    }
    return out;
  }

  /**
   * The register tile that holds value `id` element for element as `probe` is laid out (its local j is
   * the probe's local j), before elementOperand takes it: where its codeFields and codeWords apply.
   */
  heldLike(id: ValueId, probe: RTile): RTile | undefined {
    const held = this.scalars.has(id) || this.lazy.has(id) ? undefined : this.tiles.get(id);
    return held && sameShape(held.shape, probe.shape) && layoutEquals(held.layout, probe.layout) ? held : undefined;
  }

  /** An operand of an element-wise instruction with result `out`: a scalar, or a tile broadcast and laid out like it. */
  elementOperand(id: ValueId, out: RTile): (j: Expr) => Expr {
    const s = this.scalars.get(id);
    if (s !== undefined) return () => get(s);
    const l = this.lazy.get(id);
    if (l && sameShape(l.shape, out.shape) && layoutEquals(l.layout, out.layout)) {
      this.lazy.delete(id);
      return l.at;
    }
    const tile = this.tile(id);
    const inThread = sameShape(tile.shape, out.shape) ? null : this.inThreadBroadcast(tile, out.shape, out.layout);
    if (inThread) return (j) => aget(tile, inThread(j));
    const x = this.broadcastTo(tile, out.shape, out.layout);
    return (j) => aget(x, j);
  }

  defTile(type: TileType, inst: Inst): RTile {
    const layout = type.layout!;
    const each = (out: RTile, f: (j: Expr, coords: () => Expr[]) => Expr): RTile => {
      this.out.push(...this.forLocals(out.length, (j) => [aset(out, j, f(j, () => this.coordsOf(layout, j)))]));
      return out;
    };
    switch (inst.op) {
      case 'unary': {
        const out = this.newTile(type.dtype, type.shape, layout);
        const x = this.elementOperand(inst.x, out);
        return each(out, (j) => unaryElem(inst.fn, type.dtype, x(j), this.tables));
      }
      case 'binary': {
        const out = this.newTile(type.dtype, type.shape, layout);
        const operandType = this.typeOfValue(inst.a);
        const [a, b] = [this.elementOperand(inst.a, out), this.elementOperand(inst.b, out)];
        return each(out, (j) => binaryElem(inst.fn, operandType, a(j), b(j), this.tables));
      }
      case 'select': {
        const out = this.newTile(type.dtype, type.shape, layout);
        const [c, a, b] = [this.elementOperand(inst.cond, out), this.elementOperand(inst.a, out), this.elementOperand(inst.b, out)];
        return each(out, (j) => ({ k: 'select', cond: c(j), a: a(j), b: b(j) }));
      }
      case 'fma': {
        const out = this.newTile(type.dtype, type.shape, layout);
        const [a, b, c] = [this.elementOperand(inst.a, out), this.elementOperand(inst.b, out), this.elementOperand(inst.c, out)];
        return each(out, (j) => fmaElem(type.dtype, a(j), b(j), c(j), this.tables));
      }
      case 'cast': {
        const out = this.newTile(type.dtype, type.shape, layout);
        const from = this.typeOfValue(inst.x);
        const x = this.elementOperand(inst.x, out);
        return each(out, (j) => this.cast(from, type.dtype, x(j)));
      }
      case 'full': {
        const v = this.fresh('f', heldOf(type.dtype));
        this.out.push(set(v, castHeld(this.typeOfValue(inst.value), type.dtype, this.scalar(inst.value), this.tables)));
        return each(this.newTile(type.dtype, type.shape, layout), () => get(v));
      }
      case 'iota':
        return each(this.newTile(type.dtype, type.shape, layout), (_, c) => castHeld('i32', type.dtype, c()[inst.axis]!, this.tables));
      case 'var_get': {
        const v = this.vars.get(inst.var) as RTile;
        const out = this.newTile(type.dtype, type.shape, layout);
        this.copyInto(out, v);
        return out;
      }
      case 'broadcast':
        return this.broadcastTo(this.tile(inst.x), type.shape, layout);
      case 'permute': {
        const x = this.tile(inst.x);
        // When x's layout permuted is the result's, every element stays where it is.
        if (layoutEquals(permuteLayout(x.layout, inst.perm), layout)) return { ...x, shape: type.shape, layout };
        const st = rowMajorStrides(x.shape);
        return this.gather(x, type.dtype, type.shape, layout, (c) => inst.perm.reduce<Expr>((acc, p, d) => add(acc, mul(c[d]!, i32(st[p]!))), i32(0)));
      }
      case 'reshape': {
        const x = this.tile(inst.x);
        // When x's layout reshaped is the result's, every element stays where it is (unsqueeze, mostly).
        const same = tryReshape(x.layout, type.shape);
        if (same && layoutEquals(same, layout)) return { ...x, shape: type.shape, layout };
        const st = rowMajorStrides(type.shape);
        return this.gather(x, type.dtype, type.shape, layout, (c) => linearOf(c, st));
      }
      case 'load': {
        const t = this.tensors.get(inst.tensor)!;
        const out = this.newTile(type.dtype, type.shape, layout);
        const bits = parseDType(t.dtype).bits;
        const run = runOf(layout);
        if (run !== null && (run * bits) % 32 === 0 && inst.index.at(-1)!.extent !== null) {
          this.out.push(...this.vectorLoad(t, inst.index, out, run, bits));
          return out;
        }
        const code = this.fresh('ld', 'i32');
        this.out.push(...this.forLocals(out.length, (j) => {
          const coords = sliceCoords(inst.index, this.coordsOf(layout, j), (v) => this.scalar(v));
          return [...this.readGlobalCode(t, coords, code), aset(out, j, heldFromCode(t.dtype, get(code)))];
        }));
        return out;
      }
      case 'load_shared': {
        const sh = this.shared.get(inst.shared)!;
        const vector = this.vectorLoadShared(sh, inst.index, type, layout);
        if (vector) return vector;
        const split = this.splitSwizzle(sh, inst.index, layout);
        if (split) {
          const read = this.readSplit(sh, split);
          return each(this.newTile(type.dtype, type.shape, layout), (j) => heldFromCode(sh.type.dtype, read(j)));
        }
        return each(this.newTile(type.dtype, type.shape, layout), (_, c) => heldFromCode(sh.type.dtype, this.readShared(sh, sliceCoords(inst.index, c(), (v) => this.scalar(v)))));
      }
      case 'view':
        return this.view(this.tile(inst.x), type);
      case 'dot':
        return this.dot(inst.a, inst.b, inst.c, type);
      case 'reduce':
        return this.reduce(inst.fn, inst.x, inst.axis, type);
      default:
        throw new Error(`lowerGpu: ${inst.op} does not produce a tile`);
    }
  }

  /**
   * A load whose layout gives each thread runs of `run` consecutive elements along the tensor's last
   * dimension, `run * bits` a whole number of words: each run inside the tensor and aligned to its
   * access is read as words (up to 128 bits at once) and its fields unpacked from them; other runs take
   * the per-element path.
   */
  vectorLoad(t: TensorInfo, index: readonly IndexEntry[], out: RTile, run: number, bits: number): Stmt[] {
    const words = (run * bits) / 32;
    const group = widestAccess(words);
    const names = Array.from({ length: words }, () => this.fresh('w', 'i32'));
    return this.forLocals(out.length / run, (q) => {
      const j0 = mul(q, i32(run));
      const first = sliceCoords(index, this.coordsOf(out.layout, j0), (v) => this.scalar(v));
      const d = first.length - 1;
      const end = add(first[d]!, i32(run - 1));
      const inside = op('i32.and', this.inside(t, first), op('i32.lt_u', end, get(t.dims[d]!)));
      // Its words from the run's element index (alignedFieldByte: its offset in bits wraps past 512 MiB,
      // though not the low bits that say whether it is aligned).
      const linear = this.globalLinear(t, first);
      const aligned = op('i32.eqz', op('i32.and', mul(linear, i32(bits)), i32(group * 32 - 1)));
      const fast: Stmt[] = [];
      for (let g = 0; g < words; g += group) {
        fast.push({ k: 'loadwords', mem: t.mem, addr: add(alignedFieldByte(linear, bits, group * 32), i32(4 * g)), names: names.slice(g, g + group) });
      }
      // The rare path (a run at an edge or misaligned) reads the same words at any bit position, with
      // the elements past the tensor's edge masked off, and unpacks them the same way: no register array
      // indexed by a loop variable, which a GPU compiler that does not unroll the loop keeps in memory.
      // (Each path unpacks its own words: one unpacking after both costs ptxas up to 37 registers in
      // the M = 4096 tiles.)
      const slow = this.edgeWords(t, first, linear, run, bits, names);
      const unpack = unpackRun(names, run, bits, t.dtype, out, j0);
      return [ifThen(op('i32.and', inside, aligned), [...fast, ...unpack], [...slow, ...unpack])];
    });
  }

  /**
   * Where a run of elements along the last dimension that starts at `first` (element `linear` of t's
   * memory) lies: its first memory word (`pos`, a local), its bit in that word (`sh`), and how many of
   * its bits lie inside the tensor (none where `first` is outside): the edge paths of word-run loads and
   * stores, which read or write each of the run's words at any bit alignment, up to the tensor's edge.
   */
  edgeRun(t: TensorInfo, first: readonly Expr[], linear: Expr, run: number, bits: number): { readonly stmts: Stmt[]; readonly inBits: string; readonly pos: string; readonly sh: Expr } {
    const d = first.length - 1;
    const [inBits, pos, sh] = [this.fresh('nb', 'i32'), this.fresh('bp', 'i32'), this.fresh('bs', 'i32')];
    const stmts = [
      set(inBits, { k: 'select', cond: this.inside(t, first), a: mul(op('i32.min_s', op('i32.sub', get(t.dims[d]!), first[d]!), i32(run)), i32(bits)), b: i32(0) }),
      set(pos, fieldWord(linear, bits)),
      set(sh, fieldBit(linear, bits)),
    ];
    return { stmts, inBits, pos, sh: get(sh) };
  }

  /**
   * Sets the words `names` to the `run * bits` bits of a run (edgeRun), each from the one or two memory
   * words it straddles, its bits past the tensor's edge replaced by the code of zero. Only memory words
   * holding elements inside the tensor are read.
   */
  edgeWords(t: TensorInfo, first: readonly Expr[], linear: Expr, run: number, bits: number, names: readonly string[]): Stmt[] {
    const { stmts, inBits, pos, sh } = this.edgeRun(t, first, linear, run, bits);
    const word = bits === 32 ? '' : this.fresh('bw', 'i32');
    const zero = zeroCode(t.dtype);
    const zeroWord = (w: number): number => {
      let v = 0;
      for (let u = 0; u < run; u++) {
        const at = u * bits - 32 * w;
        if (at < 32 && at + bits > 0) v |= at >= 0 ? zero << at : zero >>> -at;
      }
      return v | 0;
    };
    const out = [...stmts];
    names.forEach((name, w) => {
      const valid = op('i32.sub', get(inBits), i32(32 * w));
      const at = op('i32.add', get(pos), i32(w));
      if (bits === 32) {
        // Elements of a word each: the run starts on a word, and a word is inside or outside whole.
        out.push(set(name, i32(zero)), ifThen(op('i32.gt_s', valid, i32(0)), [set(name, wordAt(t.mem, at))]));
        return;
      }
      const mask = lowBits(valid);
      const masked = zeroWord(w) === 0 ? op('i32.and', get(word), mask) : op('i32.or', op('i32.and', get(word), mask), op('i32.and', i32(zeroWord(w)), op('i32.xor', mask, i32(-1))));
      out.push(set(name, i32(zeroWord(w))), ifThen(op('i32.gt_s', valid, i32(0)), [...straddledWord(t.mem, at, sh, valid, word), set(name, masked)]));
    });
    return out;
  }

  /**
   * Stores a run (edgeRun) up to the tensor's edge: bytes and halves element by element (`codes`, the
   * elements' codes), as every store of them is; words of 32-bit elements whole; narrower elements a
   * word of the run (`values`) at a time, its bits inside the tensor cleared and set atomically in the
   * one or two memory words they straddle (setBits), as every store of less than a byte is.
   */
  edgeStore(t: TensorInfo, first: readonly Expr[], linear: Expr, run: number, bits: number, values: readonly Expr[], codes: readonly string[]): Stmt[] {
    if (bits === 8 || bits === 16) {
      const { stmts, inBits } = this.edgeRun(t, first, linear, run, bits);
      const at = this.fresh('ba', 'i32');
      return [...stmts, set(at, fieldByte(linear, bits)), ...codes.map((c, u) => ifThen(op('i32.gt_s', get(inBits), i32(u * bits)), [
        { k: 'store', bits, addr: add(get(at), i32((u * bits) / 8)), offset: 0, value: get(c), mem: t.mem } as Stmt,
      ]))];
    }
    const { stmts, inBits, pos, sh } = this.edgeRun(t, first, linear, run, bits);
    const [word, mask] = bits === 32 ? ['', ''] : [this.fresh('bw', 'i32'), this.fresh('bm', 'i32')];
    const out = [...stmts];
    values.forEach((value, w) => {
      const valid = op('i32.sub', get(inBits), i32(32 * w));
      const addr = op('i32.shl', op('i32.add', get(pos), i32(w)), i32(2));
      if (bits === 32) {
        // Elements of a word each: the run starts on a word, and a word is inside or outside whole.
        out.push(ifThen(op('i32.gt_s', valid, i32(0)), [{ k: 'store', bits: 32, addr, offset: 0, value, mem: t.mem }]));
        return;
      }
      out.push(ifThen(op('i32.gt_s', valid, i32(0)), [
        set(mask, lowBits(valid)),
        set(word, op('i32.and', value, get(mask))),
        ...setBits(t.mem, addr, sh, get(word), op('i32.min_s', valid, i32(32)), get(mask)),
      ]));
    });
    return out;
  }

  /**
   * A load from shared memory whose layout gives each thread runs of consecutive elements along the
   * tile's last dimension that are contiguous and aligned in the allocation (runsWhole), `run * bits` a
   * whole number of words: each run is read as words, up to 128 bits at once, and its fields unpacked
   * (no bounds to check in shared memory). Null when that does not hold.
   */
  vectorLoadShared(sh: SharedSlot, index: readonly IndexEntry[], type: TileType, layout: RegisterLayout): RTile | null {
    const bits = parseDType(sh.type.dtype).bits;
    if (type.shape.length === 0) return null;
    const view = { slot: sh, index };
    // The longest run (most modes) whose accesses the shared layout keeps aligned and whole: words of
    // up to 128 bits at once; or, for runs of whole bytes whose accesses would split codes (8 or 16 codes
    // of 3, 5, 6 or 7 bits), 32-, 16- or 8-bit loads (runs of a power-of-two length start at multiples
    // of their length).
    const fits = (most: number) => {
      const runs = runsOf(layout, most);
      if (runs === null) return null;
      const dim = type.shape.length - 1;
      const words = (runs.length * bits) / 32;
      const group = widestAccess(words);
      const n = (group * 32) / bits; // elements per access
      if (Number.isInteger(words) && Number.isInteger(n) && (n & (n - 1)) === 0 && (sh.offset * 8) % (group * 32) === 0 && this.runsWhole(view, dim, n)) {
        return { runs, words, group, piece: 32, pieces: 0 };
      }
      // Pieces of 32, 16 or 8 bits, the widest that divides the run (96 bits of 16 6-bit codes: three
      // words, whose accesses no whole number of codes fills).
      const piece = [32, 16, 8].find((p) => (runs.length * bits) % p === 0);
      const ok = piece !== undefined && (runs.length & (runs.length - 1)) === 0 && sh.offset % 4 === 0 && this.runsWhole(view, dim, runs.length);
      return ok ? { runs, words: Math.ceil((runs.length * bits) / 32), group: 0, piece, pieces: (runs.length * bits) / piece } : null;
    };
    const modes = layout.modes.filter((m) => m.dim === type.shape.length - 1).length;
    const found = Array.from({ length: modes }, (_, i) => fits(modes - i)).find((x) => x !== null);
    if (!found) return null;
    const { runs, words, group, piece, pieces } = found;
    const out = this.newTile(type.dtype, type.shape, layout);
    const names = Array.from({ length: words }, () => this.fresh('w', 'i32'));
    // Word i of a run read in pieces of 8, 16 or 32 bits: pieces 32 i / piece onwards, as many as the run has.
    const perWord = 32 / piece;
    const pieceAt = (at: Expr, p: number): Expr => ({ k: 'load', type: 'i32', bits: piece as 8 | 16 | 32, signed: false, addr: add(at, i32((p * piece) / 8)), offset: 0, mem: 'shared' });
    const word = (at: Expr, i: number): Expr => Array.from({ length: Math.min(perWord, pieces - i * perWord) }, (_, u) => i * perWord + u)
      .map((p, u) => (u === 0 ? pieceAt(at, p) : op('i32.shl', pieceAt(at, p), i32(u * piece))))
      .reduce((x, y) => op('i32.or', x, y));
    // Unswizzled, where every run starts on a whole byte of the local part of its offset: the byte
    // address is the thread's (computed once) plus the local's, a constant once the loop is unrolled
    // (((a + c) * bits) >> 3 = ((a * bits) >> 3) + c * bits / 8 for c * bits a multiple of 8), which
    // the load takes as its immediate offset; the whole offset's shift would cost each run an addition,
    // a shift and a mask.
    const l = sh.type.layout;
    const split = l.swizzle === null && runs.starts.every((j) => (tileOffset(l, index, localCoords(layout, j)) * bits) % 8 === 0);
    // The words themselves, for castByLookup (4-bit codes only); nvcc drops the array where nothing reads it.
    const keep = this.features.bytePermute && bits === 4 ? this.newArray('i32', runs.count * words, 'words') : null;
    const threadByte = split ? add(op('i32.shr_u', mul(this.threadOffset(l, index, layout), i32(bits)), i32(3)), i32(sh.offset)) : null;
    this.out.push(...this.forLocals(runs.count, (q) => {
      const j0 = runs.first(q);
      const byteAt = threadByte
        ? add(threadByte, op('i32.shr_u', mul(tileOffsetExpr(l, index, this.localCoordsOf(layout, j0)), i32(bits)), i32(3)))
        : add(op('i32.shr_u', mul(sharedElementOffset(l, sliceCoords(index, this.coordsOf(layout, j0), (v) => this.scalar(v))), i32(bits)), i32(3)), i32(sh.offset));
      const loads: Stmt[] = [];
      // A swizzle keeps each access whole (runsWhole), but may move a run's accesses apart: then each
      // access's address comes from the coordinates of its first element.
      const apart = sh.type.layout.swizzle !== null && 1 << sh.type.layout.swizzle.base < runs.length;
      const accessAt = (g: number): Expr => {
        if (!apart || g === 0) return add(byteAt, i32(4 * g));
        const at = sliceCoords(index, this.coordsOf(layout, add(j0, i32(runs.offsets[(g * 32) / bits]!))), (v) => this.scalar(v));
        return add(op('i32.shr_u', mul(sharedElementOffset(sh.type.layout, at), i32(bits)), i32(3)), i32(sh.offset));
      };
      if (pieces) {
        names.forEach((w, i) => loads.push(set(w, word(byteAt, i))));
      } else {
        for (let g = 0; g < words; g += group) loads.push({ k: 'loadwords', mem: 'shared', addr: accessAt(g), names: names.slice(g, g + group) });
      }
      const kept = keep === null ? [] : names.map((w, i) => aset(keep, add(mul(q, i32(words)), i32(i)), get(w)));
      return [...loads, ...kept, ...unpackRun(names, runs.offsets, bits, sh.type.dtype, out, j0)];
    }));
    // Where each element came from: word q * words + (u * bits) / 32 of the tile's runs (read whole or in
    // pieces), (u * bits) % 32 bits up; fields that straddle two words are left out.
    const fields: (CodeField | undefined)[] = new Array(out.length);
    runs.starts.forEach((j, q) => runs.offsets.forEach((at, u) => {
      const shift = (u * bits) & 31;
      if (shift + bits <= 32) fields[j + at] = { word: q * words + ((u * bits) >> 5), shift };
    }));
    this.codeFields.set(out.array, fields);
    if (keep !== null) this.codeWords.set(out.array, keep);
    return out;
  }

  /**
   * The store of runs (see vectorLoad): a run inside the tensor and aligned to its access owns whole
   * words, so its fields are packed into words and stored plainly, up to 128 bits at once, with no
   * atomics; other runs take the per-element path.
   */
  vectorStore(t: TensorInfo, index: readonly IndexEntry[], x: RTile, run: number, bits: number): Stmt[] {
    const words = (run * bits) / 32;
    const group = widestAccess(words);
    const codes = Array.from({ length: run }, () => this.fresh('c', 'i32'));
    const mask = bits === 32 ? -1 : (1 << bits) - 1;
    return this.forLocals(x.length / run, (q) => {
      const j0 = mul(q, i32(run));
      const first = sliceCoords(index, this.coordsOf(x.layout, j0), (v) => this.scalar(v));
      const d = first.length - 1;
      const inside = op('i32.and', this.inside(t, first), op('i32.lt_u', add(first[d]!, i32(run - 1)), get(t.dims[d]!)));
      const linear = this.globalLinear(t, first);
      const aligned = op('i32.eqz', op('i32.and', mul(linear, i32(bits)), i32(group * 32 - 1)));
      const packed: Expr[] = Array.from({ length: words }, () => i32(0));
      const body: Stmt[] = codes.map((c, u) => set(c, codeFromHeld(t.dtype, aget(x, add(j0, i32(u))))));
      codes.forEach((c, u) => {
        const field = bits === 32 ? get(c) : op('i32.and', get(c), i32(mask));
        const [w, sh] = [(u * bits) >> 5, (u * bits) & 31];
        packed[w] = op('i32.or', packed[w]!, op('i32.shl', field, i32(sh)));
        if (sh + bits > 32) packed[w + 1] = op('i32.or', packed[w + 1]!, op('i32.shr_u', field, i32(32 - sh)));
      });
      const fast: Stmt[] = [];
      for (let g = 0; g < words; g += group) {
        fast.push({ k: 'storewords', mem: t.mem, addr: add(alignedFieldByte(linear, bits, group * 32), i32(4 * g)), values: packed.slice(g, g + group) });
      }
      // The rare path (a run at an edge or misaligned): the same words, written at their bit position up
      // to the tensor's edge (no register array indexed by a loop variable; see vectorLoad).
      return [...body, ifThen(op('i32.and', inside, aligned), fast, this.edgeStore(t, first, linear, run, bits, packed, codes))];
    });
  }

  /**
   * Reinterprets bits. Between types of one width, code by code in registers; otherwise x's codes go to
   * scratch, one per word, and each result element gathers its bits.
   */
  view(x: RTile, type: TileType): RTile {
    const [fromBits, toBits] = [parseDType(x.dtype).bits, parseDType(type.dtype).bits];
    if (fromBits === toBits) {
      // The same bits under another type: each element's code is its own, in the thread that holds it.
      const same = this.newTile(type.dtype, type.shape, x.layout);
      this.out.push(...this.forLocals(same.length, (j) => [aset(same, j, heldFromCode(type.dtype, codeFromHeld(x.dtype, aget(x, j))))]));
      return this.convert(same, type.layout!);
    }
    this.out.push({ k: 'barrier' }, ...this.spill(x, 0, (v) => codeFromHeld(x.dtype, v)), { k: 'barrier' });
    const out = this.newTile(type.dtype, type.shape, type.layout!);
    const st = rowMajorStrides(type.shape);
    const acc = this.fresh('w', 'i32');
    const bit = this.fresh('b', 'i32');
    this.out.push(...this.forLocals(out.length, (j) => {
      const pos = add(mul(linearOf(this.coordsOf(out.layout, j), st), i32(toBits)), get(bit));
      const code = this.readScratch('i32', op('i32.div_u', pos, i32(fromBits)));
      const b = op('i32.and', op('i32.shr_u', code, op('i32.rem_u', pos, i32(fromBits))), i32(1));
      return [set(acc, i32(0)), forLoop(bit, i32(0), i32(toBits), [set(acc, op('i32.or', get(acc), op('i32.shl', b, get(bit))))]), aset(out, j, heldFromCode(type.dtype, get(acc)))];
    }));
    return out;
  }

  /** Reduces `axis` away: x goes to scratch; each thread folds its result elements along the axis. */
  /**
   * Reduces `axis` away. When at most one spatial mode of x's layout lies along the axis, each thread
   * first folds its own elements that share a result element, then writes one partial per result
   * element to scratch, and each result element folds the partials of the threads along the axis (as
   * many as that mode's extent). Otherwise x goes to scratch whole and each result element folds the
   * axis from there.
   */
  reduce(fn: 'sum' | 'max' | 'min', xId: ValueId, axis: number, type: TileType): RTile {
    // A sum of f32 products (the product's one use) folds each thread's elements by fused multiply-adds,
    // the product never rounded on its own: like a dot's accumulation, one rounding per step instead of
    // two (the VM rounds each product, then their exact sum once; both are within f32's tolerance).
    const lazy = this.lazy.get(xId);
    const l = lazy?.layout ?? this.tiles.get(xId)!.layout;
    const across = l.spatial.filter((e) => e >= 0 && l.modes[e]!.dim === axis);
    const product = fn === 'sum' && lazy && across.length <= 1 ? this.products.get(xId) : undefined;
    if (product) this.lazy.delete(xId);
    const x: RTile = product && lazy ? { dtype: lazy.dtype, shape: lazy.shape, layout: l, array: '', length: localSize(l) } : this.tile(xId);
    const out = this.newTile(type.dtype, type.shape, type.layout!);
    const held = heldOf(x.dtype);
    const isFloat = held === 'f32';
    const acc = this.newTile(isFloat ? 'f32' : x.dtype, type.shape, type.layout!, 'acc');
    const init = fn === 'sum' ? (isFloat ? f32(0) : i32(0)) : isFloat ? f32(fn === 'max' ? -Infinity : Infinity) : i32(fn === 'max' ? (x.dtype === 'u32' ? 0 : -0x80000000) : x.dtype === 'u32' ? -1 : 0x7fffffff);
    const foldType = isFloat ? 'f32' : x.dtype;
    const fold = (a: Expr, b: Expr): Expr => binaryElem(fn === 'sum' ? 'add' : fn, foldType, a, b, this.tables);
    const st = rowMajorStrides(x.shape);
    const n = x.shape[axis]!;
    const kv = this.fresh('rk', 'i32');
    let slots: { count: number; stride: number };
    if (across.length <= 1) {
      // Phase 1: fold this thread's elements per result element (compile-time groups of locals).
      slots = across.length === 0 ? { count: 1, stride: 0 } : { count: l.modes[across[0]!]!.extent, stride: innerStride(l, across[0]!) };
      const groups = new Map<string, { coords: number[]; locals: number[] }>();
      for (let j = 0; j < x.length; j++) {
        const c = localCoords(l, j);
        const key = c.filter((_, d) => d !== axis).join(',');
        const g = groups.get(key) ?? { coords: c.map((v, d) => (d === axis ? 0 : v)), locals: [] };
        g.locals.push(j);
        groups.set(key, g);
      }
      const partial = this.fresh('part', held);
      const { coords: threadCoords } = this.layoutOf(l);
      // Phase 1b, where the target has subgroups: the threads along the axis that share a subgroup
      // combine their partials by butterfly exchanges first, and only each run's first thread writes.
      const sub = across.length === 1 ? this.subgroupRuns(l, across[0]!) : null;
      // When the butterflies span the whole axis, every thread along it ends with its results, and where
      // the result is laid out as this layout reduced (ir/layout_ops.ts reduce) they are already where
      // they belong: no exchange through shared memory.
      // So is a reduction along an axis that no thread spans: each thread folds its own elements.
      const inPlace = (across.length === 0 || (sub !== null && slots.count >> sub.levels === 1)) && layoutEquals(type.layout!, reduceLayout(l, axis));
      const outLocal = new Map<string, number>();
      if (inPlace) for (let j = 0; j < out.length; j++) outLocal.set(localCoords(out.layout, j).join(','), j);
      const finish = (v: Expr): Expr => (fn === 'sum' && isFloat ? castHeld('f32', type.dtype, v, this.tables) : v);
      const folded: Stmt[] = [];
      const writes: Stmt[] = [];
      for (const [key, g] of groups) {
        const own = set(partial, product
          ? g.locals.slice(1).reduce<Expr>((acc2, j) => ({ k: 'intrinsic', name: 'gpu.fma', type: 'f32', args: [product.a(i32(j)), product.b(i32(j)), acc2] }), binaryElem('mul', 'f32', product.a(i32(g.locals[0]!)), product.b(i32(g.locals[0]!)), this.tables))
          : g.locals.slice(1).reduce<Expr>((acc2, j) => fold(acc2, aget(x, i32(j))), aget(x, i32(g.locals[0]!))));
        // Partials sit at [result element][position along the axis].
        const c = g.coords.map((v, d) => (d === axis ? get(threadCoords[d]!) : add(get(threadCoords[d]!), i32(v))));
        const store: Stmt = { k: 'store', bits: 32, addr: this.scratchWord(linearOf(c, st)), offset: 0, value: get(partial), mem: 'shared' };
        if (!sub && !inPlace) {
          writes.push(own, store);
          continue;
        }
        folded.push(own);
        for (let level = 0; sub && level < sub.levels; level++) {
          folded.push(set(partial, fold(get(partial), { k: 'intrinsic', name: 'gpu.shuffle_xor', type: held, args: [get(partial), i32(sub.threadStride << level)] })));
        }
        if (inPlace) folded.push(aset(out, i32(outLocal.get(key)!), finish(get(partial))));
        else if (sub) folded.push(ifThen(op('i32.and', this.primaryOf(l), op('i32.eqz', op('i32.and', sub.digit, i32((1 << sub.levels) - 1)))), [store]));
      }
      if (inPlace) {
        this.out.push(...folded);
        if (sub) this.usedSubgroups = true;
        return out;
      }
      this.needScratch(size(x.shape) * 4);
      this.out.push({ k: 'barrier' }, ...(sub ? folded : [ifThen(this.primaryOf(l), writes)]), { k: 'barrier' });
      if (sub) {
        // Each run of 2^levels positions along the axis left one partial, at its first position.
        slots = { count: slots.count >> sub.levels, stride: slots.stride << sub.levels };
        this.usedSubgroups = true;
      }
    } else {
      slots = { count: n, stride: 1 };
      this.out.push({ k: 'barrier' }, ...this.spill(x), { k: 'barrier' });
    }
    this.out.push(
      ...this.forLocals(out.length, (j) => [aset(acc, j, init)]),
      forLoop(kv, i32(0), i32(slots.count), this.forLocals(out.length, (j) => {
        const c = this.coordsOf(out.layout, j);
        const v = this.readScratch(held, linearOf([...c.slice(0, axis), mul(get(kv), i32(slots.stride)), ...c.slice(axis)], st));
        return [aset(acc, j, fold(aget(acc, j), v))];
      })),
      // Sums round to the element type once, at the end (f16 and bf16 add in f32).
      ...this.forLocals(out.length, (j) => [aset(out, j, fn === 'sum' && isFloat ? castHeld('f32', type.dtype, aget(acc, j), this.tables) : aget(acc, j))]),
    );
    return out;
  }

  /**
   * How the threads along spatial mode `e` of `l` can reduce within subgroups. The mode's digit of the
   * thread index is (tid / T) % E, with T the product of the extents of the spatial entries after it;
   * when T and E are powers of two that digit is bits [log2 T, log2 T + log2 E) of tid, so the thread
   * whose digit differs in bit i is tid ^ (T << i), and it is in the same subgroup while T << i is below
   * the target's smallest subgroup size. Null when not even one level fits.
   */
  subgroupRuns(l: RegisterLayout, e: number): { levels: number; threadStride: number; digit: Expr } | null {
    const min = this.features.subgroupMinSize;
    // Blocks of whole subgroups only: CUDA's full-warp shuffles need every lane of the warp present.
    if (!min || this.kernel.threads % min !== 0) return null;
    const at = l.spatial.indexOf(e);
    const T = l.spatial.slice(at + 1).reduce((n, x) => n * entryExtent(l, x), 1);
    const E = entryExtent(l, e);
    const pow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;
    if (!pow2(T) || !pow2(E) || !pow2(min)) return null;
    let levels = 0;
    while ((1 << levels) < E && T << levels < min) levels++;
    if (levels === 0) return null;
    return { levels, threadStride: T, digit: op('i32.rem_u', op('i32.div_u', get('tid'), i32(T)), i32(E)) };
  }

  /**
   * out = a . b (+ c): chunks of K of both operands go to scratch; each thread accumulates its result
   * elements over the chunk.
   */
  dot(aId: ValueId, bId: ValueId, cId: ValueId | null, type: TileType): RTile {
    const isInt = heldOf(type.dtype) === 'i32';
    const quotient = this.mmaQuotient(this.operandType(aId), this.operandType(bId), type.layout!, isInt);
    if (quotient) return this.mmaDot(aId, bId, cId, type, quotient);
    const [a, b] = [this.tile(aId), this.tile(bId)];
    const [M, K] = a.shape as [number, number];
    const N = b.shape[1]!;
    const layout = type.layout!;
    const held: LType = isInt ? 'i32' : 'f32';
    const valueType = isInt ? 'i32' : 'f32';
    let kc = K;
    while ((M + N) * kc * 4 > DOT_SCRATCH_BYTES && kc > 1) kc = largestDivisorBelow(K, kc);
    const bOffset = M * kc * 4;
    this.needScratch(bOffset + kc * N * 4);
    const out = this.newTile(type.dtype, type.shape, layout);
    const acc = this.newTile(valueType, type.shape, layout, 'acc');
    const k0 = this.fresh('k0_', 'i32');
    const kk = this.fresh('kk', 'i32');
    const inChunk = (k: Expr): Expr => op('i32.lt_u', op('i32.sub', k, get(k0)), i32(kc));
    const writeA = this.forLocals(a.length, (j) => {
      const [m, k] = this.coordsOf(a.layout, j) as [Expr, Expr];
      const index = add(mul(m, i32(kc)), op('i32.sub', k, get(k0)));
      return [ifThen(inChunk(k), [{ k: 'store', bits: 32, addr: this.scratchWord(index), offset: 0, value: this.cast(a.dtype, valueType, aget(a, j)), mem: 'shared' }])];
    });
    const writeB = this.forLocals(b.length, (j) => {
      const [k, n] = this.coordsOf(b.layout, j) as [Expr, Expr];
      const index = add(mul(op('i32.sub', k, get(k0)), i32(N)), n);
      return [ifThen(inChunk(k), [{ k: 'store', bits: 32, addr: this.scratchWord(index, bOffset), offset: 0, value: this.cast(b.dtype, valueType, aget(b, j)), mem: 'shared' }])];
    });
    // Per k, each distinct row of a and column of b this thread's elements use is read once into a
    // small array (rows x columns of the thread's locals), then every element multiplies from those.
    const { coords } = this.layoutOf(layout);
    const [rows, cols] = [localSubSize(layout, 0), localSubSize(layout, 1)];
    const rv = this.newArray(held, rows, 'arow');
    const cv = this.newArray(held, cols, 'bcol');
    const aAt = (r: Expr, k: Expr): Expr => this.readScratch(held, add(mul(add(get(coords[0]!), localSubOffset(layout, 0, r)), i32(kc)), k));
    const bAt = (c: Expr, k: Expr): Expr => this.readScratch(held, add(mul(k, i32(N)), add(get(coords[1]!), localSubOffset(layout, 1, c))), bOffset);
    const rowOf = (j: Expr): Expr => ({ k: 'aget', array: rv, index: localSubIndex(layout, 0, j) });
    const colOf = (j: Expr): Expr => ({ k: 'aget', array: cv, index: localSubIndex(layout, 1, j) });
    // 8-bit operands of one signedness, where the target multiplies four packed pairs at once: rows and
    // columns are read four k at a time and packed into a word each (one byte per k).
    const packed = isInt && a.dtype === b.dtype && (a.dtype === 'i8' || a.dtype === 'u8') && kc % 4 === 0 && this.features.dot4x8;
    const pack4 = (at: (q: number) => Expr): Expr =>
      [0, 1, 2, 3].map((q) => (q === 0 ? op('i32.and', at(q), i32(0xff)) : op('i32.shl', op('i32.and', at(q), i32(0xff)), i32(8 * q)))).reduce((x, y) => op('i32.or', x, y));
    const fma = packed
      ? [
        ...this.forLocals(rows, (r) => [aset(rv, r, pack4((q) => aAt(r, add(get(kk), i32(q)))))]),
        ...this.forLocals(cols, (c) => [aset(cv, c, pack4((q) => bAt(c, add(get(kk), i32(q)))))]),
        ...this.forLocals(out.length, (j) => [
          aset(acc, j, op('i32.add', aget(acc, j), { k: 'intrinsic', name: a.dtype === 'i8' ? 'gpu.dot4_i8' : 'gpu.dot4_u8', type: 'i32', args: [rowOf(j), colOf(j)] })),
        ]),
      ]
      : [
        ...this.forLocals(rows, (r) => [aset(rv, r, aAt(r, get(kk)))]),
        ...this.forLocals(cols, (c) => [aset(cv, c, bAt(c, get(kk)))]),
        ...this.forLocals(out.length, (j) => [aset(acc, j, op(`${held}.add`, aget(acc, j), op(`${held}.mul`, rowOf(j), colOf(j))))]),
      ];
    if (packed) this.usedDot4 = true;
    this.out.push(
      ...this.forLocals(out.length, (j) => [aset(acc, j, isInt ? i32(0) : f32(0))]),
      forLoop(k0, i32(0), i32(K), [
        { k: 'barrier' },
        ifThen(this.primaryOf(a.layout), writeA),
        ifThen(this.primaryOf(b.layout), writeB),
        { k: 'barrier' },
        forLoop(kk, i32(0), i32(kc), fma, i32(packed ? 4 : 1)),
      ], i32(kc)),
    );
    const c = cId === null ? null : this.convert(this.tile(cId), layout);
    this.out.push(...this.forLocals(out.length, (j) => {
      let v: Expr = aget(acc, j);
      if (c) v = op(`${held}.add`, castHeld(c.dtype, valueType, aget(c, j), this.tables), v);
      return [aset(out, j, castHeld(valueType, type.dtype, v, this.tables))];
    }));
    return out;
  }

  // ---- dot on warp-wide MMA (m16n8k16) ----

  /**
   * Q with layout = Q * (the m16n8k16 accumulator fragment) when this dot can run on MMAs: the target
   * has them, both inputs are f16 or both bf16, the result is a float, K is a multiple of 16 and the
   * block is whole warps. Null otherwise (the generic dot).
   */
  mmaQuotient(a: TileType, b: TileType, layout: RegisterLayout, isInt: boolean): RegisterLayout | null {
    if (!this.features.mma || isInt || !mmaInputs(a, b) || this.kernel.threads % 32 !== 0) return null;
    return divide(layout, MMA_M16N8K16.c) ?? null;
  }

  /** The Tile IR type of a tile value (before it is lowered). */
  operandType(id: ValueId): TileType {
    return this.valueTypes.get(id)!;
  }

  /**
   * What the lowering looks up about values before it lowers them: tile types, scalar constants (and
   * rank-0 tiles of one), the operand of each cast, and casts with a constant added or taken off.
   */
  recordValues(body: readonly TStmt[]): void {
    walkStmts(body, (s) => {
      if (s.kind !== 'def') return;
      const inst = s.inst;
      if (s.result.type.kind === 'tile') this.valueTypes.set(s.result.id, s.result.type);
      if (inst.op === 'const') this.constants.set(s.result.id, inst.value);
      if (inst.op === 'cast') this.castSources.set(s.result.id, inst.x);
      if (inst.op === 'full' && this.constants.has(inst.value) && s.result.type.kind === 'tile' && s.result.type.shape.length === 0) {
        this.constantTiles.set(s.result.id, this.constants.get(inst.value)!);
      }
      const c = inst.op === 'binary' ? this.constants.get(inst.b) ?? this.constantTiles.get(inst.b) : undefined;
      if (inst.op === 'binary' && (inst.fn === 'sub' || inst.fn === 'add') && this.castSources.has(inst.a) && c !== undefined) {
        this.biasedCasts.set(s.result.id, { cast: inst.a, bias: inst.fn === 'sub' ? c : -c });
      }
      if (inst.op === 'binary' && inst.fn === 'mul' && this.biasedCasts.has(inst.a) && c !== undefined) {
        this.scaledBiasedCasts.set(s.result.id, { biased: inst.a, scale: c });
      }
      if (inst.op === 'binary' && inst.fn === 'mul' && s.result.type.kind === 'tile' && s.result.type.dtype === 'f16' && (this.castSources.has(inst.a) || this.biasedCasts.has(inst.a))) {
        this.scaledCasts.set(s.result.id, { cast: inst.a, scale: inst.b });
      }
    });
  }

  /**
   * The shared-memory loads whose one use is as an operand of a dot that will run on MMAs, directly or
   * through a transpose used only there, with nothing but other definitions between the load and the
   * dot (no store, copy, barrier or loop can change what it reads): the dot reads its fragments from the
   * shared tensor itself, instead of a register tile that would go through scratch or be converted to
   * f32 and back (flash attention's K, `dot(q, transpose(load sk[...]))`). Holds the transposes too.
   */
  directMmaOperands(body: readonly TStmt[]): Set<ValueId> {
    const out = new Set<ValueId>();
    const walk = (stmts: readonly TStmt[]): void => {
      const at = new Map<ValueId, number>();
      stmts.forEach((s, i) => {
        if (s.kind === 'def') at.set(s.result.id, i);
        if (s.kind === 'for') walk(s.body);
        if (s.kind === 'if') [s.then, s.else].forEach(walk);
      });
      stmts.forEach((s, i) => {
        if (s.kind !== 'def' || s.inst.op !== 'dot' || s.result.type.kind !== 'tile') return;
        const [ta, tb] = [this.valueTypes.get(s.inst.a), this.valueTypes.get(s.inst.b)];
        if (!ta || !tb || !this.mmaQuotient(ta, tb, s.result.type.layout!, false)) return;
        // The definition of a value with one use, in this statement list.
        const defOf = (id: ValueId): { readonly at: number; readonly inst: Inst } | null => {
          const from = at.get(id);
          const def = from === undefined || !this.fusible.has(id) ? null : stmts[from]!;
          return def?.kind === 'def' ? { at: from!, inst: def.inst } : null;
        };
        for (const operand of [s.inst.a, s.inst.b]) {
          let [loaded, def] = [operand, defOf(operand)];
          const transpose = def?.inst.op === 'permute' && def.inst.perm.join() === '1,0';
          if (def?.inst.op === 'permute' && transpose) [loaded, def] = [def.inst.x, defOf(def.inst.x)];
          if (def?.inst.op !== 'load_shared' || !stmts.slice(def.at + 1, i).every((x) => x.kind === 'def')) continue;
          out.add(loaded);
          if (transpose) out.add(operand);
        }
      });
    };
    walk(body);
    return out;
  }

  /**
   * out = a . b (+ c) on MMAs. An operand loaded from a shared tensor just for this dot (see
   * directMmaOperands) is read from that tensor; any other goes to scratch in chunks of K as f32 words,
   * A row-major and B transposed (N rows of K), rows padded to a stride of 8 mod 16 words so that the
   * 64-bit fragment reads of a half-warp fall in distinct banks. Per 16 of K, each warp reads the A
   * fragments of its atom rows and the B fragments of its atom columns (pairs of adjacent K packed into
   * words) and issues one MMA per atom into the accumulator registers, which are the result's own
   * (local j = 4 q + i for atom q of the quotient and fragment register i).
   */
  mmaDot(aId: ValueId, bId: ValueId, cId: ValueId | null, type: TileType, quotient: RegisterLayout): RTile {
    const [ta, tb] = [this.operandType(aId), this.operandType(bId)];
    const [M, K] = ta.shape as [number, number];
    const N = tb.shape[1]!;
    const dtype = ta.dtype as 'f16' | 'bf16';
    const layout = multiply(quotient, MMA_M16N8K16.c); // the result's layout, in product form
    const [aShared, bShared] = [this.sharedOperands.get(aId), this.sharedOperands.get(bId)];
    // Operands in registers laid out as the fragments need no exchange; any other goes through scratch.
    // An f16 operand that is a cast of integers of 8 bits or fewer (dequantized weights) keeps the
    // integer codes in registers, and each pair becomes f16 by the magic-number conversion (below).
    const fragments = mmaOperandLayouts(layout, K)!;
    // An operand held as the fragments want it: integer codes, with the constant they take off (a fixed
    // zero point); minifloat codes; a register tile; or an element-wise tile not yet computed (lazy),
    // whose elements are then computed where the fragment words are packed, so that a cast to f16 folds
    // into the packing conversion where the target rounds in hardware (flash attention's P).
    type Held = { readonly dtype: string; readonly at: (j: Expr) => Expr; readonly bias: number; readonly scale?: (j: Expr) => Expr; readonly fields?: CodeFields };
    const held = (id: ValueId, want: RegisterLayout): Held | null => {
      const codes = this.fragmentCodes(id, dtype, want);
      if (codes) return { dtype: codes.codes.dtype, at: (j) => aget(codes.codes, j), bias: codes.bias, scale: codes.scale, fields: this.codeFields.get(codes.codes.array) };
      if (this.sharedOperands.has(id)) return null;
      const lazy = this.lazy.get(id);
      if (lazy && layoutEquals(lazy.layout, want)) return { dtype: lazy.dtype, at: lazy.at, bias: 0 };
      const x = this.tile(id);
      return layoutEquals(x.layout, want) ? { dtype: x.dtype, at: (j) => aget(x, j), bias: 0 } : null;
    };
    const [aRegs, bRegs] = [held(aId, fragments.a), held(bId, fragments.b)];
    const [a, b] = [aShared || aRegs ? null : this.tile(aId), bShared || bRegs ? null : this.tile(bId)];
    const stagedRows = (a ? M : 0) + (b ? N : 0);
    let kc = K;
    while (stagedRows > 0 && kc > 16 && stagedRows * (kc + 8) * 4 > DOT_SCRATCH_BYTES) {
      let next = kc - 16;
      while (K % next !== 0) next -= 16;
      kc = next;
    }
    const stride = kc + 8;
    const bOffset = a ? M * stride * 4 : 0;
    const emulation = stagedRows * stride * 4;
    this.needScratch(emulation + (this.features.mma === 'emulate' ? this.kernel.threads * 6 * 4 : 0));
    const out = this.newTile(type.dtype, type.shape, type.layout!);
    const acc = this.newTile('f32', type.shape, type.layout!, 'acc');
    const k0 = this.fresh('k0_', 'i32');
    // One chunk (no operand staged, or K fits): no chunk loop, so fragment indices stay constant.
    const k0e: Expr = kc === K ? i32(0) : get(k0);
    const kk = this.fresh('kk', 'i32');
    const inChunk = (k: Expr): Expr => op('i32.lt_u', op('i32.sub', k, k0e), i32(kc));
    const write = (x: RTile, offset: number, rowCol: (c: Expr[]) => [Expr, Expr]): Stmt[] => [
      ifThen(this.primaryOf(x.layout), this.forLocals(x.length, (j) => {
        const [row, k] = rowCol(this.coordsOf(x.layout, j));
        const index = add(mul(row, i32(stride)), op('i32.sub', k, k0e));
        return [ifThen(inChunk(k), [{ k: 'store', bits: 32, addr: this.scratchWord(index, offset), offset: 0, value: this.cast(x.dtype, 'f32', aget(x, j)), mem: 'shared' }])];
      })),
    ];

    const g = this.laneLocal('mma_g', op('i32.and', op('i32.shr_u', get('tid'), i32(2)), i32(7)));
    const t = this.laneLocal('mma_t', op('i32.and', get('tid'), i32(3)));
    const { coords } = this.layoutOf(layout);
    const [atomRows, atomCols] = [localSubSize(quotient, 0), localSubSize(quotient, 1)];
    const af = this.newArray('i32', atomRows * 4, 'afrag');
    const bMatrices = bShared && this.ldmatrixFits(bShared, 1) ? 'rows' : bShared && this.ldmatrixFits(bShared, 0) ? 'columns' : null;
    // B by ldmatrix from a shared tensor, A from registers (so the K loop is unrolled), on CUDA: one
    // ldmatrix.x4 per atom column takes the B fragments of two K steps, at the even steps (half the
    // ldmatrix instructions and their addresses: the weights-as-A tiles of small M).
    const pairedB = bMatrices !== null && aRegs !== null && kc % 32 === 0 && this.features.mma === 'native';
    const bWords = pairedB ? 4 : 2;
    const bf = this.newArray('i32', atomCols * bWords, 'bfrag');
    const [lo, hi] = [this.fresh('w', 'i32'), this.fresh('w', 'i32')];
    // The word of two 16-bit codes at `row`, K columns k and k + 1 (k even, chunk-relative) of an operand:
    // from its shared tensor (coordinates [row, k] of A or [k, row] of B), or two adjacent f32 words of scratch.
    const pack = (x: Expr, y: Expr): Expr => (dtype === 'f16'
      ? { k: 'intrinsic', name: 'gpu.pack_f16x2', type: 'i32', args: [x, y] }
      : op('i32.or', op('i32.shr_u', op('i32.bits_of', x), i32(16)), op('i32.and', op('i32.bits_of', y), i32(0xffff0000 | 0))));
    const word = (view: typeof aShared, offset: number, pairDim: 0 | 1, row: Expr, k: Expr): { stmts: Stmt[]; value: Expr } => {
      if (view) return { stmts: [], value: this.sharedPair(view, pairDim === 1 ? [row, add(k0e, k)] : [add(k0e, k), row], pairDim) };
      const addr = this.scratchWord(add(mul(row, i32(stride)), k), offset);
      return { stmts: [{ k: 'loadwords', mem: 'shared', addr, names: [lo, hi] }], value: pack(op('f32.from_bits', get(lo)), op('f32.from_bits', get(hi))) };
    };
    // Word r of a fragment held in registers: locals 2r and 2r + 1 of its block (see mmaOperandLayouts).
    // Integer codes of b bits: each code's value plus S (the code with its sign bit flipped for signed
    // types, S = 2^(b-1); S = 0 unsigned) goes into the mantissa of an f16 1024, both halves at once
    // (0x6400 | field is exactly 1024 + field), and one f16x2 subtraction of 1024 + S leaves the values:
    // the lop3-and-sub conversion of hand-written low-bit kernels, exact for every code.
    const regWord = (x: Held, block: Expr, size: number, r: Expr): Expr => {
      const at = add(mul(block, i32(size)), mul(r, i32(2)));
      const word = codesWord(x, at);
      if (!x.scale) return word;
      // Scales applied to the weights: each half times its element's scale, rounded once to f16 (the
      // f16 multiplication of the VM). CUDA multiplies the pairs (mul.rn.f16x2); the emulation, for
      // WebGPU, multiplies in f32 (exact for f16 operands) and rounds each half in software, since WGSL
      // leaves the rounding of its f32-to-f16 conversions open.
      const [sl, sh] = [x.scale(at), x.scale(add(at, i32(1)))];
      if (this.features.mma === 'native') return { k: 'intrinsic', name: 'gpu.f16x2_mul', type: 'i32', args: [word, pack(sl, sh)] };
      const bits = (v: Expr): Expr => codeFromHeld('f16', castHeld('f32', 'f16', v, this.tables));
      const half = (name: 'gpu.f16_lo' | 'gpu.f16_hi'): Expr => ({ k: 'intrinsic', name, type: 'f32', args: [word] });
      return op('i32.or', bits(op('f32.mul', half('gpu.f16_lo'), sl)), op('i32.shl', bits(op('f32.mul', half('gpu.f16_hi'), sh)), i32(16)));
    };
    const codesWord = (x: Held, at: Expr): Expr => {
      const [lo, hi] = [x.at(at), x.at(add(at, i32(1)))];
      if (x.dtype === dtype) return pack(lo, hi);
      const t = parseDType(x.dtype);
      if (t.kind === 'float') {
        // f8e5m2 is the top byte of an f16, infinities and NaNs included: one shift per code.
        if (dtype === 'f16' && t.exponentBits === 5 && t.mantissaBits === 2) {
          return op('i32.or', op('i32.shl', op('i32.and', lo, i32(0xff)), i32(8)), op('i32.shl', hi, i32(24)));
        }
        // Minifloat codes (see fragmentCodes): sign to bit 15, exponent and mantissa fields to the
        // top of the 16-bit type's (f16: 10 mantissa bits, exponent bias 15; bf16: 7 and 127), both
        // halves at once; that pair is the values times 2^(bias - B), which one multiplication of the
        // pair by 2^(B - bias) undoes exactly (subnormal codes land on the type's subnormals). Both codes
        // at once, from x = lo | hi << 16, as for the integers below.
        const [mantissa, bias] = dtype === 'f16' ? [10, 15] : [7, 127];
        const x = op('i32.or', op('i32.and', lo, i32((1 << t.bits) - 1)), op('i32.shl', hi, i32(16)));
        const word = op('i32.or',
          op('i32.and', op('i32.shl', x, i32(16 - t.bits)), i32(0x80008000 | 0)),
          op('i32.shl', op('i32.and', x, i32(((1 << (t.bits - 1)) - 1) * 0x10001)), i32(mantissa - t.mantissaBits)));
        const factor = i32((((2 * bias - t.bias) << mantissa) * 0x10001) | 0);
        const value: Expr = { k: 'intrinsic', name: dtype === 'f16' ? 'gpu.f16x2_mul' : 'gpu.bf16x2_mul', type: 'i32', args: [word, factor] };
        if (t.specials === 'finite') return value;
        // The codes that are not numbers became finite: f8e4m3's NaN (S.1111.111; the only code of its
        // all-ones exponent that is not a number), f8e5m2's infinities and NaNs (its all-ones exponent).
        // Their exponent field set to all ones makes them the type's infinities and NaNs (mantissa kept).
        // Both halves at once, without a comparison: a code's special bits plus their lowest bit carry
        // into its sign bit's place only where all of them are set, and that bit times all ones / sign
        // bit is the exponent field.
        const special = t.specials === 'fn' ? (1 << (t.bits - 1)) - 1 : ((1 << t.exponentBits) - 1) << t.mantissaBits;
        const [sign, ones] = [1 << (t.bits - 1), ((1 << (15 - mantissa)) - 1) << mantissa];
        const carried = op('i32.and', add(op('i32.and', x, i32(special * 0x10001)), i32((special & -special) * 0x10001)), i32(sign * 0x10001));
        return op('i32.or', value, mul(carried, i32(ones / sign)));
      }
      const S = t.kind === 'int' ? 1 << (t.bits - 1) : 0;
      if (dtype === 'bf16' && t.bits > 7) {
        // 8-bit codes need 8 mantissa bits, one more than bf16 has: each code's value plus S in the
        // mantissa of an f32 2^23, less 2^23 + S + bias (exact), and both f32 values rounded to one bf16
        // pair at once (cvt.rn.bf16x2.f32; CUDA only), as the VM rounds the cast less the constant.
        const value = (c: Expr): Expr => op('f32.sub', op('f32.from_bits', op('i32.or', op('i32.xor', op('i32.and', c, i32(0xff)), i32(S)), i32(0x4b000000))), f32(2 ** 23 + S + x.bias));
        return { k: 'intrinsic', name: 'gpu.pack_bf16x2', type: 'i32', args: [value(lo), value(hi)] };
      }
      // bf16 (codes of 7 bits or fewer): the same with 128 (bf16 bits 0x4300), whose mantissa unit is 1.
      const magic = dtype === 'f16' ? 0x6400 : 0x4300;
      // Both fields at once: ((lo & m) | hi << 16) & (m | m << 16), then one xor flips the signed codes'
      // sign bits and sets the magic exponent (its bits lie above the fields). Where lo and hi are
      // fields of one word 16 bits apart, the compiler below sees one shift and one mask of that word
      // (nvcc: 11 instructions for the four pairs of an 8-code word, against 17 field by field).
      const m = (1 << t.bits) - 1;
      const pair = (k: number): Expr => {
        const fields = op('i32.and', op('i32.or', op('i32.shl', op('i32.and', lo, i32(m)), i32(k)), op('i32.shl', hi, i32(16 + k))), i32((m << k) * 0x10001));
        const word = op('i32.xor', fields, i32((magic | (S << k)) * 0x10001));
        if (k === 0) return { k: 'intrinsic', name: dtype === 'f16' ? 'gpu.f16x2_sub' : 'gpu.bf16x2_sub', type: 'i32', args: [word, i32((magic + S + x.bias) * 0x10001)] };
        // The fields k bits up: the f16 is 1024 + 2^k (code + S), which one fused multiply-add by 2^-k,
        // less 1024 / 2^k + S + bias, turns into the value, exactly (every step is an f16).
        const half = (v: number): number => codeOf('f16', v) * 0x10001;
        return { k: 'intrinsic', name: 'gpu.f16x2_fma', type: 'i32', args: [word, i32(half(2 ** -k) | 0), i32(half(-(1024 / 2 ** k + S + x.bias)) | 0)] };
      };
      // Codes unpacked from words where each pair's two codes lie 16 bits apart (fragment order at 2 and
      // 4 bits): a pair whose fields start k bits into their byte is taken k bits up, masked in place in
      // the word shifted by whole bytes, so that the pairs of one byte position share one shift (u4: one
      // shift per word instead of three; pairs at k > 0 end in an f16x2 fused multiply-add instead of a
      // subtraction). Exact for any codes, so the fields only choose where it saves shifts. CUDA only:
      // the choice per pair is a select on the pair's index, which nvcc folds once its loops are unrolled
      // (`bash bench/tiles_ptx.sh`: the u4 M = 1 tile's compute 191 -> 177 PTX per K tile).
      const ks = this.features.mma === 'native' && dtype === 'f16' ? pairShifts(x.fields, t.bits) : null;
      if (ks === null) return pair(0);
      const k = mul(op('i32.and', op('i32.shr_u', i32(ks.mask), mul(op('i32.and', op('i32.shr_u', at, i32(1)), i32(ks.period - 1)), i32(ks.width))), i32((1 << ks.width) - 1)), i32(t.bits));
      return ks.values.slice(1).reduce<Expr>((e, v) => ({ k: 'select', cond: op('i32.eq', k, i32(v)), a: pair(v), b: e }), pair(ks.values[0]!));
    };
    const kStep = op('i32.shr_u', add(k0e, get(kk)), i32(4));
    // A word r of atom row ra: rows g + 8 (r % 2) of the atom, K columns 2t + 8 (r / 2) and the next.
    // Operands read from shared tensors whose 8-element rows (along either dimension) are contiguous and
    // 16-byte aligned take four (A) or two (B) whole fragments per ldmatrix: lane l points at row l % 8
    // of matrix l / 8. A's matrix i covers atom rows 8 (i % 2) and K 8 (i / 2); B's, K 8i.
    const rowBase = (ra: Expr): Expr => add(op('i32.sub', get(coords[0]!), get(g)), localSubOffset(layout, 0, mul(ra, i32(2))));
    const colBase = (cb: Expr): Expr => add(op('i32.sub', get(coords[1]!), mul(get(t), i32(2))), localSubOffset(layout, 1, mul(cb, i32(2))));
    const lane = op('i32.and', get('tid'), i32(7));
    const matrix = op('i32.and', op('i32.shr_u', get('tid'), i32(3)), i32(3));
    const aMatrices = aShared && this.ldmatrixFits(aShared, 1) ? 'rows' : aShared && this.ldmatrixFits(aShared, 0) ? 'columns' : null;
    const frag = [0, 1, 2, 3].map(() => this.fresh('f', 'i32'));
    // Where a K step only sets bits of the shared address that nothing else sets (kStepsByXor) and the
    // atom rows (columns) i of A (B) lie apart by multiples of the K steps' span and of the swizzle's
    // period (movesByWholePeriods), each lane computes its address for atom 0 and K step 0 once per
    // chunk (`hoisted`); atom i's at step k is it exclusive-or k's bytes, plus i times a constant: one
    // or two instructions per ldmatrix instead of the offset's and the swizzle's. Else each step
    // computes its own.
    const hoisted: Stmt[] = [];
    const stepAddress = (view: SharedView, dim: 0 | 1, step: number, count: number, name: string, at: (i: Expr, k: Expr) => Expr[]): ((i: Expr) => Expr) => {
      const kStep = this.kStepsByXor(view, dim, kc === K ? K : kc, step);
      const moved = kStep && this.movesByWholePeriods(view, 1 - dim, kStep.span, Array.from({ length: count }, (_, i) => localSubOffsetValue(layout, 1 - dim, 2 * i)));
      if (kStep === null || moved === null) return (i) => this.ldmatrixAddress(view, at(i, get(kk)));
      const base = this.fresh(name, 'i32');
      hoisted.push(set(base, this.ldmatrixAddress(view, at(i32(0), i32(0)))));
      return (i) => add(op('i32.xor', get(base), mul(get(kk), i32(kStep.bytes))), mul(i, i32(moved)));
    };
    // A: K contiguous, lane rows are A's rows; M contiguous, lane rows are K, transposed. The lane's own
    // K offset is below the K step (8, or 8 + lane).
    const aAddress = aShared && aMatrices ? stepAddress(aShared, 1, 16, atomRows, 'aaddr', (ra, kkE) => {
      const m = add(rowBase(ra), mul(op('i32.and', matrix, i32(1)), i32(8)));
      const k = add(kkE, mul(op('i32.shr_u', matrix, i32(1)), i32(8)));
      return aMatrices === 'rows' ? [add(m, lane), add(k0e, k)] : [m, add(add(k0e, k), lane)];
    }) : null;
    const loadAMatrices = aShared && aAddress ? this.forLocals(atomRows, (ra) => [
      ...this.ldmatrix(aShared, aAddress(ra), aMatrices === 'columns', frag, emulation), ...frag.map((f, i) => aset(af, add(mul(ra, i32(4)), i32(i)), get(f))),
    ]) : null;
    // B: N contiguous, lane rows are K, transposed; K contiguous, lane rows are B's columns. Paired:
    // matrices 2 and 3 are the next K step's (the even steps load, so steps are 32 apart).
    const bAddress = bShared && bMatrices ? stepAddress(bShared, 0, pairedB ? 32 : 16, atomCols, 'baddr', (cb, kkE) => {
      const k = add(add(k0e, kkE), add(mul(op('i32.and', matrix, i32(1)), i32(8)), pairedB ? mul(op('i32.shr_u', matrix, i32(1)), i32(16)) : i32(0)));
      return bMatrices === 'rows' ? [add(k, lane), colBase(cb)] : [k, add(colBase(cb), lane)];
    }) : null;
    const loadBMatrices = bShared && bAddress ? this.forLocals(atomCols, (cb) => {
      const words = Array.from({ length: bWords }, (_, i) => i);
      return [...this.ldmatrix(bShared, bAddress(cb), bMatrices === 'rows', frag.slice(0, bWords), emulation), ...words.map((i) => aset(bf, add(mul(cb, i32(bWords)), i32(i)), get(frag[i]!)))];
    }) : null;
    const loadA = loadAMatrices ?? this.forLocals(atomRows * 4, (x) => {
      const row = add(get(coords[0]!), localSubOffset(layout, 0, add(mul(op('i32.div_u', x, i32(4)), i32(2)), op('i32.and', x, i32(1)))));
      const k = add(add(get(kk), mul(get(t), i32(2))), mul(op('i32.shr_u', op('i32.and', x, i32(3)), i32(1)), i32(8)));
      if (aRegs) return [aset(af, x, regWord(aRegs, add(mul(op('i32.div_u', x, i32(4)), i32(K / 16)), kStep), 8, op('i32.and', x, i32(3))))];
      const w = word(aShared, 0, 1, row, k);
      return [...w.stmts, aset(af, x, w.value)];
    });
    // B word r of atom column cb: column g of the atom, K rows 2t + 8r and the next. The thread's own
    // column (from the accumulator's layout) is 2t into the atom.
    const loadB = loadBMatrices && pairedB ? [ifThen(op('i32.eqz', op('i32.and', get(kk), i32(16))), loadBMatrices)] : loadBMatrices ?? this.forLocals(atomCols * 2, (x) => {
      const col = add(op('i32.sub', add(get(coords[1]!), get(g)), mul(get(t), i32(2))), localSubOffset(layout, 1, mul(op('i32.div_u', x, i32(2)), i32(2))));
      const k = add(add(get(kk), mul(get(t), i32(2))), mul(op('i32.and', x, i32(1)), i32(8)));
      if (bRegs) return [aset(bf, x, regWord(bRegs, add(mul(op('i32.div_u', x, i32(2)), i32(K / 16)), kStep), 4, op('i32.and', x, i32(1))))];
      const w = word(bShared, bOffset, 0, col, k);
      return [...w.stmts, aset(bf, x, w.value)];
    });
    const mmas = this.forLocals(localSize(quotient), (q) => {
      const [ra, cb] = [localSubIndex(quotient, 0, q), localSubIndex(quotient, 1, q)];
      const stmt: Stmt = {
        k: 'mma', type: dtype,
        a: [0, 1, 2, 3].map((r) => ({ k: 'aget', array: af, index: add(mul(ra, i32(4)), i32(r)) }) as Expr),
        b: [0, 1].map((r) => ({ k: 'aget', array: bf, index: add(mul(cb, i32(bWords)), pairedB ? add(op('i32.and', op('i32.shr_u', get(kk), i32(3)), i32(2)), i32(r)) : i32(r)) }) as Expr),
        acc: acc.array,
        at: [0, 1, 2, 3].map((i) => add(mul(q, i32(4)), i32(i))),
      };
      return this.features.mma === 'native' ? [stmt] : this.emulateMma(stmt, emulation, g, t);
    });
    this.usedMma = true;
    // Staged operands: the scratch is free after a barrier, and written before the next.
    const stage = stagedRows === 0 ? [] : [
      { k: 'barrier' } as Stmt,
      ...(a ? write(a, 0, ([m, k]) => [m!, k!]) : []),
      ...(b ? write(b, bOffset, ([k, n]) => [n!, k!]) : []),
      { k: 'barrier' } as Stmt,
    ];
    // Fragments from registers are indexed by the K step: that loop is unrolled so they stay registers.
    const chunk: Stmt[] = [...stage, ...hoisted, { ...forLoop(kk, i32(0), i32(kc), [...loadA, ...loadB, ...mmas], i32(16)), ...(aRegs || bRegs ? { unroll: true } : {}) }];
    // An f32 addend is the accumulators' first value: the MMAs add the products onto it, as GEMMs do
    // (the order of a dot's accumulation is not specified), so that no second set of accumulators
    // lives across the K loop and no addition per element follows it. Another addend type is added
    // after, in f32.
    const c = cId === null ? null : this.convert(this.tile(cId), type.layout!);
    const onto = c !== null && c.dtype === 'f32';
    this.out.push(
      ...this.forLocals(acc.length, (j) => [aset(acc, j, onto ? aget(c, j) : f32(0))]),
      ...(kc === K ? chunk : [forLoop(k0, i32(0), i32(K), chunk, i32(kc))]),
    );
    this.out.push(...this.forLocals(out.length, (j) => {
      let v: Expr = aget(acc, j);
      if (c && !onto) v = op('f32.add', castHeld(c.dtype, 'f32', aget(c, j), this.tables), v);
      return [aset(out, j, castHeld('f32', type.dtype, v, this.tables))];
    }));
    return out;
  }

  /**
   * The codes behind an f16 MMA operand that casts them, already laid out as the operand's fragments
   * (layout inference hints the cast's source too), where the cast is fused into its one use: the dot
   * builds f16 pairs from the codes directly (regWord), no table. Integers of 8 bits or fewer, with the
   * constant the operand takes off them (`cast(codes) - c`, biasedCasts; 0 for a plain cast); and
   * minifloats of at most 4 exponent bits, finite-only (f4e2m1, f6e3m2, f6e2m3, ...) or f8e4m3, whose
   * fields fit f16's below its all-ones exponent and whose every number is an f16 (f8e4m3's NaN code is
   * fixed up after the re-bias); and f8e5m2, the top byte of an f16. For bf16 operands, integers of 7
   * bits or fewer, and on CUDA every minifloat (re-biased the same way, FP8's infinities and NaNs fixed
   * up), and 8-bit integer codes by way of f32. Null otherwise (bf16 on WebGPU from minifloats or 8-bit
   * codes, f16 from finite minifloats of 5 exponent bits). A product of such a cast and scales (scaledOperands) gives its codes
   * and the scales.
   */
  fragmentCodes(id: ValueId, dtype: string, fragments: RegisterLayout): { readonly codes: RTile; readonly bias: number; readonly scale?: (j: Expr) => Expr } | null {
    // Scales applied to the weights: the codes behind the cast, then one f16x2 multiplication per pair.
    const scaled = this.scaledOperands.get(id);
    if (scaled) {
      if (!this.lazy.has(id) || !this.lazy.has(scaled.cast) || !layoutEquals(scaled.layout, fragments)) return null;
      const codes = this.fragmentCodes(scaled.cast, dtype, fragments);
      return codes && { ...codes, scale: scaled.scale };
    }
    // A constant added or taken off the cast (a fixed zero point) joins the integers' subtraction.
    const biased = this.biasedCasts.get(id);
    const src = this.castSources.get(biased?.cast ?? id);
    if ((dtype !== 'f16' && dtype !== 'bf16') || src === undefined || !this.lazy.has(id)) return null;
    const t = this.valueTypes.get(src);
    if (!t || !layoutEquals(t.layout!, fragments)) return null;
    const d = parseDType(t.dtype);
    const bias = biased?.bias ?? 0;
    if (d.kind === 'int' || d.kind === 'uint') {
      // 1024 + S + bias must be an f16 of the binade [1024, 2048), where its bits are 0x6400 + S + bias;
      // for bf16, 128 + S + bias one of [128, 256) (bits 0x4300 + S + bias), which holds codes of 7 bits.
      const S = d.kind === 'int' ? 1 << (d.bits - 1) : 0;
      const [bits, most] = dtype === 'f16' ? [8, 1023] : [7, 127];
      // bf16 from 8-bit codes: through f32 pairs (2^23 + S + bias exact in f32), on CUDA only (WGSL has
      // no bf16 rounding of its own).
      const viaF32 = dtype === 'bf16' && d.bits === 8 && this.features.mma === 'native' && Math.abs(S + bias) < 2 ** 22;
      if (!Number.isInteger(bias) || (!viaF32 && (d.bits > bits || S + bias < 0 || S + bias > most))) return null;
    } else if (d.kind !== 'float' || d.bits > 8 || biased) return null;
    // f16: finite minifloats of up to 4 exponent bits, f8e4m3 (its NaN fixed up) and f8e5m2 (f16's top
    // byte).
    else if (dtype === 'f16' && !(d.exponentBits <= 4 && (d.specials === 'finite' || d.specials === 'fn')) && d.specials !== 'ieee') return null;
    // bf16: every minifloat of 8 bits or fewer (their numbers are bf16 numbers), on CUDA, by one
    // multiplication of bf16 pairs; WebGPU, which would multiply through f32 and may flush the f32
    // subnormals that bf16 subnormals are, converts through f32 element by element.
    else if (dtype === 'bf16' && this.features.mma !== 'native') return null;
    return { codes: this.tile(src), bias };
  }

  /**
   * The word holding the 16-bit codes at tile coordinates `coords` and the next along `pairDim` of a
   * shared tensor slice: one 32-bit load where the layout provably keeps the pair adjacent and the first
   * at an even element (unit stride along the pair, even strides elsewhere, a constant even slice
   * offset along the pair, a swizzle that moves whole pairs); else two 16-bit loads.
   */
  sharedPair(view: SharedView, coords: readonly Expr[], pairDim: number): Expr {
    const { slot, index } = view;
    const l = slot.type.layout;
    const td = this.sliceDim(index, viewDim(view, pairDim));
    const first = sliceCoords(index, viewCoords(view, coords), (v) => this.scalar(v));
    if (this.runsWhole(view, pairDim, 2)) return { k: 'load', type: 'i32', bits: 32, signed: false, addr: add(mul(sharedElementOffset(l, first), i32(2)), i32(slot.offset)), offset: 0, mem: 'shared' };
    const next = first.map((c, d) => (d === td ? add(c, i32(1)) : c));
    return op('i32.or', this.readShared(slot, first), op('i32.shl', this.readShared(slot, next), i32(16)));
  }

  /** The byte address of 16-bit element `coords` (tile coordinates) of a shared slice, for ldmatrix. */
  ldmatrixAddress(view: SharedView, coords: readonly Expr[]): Expr {
    const l = view.slot.type.layout;
    return add(mul(sharedElementOffset(l, sliceCoords(view.index, viewCoords(view, coords), (v) => this.scalar(v))), i32(2)), i32(view.slot.offset));
  }

  /**
   * The bytes per element of K that a dot's K steps move the ldmatrix addresses of a shared slice by,
   * when they move them by exclusive or, and the span of element offsets the steps cover (kc times the
   * stride): along tile dimension `dim`, steps of `step` elements within
   * chunks of `kc` (kc and step powers of two; chunks start at multiples of kc; each lane's own offset
   * along `dim` below the step) set bits of the element offset that nothing else sets and that no
   * swizzle reads, and the slot's byte offset has none of them; then offset + k = offset | k, the
   * swizzle of offset | k is the swizzle of offset, exclusive or k, and so is the byte address. Null
   * where that does not hold (the address is then computed at each step).
   */
  kStepsByXor(view: SharedView, dim: number, kc: number, step: number): { readonly bytes: number; readonly span: number } | null {
    const l = view.slot.type.layout;
    const td = this.sliceDim(view.index, viewDim(view, dim));
    const st = l.strides[td]!;
    const start = this.constants.get(view.index[td]!.offset);
    const span = kc * st;
    const ok = isPow2(kc) && isPow2(step) && isPow2(st) && start !== undefined && start % kc === 0 &&
      l.strides.every((s, d) => d === td || s % span === 0) &&
      (!l.swizzle || 1 << (l.swizzle.base + l.swizzle.shift) >= span) && view.slot.offset % (2 * span) === 0;
    return ok ? { bytes: 2 * st, span } : null;
  }

  /**
   * The bytes by which atom i's ldmatrix address lies past atom 0's, where that is i times one constant
   * for every i: atom i lies `offsets[i]` elements along tile dimension `dim` of a shared slice, one
   * element there moves the element offset by the slot's stride, and each atom's move is a multiple of
   * `span` (the K steps' bits, kStepsByXor) and of the swizzle's period (so the swizzle of offset + move
   * is the swizzle of offset, plus move). Null otherwise.
   */
  movesByWholePeriods(view: SharedView, dim: number, span: number, offsets: readonly number[]): number | null {
    const l = view.slot.type.layout;
    const st = l.strides[this.sliceDim(view.index, viewDim(view, dim))]!;
    const each = (offsets[1] ?? 0) * st;
    const period = l.swizzle ? 1 << (l.swizzle.base + l.swizzle.shift + l.swizzle.bits) : 1;
    const ok = offsets.every((o, i) => o * st === i * each) && each % span === 0 && each % period === 0;
    return ok ? 2 * each : null;
  }

  /**
   * Whether ldmatrix can read 8x8 blocks of a shared slice whose rows run along tile dimension
   * `contig`: unit stride there, strides elsewhere and the slice's (constant) offset there multiples of 8
   * elements, and a swizzle that moves whole 16-byte rows. (Fragment coordinates along it are multiples
   * of 8 by construction.)
   */
  ldmatrixFits(view: SharedView, contig: number): boolean {
    return this.runsWhole(view, contig, 8);
  }

  /** The tensor dimension of a slice's tile dimension `dim` (point entries have none). */
  sliceDim(index: readonly IndexEntry[], dim: number): number {
    return index.flatMap((e, d) => (e.extent === null ? [] : [d]))[dim]!;
  }

  /**
   * Whether runs of `n` elements (a power of two) along tile dimension `dim` of a shared slice, starting
   * at multiples of n in the tile, are contiguous and start at multiples of n in the allocation: unit
   * stride there, other strides and the slice's (constant) offset there multiples of n, and a swizzle
   * that moves units of at least n elements.
   */
  runsWhole(view: SharedView, dim: number, n: number): boolean {
    const l = view.slot.type.layout;
    const td = this.sliceDim(view.index, viewDim(view, dim));
    const offset = this.constants.get(view.index[td]!.offset);
    return l.strides[td] === 1 && (!l.swizzle || 1 << l.swizzle.base >= n) && l.strides.every((st, d) => d === td || st % n === 0) && offset !== undefined && offset % n === 0;
  }

  /**
   * An ldmatrix of `names.length` matrices, this lane pointing at tile coordinates `coords` of a shared
   * slice; where the target has no ldmatrix (mma 'emulate'), what it computes: after a barrier each lane
   * publishes its address in scratch (at byte `offset`), and after another reads its words from the
   * addresses of the lanes that hold its rows, as the PTX ISA defines the instruction.
   */
  ldmatrix(view: SharedView, addr: Expr, trans: boolean, names: readonly string[], offset: number): Stmt[] {
    if (this.features.mma === 'native') return [{ k: 'ldmatrix', trans, addr, names }];
    const slot = (thread: Expr): Expr => this.scratchWord(thread, offset);
    const warp = op('i32.and', get('tid'), i32(~31));
    const rowAddr = (lane: Expr): Expr => ({ k: 'load', type: 'i32', bits: 32, signed: false, addr: slot(add(warp, lane)), offset: 0, mem: 'shared' });
    const [g, t] = [op('i32.shr_u', op('i32.and', get('tid'), i32(31)), i32(2)), op('i32.and', get('tid'), i32(3))];
    const read = (bits: 16 | 32, a: Expr): Expr => ({ k: 'load', type: 'i32', bits, signed: false, addr: a, offset: 0, mem: 'shared' });
    return [
      { k: 'barrier' },
      { k: 'store', bits: 32, addr: slot(get('tid')), offset: 0, value: addr, mem: 'shared' },
      { k: 'barrier' },
      ...names.map((name, i): Stmt => set(name, trans
        // Rows 2t and 2t + 1 of matrix i, column g.
        ? op('i32.or', read(16, add(rowAddr(add(i32(8 * i), mul(t, i32(2)))), mul(g, i32(2)))), op('i32.shl', read(16, add(rowAddr(add(i32(8 * i + 1), mul(t, i32(2)))), mul(g, i32(2)))), i32(16)))
        // Row g of matrix i, columns 2t and 2t + 1.
        : read(32, add(rowAddr(add(i32(8 * i), g)), mul(t, i32(4)))))),
      { k: 'barrier' },
    ];
  }

  /** A local computed once in the prologue. */
  laneLocal(prefix: string, value: Expr): string {
    const name = this.fresh(prefix, 'i32');
    this.prologue.push(set(name, value));
    return name;
  }

  /**
   * What one `mma` statement computes, for targets without the instruction: after a barrier (scratch
   * users read after their own barrier and may still be reading), every lane writes its six fragment
   * words to scratch (at byte `offset`, six words per thread), and after a barrier each lane computes
   * its four accumulator elements from the words of the lanes that hold the operands, as the PTX ISA
   * places them (see the statement in ir/loop_ir.ts); a last barrier frees the scratch.
   */
  emulateMma(s: Extract<Stmt, { k: 'mma' }>, offset: number, g: string, t: string): Stmt[] {
    const slot = (thread: Expr, w: Expr): Expr => this.scratchWord(add(mul(thread, i32(6)), w), offset);
    const word = (thread: Expr, w: Expr): Expr => ({ k: 'load', type: 'i32', bits: 32, signed: false, addr: slot(thread, w), offset: 0, mem: 'shared' });
    const half = (w: Expr, odd: Expr): Expr =>
      s.type === 'f16'
        ? { k: 'select', cond: odd, a: { k: 'intrinsic', name: 'gpu.f16_hi', type: 'f32', args: [w] }, b: { k: 'intrinsic', name: 'gpu.f16_lo', type: 'f32', args: [w] } }
        : op('f32.from_bits', { k: 'select', cond: odd, a: op('i32.and', w, i32(0xffff0000 | 0)), b: op('i32.shl', w, i32(16)) });
    const warp = op('i32.and', get('tid'), i32(~31));
    const stores: Stmt[] = [...s.a, ...s.b].map((v, r) => ({ k: 'store', bits: 32, addr: slot(get('tid'), i32(r)), offset: 0, value: v, mem: 'shared' }));
    const sum = this.fresh('mma_sum', 'f32');
    const compute = [0, 1, 2, 3].flatMap((i): Stmt[] => [
      set(sum, f32(0)),
      ...this.forLocals(16, (k) => {
        const odd = op('i32.and', k, i32(1));
        const pairLane = op('i32.shr_u', op('i32.and', k, i32(7)), i32(1)); // which lane of a quad holds k
        const upperK = op('i32.shr_u', k, i32(3));
        // A[g + 8 (i / 2)][k]: lane 4g + pairLane, word (i / 2) + 2 (k / 8).
        const aw = word(add(warp, add(mul(get(g), i32(4)), pairLane)), add(i32(i >> 1), mul(upperK, i32(2))));
        // B[k][2t + i % 2]: lane 4 (2t + i % 2) + pairLane, word 4 + k / 8.
        const bw = word(add(warp, add(mul(add(mul(get(t), i32(2)), i32(i & 1)), i32(4)), pairLane)), add(i32(4), upperK));
        return [set(sum, op('f32.add', get(sum), op('f32.mul', half(aw, odd), half(bw, odd))))];
      }),
      aset(s.acc, s.at[i]!, op('f32.add', { k: 'aget', array: s.acc, index: s.at[i]! }, get(sum))),
    ]);
    return [{ k: 'barrier' }, ...stores, { k: 'barrier' }, ...compute, { k: 'barrier' }];
  }
}

/**
 * The length of the runs of consecutive elements along the last dimension that each thread holds at
 * consecutive local indices: the extent of the innermost local mode when it is the last dimension's
 * innermost mode; null otherwise.
 */
function runOf(l: RegisterLayout): number | null {
  const e = l.local.at(-1);
  if (e === undefined) return null;
  const m = l.modes[e]!;
  if (m.dim !== l.shape.length - 1 || innerStride(l, e) !== 1) return null;
  return m.extent;
}

/**
 * Runs in any local order: the innermost modes of the last dimension that are all local (in any places
 * of the local list) cover `length` consecutive elements, which a thread holds at local indices
 * `first(q) + offsets[u]` for element u of its run q (runs counted over the other local digits in
 * local order). A run in local order (runOf) is the case offsets[u] = u. Null where the last
 * dimension's innermost mode is spatial (or the tile has rank 0). At most `most` modes.
 */
function runsOf(l: RegisterLayout, most = Infinity): { readonly length: number; readonly count: number; readonly offsets: readonly number[]; readonly first: (q: Expr) => Expr; readonly starts: readonly number[] } | null {
  const d = l.shape.length - 1;
  const dimModes = l.modes.flatMap((m, e) => (m.dim === d ? [e] : []));
  const run: number[] = [];
  for (let i = dimModes.length - 1; i >= 0 && run.length < most && l.local.includes(dimModes[i]!); i--) run.unshift(dimModes[i]!);
  if (d < 0 || run.length === 0) return null;
  // The stride of each local entry in the local index.
  const stride = new Map<number, number>();
  let inner = 1;
  for (let p = l.local.length - 1; p >= 0; p--) {
    stride.set(l.local[p]!, inner);
    inner *= entryExtent(l, l.local[p]!);
  }
  const length = run.reduce((n, e) => n * entryExtent(l, e), 1);
  const offsets = Array.from({ length }, (_, u) => {
    let [j, rest] = [0, u];
    for (let i = run.length - 1; i >= 0; i--) {
      const ext = entryExtent(l, run[i]!);
      j += (rest % ext) * stride.get(run[i]!)!;
      rest = Math.floor(rest / ext);
    }
    return j;
  });
  const others = l.local.filter((e) => !run.includes(e));
  const count = others.reduce((n, e) => n * entryExtent(l, e), 1);
  // Run q's first local: each other local entry a digit of q (q / below % extent, the innermost entry
  // first), at its stride in the local index; `first` as an expression of q, `starts` as numbers.
  let below = 1;
  const digits = [...others].reverse().map((e) => {
    const g = { below, ext: entryExtent(l, e), stride: stride.get(e)! };
    below *= g.ext;
    return g;
  });
  const first = (q: Expr): Expr => digits.reduce<Expr>((j, g) => add(j, mul(op('i32.rem_u', op('i32.div_u', q, i32(g.below)), i32(g.ext)), i32(g.stride))), i32(0));
  const starts = Array.from({ length: count }, (_, q) => digits.reduce((j, g) => j + (Math.floor(q / g.below) % g.ext) * g.stride, 0));
  return { length, count, offsets, first, starts };
}

/**
 * The unswizzled element offset in `l` of a slice's tile coordinates relative to its origin (the
 * strides of the slice's dimensions that have an extent): a local's part of an element's offset.
 */
function tileOffset(l: SharedLayout, index: readonly IndexEntry[], coords: readonly number[]): number {
  return index.flatMap((e, d) => (e.extent === null ? [] : [d])).reduce((o, d, i) => o + coords[i]! * l.strides[d]!, 0);
}

function tileOffsetExpr(l: SharedLayout, index: readonly IndexEntry[], coords: readonly Expr[]): Expr {
  return index.flatMap((e, d) => (e.extent === null ? [] : [d])).reduce<Expr>((o, d, i) => add(o, mul(coords[i]!, i32(l.strides[d]!))), i32(0));
}

/**
 * A swizzled element offset split into the thread's part and the local's (splitSwizzle): the offset of
 * local j is combine(thread, local(j)); `locals` are the local parts as numbers, swizzled.
 */
interface SplitSwizzle {
  readonly thread: Expr;
  readonly local: (j: Expr) => Expr;
  readonly locals: readonly number[];
  readonly combine: 'add' | 'xor';
}

/** The compile-time part of local j's coordinates. */
function localCoords(l: RegisterLayout, j: number): number[] {
  const c = l.shape.map(() => 0);
  let v = j;
  for (let p = l.local.length - 1; p >= 0; p--) {
    const e = l.local[p]!;
    const ext = entryExtent(l, e);
    c[l.modes[e]!.dim]! += (v % ext) * innerStride(l, e);
    v = Math.floor(v / ext);
  }
  return c;
}

/** The number of distinct local positions along dimension `dim`: the product of its local modes. */
function localSubSize(l: RegisterLayout, dim: number): number {
  return l.local.filter((e) => l.modes[e]!.dim === dim).reduce((n, e) => n * entryExtent(l, e), 1);
}

/** Which of those positions local j is at: its digits of `dim`'s local modes, composed in order. */
function localSubIndex(l: RegisterLayout, dim: number, j: Expr): Expr {
  let index: Expr = i32(0);
  let inner = 1;
  for (let p = l.local.length - 1; p >= 0; p--) {
    const e = l.local[p]!;
    const ext = entryExtent(l, e);
    if (l.modes[e]!.dim === dim) {
      const weight = l.local.slice(p + 1).filter((x) => l.modes[x]!.dim === dim).reduce((n, x) => n * entryExtent(l, x), 1);
      index = add(index, mul(op('i32.rem_u', op('i32.div_u', j, i32(inner)), i32(ext)), i32(weight)));
    }
    inner *= ext;
  }
  return index;
}

/** The coordinate offset along `dim` of position r (as localSubIndex numbers them). */
function localSubOffset(l: RegisterLayout, dim: number, r: Expr): Expr {
  return localSubDigits(l, dim).reduce<Expr>((o, d) => add(o, mul(op('i32.rem_u', op('i32.div_u', r, i32(d.inner)), i32(d.extent)), i32(d.stride))), i32(0));
}

/** localSubOffset of a constant r, as a number. */
function localSubOffsetValue(l: RegisterLayout, dim: number, r: number): number {
  return localSubDigits(l, dim).reduce((o, d) => o + (Math.floor(r / d.inner) % d.extent) * d.stride, 0);
}

/**
 * The digits of r in localSubOffset, innermost first: each local mode of `dim` with its extent, the
 * product of the extents inside it (its place in r), and how far one step of it moves along `dim`.
 */
function localSubDigits(l: RegisterLayout, dim: number): { readonly extent: number; readonly inner: number; readonly stride: number }[] {
  const entries = l.local.filter((e) => l.modes[e]!.dim === dim);
  const out: { extent: number; inner: number; stride: number }[] = [];
  let inner = 1;
  for (let q = entries.length - 1; q >= 0; q--) {
    const extent = entryExtent(l, entries[q]!);
    out.push({ extent, inner, stride: innerStride(l, entries[q]!) });
    inner *= extent;
  }
  return out;
}

/** How far one step of mode e moves along its dimension: the product of the later modes of that dimension. */
function innerStride(l: RegisterLayout, e: number): number {
  let s = 1;
  for (let i = e + 1; i < l.modes.length; i++) if (l.modes[i]!.dim === l.modes[e]!.dim) s *= l.modes[i]!.extent;
  return s;
}

const linearOf = (coords: readonly Expr[], strides: readonly number[]): Expr => coords.reduce<Expr>((acc, c, d) => add(acc, mul(c, i32(strides[d]!))), i32(0));

/** Indexed coordinates of a slice: each point entry is its offset, each slice entry offset + the tile coordinate. */
function sliceCoords(index: readonly IndexEntry[], tileCoords: readonly Expr[], scalar: (id: ValueId) => Expr): Expr[] {
  let d = 0;
  return index.map((e) => (e.extent === null ? scalar(e.offset) : add(scalar(e.offset), tileCoords[d++]!)));
}

function largestDivisorBelow(n: number, below: number): number {
  for (let d = below - 1; d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/** The code a masked load yields outside a tensor: the code of zero (0 for the float types, whose +0 is all zero bits). */
function zeroCode(dtype: string): number {
  const z = heldZero(dtype);
  return heldOf(dtype) === 'f32' || z.k !== 'const' ? 0 : z.value;
}

/**
 * For codes of 1, 2 or 4 bits whose pairs (elements 2i and 2i + 1) come from one word 16 bits apart
 * (`fields`, from vectorLoadShared): the shift within its byte of each pair's first field, k (a multiple
 * of `bits`), as a table `mask` of k / bits in `width` bits per pair, repeating every `period` pairs (a
 * power of two that fits the table in 32 bits), and the values k takes. Null where some pair is not so,
 * or the table has no period that short, or every k is the same.
 */
function pairShifts(fields: CodeFields | undefined, bits: number): { readonly mask: number; readonly width: number; readonly period: number; readonly values: readonly number[] } | null {
  if (!fields || ![1, 2, 4].includes(bits) || fields.length % 2 !== 0) return null;
  const ks: number[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const [lo, hi] = [fields[i], fields[i + 1]];
    if (!lo || !hi || lo.word !== hi.word || hi.shift !== lo.shift + 16) return null;
    ks.push(lo.shift % 8);
  }
  const width = Math.log2(8 / bits);
  const period = [1, 2, 4, 8, 16, 32].find((p) => p * width <= 32 && ks.every((k, i) => k === ks[i % p]));
  const values = [...new Set(ks)].sort((a, b) => a - b);
  if (period === undefined || values.length < 2) return null;
  return { mask: ks.slice(0, period).reduce((m, k, i) => m | ((k / bits) << (width * i)), 0), width, period, values };
}

/** Unpacks `run` fields of `bits` from the words `names` (little-endian, as in memory) into out[j0 ..]. */
function unpackRun(names: readonly string[], run: number | readonly number[], bits: number, dtype: string, out: RTile, j0: Expr): Stmt[] {
  const mask = bits === 32 ? -1 : (1 << bits) - 1;
  const offsets = typeof run === 'number' ? Array.from({ length: run }, (_, u) => u) : run;
  return offsets.map((at, u) => {
    const [w, sh] = [(u * bits) >> 5, (u * bits) & 31];
    let v = op('i32.shr_u', get(names[w]!), i32(sh));
    if (sh + bits > 32) v = op('i32.or', v, op('i32.shl', get(names[w + 1]!), i32(32 - sh)));
    if (bits < 32) v = op('i32.and', v, i32(mask));
    return aset(out, add(j0, i32(at)), heldFromCode(dtype, v));
  });
}

/** The 32-bit word at word index `at` of `mem`. */
function wordAt(mem: string, at: Expr): Expr {
  return { k: 'load', type: 'i32', bits: 32, signed: false, addr: op('i32.shl', at, i32(2)), offset: 0, mem };
}

/**
 * Sets `word` to the 32 bits that start `sh` bits (0 to 31) into word `at` of `mem`, of which `valid`
 * (> 0) are wanted: the next word is read only where wanted bits lie in it.
 */
function straddledWord(mem: string, at: Expr, sh: Expr, valid: Expr, word: string): Stmt[] {
  return [
    set(word, op('i32.shr_u', wordAt(mem, at), sh)),
    ifThen(op('i32.and', op('i32.ne', sh, i32(0)), op('i32.gt_s', valid, op('i32.sub', i32(32), sh))), [
      set(word, op('i32.or', get(word), op('i32.shl', wordAt(mem, op('i32.add', at, i32(1))), op('i32.sub', i32(32), sh)))),
    ]),
  ];
}

/** The low `n` bits set, all 32 from n = 32 up (n > 0). */
function lowBits(n: Expr): Expr {
  return op('i32.shr_u', i32(-1), op('i32.sub', i32(32), op('i32.min_s', n, i32(32))));
}

/** Words per access for a run of `words` words: 4 (128 bits), 2 or 1, the most that divides it. */
function widestAccess(words: number): 1 | 2 | 4 {
  return words % 4 === 0 ? 4 : words % 2 === 0 ? 2 : 1;
}
