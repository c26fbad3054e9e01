// The VM: executes Tile IR directly, block by block over the grid. It defines what a program means;
// every backend is tested against it.

import { castElement } from '../../ir/cast.ts';
import { type SharedLayout, sharedOffset, sharedSpan } from '../../ir/shared_layout.ts';
import { evalSym, printSym } from '../../ir/sym.ts';
import type { IndexEntry, Inst, Kernel, Stmt, Type, ValueId } from '../../ir/tile_ir.ts';
import * as arith from '../../ir/arith.ts';
import { type Tensor, elementReader, elementWriter, tensorBytes } from './memory.ts';
import {
  type Tile, binaryTile, broadcastTo, castTile, dotTile, fmaTile, fullTile, iotaTile, permuteTile, reduceTile, selectTile,
  sizeOf, stridesOf, unaryTile, viewTile,
} from './tile_ops.ts';

/** A program error found while running: a failed assert, a bad launch, a race on shared memory. */
export class VMError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VMError';
  }
}

interface Shared {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly layout: SharedLayout;
  readonly data: Float64Array;
  /** Per offset: how many unfinished copies write it. */
  readonly pending: Uint16Array;
}

interface CopyWrite {
  readonly shared: Shared;
  readonly offsets: number[];
  readonly values: number[];
}

type RuntimeValue = number | Tile | Shared;

interface Block {
  readonly index: readonly [number, number, number];
  readonly values: RuntimeValue[];
  readonly vars: (number | Tile)[];
  /** Copies issued since the last commit, then committed groups, oldest first. */
  open: CopyWrite[];
  readonly groups: CopyWrite[][];
}

export interface LaunchArgs {
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly scalars: ReadonlyMap<string, number>;
}

export interface Launch {
  readonly symbols: ReadonlyMap<string, number>;
  readonly grid: readonly [number, number, number];
}

/** Binds size symbols from the tensors' shapes and checks every declared dimension and launch check. */
export function prepareLaunch(k: Kernel, args: LaunchArgs): Launch {
  const symbols = new Map<string, number>();
  const params = new Map<string, number>();
  for (const p of k.params) {
    if (p.kind === 'scalar') {
      const v = args.scalars.get(p.name);
      if (v === undefined) throw new VMError(`scalar parameter '${p.name}' (${p.dtype}) has no value; give it with --set ${p.name}=...`);
      params.set(p.name, arith.roundTo(p.dtype, v));
      continue;
    }
    const t = args.tensors.get(p.name);
    if (!t) throw new VMError(`tensor '${p.name}' was not given`);
    if (t.dtype !== p.dtype) throw new VMError(`tensor '${p.name}' must hold ${p.dtype}; got ${t.dtype}`);
    if (t.shape.length !== p.shape.length) throw new VMError(`tensor '${p.name}' must have ${p.shape.length} dimensions; got shape [${t.shape.join(', ')}]`);
    p.shape.forEach((d, i) => {
      if (d.kind === 'symbol' && !symbols.has(d.name)) symbols.set(d.name, t.shape[i]!);
    });
  }
  const env = { symbols, params };
  for (const p of k.params) {
    if (p.kind !== 'tensor') continue;
    const t = args.tensors.get(p.name)!;
    const want = p.shape.map((d) => evalSym(d, env));
    if (want.some((w, i) => w !== t.shape[i])) {
      const given = [...symbols].map(([n, v]) => `${n} = ${v}`).join(', ');
      throw new VMError(`tensor '${p.name}' has shape [${t.shape.join(', ')}]; its declaration [${p.shape.map(printSym).join(', ')}] needs [${want.join(', ')}] (${given})`);
    }
    const need = tensorBytes(p.dtype, t.shape);
    if (t.bytes.length < need) throw new VMError(`tensor '${p.name}' (${p.dtype}[${t.shape.join(', ')}]) has ${t.bytes.length} bytes; its elements need ${need}`);
  }
  for (const c of k.checks) {
    if (!evalSym(c.cond, env)) throw new VMError(`launch check failed: ${c.message} (${printSym(c.cond)})`);
  }
  const g = k.grid.map((e) => evalSym(e, env));
  if (g.some((x) => x < 0)) throw new VMError(`the grid (${g.join(', ')}) has a negative dimension`);
  return { symbols, grid: [g[0] ?? 1, g[1] ?? 1, g[2] ?? 1] };
}

