// Emission of Loop IR as a WebAssembly module with binaryen: a type map, an op table, and a printer
// of statements and expressions. Memory is imported (shared, so that workers run blocks side by side);
// math functions are imported from the host, which computes them as the VM does.

import binaryen from './load_binaryen.js';
import { type Expr, type LFunction, type LModule, type LType, MATH_ARITY, type MathFn, type Stmt, typeOf } from '../../ir/loop_ir.ts';
import { fieldBitInByte, fieldByte } from '../../passes/lower/memory.ts';

export interface EmitOptions {
  /** Allow relaxed-SIMD instructions (the engine must support them). */
  readonly relaxedSimd?: boolean;
  /** binaryen's optimization level, 0 to 3. */
  readonly optimize?: number;
}

export interface WasmBinary {
  readonly bytes: Uint8Array;
  readonly text: () => string;
}

type M = binaryen.Module;
type Ref = binaryen.ExpressionRef;

const TYPES: Record<LType, binaryen.Type> = { i32: binaryen.i32, f32: binaryen.f32, v128: binaryen.v128 };

/** Loop IR op name -> binaryen expression. */
function opTable(m: M): Record<string, (...a: Ref[]) => Ref> {
  const t: Record<string, (...a: Ref[]) => Ref> = {};
  for (const o of ['add', 'sub', 'mul', 'div_s', 'div_u', 'rem_s', 'rem_u', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'eq', 'ne', 'lt_s', 'lt_u', 'le_s', 'le_u', 'gt_s', 'gt_u', 'ge_s', 'ge_u', 'eqz', 'clz'] as const) {
    t[`i32.${o}`] = (m.i32[o] as (...a: Ref[]) => Ref).bind(m.i32);
  }
  for (const o of ['add', 'sub', 'mul', 'div', 'min', 'max', 'copysign', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'abs', 'neg', 'sqrt', 'nearest', 'floor', 'ceil', 'trunc'] as const) {
    t[`f32.${o}`] = (m.f32[o] as (...a: Ref[]) => Ref).bind(m.f32);
  }
  t['f32.from_i32_s'] = (x) => m.f32.convert_s.i32(x);
  t['f32.from_i32_u'] = (x) => m.f32.convert_u.i32(x);
  t['i32.from_f32_sat_s'] = (x) => m.i32.trunc_s_sat.f32(x);
  t['i32.from_f32_sat_u'] = (x) => m.i32.trunc_u_sat.f32(x);
  t['f32.from_bits'] = (x) => m.f32.reinterpret(x);
  t['i32.bits_of'] = (x) => m.i32.reinterpret(x);
  for (const o of ['add', 'sub', 'mul', 'div', 'min', 'max'] as const) t[`f32x4.${o}`] = (m.f32x4[o] as (...a: Ref[]) => Ref).bind(m.f32x4);
  for (const o of ['add', 'sub', 'mul', 'min_s', 'max_s', 'shl', 'shr_u', 'shr_s'] as const) t[`i32x4.${o}`] = (m.i32x4[o] as (...a: Ref[]) => Ref).bind(m.i32x4);
  for (const o of ['and', 'or', 'xor'] as const) t[`i32x4.${o}`] = (m.v128[o] as (...a: Ref[]) => Ref).bind(m.v128);
  t['f32x4.splat'] = (x) => m.f32x4.splat(x);
  t['i32x4.splat'] = (x) => m.i32x4.splat(x);
  t['f32x4.extract0'] = (x) => m.f32x4.extract_lane(x, 0);
  t['f32x4.from_i32x4_s'] = (x) => m.f32x4.convert_i32x4_s(x);
  t['i8x16.swizzle'] = (a, b) => m.i8x16.swizzle(a, b);
  t['i32x4.widen_low_u8'] = (x) => m.i32x4.extend_low_i16x8_u(m.i16x8.extend_low_i8x16_u(x));
  t['i32x4.widen_low_u16'] = (x) => m.i32x4.extend_low_i16x8_u(x);
  for (const o of ['eq', 'lt_u', 'gt_u', 'ge_u'] as const) t[`i32x4.${o}`] = (m.i32x4[o] as (...a: Ref[]) => Ref).bind(m.i32x4);
  t['v128.bitselect'] = (a, b, mask) => m.v128.bitselect(a, b, mask);
  // A shuffle of the operand's own bytes (the second operand, never picked, is a constant: an
  // expression cannot appear twice).
  for (const n of [0, 1, 2, 3]) t[`i32x4.splat_lane${n}`] = (x) => m.i8x16.shuffle(x, m.v128.const(new Array(16).fill(0)), Array.from({ length: 16 }, (_, i) => 4 * n + (i % 4)));
  t['i16x8.narrow_i32x4_s'] = (a, b) => m.i16x8.narrow_i32x4_s(a, b);
  t['i32x4.dot_i16x8_s'] = (a, b) => m.i32x4.dot_i16x8_s(a, b);
  return t;
}

