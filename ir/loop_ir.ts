// Loop IR: the low-level, target-neutral IR that every backend emits from. Structured loops and ifs,
// scalar and 128-bit vector values in named locals, byte-addressed memory with loads and stores of
// 8 to 128 bits, 32-bit atomic and/or for partial-word stores, barriers, and calls to math functions
// and target intrinsics (the latter introduced only by instruction selection).
//
// Memory: accesses without `mem` address the one linear memory of CPU targets (on GPU targets, the
// module's constant data). GPU lowerings name a memory space per access: 'shared' (the block's shared
// memory) or 'g:NAME' (the global buffer of tensor parameter NAME); addresses are byte offsets in it.
//
// Expressions are trees and may be shared between statements: a backend re-emits a shared subtree
// (binaryen forbids reusing a node, so its emitter never does).

/** Value types. v128 holds four f32 or i32, eight i16 or sixteen i8 lanes, by the op that reads it. */
export type LType = 'i32' | 'f32' | 'v128';

export type MathFn = 'exp' | 'exp2' | 'log' | 'log2' | 'rsqrt' | 'fmod' | 'fma';
export const MATH_ARITY: Readonly<Record<MathFn, number>> = { exp: 1, exp2: 1, log: 1, log2: 1, rsqrt: 1, fmod: 2, fma: 3 };

/** Lane shapes of v128 operations. */
export type Lanes = 'f32x4' | 'i32x4' | 'i16x8' | 'i8x16';

export type Expr =
  | { readonly k: 'const'; readonly type: 'i32' | 'f32'; readonly value: number }
  /** A v128 constant from sixteen bytes. */
  | { readonly k: 'vconst'; readonly bytes: readonly number[] }
  | { readonly k: 'get'; readonly name: string }
  /**
   * A load of `bits` at byte address addr + offset. i32 results of 8 or 16 bits are zero-extended
   * unless `signed`; a 32-bit load gives i32 or f32; a v128 load reads 128 bits, or 32 or 64 bits
   * into the low lanes with the rest zero.
   */
  | { readonly k: 'load'; readonly type: LType; readonly bits: 8 | 16 | 32 | 64 | 128; readonly signed: boolean; readonly addr: Expr; readonly offset: number; readonly mem?: string }
  /**
   * Field `index` of `width` bits (1..8) in the little-endian bit stream at byte address `base`, zero-
   * extended to i32. Backends legalize it to the word accesses and shifts their memory allows.
   */
  | { readonly k: 'bits'; readonly base: Expr; readonly index: Expr; readonly width: number; readonly mem?: string }
  /** An operation of the op table below. */
  | { readonly k: 'op'; readonly op: string; readonly args: readonly Expr[] }
  /** cond ? a : b with both sides evaluated; cond is i32 (nonzero is true). */
  | { readonly k: 'select'; readonly cond: Expr; readonly a: Expr; readonly b: Expr }
  /**
   * A math function on f32 (or on the four f32 lanes of a v128; the result has the arguments' type).
   * log, log2, rsqrt, fmod and fma (a * b + c) are the exact result rounded once, as the VM computes
   * them; exp and exp2 are within 2 ulp of it (backends approximate them with polynomials). WGSL's fma
   * may round the product first (its accuracy is that of a * b + c).
   */
  | { readonly k: 'math'; readonly fn: MathFn; readonly args: readonly Expr[] }
  /** A call of another function of the module. */
  | { readonly k: 'call'; readonly fn: string; readonly type: LType; readonly args: readonly Expr[] }
  /** Element `index` of a per-thread register array (GPU lowerings; see LFunction.arrays). */
  | { readonly k: 'aget'; readonly array: string; readonly index: Expr }
  /** A target instruction chosen by instruction selection: `name` means something only to one backend. */
  | { readonly k: 'intrinsic'; readonly name: string; readonly type: LType; readonly args: readonly Expr[] };

export type AtomicOp = 'and' | 'or' | 'add' | 'fadd';