/** Runs a kernel over its whole grid; outputs are written into the given tensors' bytes. */
export function runKernel(k: Kernel, args: LaunchArgs): void {
  const launch = prepareLaunch(k, args);
  const types = new Map<ValueId, Type>();
  collectTypes(k.body, types);
  const params = new Map(k.params.flatMap((p) => (p.kind === 'scalar' ? [[p.name, arith.roundTo(p.dtype, args.scalars.get(p.name)!)] as const] : [])));
  const [gx, gy, gz] = launch.grid;
  for (let z = 0; z < gz; z++) {
    for (let y = 0; y < gy; y++) {
      for (let x = 0; x < gx; x++) {
        const block: Block = { index: [x, y, z], values: [], vars: [], open: [], groups: [] };
        new BlockRunner(k, args.tensors, launch.symbols, params, types, block).run(k.body);
      }
    }
  }
}

function collectTypes(body: readonly Stmt[], types: Map<ValueId, Type>): void {
  for (const s of body) {
    if (s.kind === 'def') types.set(s.result.id, s.result.type);
    if (s.kind === 'for') {
      types.set(s.index.id, s.index.type);
      collectTypes(s.body, types);
    }
    if (s.kind === 'if') [s.then, s.else].forEach((b) => collectTypes(b, types));
  }
}

const shapeOf = (t: Type): readonly number[] => (t.kind === 'scalar' ? [] : t.shape);

class BlockRunner {
  constructor(
    readonly kernel: Kernel,
    readonly tensors: ReadonlyMap<string, Tensor>,
    readonly symbols: ReadonlyMap<string, number>,
    readonly params: ReadonlyMap<string, number>,
    readonly types: ReadonlyMap<ValueId, Type>,
    readonly block: Block,
  ) {}

  scalar(id: ValueId): number {
    return this.block.values[id] as number;
  }

  tile(id: ValueId): Tile {
    const v = this.block.values[id];
    return typeof v === 'number' ? fullTile(this.types.get(id)!.dtype, [], v) : (v as Tile);
  }

  where(): string {
    return `block (${this.block.index.join(', ')})`;
  }

  run(body: readonly Stmt[]): void {
    for (const s of body) this.exec(s);
  }

  exec(s: Stmt): void {
    const b = this.block;
    switch (s.kind) {
      case 'def':
        b.values[s.result.id] = this.evaluate(s.inst, s.result.type);
        return;
      case 'var':
        b.vars[s.var] = b.values[s.init] as number | Tile;
        return;
      case 'assign':
        b.vars[s.var] = b.values[s.value] as number | Tile;
        return;
      case 'store':
        return this.storeGlobal(s.tensor, s.index, this.tile(s.value), s.accumulate === true);
      case 'store_shared': {
        const sh = b.values[s.shared] as Shared;
        const offsets = this.sharedOffsets(sh, s.index, 'store');
        const t = this.tile(s.value);
        offsets.forEach((o, i) => {
          if (sh.pending[o]) throw new VMError(`${this.where()}: a store writes shared memory that an unfinished copy_async also writes; wait_async first`);
          sh.data[o] = t.data[i]!;
        });
        return;
      }
      case 'copy_async': {
        const sh = b.values[s.shared] as Shared;
        const offsets = this.sharedOffsets(sh, s.sharedIndex, 'copy_async');
        const t = this.loadGlobal(s.tensor, s.index);
        offsets.forEach((o) => sh.pending[o]!++);
        b.open.push({ shared: sh, offsets, values: Array.from(t.data) });
        return;
      }
      case 'commit_async':
        if (b.open.length) b.groups.push(b.open);
        b.open = [];
        return;
      case 'wait_async':
        while (b.groups.length > s.pending) {
          for (const w of b.groups.shift()!) {
            w.offsets.forEach((o, i) => {
              w.shared.data[o] = w.values[i]!;
              w.shared.pending[o]!--;
            });
          }
        }
        return;
      case 'sync':
        return;
      case 'for': {
        const [start, end, step] = [this.scalar(s.start), this.scalar(s.end), this.scalar(s.step)];
        if (step <= 0) throw new VMError(`${this.where()}: a range's step must be positive; got ${step}`);
        for (let i = start; i < end; i += step) {
          b.values[s.index.id] = i;
          this.run(s.body);
        }
        return;
      }
      case 'if':
        this.run(this.scalar(s.cond) ? s.then : s.else);
        return;
      case 'assert':
        if (!this.scalar(s.cond)) throw new VMError(`${this.where()}: assertion failed: ${s.message}`);
        return;
    }
  }