/** binaryen's C API for SIMD ternaries: relaxed-SIMD ops have no JavaScript wrappers. */
const raw = binaryen as unknown as {
  _BinaryenSIMDTernary(module: number, op: number, a: Ref, b: Ref, c: Ref): Ref;
  RelaxedMaddVecF32x4: number;
};

/** Target intrinsics that instruction selection may introduce. */
function intrinsicTable(m: M): Record<string, (...a: Ref[]) => Ref> {
  return {
    'wasm.f32x4.relaxed_madd': (a, b, c) => raw._BinaryenSIMDTernary(m.ptr, raw.RelaxedMaddVecF32x4, a, b, c),
  };
}

// fma is the module's own function (tb_fma: addFmaFunction), the others the host's.
const MATH_IMPORTS = (Object.keys(MATH_ARITY) as MathFn[]).filter((fn) => fn !== 'fma');

/**
 * exp2(x) or exp(x) on f32 or four f32 lanes, within 2 ulp, without branches: clamp the argument
 * (NaN passes through min and max), split it into an integer n and a remainder r, evaluate a
 * polynomial for 2^r or e^r (Cephes' coefficients), and scale by 2^n in two exact steps so that n
 * may reach the subnormal range. exp reduces with ln 2 in two parts (Cody and Waite).
 */
function exponential(m: M, fn: 'exp' | 'exp2', x: Ref, vector: boolean, temp: (t: binaryen.Type) => number): Ref {
  const F = vector ? binaryen.v128 : binaryen.f32;
  const I = vector ? binaryen.v128 : binaryen.i32;
  const c = (v: number): Ref => (vector ? m.f32x4.splat(m.f32.const(v)) : m.f32.const(v));
  const ci = (v: number): Ref => (vector ? m.i32x4.splat(m.i32.const(v)) : m.i32.const(v));
  const add = (a: Ref, b: Ref): Ref => (vector ? m.f32x4.add(a, b) : m.f32.add(a, b));
  const sub = (a: Ref, b: Ref): Ref => (vector ? m.f32x4.sub(a, b) : m.f32.sub(a, b));
  const mul = (a: Ref, b: Ref): Ref => (vector ? m.f32x4.mul(a, b) : m.f32.mul(a, b));
  const min = (a: Ref, b: Ref): Ref => (vector ? m.f32x4.min(a, b) : m.f32.min(a, b));
  const max = (a: Ref, b: Ref): Ref => (vector ? m.f32x4.max(a, b) : m.f32.max(a, b));
  const nearest = (a: Ref): Ref => (vector ? m.f32x4.nearest(a) : m.f32.nearest(a));
  const toInt = (a: Ref): Ref => (vector ? m.i32x4.trunc_sat_f32x4_s(a) : m.i32.trunc_s_sat.f32(a));
  const iadd = (a: Ref, b: Ref): Ref => (vector ? m.i32x4.add(a, b) : m.i32.add(a, b));
  const isub = (a: Ref, b: Ref): Ref => (vector ? m.i32x4.sub(a, b) : m.i32.sub(a, b));
  const shl = (a: Ref, n: number): Ref => (vector ? m.i32x4.shl(a, m.i32.const(n)) : m.i32.shl(a, m.i32.const(n)));
  const shr = (a: Ref, n: number): Ref => (vector ? m.i32x4.shr_s(a, m.i32.const(n)) : m.i32.shr_s(a, m.i32.const(n)));
  const asFloat = (a: Ref): Ref => (vector ? a : m.f32.reinterpret(a)); // a v128 is already its lanes' bits
  const [xl, nl, rl, hl] = [temp(F), temp(F), temp(F), temp(I)];
  const get = (l: number, t: binaryen.Type): Ref => m.local.get(l, t);
  const steps: Ref[] = [];
  let poly: Ref;
  if (fn === 'exp2') {
    steps.push(m.local.set(xl, max(min(x, c(128)), c(-150))));
    steps.push(m.local.set(nl, nearest(get(xl, F))));
    steps.push(m.local.set(rl, sub(get(xl, F), get(nl, F))));
    const P = [1.535336188319500e-4, 1.339887440266574e-3, 9.618437357674640e-3, 5.550332471162809e-2, 2.402264791363012e-1, 6.931472028550421e-1];
    let y = c(P[0]!);
    for (const p of P.slice(1)) y = add(mul(y, get(rl, F)), c(p));
    poly = add(mul(y, get(rl, F)), c(1));
  } else {
    steps.push(m.local.set(xl, max(min(x, c(89)), c(-104))));
    steps.push(m.local.set(nl, nearest(mul(get(xl, F), c(1.4426950408889634)))));
    steps.push(m.local.set(rl, sub(sub(get(xl, F), mul(get(nl, F), c(0.693359375))), mul(get(nl, F), c(-2.12194440e-4)))));
    const P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
    let y = c(P[0]!);
    for (const p of P.slice(1)) y = add(mul(y, get(rl, F)), c(p));
    poly = add(add(mul(y, mul(get(rl, F), get(rl, F))), get(rl, F)), c(1));
  }
  // 2^n as 2^h * 2^(n-h), h = n >> 1: both factors are normal floats for every n in [-150, 128].
  steps.push(m.local.set(hl, shr(toInt(get(nl, F)), 1)));
  const twoTo = (e: Ref): Ref => asFloat(shl(iadd(e, ci(127)), 23));
  const scaled = mul(mul(poly, twoTo(get(hl, I))), twoTo(isub(toInt(get(nl, F)), get(hl, I))));
  return m.block(null, [...steps, scaled], F);
}

