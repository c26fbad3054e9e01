// The Tile IR verifier: enforces the typing rules written on each instruction in tile_ir.ts, that every
// value is defined before it is used (in its block or an enclosing one), and that vars keep their type.
// Tests run it after every pass.

import { FMA_TYPES } from './arith.ts';
import { dtype as parseDType } from './dtype.ts';
import { localSize, threadCount, tileSize } from './layout.ts';
import { printType } from './tile_print.ts';
import {
  type IndexEntry, type Inst, type Kernel, type Stmt, type TileType, type Type, type ValueId,
  ACCUMULATE_DTYPES, broadcastShapes, isBinaryComparison, isComputeType, isFloatType,
} from './tile_ir.ts';

export class VerifyError extends Error {
  constructor(readonly problems: readonly string[], kernel: string) {
    super(`Tile IR of '${kernel}' is invalid:\n  ${problems.join('\n  ')}`);
    this.name = 'VerifyError';
  }
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export function verifyKernel(k: Kernel): void {
  const problems: string[] = [];
  const tensors = new Map(k.params.flatMap((p) => (p.kind === 'tensor' ? [[p.name, p] as const] : [])));
  const scalars = new Map(k.params.flatMap((p) => (p.kind === 'scalar' ? [[p.name, p] as const] : [])));
  const vars = new Map<number, Type>();
  const scopes: Map<ValueId, Type>[] = [new Map()];
  const typeOf = (id: ValueId, where: string): Type | null => {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const t = scopes[i]!.get(id);
      if (t) return t;
    }
    problems.push(`${where}: %${id} is used before it is defined`);
    return null;
  };
  const expect = (cond: boolean, message: string): void => void (cond || problems.push(message));
  const scalarOf = (id: ValueId, dtypes: readonly string[], where: string): void => {
    const t = typeOf(id, where);
    if (t) expect(t.kind === 'scalar' && dtypes.includes(t.dtype), `${where}: %${id} must be a ${dtypes.join('/')} scalar, is ${printType(t)}`);
  };
  const checkIndex = (ix: readonly IndexEntry[], rank: number, where: string): number[] => {
    expect(ix.length === rank, `${where}: index has ${ix.length} entries for rank ${rank}`);
    ix.forEach((e) => scalarOf(e.offset, ['i32'], where));
    return ix.flatMap((e) => (e.extent === null ? [] : [e.extent]));
  };
  const tileOf = (id: ValueId, where: string): TileType | null => {
    const t = typeOf(id, where);
    if (t && t.kind !== 'tile') problems.push(`${where}: %${id} must be a tile, is ${printType(t)}`);
    return t?.kind === 'tile' ? t : null;
  };
  const elemOf = (id: ValueId, where: string): { dtype: string; shape: readonly number[] } | null => {
    const t = typeOf(id, where);
    if (!t || t.kind === 'shared') return null;
    return { dtype: t.dtype, shape: t.kind === 'tile' ? t.shape : [] };
  };

