// Tile IR: the VM's instruction set. A kernel has typed parameters (global tensors with symbolic shapes,
// runtime scalars), a grid, a thread count, launch checks, and a structured body of block-level
// statements. Values are defined once (`def`) and named by number; `var`s are the only mutable state.
// Template parameters and constant expressions are already folded: every tile extent is a number.
// The typing rules of each instruction are in its doc comment; ir/tile_verify.ts enforces them.

import type { RegisterLayout } from './layout.ts';
import type { SharedLayout } from './shared_layout.ts';

/** Element types: a data type name of ir/dtype.ts, or `bool` (results of comparisons; not storable). */
export type ElemType = string;

/** Scalar types: uniform across the block. */
export type ScalarDType = 'i32' | 'u32' | 'f32' | 'bool';

export interface ScalarType {
  readonly kind: 'scalar';
  readonly dtype: ScalarDType;
}

/** A register tile: distributed over the block's threads by `layout` (null until inferred). */
export interface TileType {
  readonly kind: 'tile';
  readonly dtype: ElemType;
  readonly shape: readonly number[];
  readonly layout: RegisterLayout | null;
}

/** A shared-memory allocation. */
export interface SharedType {
  readonly kind: 'shared';
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly layout: SharedLayout;
  /**
   * Whether the source gave the layout. One it did not is row-major, which a GPU lowering may swizzle
   * (see lower_gpu's sharedLayoutFor): no instruction observes where an element lies.
   */
  readonly layoutGiven: boolean;
}

export type Type = ScalarType | TileType | SharedType;

export type ValueId = number;

export interface Value {
  readonly id: ValueId;
  readonly type: Type;
  /** The source name it was bound to, for printing. */
  readonly name: string | null;
}

/** A symbolic integer over size symbols and runtime scalar parameters (i32 arithmetic, C division). */
export type SymExpr =
  | { readonly kind: 'const'; readonly value: number }
  | { readonly kind: 'symbol'; readonly name: string }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'unary'; readonly op: '-' | '!'; readonly operand: SymExpr }
  | { readonly kind: 'binary'; readonly op: SymOp; readonly left: SymExpr; readonly right: SymExpr }
  | { readonly kind: 'select'; readonly cond: SymExpr; readonly then: SymExpr; readonly else: SymExpr };

export type SymOp = '+' | '-' | '*' | '/' | '%' | 'cdiv' | 'min' | 'max' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';

export type UnaryFn = 'neg' | 'not' | 'exp' | 'exp2' | 'log' | 'log2' | 'sqrt' | 'rsqrt' | 'abs';
export type BinaryFn =
  | 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'max' | 'min'
  | 'and' | 'or' | 'xor' | 'shl' | 'shr'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'
  | 'land' | 'lor';
export type ReduceFn = 'sum' | 'max' | 'min';

/** One dimension of a global or shared index: a slice [offset, offset + extent), or a point (extent
 * null) that drops the dimension from the tile. `offset` is an i32 scalar. */
export interface IndexEntry {
  readonly offset: ValueId;
  readonly extent: number | null;
}