const FMA_FUNCTION = 'tb_fma';

/**
 * f32 a * b + c rounded once, as the module's function `tb_fma` (wasm has no scalar fma; the binaryen
 * optimizer drops it where unused). As the VM computes it (ir/arith.ts fmaToOdd): the product is exact
 * in f64, the sum is rounded to odd there (its rounding error, exact by TwoSum, moves an even last bit
 * one step towards the exact sum), and that rounds to f32 as the exact sum would.
 */
function addFmaFunction(m: M): void {
  const D = binaryen.f64;
  const [A, B, C, P, S, V, E, BITS] = [0, 1, 2, 3, 4, 5, 6, 7];
  const get = (i: number): Ref => m.local.get(i, i === BITS ? binaryen.i64 : i < 3 ? binaryen.f32 : D);
  const c = m.f64.promote(get(C));
  const body = m.block(null, [
    m.local.set(P, m.f64.mul(m.f64.promote(get(A)), m.f64.promote(get(B)))),
    m.local.set(S, m.f64.add(get(P), c)),
    m.local.set(V, m.f64.sub(get(S), get(P))),
    m.local.set(E, m.f64.add(m.f64.sub(get(P), m.f64.sub(get(S), get(V))), m.f64.sub(m.f64.promote(get(C)), get(V)))),
    m.local.set(BITS, m.i64.reinterpret(get(S))),
    // Rounded (e != 0), finite (s - s == 0), last bit even: one step up in magnitude where e has s's sign, else down.
    m.local.set(S, m.f64.reinterpret(m.select(
      m.i32.and(m.i32.and(m.f64.ne(get(E), m.f64.const(0)), m.f64.eq(m.f64.sub(get(S), get(S)), m.f64.const(0))), m.i64.eqz(m.i64.and(get(BITS), m.i64.const(1n)))),
      m.i64.add(get(BITS), m.select(m.i32.eq(m.f64.gt(get(S), m.f64.const(0)), m.f64.gt(get(E), m.f64.const(0))), m.i64.const(1n), m.i64.const(-1n))),
      get(BITS),
    ))),
    // A NaN as the VM's, positive and quiet (the sign of a wasm NaN is the engine's choice).
    m.select(m.f64.ne(get(S), get(S)), m.f32.const(NaN), m.f32.demote(get(S))),
  ], binaryen.f32);
  m.addFunction(FMA_FUNCTION, binaryen.createType([binaryen.f32, binaryen.f32, binaryen.f32]), binaryen.f32, [D, D, D, D, binaryen.i64], body);
}