  evaluate(inst: Inst, type: Type): RuntimeValue {
    const b = this.block;
    switch (inst.op) {
      case 'const':
        return inst.value;
      case 'symbol':
        return this.symbols.get(inst.name)!;
      case 'param':
        return this.params.get(inst.name)!;
      case 'block_index':
        return b.index[inst.axis];
      case 'unary': {
        const x = b.values[inst.x]!;
        return typeof x === 'number' ? arith.unary(inst.fn, type.dtype, x) : unaryTile(inst.fn, x as Tile);
      }
      case 'binary': {
        const [x, y] = [b.values[inst.a]!, b.values[inst.b]!];
        const operand = this.types.get(inst.a)!.dtype;
        if (typeof x === 'number' && typeof y === 'number') return arith.binary(inst.fn, operand, x, y);
        return binaryTile(inst.fn, this.tile(inst.a), this.tile(inst.b), type.dtype, shapeOf(type));
      }
      case 'fma': {
        if (type.kind === 'scalar') return arith.fma(type.dtype, this.scalar(inst.a), this.scalar(inst.b), this.scalar(inst.c));
        return fmaTile(this.tile(inst.a), this.tile(inst.b), this.tile(inst.c), type.dtype, shapeOf(type));
      }
      case 'select': {
        if (type.kind === 'scalar') return this.scalar(inst.cond) ? this.scalar(inst.a) : this.scalar(inst.b);
        return selectTile(this.tile(inst.cond), this.tile(inst.a), this.tile(inst.b), shapeOf(type));
      }
      case 'cast': {
        const x = b.values[inst.x]!;
        if (typeof x === 'number') return castElement(this.types.get(inst.x)!.dtype, type.dtype, x);
        return castTile(x as Tile, type.dtype);
      }
      case 'view':
        return viewTile(this.tile(inst.x), type.dtype, shapeOf(type));
      case 'full': {
        const from = this.types.get(inst.value)!.dtype;
        return fullTile(type.dtype, shapeOf(type), castElement(from, type.dtype, this.scalar(inst.value)));
      }
      case 'iota':
        return iotaTile(type.dtype, shapeOf(type), inst.axis);
      case 'load':
        return this.loadGlobal(inst.tensor, inst.index);
      case 'load_shared': {
        const sh = b.values[inst.shared] as Shared;
        const offsets = this.sharedOffsets(sh, inst.index, 'load');
        if (offsets.some((o) => sh.pending[o])) {
          throw new VMError(`${this.where()}: a load reads shared memory that an unfinished copy_async writes; wait_async before reading it`);
        }
        return { dtype: sh.dtype, shape: this.sliceShape(inst.index), data: Float64Array.from(offsets, (o) => sh.data[o]!) };
      }
      case 'alloc_shared': {
        const t = type as Extract<Type, { kind: 'shared' }>;
        const span = sharedSpan(t.layout);
        return { dtype: t.dtype, shape: t.shape, layout: t.layout, data: new Float64Array(span), pending: new Uint16Array(span) };
      }
      case 'dot':
        return dotTile(this.tile(inst.a), this.tile(inst.b), inst.c === null ? null : this.tile(inst.c), type.dtype);
      case 'reduce':
        return reduceTile(inst.fn, this.tile(inst.x), inst.axis);
      case 'permute':
        return permuteTile(this.tile(inst.x), inst.perm);
      case 'broadcast':
        return broadcastTo(this.tile(inst.x), shapeOf(type));
      case 'reshape': {
        const x = this.tile(inst.x);
        return { dtype: x.dtype, shape: shapeOf(type), data: x.data };
      }
      case 'var_get':
        return b.vars[inst.var]!;
    }
  }

