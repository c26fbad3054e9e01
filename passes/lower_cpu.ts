// Lowering of Tile IR to Loop IR for CPUs. Threads are not materialized: one call of the `block`
// function runs one block, and every tile instruction becomes a loop nest over the tile's elements.
// Tiles live in per-block scratch memory, four bytes per element (see passes/lower/element.ts for how
// each type is held); shared allocations live there too. Scalars are locals.
//
// The block function is block(bx, by, bz, args, scratch): `args` points at one 32-bit word per tensor
// base address, then per size symbol, then per scalar parameter, in the order of ArgLayout.

import {
  type Expr, type LFunction, type LModule, type LType, type Stmt, add, f32, forEachExpr, forLoop, get, i32, ifThen, loadF32, loadI32, loadV128, mul, op, set,
  substitute, substituteInStmts,
} from '../ir/loop_ir.ts';
import { dtype as parseDType } from '../ir/dtype.ts';
import { sharedSpan } from '../ir/shared_layout.ts';
import { type IndexEntry, type Inst, type Kernel, type SharedType, type Stmt as TStmt, type SymExpr, type TileType, type Type, type ValueId, operandsOf, rowMajorStrides, walkStmts } from '../ir/tile_ir.ts';
import { FLOAT_HELPERS } from './lower/float_bits.ts';
import { Tables, castHeld, codeFromHeld, heldFromCode, heldOf, heldZero } from './lower/element.ts';

/** A tile not yet computed: its elements as expressions of their coordinates. */
interface Lazy {
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly at: (coords: readonly Expr[]) => Expr;
}

/** On CPUs, minifloats of 5 to 8 bits decode by arithmetic where exact: loops of such casts vectorize. */
const CPU_CASTS = { minifloatArithmetic: true } as const;
import { fieldByte, sharedElementOffset, subByteStore } from './lower/memory.ts';
import { LowererBase, fusibleValues } from './lower/base.ts';
import { binaryElem, fmaElem, scalarInst, symExpr, unaryElem } from './lower/scalar.ts';
import { type FieldSource, affineIn, coefficient, mentionsLocal, rowFieldShifts, rowFields, rowFieldsInPlace, useTables, vectorizeExpr } from './vectorize_loops.ts';

export interface ArgLayout {
  readonly tensors: readonly string[];
  readonly symbols: readonly string[];
  readonly scalars: readonly { readonly name: string; readonly dtype: string }[];
}

export interface CpuLowering {
  readonly module: LModule;
  readonly args: ArgLayout;
}

interface Slot {
  readonly offset: number;
  readonly shape: readonly number[];
  readonly dtype: string;
}

interface TensorInfo {
  readonly base: string;
  readonly dims: readonly string[];
  readonly dtype: string;
}

const strides = rowMajorStrides;
const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Whether a permute of a tile of `shape` moves its elements through a table of their source offsets
 * (permuteTable) rather than a loop nest: tiles of rank 4 or more, whose nest would have as many small
 * loops with a full index computation per element (a K tile of weights in fragment order: 8 dimensions
 * of 2 to 8), up to 16384 elements.
 */
const gathersByTable = (shape: readonly number[]): boolean => shape.length >= 4 && size(shape) <= 16384;

export function lowerCpu(k: Kernel): CpuLowering {
  const lw = new CpuLowerer(k);
  return lw.run();
}

class CpuLowerer extends LowererBase {
  readonly locals = new Map<string, LType>([['bx', 'i32'], ['by', 'i32'], ['bz', 'i32'], ['args', 'i32'], ['scratch', 'i32']]);
  readonly tiles = new Map<ValueId, Slot>();
  /** Element-wise tiles not yet computed: their elements are computed where they are used. */
  readonly lazy = new Map<ValueId, Lazy>();
  /** Values that may stay lazy: one use, in the statement list that defines them. */
  fusible = new Set<ValueId>();
  /** Tile var reads that may use the var's own slot: no assignment happens before their last use. */
  aliasable = new Set<ValueId>();
  readonly vars = new Map<number, Slot | string>();
  readonly tensors = new Map<string, TensorInfo>();
  readonly tables = new Tables(new Set(FLOAT_HELPERS.map((f) => f.name)));
  scratchTop = 0;
  counter = 0;

  constructor(readonly kernel: Kernel) {
    super();
  }

  fresh(prefix: string, type: LType): string {
    const name = `${prefix}${this.counter++}`;
    this.locals.set(name, type);
    return name;
  }

  alloc(shape: readonly number[], dtype: string): Slot {
    const slot = { offset: this.scratchTop, shape, dtype };
    this.scratchTop += Math.ceil((size(shape) * 4) / 16) * 16;
    return slot;
  }

  run(): CpuLowering {
    const k = this.kernel;
    const tensorNames = k.params.filter((p) => p.kind === 'tensor').map((p) => p.name);
    const symbols = [...new Set(k.params.flatMap((p) => (p.kind === 'tensor' ? p.shape.flatMap((d) => (d.kind === 'symbol' ? [d.name] : [])) : [])))];
    const scalars = k.params.flatMap((p) => (p.kind === 'scalar' ? [{ name: p.name, dtype: p.dtype }] : []));
    let word = 0;
    const argAt = (): number => 4 * word++;
    for (const name of tensorNames) this.out.push(set(this.declare(`base_${name}`, 'i32'), loadI32(get('args'), argAt())));
    for (const s of symbols) this.out.push(set(this.declare(`sym_${s}`, 'i32'), loadI32(get('args'), argAt())));
    for (const s of scalars) {
      const t: LType = s.dtype === 'f32' ? 'f32' : 'i32';
      this.out.push(set(this.declare(`param_${s.name}`, t), t === 'f32' ? loadF32(get('args'), argAt()) : loadI32(get('args'), argAt())));
    }
    for (const p of k.params) {
      if (p.kind !== 'tensor') continue;
      const dims = p.shape.map((d, i) => {
        const name = this.declare(`dim_${p.name}_${i}`, 'i32');
        this.out.push(set(name, this.sym(d)));
        return name;
      });
      this.tensors.set(p.name, { base: `base_${p.name}`, dims, dtype: p.dtype });
    }
    this.fusible = fusibleValues(k);
    this.aliasable = aliasableVarReads(k);
    this.body(k.body);
    const block: LFunction = {
      name: 'block', result: null,
      params: ['bx', 'by', 'bz', 'args', 'scratch'].map((name) => ({ name, type: 'i32' as const })),
      locals: [...this.locals].filter(([n]) => !['bx', 'by', 'bz', 'args', 'scratch'].includes(n)).map(([name, type]) => ({ name, type })),
      body: this.out,
    };
    const module: LModule = {
      functions: [block, ...FLOAT_HELPERS, ...this.tables.functions],
      traps: this.traps,
      data: this.tables.segments,
      dataBytes: this.tables.bytes,
      scratchBytes: Math.max(16, this.scratchTop),
    };
    return { module, args: { tensors: tensorNames, symbols, scalars } };
  }