export type Stmt =
  | { readonly k: 'set'; readonly name: string; readonly value: Expr }
  /**
   * names[i] = the 32-bit word at byte address addr + 4i of `mem`, as one access: addr is a multiple of
   * 4 * names.length (1, 2 or 4 words; the GPU lowering checks it before it uses this).
   */
  | { readonly k: 'loadwords'; readonly mem: string; readonly addr: Expr; readonly names: readonly string[] }
  /** The 32-bit words `values` stored at byte address addr + 4i of `mem` as one access (alignment as loadwords). */
  | { readonly k: 'storewords'; readonly mem: string; readonly addr: Expr; readonly values: readonly Expr[] }
  /**
   * Copies `words` 32-bit words from byte address `addr` of `mem` to byte address `sharedAddr` of shared
   * memory, both multiples of 4 * words, asynchronously where the target can (CUDA's cp.async): the
   * words are in shared memory after the `asyncwait` that covers this copy's group (`asynccommit`).
   */
  | { readonly k: 'copywords'; readonly mem: string; readonly addr: Expr; readonly sharedAddr: Expr; readonly words: 1 | 2 | 4 }
  /** Closes the group of this thread's copywords issued since the last one. */
  | { readonly k: 'asynccommit' }
  /** Waits until at most `pending` of this thread's groups of copies are still in flight. */
  | { readonly k: 'asyncwait'; readonly pending: number }
  /**
   * One warp-wide matrix multiply-accumulate, D = A · B + D, with A 16x16, B 16x8 and D 16x8 (PTX
   * `mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}`): every lane of the warp executes it together
   * (the block is whole warps and control flow is uniform). Each lane passes its fragments as the PTX ISA
   * lays them out (groupID g = lane >> 2, t = lane % 4): `a`, 4 words of two 16-bit codes (low half
   * first) holding A[g + 8(r % 2)][2t + 8(r >> 1) + {0, 1}] for word r; `b`, 2 words holding
   * B[2t + 8r + {0, 1}][g]; and D[g + 8(i >> 1)][2t + (i % 2)] is f32 element `at[i]` of register array
   * `acc`, updated in place. The order of the accumulation is not specified.
   */
  | { readonly k: 'mma'; readonly type: 'f16' | 'bf16'; readonly a: readonly Expr[]; readonly b: readonly Expr[]; readonly acc: string; readonly at: readonly Expr[] }
  /**
   * Warp-wide loads of `names.length` (2 or 4) 8x8 matrices of 16-bit elements from shared memory (PTX
   * `ldmatrix.sync.aligned.m8n8.x{2,4}[.trans].shared.b16`): row r of matrix i is the 16 bytes at byte
   * address `addr` of lane 8i + r (16-byte aligned). Lane l receives in names[i] the word of row l / 4,
   * columns 2 (l % 4) and the next (low half first); with `trans`, rows 2 (l % 4) and the next of column
   * l / 4. Every lane of the warp executes it together.
   */
  | { readonly k: 'ldmatrix'; readonly trans: boolean; readonly addr: Expr; readonly names: readonly string[] }
  /** array[index] = value, on a per-thread register array. */
  | { readonly k: 'aset'; readonly array: string; readonly index: Expr; readonly value: Expr }
  | { readonly k: 'store'; readonly bits: 8 | 16 | 32 | 128; readonly addr: Expr; readonly offset: number; readonly value: Expr; readonly mem?: string }
  /**
   * mem32[addr] op= value, atomically (addr 4-byte aligned). 'and' and 'or' (i32 values): stores that
   * share a word with others; 'add' (i32, wrapping) and 'fadd' (an f32 value added to the word's f32,
   * rounded once, subnormals kept): accumulating stores.
   */
  | { readonly k: 'atomic'; readonly op: AtomicOp; readonly addr: Expr; readonly value: Expr; readonly mem?: string }
  /**
   * for (var = start; var < end; var += step); `var` is an i32 local, step an i32 > 0. `unroll: true`
   * marks a loop of constant trip count that backends should unroll (GPU loops over a thread's locals, so
   * that register arrays stay in registers); `unroll: false` one they should keep rolled (a rare path
   * whose unrolled copies would take registers from the rest); absent, the target's compiler decides.
   */
  | { readonly k: 'for'; readonly var: string; readonly start: Expr; readonly end: Expr; readonly step: Expr; readonly body: readonly Stmt[]; readonly unroll?: boolean }
  | { readonly k: 'if'; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else: readonly Stmt[] }
  /** All threads of the block wait here (a no-op where a block is one thread). */
  | { readonly k: 'barrier' }
  /** Stops the block with error `code` (a failed assert; the runtime maps codes to messages). */
  | { readonly k: 'trap'; readonly code: number }
  /** Returns from a helper function. */
  | { readonly k: 'return'; readonly value: Expr };