export type Inst =
  /** A scalar constant of the result's scalar type. */
  | { readonly op: 'const'; readonly value: number }
  /** The i32 value of a size symbol. */
  | { readonly op: 'symbol'; readonly name: string }
  /** The value of a runtime scalar parameter; result has its type. */
  | { readonly op: 'param'; readonly name: string }
  /** block.x / y / z: i32. */
  | { readonly op: 'block_index'; readonly axis: 0 | 1 | 2 }
  /** Element-wise on scalars or tiles; result has the operand's type (`not` on bool only). */
  | { readonly op: 'unary'; readonly fn: UnaryFn; readonly x: ValueId }
  /** Element-wise with NumPy broadcasting; both operands have the same element type (scalars broadcast);
   * comparisons give bool; land/lor take bool. */
  | { readonly op: 'binary'; readonly fn: BinaryFn; readonly a: ValueId; readonly b: ValueId }
  /** cond ? a : b element-wise; cond is bool; a and b have the result's element type. */
  | { readonly op: 'select'; readonly cond: ValueId; readonly a: ValueId; readonly b: ValueId }
  /** a * b + c element-wise with broadcasting, rounded once to f32 (IEEE fusedMultiplyAdd), then to the type (f32, f16 or bf16). */
  | { readonly op: 'fma'; readonly a: ValueId; readonly b: ValueId; readonly c: ValueId }
  /** Converts values to the result's element type by the cast rules; same shape. */
  | { readonly op: 'cast'; readonly x: ValueId }
  /** Reinterprets bits; the last dimension scales by the ratio of bit widths. */
  | { readonly op: 'view'; readonly x: ValueId }
  /** A tile of one value (a scalar operand, converted to the element type). */
  | { readonly op: 'full'; readonly value: ValueId }
  /** Each element's index along `axis`. */
  | { readonly op: 'iota'; readonly axis: number }
  /** A tile of a global tensor; elements outside the tensor read as 0. */
  | { readonly op: 'load'; readonly tensor: string; readonly index: readonly IndexEntry[] }
  /** A tile of a shared allocation; must be inside it. */
  | { readonly op: 'load_shared'; readonly shared: ValueId; readonly index: readonly IndexEntry[] }
  /** A new shared allocation (the result's shared type). */
  | { readonly op: 'alloc_shared' }
  /** a[M, K] . b[K, N] (+ c[M, N]); result [M, N] of c's type, or f32 (float inputs) / i32 (8-bit ints). */
  | { readonly op: 'dot'; readonly a: ValueId; readonly b: ValueId; readonly c: ValueId | null }
  /** Reduces `axis` away. */
  | { readonly op: 'reduce'; readonly fn: ReduceFn; readonly x: ValueId; readonly axis: number }
  /** Reorders dimensions: result dimension i is dimension perm[i]. */
  | { readonly op: 'permute'; readonly x: ValueId; readonly perm: readonly number[] }
  /** Broadcasts to the result's shape (NumPy rules). */
  | { readonly op: 'broadcast'; readonly x: ValueId }
  /** Same elements in row-major order, the result's shape. */
  | { readonly op: 'reshape'; readonly x: ValueId }
  /** The current value of a var. */
  | { readonly op: 'var_get'; readonly var: number };

export type Stmt =
  | { readonly kind: 'def'; readonly result: Value; readonly inst: Inst }
  /** Declares mutable variable `var` of `type`, initialized to `init` (same type). */
  | { readonly kind: 'var'; readonly var: number; readonly name: string; readonly type: Type; readonly init: ValueId }
  | { readonly kind: 'assign'; readonly var: number; readonly value: ValueId }
  /** Writes a tile whose shape is the slice's shape; elements outside the tensor are skipped. */
  /**
   * A store to a global tensor. With `accumulate`, each element of the slice is increased by the value's
   * element instead, atomically with respect to every other accumulating store of the launch, in any
   * block or thread; the order of those additions is not specified (f32 sums may then differ in
   * rounding between targets). Only ACCUMULATE_DTYPES accumulate: targets have 32-bit atomics.
   */
  | { readonly kind: 'store'; readonly tensor: string; readonly index: readonly IndexEntry[]; readonly value: ValueId; readonly accumulate?: boolean }
  | { readonly kind: 'store_shared'; readonly shared: ValueId; readonly index: readonly IndexEntry[]; readonly value: ValueId }
  /** Starts an asynchronous copy global -> shared (outside the tensor arrives as 0). */
  | { readonly kind: 'copy_async'; readonly shared: ValueId; readonly sharedIndex: readonly IndexEntry[]; readonly tensor: string; readonly index: readonly IndexEntry[] }
  /** Closes the open group of copies: the copies started since the last commit form one group. */
  | { readonly kind: 'commit_async' }
  /** Waits until at most `pending` committed copy groups are in flight. */
  | { readonly kind: 'wait_async'; readonly pending: number }
  | { readonly kind: 'sync' }
  /** Counted loop; `index` is an i32 value defined for the body; step > 0. */
  | { readonly kind: 'for'; readonly index: Value; readonly start: ValueId; readonly end: ValueId; readonly step: ValueId; readonly unroll: number; readonly body: readonly Stmt[] }
  | { readonly kind: 'if'; readonly cond: ValueId; readonly then: readonly Stmt[]; readonly else: readonly Stmt[] }
  /** A runtime check (a bool scalar) with a message. */
  | { readonly kind: 'assert'; readonly cond: ValueId; readonly message: string };

export type Param =
  | { readonly kind: 'tensor'; readonly name: string; readonly dtype: string; readonly shape: readonly SymExpr[] }
  | { readonly kind: 'scalar'; readonly name: string; readonly dtype: ScalarDType };