  sliceShape(index: readonly IndexEntry[]): number[] {
    return index.flatMap((e) => (e.extent === null ? [] : [e.extent]));
  }

  /** For each element of the slice (row-major), its coordinates in the indexed space. */
  coordinates(index: readonly IndexEntry[]): number[][] {
    const shape = this.sliceShape(index);
    const strides = stridesOf(shape);
    const starts = index.map((e) => this.scalar(e.offset));
    const out: number[][] = [];
    for (let i = 0; i < sizeOf(shape); i++) {
      let d = 0;
      out.push(index.map((e, j) => (e.extent === null ? starts[j]! : starts[j]! + (Math.floor(i / strides[d]!) % shape[d++]!))));
    }
    return out;
  }

  sharedOffsets(sh: Shared, index: readonly IndexEntry[], what: string): number[] {
    return this.coordinates(index).map((c) => {
      if (c.some((x, d) => x < 0 || x >= sh.shape[d]!)) {
        throw new VMError(`${this.where()}: ${what} at [${c.join(', ')}] is outside the shared allocation [${sh.shape.join(', ')}]`);
      }
      return sharedOffset(sh.layout, c);
    });
  }

  /**
   * For each element of a slice of a tensor of `shape` (row-major), its linear element index, or -1
   * where a coordinate falls outside the tensor.
   */
  sliceOffsets(index: readonly IndexEntry[], shape: readonly number[]): Float64Array {
    const strides = stridesOf(shape);
    let base = 0;
    let inside = true;
    const dims: { extent: number; start: number; stride: number; size: number }[] = [];
    index.forEach((e, d) => {
      const start = this.scalar(e.offset);
      if (e.extent !== null) dims.push({ extent: e.extent, start, stride: strides[d]!, size: shape[d]! });
      else {
        base += start * strides[d]!;
        inside &&= start >= 0 && start < shape[d]!;
      }
    });
    const out = new Float64Array(dims.reduce((n, x) => n * x.extent, 1));
    let i = 0;
    const walk = (d: number, at: number, inside: boolean): void => {
      if (d === dims.length) {
        out[i++] = inside ? at : -1;
        return;
      }
      const { extent, start, stride, size } = dims[d]!;
      for (let x = start; x < start + extent; x++) walk(d + 1, at + x * stride, inside && x >= 0 && x < size);
    };
    walk(0, base, inside);
    return out;
  }

  loadGlobal(name: string, index: readonly IndexEntry[]): Tile {
    const t = this.tensors.get(name)!;
    const read = elementReader(t.dtype);
    const zero = castElement('i32', t.dtype, 0);
    const offsets = this.sliceOffsets(index, t.shape);
    const data = new Float64Array(offsets.length);
    for (let i = 0; i < offsets.length; i++) data[i] = offsets[i]! < 0 ? zero : read(t.bytes, offsets[i]!);
    return { dtype: t.dtype, shape: this.sliceShape(index), data };
  }

  /** Blocks run one after another, so an accumulating store is a plain read, add and write here. */
  storeGlobal(name: string, index: readonly IndexEntry[], value: Tile, accumulate: boolean): void {
    const t = this.tensors.get(name)!;
    const write = elementWriter(t.dtype);
    const read = elementReader(t.dtype);
    const add = arith.binaryFn('add', t.dtype);
    this.sliceOffsets(index, t.shape).forEach((at, i) => {
      if (at >= 0) write(t.bytes, at, accumulate ? add(read(t.bytes, at), value.data[i]!) : value.data[i]!);
    });
  }
}
