// Element arithmetic and scalar instructions in Loop IR, shared by the CPU and GPU lowerings: one
// element of each unary and binary operation exactly as ir/arith.ts defines it, symbolic sizes, and the
// scalar (block-uniform) instructions of Tile IR.

import { type Expr, f32, get, i32, op } from '../../ir/loop_ir.ts';
import type { BinaryFn, Inst, SymExpr, UnaryFn, ValueId } from '../../ir/tile_ir.ts';
import { Tables, castHeld, heldOf } from './element.ts';

/** A symbolic size as an i32 expression, with the VM's integer semantics: size symbols are locals
 * `sym_NAME`, runtime scalars `param_NAME`. */
export function symExpr(e: SymExpr, tables: Tables): Expr {
  const sym = (x: SymExpr): Expr => symExpr(x, tables);
  switch (e.kind) {
    case 'const':
      return i32(e.value);
    case 'symbol':
      return get(`sym_${e.name}`);
    case 'param':
      return get(`param_${e.name}`);
    case 'unary':
      return e.op === '-' ? op('i32.sub', i32(0), sym(e.operand)) : op('i32.eqz', sym(e.operand));
    case 'select':
      return { k: 'select', cond: sym(e.cond), a: sym(e.then), b: sym(e.else) };
    case 'binary': {
      const [a, b] = [sym(e.left), sym(e.right)];
      const fns: Partial<Record<string, BinaryFn>> = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod', min: 'min', max: 'max', '==': 'eq', '!=': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' };
      if (e.op === '&&' || e.op === '||') return op(e.op === '&&' ? 'i32.and' : 'i32.or', op('i32.ne', a, i32(0)), op('i32.ne', b, i32(0)));
      if (e.op === 'cdiv') return binaryElem('div', 'i32', op('i32.sub', op('i32.add', a, b), i32(1)), b, tables);
      return binaryElem(fns[e.op]!, 'i32', a, b, tables);
    }
  }
}

/** What scalar lowering needs from its lowerer. */
export interface ScalarEnv {
  /** The held value of a scalar. */
  readonly value: (id: ValueId) => Expr;
  readonly dtypeOf: (id: ValueId) => string;
  /** The local of a scalar var. */
  readonly varName: (v: number) => string;
  readonly tables: Tables;
}

/** The held value of a scalar instruction of element type `dtype`. */
export function scalarInst(inst: Inst, dtype: string, env: ScalarEnv): Expr {
  const v = env.value;
  switch (inst.op) {
    case 'const':
      return heldOf(dtype) === 'f32' ? f32(inst.value) : i32(inst.value);
    case 'symbol':
      return get(`sym_${inst.name}`);
    case 'param':
      return get(`param_${inst.name}`);
    case 'block_index':
      return get(['bx', 'by', 'bz'][inst.axis]!);
    case 'unary':
      return unaryElem(inst.fn, dtype, v(inst.x), env.tables);
    case 'binary':
      return binaryElem(inst.fn, env.dtypeOf(inst.a), v(inst.a), v(inst.b), env.tables);
    case 'select':
      return { k: 'select', cond: v(inst.cond), a: v(inst.a), b: v(inst.b) };
    case 'fma':
      return fmaElem(dtype, v(inst.a), v(inst.b), v(inst.c), env.tables);
    case 'cast':
      return castHeld(env.dtypeOf(inst.x), dtype, v(inst.x), env.tables);
    case 'var_get':
      return get(env.varName(inst.var));
    default:
      throw new Error(`${inst.op} does not produce a scalar`);
  }
}