  declare(name: string, type: LType): string {
    this.locals.set(name, type);
    return name;
  }

  /** A symbolic size as an i32 expression, with the VM's integer semantics. */
  sym(e: SymExpr): Expr {
    return symExpr(e, this.tables);
  }

  /** Loops over every index of `shape`; `f` gets the coordinates and the row-major linear index. */
  forEach(shape: readonly number[], f: (coords: Expr[], linear: Expr) => Stmt[]): Stmt[] {
    if (shape.length === 0) return f([], i32(0));
    const vars = shape.map(() => this.fresh('i', 'i32'));
    const st = strides(shape);
    const linear = vars.reduce<Expr>((acc, v, d) => add(acc, mul(get(v), i32(st[d]!))), i32(0));
    let inner = f(vars.map(get), linear);
    for (let d = shape.length - 1; d >= 0; d--) inner = [forLoop(vars[d]!, i32(0), i32(shape[d]!), inner)];
    return inner;
  }

  /** Element `index` of a slot. */
  read(slot: Slot, index: Expr): Expr {
    const addr = add(get('scratch'), mul(index, i32(4)));
    return heldOf(slot.dtype) === 'f32' ? loadF32(addr, slot.offset) : loadI32(addr, slot.offset);
  }

  write(slot: Slot, index: Expr, value: Expr): Stmt {
    return { k: 'store', bits: 32, addr: add(get('scratch'), mul(index, i32(4))), offset: slot.offset, value };
  }

  /** The element of `slot` that broadcasts to coordinates `coords` of a larger shape. */
  readBroadcast(slot: Slot, coords: readonly Expr[]): Expr {
    const off = coords.length - slot.shape.length;
    const st = strides(slot.shape);
    const index = slot.shape.reduce<Expr>((acc, n, d) => (n === 1 ? acc : add(acc, mul(coords[d + off]!, i32(st[d]!)))), i32(0));
    return this.read(slot, index);
  }

  /** A scalar or tile operand as an element read at `coords` (scalars broadcast). */
  operand(id: ValueId, coords: readonly Expr[]): Expr {
    const s = this.scalars.get(id);
    if (s !== undefined) return get(s);
    const l = this.lazy.get(id);
    if (l) {
      const off = coords.length - l.shape.length;
      return l.at(l.shape.map((n, d) => (n === 1 ? i32(0) : coords[d + off]!)));
    }
    return this.readBroadcast(this.tiles.get(id)!, coords);
  }

  /** The slot of a tile, computing a lazy tile into one first. */
  slotOf(id: ValueId): Slot {
    const l = this.lazy.get(id);
    if (l) {
      const slot = this.alloc(l.shape, l.dtype);
      this.out.push(...this.withFastPath(() => this.forEach(l.shape, (coords, linear) => [this.write(slot, linear, l.at(coords))])));
      this.lazy.delete(id);
      this.tiles.set(id, slot);
    }
    return this.tiles.get(id)!;
  }

  shapeOfValue(id: ValueId): readonly number[] {
    return this.lazy.get(id)?.shape ?? this.tiles.get(id)!.shape;
  }

  typeOfValue(id: ValueId): string {
    return this.scalarTypes.get(id) ?? this.lazy.get(id)?.dtype ?? this.tiles.get(id)!.dtype;
  }