export interface Local {
  readonly name: string;
  readonly type: LType;
}

export interface LFunction {
  readonly name: string;
  /** The kernel's block function returns nothing (its traps return an error code); helpers return this. */
  readonly result: LType | null;
  readonly params: readonly Local[];
  readonly locals: readonly Local[];
  /** Per-thread register arrays of i32 or f32 (GPU targets only). */
  readonly arrays?: readonly { readonly name: string; readonly type: 'i32' | 'f32'; readonly length: number }[];
  readonly body: readonly Stmt[];
}

/** A table of constant bytes placed in memory (decode tables, thresholds). */
export interface DataSegment {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

export interface LModule {
  /** The block function is named `block`: (bx, by, bz, args, scratch) with i32 parameters. */
  readonly functions: readonly LFunction[];
  /** Messages of trap codes 1, 2, ... */
  readonly traps: readonly string[];
  readonly data: readonly DataSegment[];
  /** Bytes of constant data at the bottom of memory; arguments and tensors go above. */
  readonly dataBytes: number;
  /** Bytes of per-block scratch (tiles and shared memory) each worker needs. */
  readonly scratchBytes: number;
}

/** Operation signatures: result type and argument types. */
const I = 'i32' as const;
const F = 'f32' as const;
const V = 'v128' as const;
const sig = (result: LType, ...args: LType[]): { result: LType; args: LType[] } => ({ result, args });

export const OPS: Readonly<Record<string, { result: LType; args: LType[] }>> = {
  ...Object.fromEntries(['add', 'sub', 'mul', 'div_s', 'div_u', 'rem_s', 'rem_u', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u',
    'eq', 'ne', 'lt_s', 'lt_u', 'le_s', 'le_u', 'gt_s', 'gt_u', 'ge_s', 'ge_u', 'min_s', 'max_s'].map((o) => [`i32.${o}`, sig(I, I, I)])),
  'i32.eqz': sig(I, I),
  'i32.clz': sig(I, I),
  ...Object.fromEntries(['add', 'sub', 'mul', 'div', 'min', 'max', 'copysign'].map((o) => [`f32.${o}`, sig(F, F, F)])),
  ...Object.fromEntries(['eq', 'ne', 'lt', 'le', 'gt', 'ge'].map((o) => [`f32.${o}`, sig(I, F, F)])),
  ...Object.fromEntries(['abs', 'neg', 'sqrt', 'nearest', 'floor', 'ceil', 'trunc'].map((o) => [`f32.${o}`, sig(F, F)])),
  'f32.from_i32_s': sig(F, I),
  'f32.from_i32_u': sig(F, I),
  /** Truncation toward zero, saturating; NaN gives 0. */
  'i32.from_f32_sat_s': sig(I, F),
  'i32.from_f32_sat_u': sig(I, F),
  'f32.from_bits': sig(F, I),
  'i32.bits_of': sig(I, F),
  // Vectors: lane-wise arithmetic, splats, lane extraction and widening.
  ...Object.fromEntries(['add', 'sub', 'mul', 'div', 'min', 'max'].map((o) => [`f32x4.${o}`, sig(V, V, V)])),
  ...Object.fromEntries(['add', 'sub', 'mul', 'and', 'or', 'xor', 'min_s', 'max_s'].map((o) => [`i32x4.${o}`, sig(V, V, V)])),
  'f32x4.splat': sig(V, F),
  'i32x4.splat': sig(V, I),
  'f32x4.extract0': sig(F, V),
  'f32x4.from_i32x4_s': sig(V, V),
  /** Bytes of the first operand picked by the byte indices of the second (0 where an index is >= 16). */
  'i8x16.swizzle': sig(V, V, V),
  /** The four low bytes, zero-extended to i32 lanes. */
  'i32x4.widen_low_u8': sig(V, V),
  /** The four low 16-bit halves, zero-extended to i32 lanes. */
  'i32x4.widen_low_u16': sig(V, V),
  /** Unsigned lane comparisons: all ones where true, zero where false. */
  ...Object.fromEntries(['eq', 'lt_u', 'gt_u', 'ge_u'].map((o) => [`i32x4.${o}`, sig(V, V, V)])),
  /** The first operand's bits where the third's are set, the second's elsewhere. */
  'v128.bitselect': sig(V, V, V, V),
  /** Lane n of four 32-bit lanes in every lane. */
  ...Object.fromEntries([0, 1, 2, 3].map((n) => [`i32x4.splat_lane${n}`, sig(V, V)])),
  /** Eight i16 lanes: the first operand's four i32 lanes, then the second's, saturated. */
  'i16x8.narrow_i32x4_s': sig(V, V, V),
  /** Per i32 lane: the sum of the products of its two i16 halves in each operand. */
  'i32x4.dot_i16x8_s': sig(V, V, V),
  'i32x4.shl': sig(V, V, I),
  'i32x4.shr_u': sig(V, V, I),
  'i32x4.shr_s': sig(V, V, I),
};

/** The type of an expression; `locals` gives the types of names. */
export function typeOf(e: Expr, locals: ReadonlyMap<string, LType>): LType {
  switch (e.k) {
    case 'const':
      return e.type;
    case 'vconst':
      return 'v128';
    case 'get': {
      const t = locals.get(e.name);
      if (!t) throw new Error(`Loop IR: unknown local '${e.name}'`);
      return t;
    }
    case 'load':
      return e.type;
    case 'bits':
      return 'i32';
    case 'op': {
      const s = OPS[e.op];
      if (!s) throw new Error(`Loop IR: unknown op '${e.op}'`);
      return s.result;
    }
    case 'select':
      return typeOf(e.a, locals);
    case 'math':
      return typeOf(e.args[0]!, locals) === 'v128' ? 'v128' : 'f32';
    case 'call':
      return e.type;
    case 'intrinsic':
      return e.type;
    case 'aget': {
      const t = locals.get(e.array);
      if (!t) throw new Error(`Loop IR: unknown array '${e.array}'`);
      return t;
    }
  }
}

// Builders, so that lowering code reads like the computation it emits.
export const i32 = (value: number): Expr => ({ k: 'const', type: 'i32', value: value | 0 });
export const f32 = (value: number): Expr => ({ k: 'const', type: 'f32', value: Math.fround(value) });
export const get = (name: string): Expr => ({ k: 'get', name });
export const op = (name: string, ...args: Expr[]): Expr => ({ k: 'op', op: name, args });
export const set = (name: string, value: Expr): Stmt => ({ k: 'set', name, value });
export const add = (a: Expr, b: Expr): Expr => (b.k === 'const' && b.value === 0 ? a : a.k === 'const' && a.value === 0 ? b : op('i32.add', a, b));
export const mul = (a: Expr, b: Expr): Expr => (b.k === 'const' && b.value === 1 ? a : a.k === 'const' && a.value === 1 ? b : op('i32.mul', a, b));
export const loadI32 = (addr: Expr, offset = 0): Expr => ({ k: 'load', type: 'i32', bits: 32, signed: false, addr, offset });
export const loadF32 = (addr: Expr, offset = 0): Expr => ({ k: 'load', type: 'f32', bits: 32, signed: false, addr, offset });
export const loadV128 = (addr: Expr, offset = 0): Expr => ({ k: 'load', type: 'v128', bits: 128, signed: false, addr, offset });
export const store32 = (addr: Expr, value: Expr, offset = 0): Stmt => ({ k: 'store', bits: 32, addr, offset, value });
export const forLoop = (v: string, start: Expr, end: Expr, body: Stmt[], step: Expr = i32(1)): Stmt => ({ k: 'for', var: v, start, end, step, body });
export const ifThen = (cond: Expr, then: Stmt[], els: Stmt[] = []): Stmt => ({ k: 'if', cond, then, else: els });

/** `e` with `f` applied to each of its direct subexpressions. */
export function mapSubExprs(e: Expr, f: (e: Expr) => Expr): Expr {
  switch (e.k) {
    case 'load':
      return { ...e, addr: f(e.addr) };
    case 'bits':
      return { ...e, base: f(e.base), index: f(e.index) };
    case 'aget':
      return { ...e, index: f(e.index) };
    case 'select':
      return { ...e, cond: f(e.cond), a: f(e.a), b: f(e.b) };
    case 'op':
    case 'math':
    case 'call':
    case 'intrinsic':
      return { ...e, args: e.args.map(f) } as Expr;
    default:
      return e;
  }
}

/** `e` with every read of local `name` replaced by `by`. */
export function substitute(e: Expr, name: string, by: Expr): Expr {
  return e.k === 'get' && e.name === name ? by : mapSubExprs(e, (a) => substitute(a, name, by));
}

/**
 * A statement with `f` applied to each of its own expressions, the ones it holds directly (a loop's
 * bounds and step, a branch's condition; not the statements nested in them). The one place that knows
 * which fields of each statement are expressions.
 */
export function mapOwnExprs(s: Stmt, f: (e: Expr) => Expr): Stmt {
  switch (s.k) {
    case 'set':
    case 'return':
      return { ...s, value: f(s.value) };
    case 'aset':
      return { ...s, index: f(s.index), value: f(s.value) };
    case 'loadwords':
    case 'ldmatrix':
      return { ...s, addr: f(s.addr) };
    case 'copywords':
      return { ...s, addr: f(s.addr), sharedAddr: f(s.sharedAddr) };
    case 'mma':
      return { ...s, a: s.a.map(f), b: s.b.map(f), at: s.at.map(f) };
    case 'storewords':
      return { ...s, addr: f(s.addr), values: s.values.map(f) };
    case 'store':
    case 'atomic':
      return { ...s, addr: f(s.addr), value: f(s.value) };
    case 'for':
      return { ...s, start: f(s.start), end: f(s.end), step: f(s.step) };
    case 'if':
      return { ...s, cond: f(s.cond) };
    default:
      return s;
  }
}

/** A statement's own expressions (see mapOwnExprs), in order. */
export function ownExprs(s: Stmt): Expr[] {
  const out: Expr[] = [];
  mapOwnExprs(s, (e) => (out.push(e), e));
  return out;
}

/** A statement list with `f` applied to every statement's own expressions, nested statements included. */
export function mapExprsInStmts(body: readonly Stmt[], f: (e: Expr) => Expr): Stmt[] {
  return body.map((s): Stmt => {
    const t = mapOwnExprs(s, f);
    if (t.k === 'for') return { ...t, body: mapExprsInStmts(t.body, f) };
    if (t.k === 'if') return { ...t, then: mapExprsInStmts(t.then, f), else: mapExprsInStmts(t.else, f) };
    return t;
  });
}

/** A statement list with every read of local `name` replaced by `by` (assignments to it are kept). */
export function substituteInStmts(body: readonly Stmt[], name: string, by: Expr): Stmt[] {
  return mapExprsInStmts(body, (e) => substitute(e, name, by));
}

/** Calls `f` on every expression of a statement list, subexpressions included, depth first. */
export function forEachExpr(body: readonly Stmt[], f: (e: Expr) => void): void {
  const visit = (e: Expr): void => {
    f(e);
    mapSubExprs(e, (a) => (visit(a), a));
  };
  for (const s of body) {
    ownExprs(s).forEach(visit);
    if (s.k === 'for') forEachExpr(s.body, f);
    if (s.k === 'if') [s.then, s.else].forEach((b) => forEachExpr(b, f));
  }
}

/** Calls `f` on every statement of a statement list, those of loop and if bodies included. */
export function forEachStmt(body: readonly Stmt[], f: (s: Stmt) => void): void {
  for (const s of body) {
    f(s);
    if (s.k === 'for') forEachStmt(s.body, f);
    if (s.k === 'if') [s.then, s.else].forEach((b) => forEachStmt(b, f));
  }
}

/** The module's constant data as one image of dataBytes bytes (at least 4): what GPU targets bind. */
export function dataImage(m: LModule): Uint8Array {
  const image = new Uint8Array(Math.max(4, Math.ceil(m.dataBytes / 4) * 4));
  for (const seg of m.data) image.set(seg.bytes, seg.offset);
  return image;
}