export interface LaunchCheck {
  readonly cond: SymExpr;
  readonly message: string;
}

export interface Kernel {
  readonly name: string;
  /** Template parameters as instantiated. */
  readonly template: Readonly<Record<string, number | string>>;
  readonly params: readonly Param[];
  readonly grid: readonly SymExpr[];
  readonly threads: number;
  /** Checked once before any block runs. */
  readonly checks: readonly LaunchCheck[];
  readonly body: readonly Stmt[];
}

export const scalarType = (dtype: ScalarDType): ScalarType => ({ kind: 'scalar', dtype });
export const tileType = (dtype: ElemType, shape: readonly number[], layout: RegisterLayout | null = null): TileType => ({ kind: 'tile', dtype, shape: [...shape], layout });

/** Element type of a scalar or tile. */
export const elemType = (t: Type): string => t.dtype;

/** Types of at most 32 bits that arithmetic works on; everything else is storage only. */
export const COMPUTE_TYPES: ReadonlySet<string> = new Set(['i32', 'u32', 'f32', 'f16', 'bf16']);
export const isComputeType = (dtype: string): boolean => COMPUTE_TYPES.has(dtype);
export const isFloatType = (dtype: string): boolean => dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';

/** Visits every statement, depth first, bodies after their statement. */
export function walkStmts(body: readonly Stmt[], f: (s: Stmt) => void): void {
  for (const s of body) {
    f(s);
    if (s.kind === 'for') walkStmts(s.body, f);
    else if (s.kind === 'if') {
      walkStmts(s.then, f);
      walkStmts(s.else, f);
    }
  }
}

/** The element types a store may accumulate into (`store t[...] += v`). */
export const ACCUMULATE_DTYPES: readonly string[] = ['f32', 'i32', 'u32'];

/** The tensor parameters a kernel stores to: its outputs. */
export const outputTensors = (k: Kernel): string[] => storedTensors(k, () => true);

/** The tensor parameters a kernel accumulates into (`store t[...] += v`). */
export const accumulatedTensors = (k: Kernel): string[] => storedTensors(k, (s) => s.accumulate === true);

/** The tensor parameters some store that `which` accepts writes to, in parameter order. */
function storedTensors(k: Kernel, which: (s: Extract<Stmt, { kind: 'store' }>) => boolean): string[] {
  const out = new Set<string>();
  walkStmts(k.body, (s) => {
    if (s.kind === 'store' && which(s)) out.add(s.tensor);
  });
  return k.params.filter((p) => p.kind === 'tensor' && out.has(p.name)).map((p) => p.name);
}

export const isBinaryComparison = (fn: BinaryFn): boolean => fn === 'eq' || fn === 'ne' || fn === 'lt' || fn === 'le' || fn === 'gt' || fn === 'ge';

/** The values a statement reads (for a def: its instruction's operands). */
export function operandsOf(s: Stmt): ValueId[] {
  const ix = (index: readonly IndexEntry[]): ValueId[] => index.map((e) => e.offset);
  switch (s.kind) {
    case 'def': {
      const i = s.inst;
      const out: ValueId[] = [];
      if ('x' in i) out.push(i.x);
      if (i.op === 'binary') out.push(i.a, i.b);
      if (i.op === 'select') out.push(i.cond, i.a, i.b);
      if (i.op === 'fma') out.push(i.a, i.b, i.c);
      if (i.op === 'full') out.push(i.value);
      if (i.op === 'dot') out.push(i.a, i.b, ...(i.c === null ? [] : [i.c]));
      if (i.op === 'load' || i.op === 'load_shared') out.push(...ix(i.index));
      if (i.op === 'load_shared') out.push(i.shared);
      return out;
    }
    case 'var':
      return [s.init];
    case 'assign':
      return [s.value];
    case 'store':
      return [s.value, ...ix(s.index)];
    case 'store_shared':
      return [s.shared, s.value, ...ix(s.index)];
    case 'copy_async':
      return [s.shared, ...ix(s.sharedIndex), ...ix(s.index)];
    case 'for':
      return [s.start, s.end, s.step];
    case 'if':
    case 'assert':
      return [s.cond];
    case 'commit_async':
    case 'wait_async':
    case 'sync':
      return [];
  }
}

/** Element strides of a row-major shape: the last dimension is contiguous. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** NumPy broadcasting over trailing dimensions, or null when the shapes do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(Math.max(x, y));
  }
  return out;
}