  /** The result type an instruction must have, given its operands; null when unchecked or wrong. */
  const checkInst = (inst: Inst, result: Type, where: string): void => {
    const rt = result.kind === 'tile' ? result : null;
    if (rt?.layout) {
      expect(sameShape(rt.layout.shape, rt.shape), `${where}: layout covers [${rt.layout.shape.join(', ')}], tile is [${rt.shape.join(', ')}]`);
      expect(threadCount(rt.layout) * localSize(rt.layout) >= tileSize(rt.layout), `${where}: layout does not cover its tile`);
    }
    const expectElem = (dtype: string, shape: readonly number[] | null): void => {
      if (result.kind === 'shared') return void problems.push(`${where}: result cannot be shared`);
      expect(result.dtype === dtype, `${where}: result element type ${result.dtype}, rule gives ${dtype}`);
      if (shape) expect(result.kind === 'tile' ? sameShape(result.shape, shape) : shape.length === 0, `${where}: result shape is wrong, rule gives [${shape.join(', ')}]`);
    };
    switch (inst.op) {
      case 'const':
      case 'block_index':
      case 'symbol':
        expect(result.kind === 'scalar', `${where}: must be a scalar`);
        if (inst.op !== 'const') expect(result.dtype === 'i32', `${where}: must be i32`);
        return;
      case 'param': {
        const p = scalars.get(inst.name);
        expect(!!p && result.kind === 'scalar' && result.dtype === p.dtype, `${where}: '${inst.name}' is not a scalar parameter of this type`);
        return;
      }
      case 'unary': {
        const x = elemOf(inst.x, where);
        if (!x) return;
        expect(result.kind === (typeOf(inst.x, where)?.kind ?? ''), `${where}: unary keeps scalar/tile kind`);
        expectElem(x.dtype, x.shape);
        if (inst.fn === 'not') expect(x.dtype === 'bool', `${where}: not takes bool`);
        else if (!['neg', 'abs'].includes(inst.fn)) expect(isFloatType(x.dtype), `${where}: ${inst.fn} takes a float`);
        return;
      }
      case 'binary': {
        const [a, b] = [elemOf(inst.a, where), elemOf(inst.b, where)];
        if (!a || !b) return;
        expect(a.dtype === b.dtype, `${where}: operands differ in type (${a.dtype}, ${b.dtype})`);
        expect(a.dtype === 'bool' || isComputeType(a.dtype), `${where}: ${a.dtype} is storage only`);
        const shape = broadcastShapes(a.shape, b.shape);
        expect(shape !== null, `${where}: shapes do not broadcast`);
        const logical = inst.fn === 'land' || inst.fn === 'lor';
        expectElem(isBinaryComparison(inst.fn) || logical ? 'bool' : a.dtype, shape);
        return;
      }
      case 'fma': {
        const [a, b, c] = [elemOf(inst.a, where), elemOf(inst.b, where), elemOf(inst.c, where)];
        if (!a || !b || !c) return;
        expect(a.dtype === b.dtype && b.dtype === c.dtype && FMA_TYPES.has(a.dtype), `${where}: fma takes f32, f16 or bf16 operands of one type`);
        const s1 = broadcastShapes(a.shape, b.shape);
        expectElem(a.dtype, s1 && broadcastShapes(s1, c.shape));
        return;
      }
      case 'select': {
        const [c, a, b] = [elemOf(inst.cond, where), elemOf(inst.a, where), elemOf(inst.b, where)];
        if (!c || !a || !b) return;
        expect(c.dtype === 'bool', `${where}: condition must be bool`);
        expect(a.dtype === b.dtype, `${where}: branches differ in type`);
        const s1 = broadcastShapes(c.shape, a.shape);
        expectElem(a.dtype, s1 && broadcastShapes(s1, b.shape));
        return;
      }
      case 'cast': {
        const x = elemOf(inst.x, where);
        if (x && result.kind !== 'shared') expect(sameShape(x.shape, result.kind === 'tile' ? result.shape : []), `${where}: cast keeps the shape`);
        return;
      }
      case 'view': {
        const x = tileOf(inst.x, where);
        if (!x || !rt) return;
        const [from, to] = [parseDType(x.dtype).bits, parseDType(rt.dtype).bits];
        const shape = [...x.shape];
        shape[shape.length - 1] = (shape[shape.length - 1]! * from) / to;
        expect(sameShape(shape, rt.shape), `${where}: view must scale the last dimension by ${from}/${to}`);
        return;
      }
      case 'full':
        scalarOf(inst.value, ['i32', 'u32', 'f32', 'bool'], where);
        expect(result.kind === 'tile', `${where}: full makes a tile`);
        return;
      case 'iota':
        expect(!!rt && inst.axis >= 0 && inst.axis < rt.shape.length, `${where}: iota axis out of range`);
        return;
      case 'load': {
        const p = tensors.get(inst.tensor);
        if (!p) return void problems.push(`${where}: no tensor '${inst.tensor}'`);
        expectElem(p.dtype, checkIndex(inst.index, p.shape.length, where));
        return;
      }
      case 'load_shared': {
        const s = typeOf(inst.shared, where);
        if (s?.kind !== 'shared') return void problems.push(`${where}: load_shared needs a shared allocation`);
        expectElem(s.dtype, checkIndex(inst.index, s.shape.length, where));
        return;
      }
      case 'alloc_shared':
        expect(result.kind === 'shared', `${where}: alloc_shared makes shared memory`);
        return;
      case 'dot': {
        const [a, b] = [tileOf(inst.a, where), tileOf(inst.b, where)];
        const c = inst.c === null ? null : tileOf(inst.c, where);
        if (!a || !b) return;
        expect(a.shape.length === 2 && b.shape.length === 2 && a.shape[1] === b.shape[0], `${where}: dot needs [M, K] x [K, N]`);
        expect(a.dtype === b.dtype, `${where}: dot inputs differ in type`);
        const isInt = a.dtype === 'i8' || a.dtype === 'u8';
        expectElem(c ? c.dtype : isInt ? 'i32' : 'f32', [a.shape[0]!, b.shape[1]!]);
        if (c) expect(sameShape(c.shape, [a.shape[0]!, b.shape[1]!]), `${where}: accumulator shape`);
        return;
      }
      case 'reduce': {
        const x = tileOf(inst.x, where);
        if (x) expectElem(x.dtype, x.shape.filter((_, i) => i !== inst.axis));
        return;
      }
      case 'permute': {
        const x = tileOf(inst.x, where);
        if (x) expectElem(x.dtype, inst.perm.map((p) => x.shape[p]!));
        return;
      }
      case 'broadcast': {
        const x = tileOf(inst.x, where);
        if (x && rt) expect(sameShape(broadcastShapes(x.shape, rt.shape) ?? [], rt.shape), `${where}: cannot broadcast`);
        if (x) expectElem(x.dtype, null);
        return;
      }
      case 'reshape': {
        const x = tileOf(inst.x, where);
        if (x && rt) expect(tileSizeOf(x.shape) === tileSizeOf(rt.shape), `${where}: reshape keeps the element count`);
        if (x) expectElem(x.dtype, null);
        return;
      }
      case 'var_get': {
        const v = vars.get(inst.var);
        expect(!!v && printType(v) === printType(result), `${where}: var $${inst.var} has another type`);
        return;
      }
    }
  };