/** Integer division with the VM's rules: truncation, 0 for a zero divisor, no trap on overflow. */
function intDivide(kind: 'div' | 'rem', signed: boolean, a: Expr, b: Expr): Expr {
  const zero = op('i32.eqz', b);
  const overflow = signed ? op('i32.and', op('i32.eq', a, i32(-0x80000000)), op('i32.eq', b, i32(-1))) : i32(0);
  const safe: Expr = { k: 'select', cond: op('i32.or', zero, overflow), a: i32(1), b };
  const q = op(`i32.${kind}_${signed ? 's' : 'u'}`, a, safe);
  // Overflow: INT_MIN / -1 wraps to INT_MIN (= a * -1), INT_MIN % -1 is 0.
  const fixed: Expr = signed ? { k: 'select', cond: overflow, a: kind === 'div' ? a : i32(0), b: q } : q;
  return { k: 'select', cond: zero, a: i32(0), b: fixed };
}

/** One element of a binary operation on `dtype` operands, as ir/arith.ts defines it. */
/** fma(a, b, c) on held values of an f32, f16 or bf16 element: rounded once to f32, then to the type. */
export function fmaElem(dtype: string, a: Expr, b: Expr, c: Expr, tables: Tables): Expr {
  const r: Expr = { k: 'math', fn: 'fma', args: [a, b, c] };
  return dtype === 'f32' ? r : castHeld('f32', dtype, r, tables);
}

export function binaryElem(fn: BinaryFn, dtype: string, a: Expr, b: Expr, tables: Tables): Expr {
  if (heldOf(dtype) === 'f32' && dtype !== 'bool') {
    const cmp: Partial<Record<BinaryFn, string>> = { eq: 'f32.eq', ne: 'f32.ne', lt: 'f32.lt', le: 'f32.le', gt: 'f32.gt', ge: 'f32.ge' };
    if (cmp[fn]) return op(cmp[fn]!, a, b);
    const arith: Partial<Record<BinaryFn, string>> = { add: 'f32.add', sub: 'f32.sub', mul: 'f32.mul', div: 'f32.div', max: 'f32.max', min: 'f32.min' };
    const r: Expr = fn === 'mod' ? { k: 'math', fn: 'fmod', args: [a, b] } : op(arith[fn]!, a, b);
    return dtype === 'f32' ? r : castHeld('f32', dtype, r, tables);
  }
  const u = dtype === 'u32';
  switch (fn) {
    case 'add': case 'sub': case 'mul': case 'and': case 'or': case 'xor': case 'shl':
      return op(`i32.${fn}`, a, b);
    case 'shr':
      return op(u ? 'i32.shr_u' : 'i32.shr_s', a, b);
    case 'div':
      return intDivide('div', !u, a, b);
    case 'mod':
      return intDivide('rem', !u, a, b);
    case 'eq': case 'ne':
      return op(`i32.${fn}`, a, b);
    case 'lt': case 'le': case 'gt': case 'ge':
      return op(`i32.${fn}_${u ? 'u' : 's'}`, a, b);
    case 'max': case 'min':
      return { k: 'select', cond: op(`i32.${fn === 'max' ? 'gt' : 'lt'}_${u ? 'u' : 's'}`, a, b), a, b };
    case 'land':
      return op('i32.and', a, b);
    case 'lor':
      return op('i32.or', a, b);
  }
}

export function unaryElem(fn: UnaryFn, dtype: string, x: Expr, tables: Tables): Expr {
  if (fn === 'not') return op('i32.eqz', x);
  if (heldOf(dtype) === 'i32') {
    if (fn === 'neg') return op('i32.sub', i32(0), x);
    if (dtype === 'u32') return x; // abs of an unsigned value
    return { k: 'select', cond: op('i32.lt_s', x, i32(0)), a: op('i32.sub', i32(0), x), b: x }; // abs
  }
  let r: Expr;
  if (fn === 'neg') r = op('f32.neg', x);
  else if (fn === 'abs') r = op('f32.abs', x);
  else if (fn === 'sqrt') r = op('f32.sqrt', x);
  else r = { k: 'math', fn, args: [x] };
  return dtype === 'f32' ? r : castHeld('f32', dtype, r, tables);
}