export function emitWasm(lm: LModule, options: EmitOptions = {}): WasmBinary {
  const m = new binaryen.Module();
  m.setFeatures(
    binaryen.Features.SIMD128 | binaryen.Features.Atomics | binaryen.Features.NontrappingFPToInt |
      binaryen.Features.SignExt | binaryen.Features.BulkMemory | binaryen.Features.MutableGlobals |
      (options.relaxedSimd ? binaryen.Features.RelaxedSIMD : 0),
  );
  const pages = Math.max(1, Math.ceil(lm.dataBytes / 65536));
  m.setMemory(pages, 65536, null, lm.data.map((d) => ({ offset: m.i32.const(d.offset), data: d.bytes, passive: false })), true, false, 'mem');
  m.addMemoryImport('mem', 'env', 'memory', true);
  for (const fn of MATH_IMPORTS) {
    m.addFunctionImport(`math_${fn}`, 'env', fn, binaryen.createType(new Array(MATH_ARITY[fn]).fill(binaryen.f64)), binaryen.f64);
  }
  addFmaFunction(m);
  const ops = opTable(m);
  const intrinsics = intrinsicTable(m);
  for (const f of lm.functions) emitFunction(m, f, ops, intrinsics);
  m.addFunctionExport('block', 'block');
  if (!m.validate()) throw new Error('emitWasm: binaryen rejected the module');
  binaryen.setOptimizeLevel(options.optimize ?? 2);
  binaryen.setShrinkLevel(0);
  if ((options.optimize ?? 2) > 0) m.optimize();
  const bytes = m.emitBinary();
  const text = (): string => m.emitText();
  return { bytes, text };
}