  stmt(s: TStmt): void {
    switch (s.kind) {
      case 'def':
        return this.def(s.result.id, s.result.type, s.inst);
      case 'var': {
        if (s.type.kind === 'tile') {
          const slot = this.alloc(s.type.shape, s.type.dtype);
          this.copy(this.slotOf(s.init), slot);
          this.vars.set(s.var, slot);
        } else {
          const name = this.fresh(`var${s.var}_`, heldOf(s.type.dtype));
          this.out.push(set(name, get(this.scalars.get(s.init)!)));
          this.vars.set(s.var, name);
        }
        return;
      }
      case 'assign': {
        const target = this.vars.get(s.var)!;
        if (typeof target === 'string') this.out.push(set(target, get(this.scalars.get(s.value)!)));
        else this.copy(this.slotOf(s.value), target);
        return;
      }
      case 'store':
        return this.storeGlobal(s.tensor, s.index, s.value, s.accumulate === true);
      case 'store_shared': {
        const sh = this.sharedOf(s.shared);
        this.out.push(...this.forSlice(s.index, (coords, _linear, vars) => [this.writeShared(sh, coords, this.operand(s.value, vars))]));
        return;
      }
      case 'copy_async': {
        // One CPU block is one thread: the copy completes at once, which every wait_async allows.
        const sh = this.sharedOf(s.shared);
        const t = this.tensors.get(s.tensor)!;
        const srcIndex = s.index;
        const value = this.fresh('v', heldOf(t.dtype));
        this.out.push(...this.forSlice(s.sharedIndex, (coords, _linear, sliceVars) => [
          ...this.readGlobal(t, srcIndex, sliceVars, value),
          this.writeShared(sh, coords, get(value)),
        ]));
        return;
      }
      case 'commit_async':
      case 'wait_async':
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

  copy(from: Slot, to: Slot): void {
    this.out.push(...this.forEach(to.shape, (_, linear) => [this.write(to, linear, this.read(from, linear))]));
  }

  sharedOf(id: ValueId): { offset: number; type: SharedType } {
    return this.sharedSlots.get(id)!;
  }

  readonly sharedSlots = new Map<ValueId, { offset: number; type: SharedType }>();

  sharedAddress(sh: { offset: number; type: SharedType }, coords: readonly Expr[]): Expr {
    return add(get('scratch'), add(mul(sharedElementOffset(sh.type.layout, coords), i32(4)), i32(sh.offset)));
  }

  writeShared(sh: { offset: number; type: SharedType }, coords: readonly Expr[], value: Expr): Stmt {
    return { k: 'store', bits: 32, addr: this.sharedAddress(sh, coords), offset: 0, value };
  }

  /**
   * Loops over a slice: `f` gets the indexed coordinates (offset + loop variable, or the point), the
   * linear index within the slice, and the slice's loop variables.
   */
  forSlice(index: readonly IndexEntry[], f: (coords: Expr[], linear: Expr, sliceVars: Expr[]) => Stmt[]): Stmt[] {
    const shape = index.flatMap((e) => (e.extent === null ? [] : [e.extent]));
    return this.forEach(shape, (vars, linear) => {
      let d = 0;
      const coords = index.map((e) => (e.extent === null ? get(this.scalars.get(e.offset)!) : add(get(this.scalars.get(e.offset)!), vars[d++]!)));
      return f(coords, linear, vars);
    });
  }

  /** Sets `into` to the element of a global tensor at `index` + slice vars, or zero outside it. */
  readGlobal(t: TensorInfo, index: readonly IndexEntry[], sliceVars: readonly Expr[], into: string): Stmt[] {
    let d = 0;
    const coords = index.map((e) => (e.extent === null ? get(this.scalars.get(e.offset)!) : add(get(this.scalars.get(e.offset)!), sliceVars[d++]!)));
    const inside = coords.map((c, i) => op('i32.lt_u', c, get(t.dims[i]!))).reduce((a, b) => op('i32.and', a, b));
    const linear = this.globalLinear(t, coords);
    return [ifThen(inside, [set(into, heldFromCode(t.dtype, this.readCode(t, linear)))], [set(into, heldZero(t.dtype))])];
  }

  /** Whether a whole slice lies inside the tensor. */
  sliceInside(t: TensorInfo, index: readonly IndexEntry[]): Expr {
    return index
      .map((e, i): Expr => {
        const start = get(this.scalars.get(e.offset)!);
        const last = e.extent === null ? start : add(start, i32(e.extent - 1));
        return op('i32.and', op('i32.ge_s', start, i32(0)), op('i32.lt_s', last, get(t.dims[i]!)));
      })
      .reduce((a, b) => op('i32.and', a, b));
  }

  globalLinear(t: TensorInfo, coords: readonly Expr[]): Expr {
    // Row-major: ((c0 * d1 + c1) * d2 + c2) ...
    return coords.reduce<Expr>((acc, c, i) => (i === 0 ? c : add(mul(acc, get(t.dims[i]!)), c)), i32(0));
  }

  readCode(t: TensorInfo, linear: Expr): Expr {
    const bits = parseDType(t.dtype).bits;
    const base = get(t.base);
    if (bits === 32) return loadI32(add(base, mul(linear, i32(4))));
    if (bits === 16 || bits === 8) return { k: 'load', type: 'i32', bits, signed: false, addr: add(base, mul(linear, i32(bits / 8))), offset: 0 };
    return { k: 'bits', base, index: linear, width: bits };
  }

  /** A store of a tile to a global slice; accumulating stores add atomically (workers share memory). */
  storeGlobal(name: string, index: readonly IndexEntry[], value: ValueId, accumulate: boolean): void {
    const t = this.tensors.get(name)!;
    const bits = parseDType(t.dtype).bits;
    this.out.push(...this.withFastPath(() => this.forSlice(index, (coords, _linear, vars) => {
      const inside = coords.map((c, i) => op('i32.lt_u', c, get(t.dims[i]!))).reduce((a, b) => op('i32.and', a, b));
      const g = this.globalLinear(t, coords);
      const held = this.operand(value, vars);
      let write: Stmt[];
      if (accumulate) {
        write = [{ k: 'atomic', op: t.dtype === 'f32' ? 'fadd' : 'add', addr: add(get(t.base), mul(g, i32(4))), value: held }];
      } else if (bits >= 8) {
        write = [{ k: 'store', bits: bits as 8 | 16 | 32, addr: add(get(t.base), mul(g, i32(bits / 8))), offset: 0, value: codeFromHeld(t.dtype, held) }];
      } else {
        write = this.storeSubByte(t, g, codeFromHeld(t.dtype, held), bits);
      }
      return [ifThen(inside, write)];
    })));
  }

  /**
   * A sub-byte store: clear then set the element's bits with atomic and/or on the 32-bit words they
   * occupy, so that stores of neighbouring elements, from any block or worker, never clobber each other.
   */
  storeSubByte(t: TensorInfo, linear: Expr, code: Expr, bits: number): Stmt[] {
    return subByteStore(undefined, get(t.base), linear, code, bits, (prefix) => this.fresh(prefix, 'i32'));
  }

  def(id: ValueId, type: Type, inst: Inst): void {
    if (type.kind === 'scalar') return this.defScalar(id, type.dtype, inst);
    if (type.kind === 'shared') {
      const offset = this.scratchTop;
      this.scratchTop += Math.ceil((sharedSpan(type.layout) * 4) / 16) * 16;
      this.sharedSlots.set(id, { offset, type });
      return;
    }
    this.defTile(id, type, inst);
  }

  defScalar(id: ValueId, dtype: string, inst: Inst): void {
    const name = this.fresh('s', heldOf(dtype));
    this.scalars.set(id, name);
    this.scalarTypes.set(id, dtype);
    this.out.push(set(name, scalarInst(inst, dtype, {
      value: (x) => get(this.scalars.get(x)!),
      dtypeOf: (x) => this.typeOfValue(x),
      varName: (v) => this.vars.get(v) as string,
      tables: this.tables,
    })));
  }

  defTile(id: ValueId, type: TileType, inst: Inst): void {
    if (inst.op === 'reshape') {
      // A flat lazy tile (a contiguous load, say) reshaped: read in place at each element's position in
      // it, so that its consumer sees the reads (a small-M dot, its row windows) as it would in rows.
      const flat = this.lazy.get(inst.x);
      if (flat && flat.shape.length === 1 && this.fusible.has(id)) {
        const st = rowMajorStrides(type.shape);
        this.lazy.set(id, { shape: type.shape, dtype: type.dtype, at: (c) => flat.at([c.reduce<Expr>((acc, x, d) => add(acc, mul(x, i32(st[d]!))), i32(0))]) });
        return;
      }
      const x = this.slotOf(inst.x); // same elements, same order: share the slot
      this.tiles.set(id, { offset: x.offset, shape: type.shape, dtype: type.dtype });
      return;
    }
    if (inst.op === 'var_get' && this.aliasable.has(id)) {
      this.tiles.set(id, this.vars.get(inst.var) as Slot); // read the var in place: nothing assigns it first
      return;
    }
    if (this.fusible.has(id)) {
      const at = this.elementwise(type, inst);
      if (at) {
        this.lazy.set(id, { shape: type.shape, dtype: type.dtype, at });
        return;
      }
    }
    const slot = this.alloc(type.shape, type.dtype);
    this.tiles.set(id, slot);
    const each = (f: (coords: Expr[], linear: Expr) => Expr): void => {
      this.out.push(...this.forEach(type.shape, (coords, linear) => [this.write(slot, linear, f(coords, linear))]));
    };
    switch (inst.op) {
      case 'unary':
        return each((c) => unaryElem(inst.fn, type.dtype, this.operand(inst.x, c), this.tables));
      case 'binary': {
        const operandType = this.typeOfValue(inst.a);
        return each((c) => binaryElem(inst.fn, operandType, this.operand(inst.a, c), this.operand(inst.b, c), this.tables));
      }
      case 'select':
        return each((c) => ({ k: 'select', cond: this.operand(inst.cond, c), a: this.operand(inst.a, c), b: this.operand(inst.b, c) }));
      case 'fma':
        return each((c) => fmaElem(type.dtype, this.operand(inst.a, c), this.operand(inst.b, c), this.operand(inst.c, c), this.tables));
      case 'cast': {
        const from = this.typeOfValue(inst.x);
        return each((c) => castHeld(from, type.dtype, this.operand(inst.x, c), this.tables, CPU_CASTS));
      }
      case 'full': {
        const v = this.fresh('f', heldOf(type.dtype));
        this.out.push(set(v, castHeld(this.typeOfValue(inst.value), type.dtype, get(this.scalars.get(inst.value)!), this.tables)));
        return each(() => get(v));
      }
      case 'iota':
        return each((c) => castHeld('i32', type.dtype, c[inst.axis]!, this.tables));
      case 'broadcast':
        return each((c) => this.operand(inst.x, c));
      case 'var_get':
        this.copy(this.vars.get(inst.var) as Slot, slot);
        return;
      case 'permute': {
        const x = this.slotOf(inst.x);
        const st = strides(x.shape);
        if (gathersByTable(x.shape)) {
          const gather = this.permuteTable(x.shape, inst.perm);
          // One loop over the result, each element's source offset from the table.
          const i = this.fresh('i', 'i32');
          const from = add(get('scratch'), loadI32(mul(get(i), i32(4)), gather));
          const source = heldOf(x.dtype) === 'f32' ? loadF32(from, x.offset) : loadI32(from, x.offset);
          this.out.push(forLoop(i, i32(0), i32(size(type.shape)), [this.write(slot, get(i), source)]));
          return;
        }
        return each((c) => this.read(x, inst.perm.reduce<Expr>((acc, p, d) => add(acc, mul(c[d]!, i32(st[p]!))), i32(0))));
      }
      case 'load': {
        const t = this.tensors.get(inst.tensor)!;
        const v = this.fresh('v', heldOf(t.dtype));
        const guarded = this.forSlice(inst.index, (_coords, linear, vars) => [...this.readGlobal(t, inst.index, vars, v), this.write(slot, linear, get(v))]);
        // Inside the tensor as a whole, the copy needs no per-element test (and vectorizes).
        const plain = this.forSlice(inst.index, (coords, linear) => [this.write(slot, linear, heldFromCode(t.dtype, this.readCode(t, this.globalLinear(t, coords))))]);
        this.out.push(ifThen(this.sliceInside(t, inst.index), plain, guarded));
        return;
      }
      case 'load_shared': {
        const sh = this.sharedOf(inst.shared);
        const shIsFloat = heldOf(sh.type.dtype) === 'f32';
        this.out.push(...this.forSlice(inst.index, (coords, linear) => {
          const addr = this.sharedAddress(sh, coords);
          return [this.write(slot, linear, shIsFloat ? loadF32(addr) : loadI32(addr))];
        }));
        return;
      }
      case 'view':
        return this.view(this.slotOf(inst.x), slot);
      case 'dot':
        return this.dot(inst.a, inst.b, inst.c, slot);
      case 'reduce':
        return this.reduce(inst.fn, this.slotOf(inst.x), inst.axis, slot);
      default:
        throw new Error(`lowerCpu: ${inst.op} does not produce a tile`);
    }
  }

  /**
   * The address of the table of source offsets of a permute of a tile of `shape` (bytes from the
   * source's first element, in the result's order; see gathersByTable), built on first use.
   */
  permuteTable(shape: readonly number[], perm: readonly number[]): number {
    return this.tables.words(`permute:${shape.join('x')}:${perm.join(',')}`, () => {
      const st = strides(shape);
      const out = perm.map((p) => shape[p]!);
      const values = new Int32Array(size(out));
      const c = new Array<number>(out.length).fill(0);
      for (let i = 0; i < values.length; i++) {
        values[i] = perm.reduce((acc, p, d) => acc + c[d]! * st[p]!, 0) * 4;
        for (let d = out.length - 1; d >= 0 && ++c[d]! === out[d]; d--) c[d] = 0;
      }
      return { values, float: false };
    });
  }

  /** An element-wise instruction as a function of coordinates, for fusion into its single use. */
  elementwise(type: TileType, inst: Inst): ((coords: readonly Expr[]) => Expr) | null {
    switch (inst.op) {
      case 'unary':
        return (c) => unaryElem(inst.fn, type.dtype, this.operand(inst.x, c), this.tables);
      case 'binary': {
        const operandType = this.typeOfValue(inst.a);
        return (c) => binaryElem(inst.fn, operandType, this.operand(inst.a, c), this.operand(inst.b, c), this.tables);
      }
      case 'select':
        return (c) => ({ k: 'select', cond: this.operand(inst.cond, c), a: this.operand(inst.a, c), b: this.operand(inst.b, c) });
      case 'fma':
        return (c) => fmaElem(type.dtype, this.operand(inst.a, c), this.operand(inst.b, c), this.operand(inst.c, c), this.tables);
      case 'cast': {
        const from = this.typeOfValue(inst.x);
        return (c) => castHeld(from, type.dtype, this.operand(inst.x, c), this.tables, CPU_CASTS);
      }
      case 'broadcast':
        return (c) => this.operand(inst.x, c);
      case 'permute':
        // A permute that gathers through a table is not fused: it moves its elements once, in one loop.
        if (gathersByTable(this.shapeOfValue(inst.x))) return null;
        // Output dimension d is input dimension perm[d].
        return (c) => {
          const input = new Array<Expr>(c.length);
          inst.perm.forEach((p, d) => (input[p] = c[d]!));
          return this.operand(inst.x, input);
        };
      case 'load': {
        // 32-bit elements are better copied with a vectorized loop than read in place.
        if (this.storedTensors.has(inst.tensor) || parseDType(type.dtype).bits === 32) return null;
        const t = this.tensors.get(inst.tensor)!;
        return (c) => this.globalElement(t, inst.index, c);
      }
      default:
        return null;
    }
  }

  /**
   * While set, lazy global reads skip their per-element test and record the test of their whole slice
   * here instead: the loop being built runs only when all of those hold.
   */
  unguarded: Expr[] | null = null;

  /** Emits `build()` twice when it reads lazy global elements: unguarded if every slice is inside its
   * tensor, guarded otherwise. */
  withFastPath(build: () => Stmt[]): Stmt[] {
    const saved = this.unguarded;
    this.unguarded = [];
    const fast = build();
    // The same slice may be guarded more than once (an operand looked at twice): test it once.
    const conds = [...new Map(this.unguarded.map((c) => [JSON.stringify(c), c])).values()];
    this.unguarded = saved;
    if (conds.length === 0) return fast;
    return [ifThen(conds.reduce((a, b) => op('i32.and', a, b)), fast, build())];
  }

  /** A global element as an expression: zero outside the tensor (the address is kept in bounds). */
  globalElement(t: TensorInfo, index: readonly IndexEntry[], sliceVars: readonly Expr[]): Expr {
    let d = 0;
    const coords = index.map((e) => (e.extent === null ? get(this.scalars.get(e.offset)!) : add(get(this.scalars.get(e.offset)!), sliceVars[d++]!)));
    if (this.unguarded) {
      this.unguarded.push(this.sliceInside(t, index));
      return heldFromCode(t.dtype, this.readCode(t, this.globalLinear(t, coords)));
    }
    const inside = coords.map((c, i) => op('i32.lt_u', c, get(t.dims[i]!))).reduce((a, b) => op('i32.and', a, b));
    const linear: Expr = { k: 'select', cond: inside, a: this.globalLinear(t, coords), b: i32(0) };
    return { k: 'select', cond: inside, a: heldFromCode(t.dtype, this.readCode(t, linear)), b: heldZero(t.dtype) };
  }

  get storedTensors(): Set<string> {
    const out = new Set<string>();
    walkStmts(this.kernel.body, (s) => {
      if (s.kind === 'store') out.add(s.tensor);
    });
    return out;
  }

  /** Bits of the row-major stream of `x`, re-read at the width of `out`'s type. */
  view(x: Slot, out: Slot): void {
    const [fromBits, toBits] = [parseDType(x.dtype).bits, parseDType(out.dtype).bits];
    const acc = this.fresh('w', 'i32');
    const bit = this.fresh('b', 'i32');
    this.out.push(...this.forEach(out.shape, (_, linear) => {
      const pos = add(mul(linear, i32(toBits)), get(bit));
      const element = op('i32.div_u', pos, i32(fromBits));
      const code = codeFromHeld(x.dtype, this.read(x, element));
      const b = op('i32.and', op('i32.shr_u', code, op('i32.rem_u', pos, i32(fromBits))), i32(1));
      return [
        set(acc, i32(0)),
        forLoop(bit, i32(0), i32(toBits), [set(acc, op('i32.or', get(acc), op('i32.shl', b, get(bit))))]),
        this.write(out, linear, heldFromCode(out.dtype, get(acc))),
      ];
    }));
  }

  /** out = a . b (+ c): rows of out accumulate a[m, k] * b[k, :] in f32 (or i32). */
  dot(aId: ValueId, bId: ValueId, cId: ValueId | null, out: Slot): void {
    const a = this.slotOf(aId);
    const [M, K] = a.shape as [number, number];
    const bLazy = this.lazy.get(bId);
    const N = (bLazy ? bLazy.shape : this.tiles.get(bId)!.shape)[1]!;
    const isInt = heldOf(out.dtype) === 'i32';
    const cSlot = cId === null ? null : this.slotOf(cId);
    // A lazy b (dequantization, say) feeds a small-M dot straight from registers, computed once per k.
    if (!isInt && N % 8 === 0 && a.dtype !== 'i8' && bLazy && M <= 4) {
      const lane = this.fresh('lane', 'i32');
      let vectorizes = true;
      const body = this.withFastPath(() => {
        const scalar = bLazy.at([get('@k'), get(lane)]);
        useTables(this.tables.segments);
        const { vector, hoisted } = this.vectorizeLanes(scalar, lane);
        if (vector) {
          const lazyB = { lane, vector, hoisted };
          const row = this.rowWindow(scalar, lane, M, N);
          return [...this.initDot(out, cSlot, isInt), ...(row ? this.dotRowWindow(a, lazyB, row, out, M, K) : this.dotBlocked(a, lazyB, out, M, K, N))];
        }
        // b's elements consecutive along k rather than along the lanes (a transposed tile, as in
        // attention's q . K^T): each column is a dot along k, four k at a time.
        const transposed = this.dotTransposedB(a, bLazy, out, M, K, N);
        if (transposed) return [...this.initDot(out, cSlot, isInt), ...transposed];
        if (this.unguarded) {
          vectorizes = false;
          return [];
        }
        // The guarded variant (at a tensor's edge) computes b into a slot first.
        const slot = this.alloc(bLazy.shape, bLazy.dtype);
        const fill = this.forEach(bLazy.shape, (coords, linear) => [this.write(slot, linear, bLazy.at(coords))]);
        return [...fill, ...this.initDot(out, cSlot, isInt), ...this.dotBlocked(a, slot, out, M, K, N)];
      });
      if (vectorizes) {
        this.lazy.delete(bId);
        this.out.push(...body);
        this.roundDot(out);
        return;
      }
    }
    const b = this.slotOf(bId);
    const value = (slot: Slot, e: Expr): Expr => (slot.dtype === 'i8' ? op('i32.shr_s', op('i32.shl', e, i32(24)), i32(24)) : e);
    this.out.push(...this.initDot(out, cSlot, isInt));
    if (!isInt && N % 8 === 0 && a.dtype !== 'i8' && b.dtype !== 'i8') {
      this.out.push(...this.dotBlocked(a, b, out, M, K, N));
      this.roundDot(out);
      return;
    }
    if (isInt && N % 4 === 0) {
      this.out.push(...this.dotPairs(a, b, out, M, K, N));
      return;
    }
    const [m, kk, n] = [this.fresh('m', 'i32'), this.fresh('k', 'i32'), this.fresh('n', 'i32')];
    const x = this.fresh('x', isInt ? 'i32' : 'f32');
    const at = (row: Expr, cols: number, col: Expr): Expr => add(mul(row, i32(cols)), col);
    const madd = isInt
      ? op('i32.add', this.read(out, at(get(m), N, get(n))), op('i32.mul', get(x), value(b, this.read(b, at(get(kk), N, get(n))))))
      : op('f32.add', this.read(out, at(get(m), N, get(n))), op('f32.mul', get(x), this.read(b, at(get(kk), N, get(n)))));
    this.out.push(forLoop(m, i32(0), i32(M), [
      forLoop(kk, i32(0), i32(K), [
        set(x, value(a, this.read(a, at(get(m), K, get(kk))))),
        forLoop(n, i32(0), i32(N), [this.write(out, at(get(m), N, get(n)), madd)]),
      ]),
    ]));
    this.roundDot(out);
  }

  /**
   * The integer micro-kernel (i8 or u8 operands, i32 accumulators): k runs in pairs; rows k and k+1
   * of four columns of b become one vector of i16 pairs (b[k][n], b[k+1][n]), a[m][k] and a[m][k+1]
   * one i16 pair splatted, and i32x4.dot_i16x8_s does the two multiply-adds of each column at once.
   * An odd K pairs its last row with zeros. Sums wrap in i32, as the VM's do.
   */
  dotPairs(a: Slot, b: Slot, out: Slot, M: number, K: number, N: number): Stmt[] {
    const [m, n, kp] = [this.fresh('m', 'i32'), this.fresh('n', 'i32'), this.fresh('k', 'i32')];
    const acc = this.fresh('acc', 'v128');
    const scalar = (slot: Slot, e: Expr): Expr => (slot.dtype === 'i8' ? op('i32.shr_s', op('i32.shl', e, i32(24)), i32(24)) : e);
    const lanes = (slot: Slot, e: Expr): Expr => (slot.dtype === 'i8' ? op('i32x4.shr_s', op('i32x4.shl', e, i32(24)), i32(24)) : e);
    const bRow = (k: Expr): Expr => lanes(b, loadV128(add(get('scratch'), add(i32(b.offset), mul(add(mul(k, i32(N)), get(n)), i32(4))))));
    const aAt = (k: Expr): Expr => scalar(a, this.read(a, add(mul(get(m), i32(K)), k)));
    const zero: Expr = { k: 'vconst', bytes: new Array(16).fill(0) };
    const interleave: Expr = { k: 'vconst', bytes: [0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15] };
    const pairStep = (k: Expr, last: boolean): Stmt => {
      const rows = op('i16x8.narrow_i32x4_s', bRow(k), last ? zero : bRow(add(k, i32(1))));
      const bPairs = op('i8x16.swizzle', rows, interleave);
      const aPair = last ? op('i32.and', aAt(k), i32(0xffff)) : op('i32.or', op('i32.and', aAt(k), i32(0xffff)), op('i32.shl', aAt(add(k, i32(1))), i32(16)));
      return set(acc, op('i32x4.add', get(acc), op('i32x4.dot_i16x8_s', bPairs, op('i32x4.splat', aPair))));
    };
    const outAt = add(get('scratch'), add(i32(out.offset), mul(add(mul(get(m), i32(N)), get(n)), i32(4))));
    return [forLoop(m, i32(0), i32(M), [forLoop(n, i32(0), i32(N), [
      set(acc, loadV128(outAt)),
      forLoop(kp, i32(0), i32(K - (K % 2)), [pairStep(get(kp), false)], i32(2)),
      ...(K % 2 ? [pairStep(i32(K - 1), true)] : []),
      { k: 'store', bits: 128, addr: outAt, offset: 0, value: get(acc) },
    ], i32(4))])];
  }

  /**
   * `scalar` over four consecutive values of local `lane` (vectorize_loops.ts vectorizeExpr), with the
   * values several lanes share computed once into v128 locals by `hoisted`; null when it has no form.
   */
  vectorizeLanes(scalar: Expr, lane: string, fields?: FieldSource): { vector: Expr | null; hoisted: Stmt[] } {
    const hoisted: Stmt[] = [];
    const vector = vectorizeExpr(scalar, lane, this.locals, (e) => {
      const name = this.fresh('vt', 'v128');
      hoisted.push(set(name, e));
      return get(name);
    }, fields);
    return { vector, hoisted };
  }

  /** out = c, or zeros. */
  initDot(out: Slot, c: Slot | null, isInt: boolean): Stmt[] {
    return this.forEach(out.shape, (_, linear) => [this.write(out, linear, c ? this.read(c, linear) : isInt ? i32(0) : f32(0))]);
  }

  /** f16 and bf16 accumulators add in f32 and round once at the end. */
  roundDot(out: Slot): void {
    if (out.dtype === 'f16' || out.dtype === 'bf16') {
      this.out.push(...this.forEach(out.shape, (_, linear) => [this.write(out, linear, castHeld('f32', out.dtype, this.read(out, linear), this.tables))]));
    }
  }

  /**
   * A small-M float dot whose b is a lazy tile with consecutive elements along k (b[k, n] at stride 1 in
   * k: a transposed tile), or null when b's elements are not so (or K is not a multiple of 4). For each
   * column n, four k at a time: b's four elements are computed once as a vector, each row of a
   * multiplies them into its own accumulator, and the output adds the accumulator's four lanes.
   */
  dotTransposedB(a: Slot, b: Lazy, out: Slot, M: number, K: number, N: number): Stmt[] | null {
    // Only where b's reads are unguarded: at a tensor's edge they are selects, which do not vectorize.
    if (!this.unguarded || K % 4 !== 0 || a.dtype !== 'f32' || b.dtype !== 'f32') return null;
    const [k, n] = [this.fresh('k', 'i32'), this.fresh('n', 'i32')];
    const { vector, hoisted } = this.vectorizeLanes(b.at([get(k), get(n)]), k);
    if (!vector) return null;
    const bv = this.fresh('bv', 'v128');
    const acc = Array.from({ length: M }, () => this.fresh('acc', 'v128'));
    const aRow = (r: number): Expr => loadV128(add(get('scratch'), add(i32(a.offset + 4 * K * r), mul(get(k), i32(4)))));
    const lanesSum = (v: string): Expr => op('f32x4.extract0', [1, 2, 3].reduce((sum: Expr, lane) => op('f32x4.add', sum, op(`i32x4.splat_lane${lane}`, get(v))), get(v)));
    const at = (r: number): Expr => add(i32(r * N), get(n));
    return [forLoop(n, i32(0), i32(N), [
      ...acc.map((v) => set(v, { k: 'vconst', bytes: new Array(16).fill(0) })),
      forLoop(k, i32(0), i32(K), [...hoisted, set(bv, vector), ...acc.map((v, r) => set(v, op('f32x4.add', get(v), op('f32x4.mul', aRow(r), get(bv)))))], i32(4)),
      ...acc.map((v, r) => this.write(out, at(r), op('f32.add', this.read(out, at(r)), lanesSum(v)))),
    ])];
  }

  /**
   * The register-blocked micro-kernel of a float dot: an MR x 8 block of the output stays in 2 * MR
   * vector accumulators while k runs; each step loads two vectors of b and MR elements of a.
   */
  dotBlocked(a: Slot, b: Slot | { lane: string; vector: Expr; hoisted: readonly Stmt[] }, out: Slot, M: number, K: number, N: number): Stmt[] {
    const MR = [4, 2, 1].find((r) => M % r === 0)!;
    const [m0, n0, kk] = [this.fresh('m', 'i32'), this.fresh('n', 'i32'), this.fresh('k', 'i32')];
    const acc = Array.from({ length: MR }, () => [this.fresh('acc', 'v128'), this.fresh('acc', 'v128')]);
    const bv = [this.fresh('bv', 'v128'), this.fresh('bv', 'v128')];
    // Pointers walk a's rows (one pointer: the rows are constant offsets from it) and b's column block
    // as k advances: no address arithmetic in the loop.
    const pa = this.fresh('pa', 'i32');
    const pb = this.fresh('pb', 'i32');
    const outAt = (r: number, j: number): Expr => add(get('scratch'), add(i32(out.offset), mul(add(mul(add(get(m0), i32(r)), i32(N)), add(get(n0), i32(4 * j))), i32(4))));
    const fromSlot = 'offset' in b;
    // With b in a slot, k is unrolled by up to 4: each unrolled step reads at constant offsets from the
    // pointers, which advance once per U steps (b's lazy elements are computed per k, not unrolled).
    const U = fromSlot ? [4, 2, 1].find((u) => K % u === 0)! : 1;
    const setup: Stmt[] = [
      ...acc.flatMap((row, r) => row.map((v, j) => set(v, loadV128(outAt(r, j))))),
      set(pa, add(get('scratch'), add(i32(a.offset), mul(get(m0), i32(4 * K))))),
      ...(fromSlot ? [set(pb, add(get('scratch'), add(i32(b.offset), mul(get(n0), i32(4)))))] : []),
    ];
    // b's vectors: loads from its slot, or its lazy elements computed four at a time (the lane local
    // holds the first column; '@k' in the expression is the k loop variable).
    const bValue = (j: number, u: number): Stmt[] =>
      fromSlot
        ? [set(bv[j]!, loadV128(get(pb), 16 * j + 4 * N * u))]
        : [set(b.lane, add(get(n0), i32(4 * j))), ...b.hoisted.map((h) => renameInStmt(h, '@k', kk)), set(bv[j]!, renameLocal(b.vector, '@k', kk))];
    // Unrolled by 4, each row's four a elements come in one vector load, and each step splats a lane.
    const av = U === 4 ? acc.map(() => this.fresh('av', 'v128')) : [];
    const step: Stmt[] = av.map((v, r) => set(v, loadV128(get(pa), 4 * K * r)));
    for (let u = 0; u < U; u++) {
      step.push(...bv.flatMap((_, j) => bValue(j, u)));
      step.push(...acc.flatMap((row, r) => {
        const x = U === 4 ? op(`i32x4.splat_lane${u}`, get(av[r]!)) : op('f32x4.splat', loadF32(get(pa), 4 * K * r + 4 * u));
        return row.map((v, j) => set(v, op('f32x4.add', get(v), op('f32x4.mul', x, get(bv[j]!)))));
      }));
    }
    step.push(set(pa, add(get(pa), i32(4 * U))), ...(fromSlot ? [set(pb, add(get(pb), i32(4 * N * U)))] : []));
    const store: Stmt[] = acc.flatMap((row, r) => row.map((v, j): Stmt => ({ k: 'store', bits: 128, addr: outAt(r, j), offset: 0, value: get(v) })));
    return [forLoop(m0, i32(0), i32(M), [forLoop(n0, i32(0), i32(N), [...setup, forLoop(kk, i32(0), i32(K), step, i32(U)), ...store], i32(8))], i32(MR))];
  }

  /**
   * How a small-M dot can decode b's packed weights a whole row window at a time: when b's elements read
   * exactly one stream of narrow fields (bit fields, or unsigned bytes) consecutive along the lanes, each k loads the 16
   * bytes that hold NR consecutive fields once, and each group of four lanes takes its fields from
   * that window (vectorize_loops.ts rowFields) instead of loading a window of its own. NR columns (8,
   * 16 or 32, as wide as the window holds and the accumulator registers allow) are done per pass.
   * Null when b has no such stream; the plain micro-kernel is used then.
   */
  rowWindow(scalar: Expr, lane: string, M: number, N: number): RowWindow | null {
    const fields: Extract<Expr, { k: 'bits' | 'load' }>[] = [];
    forEachExpr([{ k: 'set', name: '_', value: scalar }], (e) => {
      if (e.k === 'bits' || (e.k === 'load' && e.bits === 8 && e.type !== 'v128')) fields.push(e);
    });
    const key = (e: Expr): string => JSON.stringify(e);
    if (fields.length === 0 || new Set(fields.map(key)).size !== 1) return null;
    const field = fields[0]!;
    let stream: RowWindow['stream'];
    if (field.k === 'bits') {
      if (field.width > 8 || coefficient(field.index, lane) !== 1 || mentionsLocal(field.base, lane)) return null;
      if (!affineIn(field.index, '@k') || mentionsLocal(field.base, '@k')) return null;
      stream = { kind: 'bits', base: field.base, index: field.index, width: field.width };
    } else {
      if (field.signed || coefficient(field.addr, lane) !== 1) return null;
      stream = { kind: 'bytes', addr: field.addr, offset: field.offset };
    }
    const width = stream.kind === 'bits' ? stream.width : 8;
    const MR = [4, 2, 1].find((r) => M % r === 0)!;
    const NR = [32, 16, 8].find((n) => N % n === 0 && n * MR <= 32 && n * width <= 128);
    if (NR === undefined || NR === 8) return null; // eight lanes per window gain nothing over the plain kernel
    return { stream, key: key(field), NR, scalar };
  }

  /**
   * The micro-kernel of a small-M dot whose b is decoded from one row window per k (see rowWindow):
   * MR x NR outputs in vector accumulators. A row whose window does not start on a byte boundary (odd
   * row lengths of 3-bit fields, say) takes the plain per-four-lanes decoding.
   */
  dotRowWindow(a: Slot, b: { lane: string; vector: Expr; hoisted: readonly Stmt[] }, row: RowWindow, out: Slot, M: number, K: number): Stmt[] {
    const N = out.shape[1]!;
    const { stream, NR } = row;
    const width = stream.kind === 'bits' ? stream.width : 8;
    const MR = [4, 2, 1].find((r) => M % r === 0)!;
    const groups = NR / 4;
    const [m0, n0, kk] = [this.fresh('m', 'i32'), this.fresh('n', 'i32'), this.fresh('k', 'i32')];
    const acc = Array.from({ length: MR }, () => Array.from({ length: groups }, () => this.fresh('acc', 'v128')));
    const xa = Array.from({ length: MR }, () => this.fresh('xa', 'v128'));
    const pa = Array.from({ length: MR }, () => this.fresh('pa', 'i32'));
    const [bv, win, at] = [this.fresh('bv', 'v128'), this.fresh('win', 'v128'), this.fresh('at', 'i32')];
    const outAt = (r: number, j: number): Expr => add(get('scratch'), add(i32(out.offset), mul(add(mul(add(get(m0), i32(r)), i32(N)), add(get(n0), i32(4 * j))), i32(4))));
    // When b is the unsigned field itself as f32, a group's fields need not be shifted down: each lane
    // keeps its field where the window has it, masked (a value q * 2^s, s the field's bit offset in its
    // byte), and a's element is scaled by 2^-s instead, once per k for every group with that pattern of
    // offsets. Powers of two make both products exact, so a * q rounds as before.
    const linear = row.scalar.k === 'op' && row.scalar.op === 'f32.from_i32_s' && JSON.stringify(row.scalar.args[0]) === row.key && width < 8;
    const offsetsOf = (j: number): number[] => rowFieldShifts(4 * j, width);
    const patterns = [...new Set(Array.from({ length: groups }, (_, j) => offsetsOf(j).join(',')))];
    const xs = linear ? xa.map((_, r) => patterns.map(() => this.fresh('xs', 'v128'))) : xa.map((x) => [x]);
    const factor = (j: number): number => (linear ? patterns.indexOf(offsetsOf(j).join(',')) : 0);
    // Per group of four lanes: b's four values from the window (the hoisted temporaries come along).
    const fromWindow = Array.from({ length: groups }, (_, j) => {
      if (linear) return { hoisted: [] as Stmt[], vector: op('f32x4.from_i32x4_s', rowFieldsInPlace(get(win), 4 * j, width)) };
      const { vector, hoisted } = this.vectorizeLanes(row.scalar, b.lane, (e) => (JSON.stringify(e) === row.key ? rowFields(get(win), 4 * j, width) : null));
      return { hoisted, vector: vector! };
    });
    const atK = (e: Expr): Expr => renameLocal(renameLocal(e, b.lane, n0), '@k', kk);
    const madds = (j: number, scaled = false): Stmt[] =>
      acc.map((row, r) => set(row[j]!, op('f32x4.add', get(row[j]!), op('f32x4.mul', get(scaled ? xs[r]![factor(j)]! : xa[r]!), get(bv)))));
    const windowed: Stmt[] = [
      set(win, stream.kind === 'bits' ? loadV128(add(atK(stream.base), get(at))) : loadV128(atK(stream.addr), stream.offset)),
      ...(linear ? xs.flatMap((row, r) => row.map((x, f) => {
        const scale = patterns[f]!.split(',').flatMap((shift) => [...new Uint8Array(new Float32Array([2 ** -Number(shift)]).buffer)]);
        return set(x, op('f32x4.mul', get(xa[r]!), { k: 'vconst', bytes: scale }));
      })) : []),
      ...fromWindow.flatMap((g, j) => [set(b.lane, add(get(n0), i32(4 * j))), ...g.hoisted.map((h) => renameInStmt(h, '@k', kk)), set(bv, renameLocal(g.vector, '@k', kk)), ...madds(j, linear)]),
    ];
    const plain: Stmt[] = Array.from({ length: groups }, (_, j) => [
      set(b.lane, add(get(n0), i32(4 * j))), ...b.hoisted.map((h) => renameInStmt(h, '@k', kk)), set(bv, renameLocal(b.vector, '@k', kk)), ...madds(j),
    ]).flat();
    const step = (decode: Stmt[]): Stmt[] => [
      ...xa.map((x, r) => set(x, op('f32x4.splat', loadF32(get(pa[r]!))))),
      ...(stream.kind === 'bits' ? [set(at, fieldByte(atK(stream.index), width))] : []),
      ...decode,
      ...pa.map((p) => set(p, add(get(p), i32(4)))),
    ];
    const setup: Stmt[] = [
      ...acc.flatMap((row, r) => row.map((v, j) => set(v, loadV128(outAt(r, j))))),
      ...pa.map((p, r) => set(p, add(get('scratch'), add(i32(a.offset), mul(add(get(m0), i32(r)), i32(4 * K)))))),
    ];
    let loops: Stmt[];
    if (stream.kind === 'bytes') loops = [forLoop(kk, i32(0), i32(K), step(windowed))];
    else {
      // The field's bit position is affine in k, so rows 0 and 1 starting on a byte boundary means every
      // row does: the test is made once, outside the k loop (a branch inside it costs engines their registers).
      const [first, second] = [this.fresh('f', 'i32'), this.fresh('f', 'i32')];
      loops = [
        set(kk, i32(0)), set(first, atK(stream.index)),
        set(kk, i32(1)), set(second, atK(stream.index)),
        ifThen(op('i32.eqz', op('i32.and', op('i32.or', mul(get(first), i32(width)), mul(get(second), i32(width))), i32(7))),
          [forLoop(kk, i32(0), i32(K), step(windowed))], [forLoop(kk, i32(0), i32(K), step(plain))]),
      ];
    }
    const store: Stmt[] = acc.flatMap((row, r) => row.map((v, j): Stmt => ({ k: 'store', bits: 128, addr: outAt(r, j), offset: 0, value: get(v) })));
    return [forLoop(m0, i32(0), i32(M), [forLoop(n0, i32(0), i32(N), [...setup, ...loops, ...store], i32(NR))], i32(MR))];
  }

  reduce(fn: 'sum' | 'max' | 'min', x: Slot, axis: number, out: Slot): void {
    const isFloat = heldOf(x.dtype) === 'f32';
    const acc = this.fresh('acc', isFloat ? 'f32' : 'i32');
    const r = this.fresh('r', 'i32');
    const st = strides(x.shape);
    const init = fn === 'sum' ? (isFloat ? f32(0) : i32(0)) : isFloat ? f32(fn === 'max' ? -Infinity : Infinity) : i32(fn === 'max' ? (x.dtype === 'u32' ? 0 : -0x80000000) : x.dtype === 'u32' ? -1 : 0x7fffffff);
    const sumDType = isFloat ? 'f32' : x.dtype;
    this.out.push(...this.forEach(out.shape, (coords, linear) => {
      const inCoords = [...coords];
      inCoords.splice(axis, 0, get(r));
      const element = this.read(x, inCoords.reduce<Expr>((a, c, d) => add(a, mul(c, i32(st[d]!))), i32(0)));
      const step = binaryElem(fn === 'sum' ? 'add' : fn, sumDType, get(acc), element, this.tables);
      const result = isFloat && x.dtype !== 'f32' ? castHeld('f32', x.dtype, get(acc), this.tables) : get(acc);
      return [set(acc, init), forLoop(r, i32(0), i32(x.shape[axis]!), [set(acc, step)]), this.write(out, linear, result)];
    }));
  }
}

/** A small-M dot's plan for decoding b a row window at a time (CpuLowering.rowWindow). */
interface RowWindow {
  /** b's one stream of narrow fields: bit fields by element index, or bytes by address. */
  readonly stream:
    | { readonly kind: 'bits'; readonly base: Expr; readonly index: Expr; readonly width: number }
    | { readonly kind: 'bytes'; readonly addr: Expr; readonly offset: number };
  /** The printed form of b's load of it. */
  readonly key: string;
  /** Columns per pass. */
  readonly NR: number;
  /** b's element at ['@k', lane]. */
  readonly scalar: Expr;
}

/** `e` with every read of local `from` reading `to` instead. */
const renameLocal = (e: Expr, from: string, to: string): Expr => substitute(e, from, get(to));

/** A hoisted assignment with every read of local `from` reading `to` instead. */
const renameInStmt = (s: Stmt, from: string, to: string): Stmt => substituteInStmts([s], from, get(to))[0]!;

/**
 * Tile var reads whose value, and everything computed from it, is used before the next assignment of
 * the var in the same statement list: they can read the var's slot instead of a copy. (An assignment in
 * the statement of the last use itself comes after the read: `acc = dot(a, b, acc)` is safe.)
 */
function aliasableVarReads(k: Kernel): Set<ValueId> {
  const out = new Set<ValueId>();
  const assigns = (s: TStmt, v: number): boolean => {
    let found = false;
    walkStmts([s], (x) => {
      if (x.kind === 'assign' && x.var === v) found = true;
    });
    return found;
  };
  const reads = (s: TStmt, ids: ReadonlySet<ValueId>): boolean => {
    let found = false;
    walkStmts([s], (x) => {
      if (operandsOf(x).some((id) => ids.has(id))) found = true;
    });
    return found;
  };
  const visit = (body: readonly TStmt[]): void => {
    body.forEach((s, i) => {
      if (s.kind === 'def' && s.inst.op === 'var_get' && s.result.type.kind === 'tile') {
        const v = s.inst.var;
        const derived = new Set([s.result.id]); // the read and every value computed from it
        let last = -1;
        for (let j = i + 1; j < body.length; j++) {
          const t = body[j]!;
          if (!reads(t, derived)) continue;
          last = j;
          if (t.kind === 'def') derived.add(t.result.id);
        }
        let safe = true;
        for (let j = i + 1; j <= last; j++) if (assigns(body[j]!, v) && !(j === last && body[j]!.kind === 'assign')) safe = false;
        if (safe) out.add(s.result.id);
      }
      if (s.kind === 'for') visit(s.body);
      if (s.kind === 'if') [s.then, s.else].forEach(visit);
    });
  };
  visit(k.body);
  return out;
}