  const storeShape = (value: ValueId, dtype: string, shape: readonly number[], where: string): void => {
    const v = tileOf(value, where);
    if (v) expect(v.dtype === dtype && sameShape(v.shape, shape), `${where}: stored ${printType(v)} does not match ${dtype}[${shape.join(', ')}]`);
  };

  const visit = (body: readonly Stmt[]): void => {
    for (const s of body) {
      switch (s.kind) {
        case 'def': {
          const where = `%${s.result.id} = ${s.inst.op}`;
          checkInst(s.inst, s.result.type, where);
          scopes[scopes.length - 1]!.set(s.result.id, s.result.type);
          break;
        }
        case 'var': {
          const t = typeOf(s.init, `var $${s.var}`);
          if (t) expect(printType(t) === printType(s.type), `var $${s.var}: initial value is ${printType(t)}, var is ${printType(s.type)}`);
          vars.set(s.var, s.type);
          break;
        }
        case 'assign': {
          const t = typeOf(s.value, `$${s.var} = ...`);
          const v = vars.get(s.var);
          if (!v) problems.push(`$${s.var} is assigned before it is declared`);
          else if (t) expect(t.kind === v.kind && t.dtype === v.dtype && (t.kind !== 'tile' || sameShape(t.shape, (v as TileType).shape)), `$${s.var} = ...: ${printType(t)} for a var of ${printType(v)}`);
          break;
        }
        case 'store': {
          const p = tensors.get(s.tensor);
          if (!p) problems.push(`store: no tensor '${s.tensor}'`);
          else if (s.accumulate && !ACCUMULATE_DTYPES.includes(p.dtype)) problems.push(`store ${s.tensor} +=: ${p.dtype} tensors cannot accumulate (only ${ACCUMULATE_DTYPES.join(', ')})`);
          else storeShape(s.value, p.dtype, checkIndex(s.index, p.shape.length, 'store'), `store ${s.tensor}`);
          break;
        }
        case 'store_shared': {
          const t = typeOf(s.shared, 'store_shared');
          if (t?.kind !== 'shared') problems.push('store_shared needs a shared allocation');
          else storeShape(s.value, t.dtype, checkIndex(s.index, t.shape.length, 'store_shared'), 'store_shared');
          break;
        }
        case 'copy_async': {
          const t = typeOf(s.shared, 'copy_async');
          const p = tensors.get(s.tensor);
          if (t?.kind !== 'shared' || !p) problems.push('copy_async needs a shared allocation and a tensor');
          else {
            const a = checkIndex(s.sharedIndex, t.shape.length, 'copy_async');
            const b = checkIndex(s.index, p.shape.length, 'copy_async');
            expect(sameShape(a, b) && t.dtype === p.dtype, 'copy_async: regions differ in shape or type');
          }
          break;
        }
        case 'commit_async':
        case 'sync':
          break;
        case 'wait_async':
          expect(Number.isInteger(s.pending) && s.pending >= 0, 'wait_async needs a count >= 0');
          break;
        case 'for':
          ['start', 'end', 'step'].forEach((k) => scalarOf(s[k as 'start' | 'end' | 'step'], ['i32'], `for ${k}`));
          scopes.push(new Map([[s.index.id, s.index.type]]));
          visit(s.body);
          scopes.pop();
          break;
        case 'if':
          scalarOf(s.cond, ['bool'], 'if');
          for (const branch of [s.then, s.else]) {
            scopes.push(new Map());
            visit(branch);
            scopes.pop();
          }
          break;
        case 'assert':
          scalarOf(s.cond, ['bool'], 'assert');
          break;
      }
    }
  };
  visit(k.body);
  if (problems.length) throw new VerifyError(problems, k.name);
}

const tileSizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