function emitFunction(m: M, f: LFunction, ops: Record<string, (...a: Ref[]) => Ref>, intrinsics: Record<string, (...a: Ref[]) => Ref>): void {
  const all = [...f.params, ...f.locals];
  const index = new Map(all.map((l, i) => [l.name, i]));
  const types = new Map(all.map((l) => [l.name, l.type]));
  const isBlock = f.name === 'block';
  let label = 0;
  // Locals that emission itself needs (the exponential's intermediate values).
  const extra: binaryen.Type[] = [];
  const temp = (type: binaryen.Type): number => {
    extra.push(type);
    return all.length + extra.length - 1;
  };

  const expr = (e: Expr): Ref => {
    switch (e.k) {
      case 'const':
        return e.type === 'i32' ? m.i32.const(e.value) : m.f32.const(e.value);
      case 'vconst':
        return m.v128.const(e.bytes as number[]);
      case 'get':
        return m.local.get(index.get(e.name)!, TYPES[types.get(e.name)!]);
      case 'load': {
        const a = expr(e.addr);
        if (e.type === 'v128') return e.bits === 32 ? m.v128.load32_zero(e.offset, 1, a) : e.bits === 64 ? m.v128.load64_zero(e.offset, 1, a) : m.v128.load(e.offset, 1, a);
        if (e.type === 'f32') return m.f32.load(e.offset, 1, a);
        if (e.bits === 8) return e.signed ? m.i32.load8_s(e.offset, 1, a) : m.i32.load8_u(e.offset, 1, a);
        if (e.bits === 16) return e.signed ? m.i32.load16_s(e.offset, 1, a) : m.i32.load16_u(e.offset, 1, a);
        return m.i32.load(e.offset, 1, a);
      }
      case 'bits': {
        // A 16-bit window at the field's first byte holds all of it (widths up to 8, any bit offset); the
        // byte and bit from the index (fieldByte: its bit offset would wrap past 512 MiB).
        const window: Expr = { k: 'load', type: 'i32', bits: 16, signed: false, addr: { k: 'op', op: 'i32.add', args: [e.base, fieldByte(e.index, e.width)] }, offset: 0 };
        return expr({ k: 'op', op: 'i32.and', args: [{ k: 'op', op: 'i32.shr_u', args: [window, fieldBitInByte(e.index, e.width)] }, { k: 'const', type: 'i32', value: (1 << e.width) - 1 }] });
      }
      case 'op': {
        const args = e.args.map(expr);
        if (e.op === 'i32.min_s' || e.op === 'i32.max_s') {
          // No such instruction: a select over re-emitted operands.
          const [x, y] = [e.args[0]!, e.args[1]!];
          return m.select(m.i32[e.op === 'i32.min_s' ? 'lt_s' : 'gt_s'](expr(x), expr(y)), args[0]!, args[1]!);
        }
        const make = ops[e.op];
        if (!make) throw new Error(`emitWasm: no wasm form for op '${e.op}'`);
        return make(...args);
      }
      case 'select':
        return m.select(expr(e.cond), expr(e.a), expr(e.b));
      case 'math': {
        const vector = typeOf(e.args[0]!, types) === 'v128';
        if (e.fn === 'exp' || e.fn === 'exp2') return exponential(m, e.fn, expr(e.args[0]!), vector, temp);
        if (e.fn === 'fma') return m.call(FMA_FUNCTION, e.args.map(expr), binaryen.f32);
        return m.f32.demote(m.call(`math_${e.fn}`, e.args.map((a) => m.f64.promote(expr(a))), binaryen.f64));
      }
      case 'call':
        return m.call(e.fn, e.args.map(expr), TYPES[e.type]);
      case 'intrinsic': {
        const make = intrinsics[e.name];
        if (!make) throw new Error(`emitWasm: unknown intrinsic '${e.name}'`);
        return make(...e.args.map(expr));
      }
      case 'aget':
        throw new Error('emitWasm: register arrays belong to GPU lowerings');
    }
  };

  const stmt = (s: Stmt): Ref => {
    switch (s.k) {
      case 'set':
        return m.local.set(index.get(s.name)!, expr(s.value));
      case 'loadwords':
      case 'storewords':
      case 'copywords':
      case 'asynccommit':
      case 'asyncwait':
      case 'mma':
      case 'ldmatrix':
      case 'aset':
        throw new Error('emitWasm: register arrays, word accesses, async copies and warp MMAs belong to GPU lowerings');
      case 'store': {
        const a = expr(s.addr);
        const v = expr(s.value);
        if (s.bits === 128) return m.v128.store(s.offset, 1, a, v);
        if (s.bits === 8) return m.i32.store8(s.offset, 1, a, v);
        if (s.bits === 16) return m.i32.store16(s.offset, 1, a, v);
        return typeOf(s.value, types) === 'f32' ? m.f32.store(s.offset, 1, a, v) : m.i32.store(s.offset, 1, a, v);
      }
      case 'atomic': {
        if (s.op !== 'fadd') return m.drop(m.i32.atomic.rmw[s.op](0, expr(s.addr), expr(s.value)));
        // Wasm has no float atomics: load the word, add, and compare-and-swap until no other worker
        // wrote the word in between (the comparison is of bits, so NaNs end the loop too).
        const [at, v, old] = [temp(binaryen.i32), temp(binaryen.f32), temp(binaryen.i32)];
        const id = label++;
        const sum = m.i32.reinterpret(m.f32.add(m.f32.reinterpret(m.local.get(old, binaryen.i32)), m.local.get(v, binaryen.f32)));
        return m.block(null, [
          m.local.set(at, expr(s.addr)),
          m.local.set(v, expr(s.value)),
          m.loop(`cas${id}`, m.block(null, [
            m.local.set(old, m.i32.atomic.load(0, m.local.get(at, binaryen.i32))),
            m.br(`cas${id}`, m.i32.ne(m.i32.atomic.rmw.cmpxchg(0, m.local.get(at, binaryen.i32), m.local.get(old, binaryen.i32), sum), m.local.get(old, binaryen.i32))),
          ])),
        ]);
      }
      case 'for': {
        const id = label++;
        const v = index.get(s.var)!;
        const loop = m.loop(`loop${id}`, m.block(null, [
          m.br(`done${id}`, m.i32.ge_s(m.local.get(v, binaryen.i32), expr(s.end))),
          ...s.body.map(stmt),
          m.local.set(v, m.i32.add(m.local.get(v, binaryen.i32), expr(s.step))),
          m.br(`loop${id}`),
        ]));
        return m.block(`done${id}`, [m.local.set(v, expr(s.start)), loop]);
      }
      case 'if':
        return m.if(expr(s.cond), m.block(null, s.then.map(stmt)), s.else.length ? m.block(null, s.else.map(stmt)) : undefined);
      case 'barrier':
        return m.nop();
      case 'trap':
        if (!isBlock) throw new Error('emitWasm: trap outside the block function');
        return m.return(m.i32.const(s.code));
      case 'return':
        return m.return(expr(s.value));
    }
  };

  const body = f.body.map(stmt);
  if (isBlock) body.push(m.return(m.i32.const(0)));
  else body.push(m.unreachable());
  const result = isBlock ? binaryen.i32 : TYPES[f.result!];
  m.addFunction(f.name, binaryen.createType(f.params.map((p) => TYPES[p.type])), result, [...f.locals.map((l) => TYPES[l.type]), ...extra], m.block(null, body, result));
}
