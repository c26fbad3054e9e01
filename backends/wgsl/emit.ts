// WGSL emission: Loop IR of the GPU lowering legalized to WGSL's types and printed as one compute shader.
//
// Legalization: every global buffer is `array<u32>` (WGSL has no 8- or 16-bit types); 8- and 16-bit
// values are extracted from their word with `extractBits`; a buffer (or shared memory) that receives
// stores narrower than a word, or atomics, becomes `array<atomic<u32>>` and every access to it is
// atomic, so that invocations and workgroups writing neighbours in one word never clobber each other.
// Constant tables are a read-only storage buffer; launch arguments another (read-only storage is
// uniform, so loops over them may contain barriers). i32 arithmetic wraps in WGSL as in the VM; shift
// counts are masked; min and max propagate NaN through helpers that test bits, since WGSL lets an
// implementation assume floats are never NaN; infinities and NaN are made at run time from bits
// (a constant expression may not produce them). A read-only buffer that 128-bit word runs are loaded
// from is `array<vec4<u32>>` instead, so that each such run is one 16-byte access (with `array<u32>`
// it would be four, which a GPU compiler cannot merge without knowing the alignment); its single
// words are components of its vectors. Buffers are therefore bound in whole multiples of 16 bytes.

import { type Expr, type LFunction, type LModule, type LType, type Stmt, forEachExpr, forEachStmt, typeOf } from '../../ir/loop_ir.ts';
import type { GpuLowering } from '../../passes/lower_gpu.ts';
import { unrollLoops } from '../../passes/unroll_loops.ts';

export class WgslEmitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WgslEmitError';
  }
}

/** One binding of the shader, in binding order. */
export interface WgslBinding {
  readonly binding: number;
  /** A tensor's name, or 'tb_data' / 'tb_args' / 'tb_err'. */
  readonly name: string;
  readonly kind: 'tensor' | 'data' | 'args' | 'error';
  readonly readOnly: boolean;
}

export interface WgslKernel {
  readonly code: string;
  readonly bindings: readonly WgslBinding[];
  readonly threads: number;
  readonly sharedBytes: number;
}

const wtype = (t: LType): string => {
  if (t === 'v128') throw new WgslEmitError('v128 values have no WGSL lowering');
  return t === 'f32' ? 'f32' : 'i32';
};

const ident = (mem: string): string => (mem === 'shared' ? 'smem' : `g_${mem.slice(2)}`);

function i32Literal(v: number): string {
  if (v === -0x80000000) return '(-2147483647i - 1i)';
  return v < 0 ? `(${v}i)` : `${v}i`;
}

function f32Literal(v: number): string {
  if (Number.isNaN(v)) return 'bitcast<f32>(tb_nan_bits)';
  if (v === Infinity) return 'bitcast<f32>(tb_pinf_bits)';
  if (v === -Infinity) return 'bitcast<f32>(tb_ninf_bits)';
  if (Object.is(v, -0)) return '(-0.0f)';
  const s = String(Math.fround(v));
  return `${/[.e]/.test(s) ? s : `${s}.0`}f`;
}

const U = (x: string): string => `bitcast<u32>(${x})`;
const I = (x: string): string => `bitcast<i32>(${x})`;
const B = (cond: string): string => `select(0i, 1i, ${cond})`;

const BINARY: Readonly<Record<string, (a: string, b: string) => string>> = {
  'i32.add': (a, b) => `(${a} + ${b})`,
  'i32.sub': (a, b) => `(${a} - ${b})`,
  'i32.mul': (a, b) => `(${a} * ${b})`,
  'i32.div_s': (a, b) => `(${a} / ${b})`,
  'i32.rem_s': (a, b) => `(${a} % ${b})`,
  'i32.div_u': (a, b) => I(`(${U(a)} / ${U(b)})`),
  'i32.rem_u': (a, b) => I(`(${U(a)} % ${U(b)})`),
  'i32.and': (a, b) => `(${a} & ${b})`,
  'i32.or': (a, b) => `(${a} | ${b})`,
  'i32.xor': (a, b) => `(${a} ^ ${b})`,
  'i32.shl': (a, b) => `(${a} << (${U(b)} & 31u))`,
  'i32.shr_s': (a, b) => `(${a} >> (${U(b)} & 31u))`,
  'i32.shr_u': (a, b) => I(`(${U(a)} >> (${U(b)} & 31u))`),
  'i32.eq': (a, b) => B(`${a} == ${b}`),
  'i32.ne': (a, b) => B(`${a} != ${b}`),
  'i32.lt_s': (a, b) => B(`${a} < ${b}`),
  'i32.le_s': (a, b) => B(`${a} <= ${b}`),
  'i32.gt_s': (a, b) => B(`${a} > ${b}`),
  'i32.ge_s': (a, b) => B(`${a} >= ${b}`),
  'i32.lt_u': (a, b) => B(`${U(a)} < ${U(b)}`),
  'i32.le_u': (a, b) => B(`${U(a)} <= ${U(b)}`),
  'i32.gt_u': (a, b) => B(`${U(a)} > ${U(b)}`),
  'i32.ge_u': (a, b) => B(`${U(a)} >= ${U(b)}`),
  'i32.min_s': (a, b) => `min(${a}, ${b})`,
  'i32.max_s': (a, b) => `max(${a}, ${b})`,
  'f32.add': (a, b) => `(${a} + ${b})`,
  'f32.sub': (a, b) => `(${a} - ${b})`,
  'f32.mul': (a, b) => `(${a} * ${b})`,
  'f32.div': (a, b) => `(${a} / ${b})`,
  'f32.min': (a, b) => `tb_fmin(${a}, ${b})`,
  'f32.max': (a, b) => `tb_fmax(${a}, ${b})`,
  'f32.copysign': (a, b) => `bitcast<f32>((${U(a)} & 0x7fffffffu) | (${U(b)} & 0x80000000u))`,
  'f32.eq': (a, b) => B(`${a} == ${b}`),
  'f32.ne': (a, b) => B(`${a} != ${b}`),
  'f32.lt': (a, b) => B(`${a} < ${b}`),
  'f32.le': (a, b) => B(`${a} <= ${b}`),
  'f32.gt': (a, b) => B(`${a} > ${b}`),
  'f32.ge': (a, b) => B(`${a} >= ${b}`),
};

const UNARY: Readonly<Record<string, (a: string) => string>> = {
  'i32.eqz': (a) => B(`${a} == 0i`),
  'i32.clz': (a) => `countLeadingZeros(${a})`,
  'f32.abs': (a) => `abs(${a})`,
  'f32.neg': (a) => `(-${a})`,
  'f32.sqrt': (a) => `sqrt(${a})`,
  'f32.nearest': (a) => `round(${a})`,
  'f32.floor': (a) => `floor(${a})`,
  'f32.ceil': (a) => `ceil(${a})`,
  'f32.trunc': (a) => `trunc(${a})`,
  'f32.from_i32_s': (a) => `f32(${a})`,
  'f32.from_i32_u': (a) => `f32(${U(a)})`,
  'i32.from_f32_sat_s': (a) => `tb_f2i(${a})`,
  'i32.from_f32_sat_u': (a) => `tb_f2u(${a})`,
  'f32.from_bits': (a) => `bitcast<f32>(${a})`,
  'i32.bits_of': (a) => `bitcast<i32>(${a})`,
};

const MATH: Readonly<Record<string, string>> = { exp: 'exp', exp2: 'exp2', log: 'log', log2: 'log2', rsqrt: 'inverseSqrt' };

const PRELUDE = `var<private> tb_nan_bits: u32 = 0x7fc00000u;
var<private> tb_pinf_bits: u32 = 0x7f800000u;
var<private> tb_ninf_bits: u32 = 0xff800000u;

fn tb_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// min and max that propagate NaN and order -0 below +0, as the VM does.
fn tb_fmax(a: f32, b: f32) -> f32 {
  if (tb_isnan(a) || tb_isnan(b)) { return bitcast<f32>(tb_nan_bits); }
  if (a == b) { return bitcast<f32>(bitcast<u32>(a) & bitcast<u32>(b)); }
  return select(b, a, a > b);
}
fn tb_fmin(a: f32, b: f32) -> f32 {
  if (tb_isnan(a) || tb_isnan(b)) { return bitcast<f32>(tb_nan_bits); }
  if (a == b) { return bitcast<f32>(bitcast<u32>(a) | bitcast<u32>(b)); }
  return select(b, a, a < b);
}
// Truncation toward zero, saturating, NaN to 0.
fn tb_f2i(x: f32) -> i32 {
  if (tb_isnan(x)) { return 0i; }
  if (x >= 2147483648.0f) { return 2147483647i; }
  if (x <= -2147483648.0f) { return -2147483647i - 1i; }
  return i32(x);
}
fn tb_f2u(x: f32) -> i32 {
  if (tb_isnan(x) || x <= 0.0f) { return 0i; }
  if (x >= 4294967296.0f) { return -1i; }
  return bitcast<i32>(u32(x));
}
fn tb_fmod(a: f32, b: f32) -> f32 { return a - b * trunc(a / b); }
`;

/** Memories that need atomic words: targets of atomics and of stores narrower than a word. */
function atomicMemories(m: LModule): Set<string> {
  const out = new Set<string>();
  for (const f of m.functions) {
    forEachStmt(f.body, (s) => {
      if ((s.k === 'atomic' || (s.k === 'store' && s.bits < 32)) && s.mem) out.add(s.mem);
    });
  }
  return out;
}

/**
 * Read-only, non-atomic global memories that runs of four words are loaded from (loadwords, copywords):
 * declared array<vec4<u32>>.
 */
function vectorMemories(m: LModule, lowered: GpuLowering, atomics: ReadonlySet<string>): Set<string> {
  const readOnly = new Set(lowered.buffers.filter((b) => !b.written && !atomics.has(b.mem)).map((b) => b.mem));
  const out = new Set<string>();
  for (const f of m.functions) {
    forEachStmt(f.body, (s) => {
      if (s.k === 'loadwords' && s.names.length === 4 && readOnly.has(s.mem)) out.add(s.mem);
      if (s.k === 'copywords' && s.words === 4 && readOnly.has(s.mem)) out.add(s.mem);
    });
  }
  return out;
}

/** Word `index` (a u32 expression) of a memory: a component of a vector in vec4 memories. */
function wordAt(mem: string, index: string, vectors: ReadonlySet<string>): string {
  return vectors.has(mem) ? `${ident(mem)}[(${index}) >> 2u][(${index}) & 3u]` : `${ident(mem)}[${index}]`;
}

class Printer {
  /** Memories whose words are atomic<u32>; memories of vec4<u32> (vectorMemories). */
  constructor(readonly atomics: ReadonlySet<string>, readonly types: ReadonlyMap<string, LType>, readonly vectors: ReadonlySet<string> = new Set()) {}

  word(mem: string, byteAddr: string): string {
    const w = wordAt(mem, `${U(byteAddr)} >> 2u`, this.vectors);
    return this.atomics.has(mem) ? `atomicLoad(&${w})` : w;
  }

  /** Four words at a 16-byte-aligned byte address of `mem`: one vector access in vec4 memories. */
  words4(mem: string, byteAddr: string, indent: string, out: string[]): string[] {
    if (!this.vectors.has(mem)) return [0, 1, 2, 3].map((i) => this.word(mem, i ? `(${byteAddr} + ${4 * i}i)` : byteAddr));
    const v = `v4_${out.length}`;
    out.push(`${indent}let ${v} = ${ident(mem)}[${U(byteAddr)} >> 4u];`);
    return ['x', 'y', 'z', 'w'].map((c) => `${v}.${c}`);
  }

  /** The statement that stores u32 `value` at byte address `byteAddr` of `mem`. */
  wordStore(mem: string, byteAddr: string, value: string): string {
    const w = `${ident(mem)}[${U(byteAddr)} >> 2u]`;
    return this.atomics.has(mem) ? `atomicStore(&${w}, ${value});` : `${w} = ${value};`;
  }

  expr(e: Expr): string {
    switch (e.k) {
      case 'const':
        return e.type === 'f32' ? f32Literal(e.value) : i32Literal(e.value);
      case 'vconst':
        throw new WgslEmitError('v128 constants have no WGSL lowering');
      case 'get':
        return e.name;
      case 'load': {
        const addr = e.offset ? `(${this.expr(e.addr)} + ${e.offset}i)` : this.expr(e.addr);
        if (e.type === 'v128') throw new WgslEmitError('v128 loads have no WGSL lowering');
        const w = e.mem === undefined ? `tb_data[${U(addr)} >> 2u]` : this.word(e.mem, addr);
        if (e.bits === 32) return e.type === 'f32' ? `bitcast<f32>(${w})` : I(w);
        const sh = `((${U(addr)} & 3u) * 8u)`;
        return e.signed ? `extractBits(${I(w)}, ${sh}, ${e.bits}u)` : I(`extractBits(${w}, ${sh}, ${e.bits}u)`);
      }
      case 'bits': {
        if (e.mem === undefined) throw new WgslEmitError('a bit field of constant data');
        return `tb_bits_${ident(e.mem)}(${this.expr(e.base)}, ${this.expr(e.index)}, ${e.width}u)`;
      }
      case 'op': {
        const args = e.args.map((a) => this.expr(a));
        const b = BINARY[e.op];
        if (b && args.length === 2) return b(args[0]!, args[1]!);
        const u = UNARY[e.op];
        if (u && args.length === 1) return u(args[0]!);
        throw new WgslEmitError(`operation ${e.op} has no WGSL lowering`);
      }
      case 'select':
        return `select(${this.expr(e.b)}, ${this.expr(e.a)}, ${this.cond(e.cond)})`;
      case 'math':
        if (e.fn === 'fmod') return `tb_fmod(${this.expr(e.args[0]!)}, ${this.expr(e.args[1]!)})`;
        if (e.fn === 'fma') return `fma(${e.args.map((a) => this.expr(a)).join(', ')})`;
        return `${MATH[e.fn]}(${this.expr(e.args[0]!)})`;
      case 'call':
        return `fn_${e.fn}(${e.args.map((a) => this.expr(a)).join(', ')})`;
      case 'intrinsic':
        if (e.name === 'gpu.shuffle_xor') return `subgroupShuffleXor(${this.expr(e.args[0]!)}, bitcast<u32>(${this.expr(e.args[1]!)}))`;
        if (e.name === 'gpu.fma') return `fma(${e.args.map((a) => this.expr(a)).join(', ')})`;
        if (e.name === 'gpu.f16_lo') return `unpack2x16float(bitcast<u32>(${this.expr(e.args[0]!)})).x`;
        if (e.name === 'gpu.f16_hi') return `unpack2x16float(bitcast<u32>(${this.expr(e.args[0]!)})).y`;
        if (e.name === 'gpu.f16x2_sub' || e.name === 'gpu.f16x2_mul') {
          // Without shader-f16: through f32, exact where the result is an f16, as in the MMA path's uses
          // (integer codes minus 1024 + S; minifloat fields times 2^(15 - bias)).
          const [a, b] = e.args.map((x) => `unpack2x16float(bitcast<u32>(${this.expr(x)}))`);
          return `bitcast<i32>(pack2x16float(${a} ${e.name === 'gpu.f16x2_sub' ? '-' : '*'} ${b}))`;
        }
        if (e.name === 'gpu.bf16x2_sub') {
          // Through f32, exact where the results are bf16 values (the MMA path's integer codes minus
          // 128 + S): a bf16 is the top half of an f32.
          const [a, b] = e.args.map((x) => `bitcast<u32>(${this.expr(x)})`);
          const half = (w: string, hi: boolean): string => `bitcast<f32>(${hi ? `${w} & 0xffff0000u` : `(${w} & 0xffffu) << 16u`})`;
          return `bitcast<i32>((bitcast<u32>(${half(a!, false)} - ${half(b!, false)}) >> 16u) | (bitcast<u32>(${half(a!, true)} - ${half(b!, true)}) & 0xffff0000u))`;
        }
        if (e.name === 'gpu.pack_f16x2') return `bitcast<i32>(pack2x16float(vec2<f32>(${this.expr(e.args[0]!)}, ${this.expr(e.args[1]!)})))`;
        if (e.name === 'gpu.dot4_i8') return `dot4I8Packed(bitcast<u32>(${this.expr(e.args[0]!)}), bitcast<u32>(${this.expr(e.args[1]!)}))`;
        if (e.name === 'gpu.dot4_u8') return `bitcast<i32>(dot4U8Packed(bitcast<u32>(${this.expr(e.args[0]!)}), bitcast<u32>(${this.expr(e.args[1]!)})))`;
        throw new WgslEmitError(`intrinsic ${e.name} has no WGSL lowering`);
      case 'aget':
        return `${e.array}[${this.expr(e.index)}]`;
    }
  }

  /** An i32 condition as a bool: comparisons print directly. */
  cond(e: Expr): string {
    const s = this.expr(e);
    const m = /^select\(0i, 1i, (.*)\)$/s.exec(s);
    if (m && balanced(m[1]!)) return `(${m[1]})`;
    return `(${s} != 0i)`;
  }

  stmts(body: readonly Stmt[], indent: string, out: string[]): void {
    for (const s of body) this.stmt(s, indent, out);
  }

  stmt(s: Stmt, indent: string, out: string[]): void {
    switch (s.k) {
      case 'set':
        out.push(`${indent}${s.name} = ${this.expr(s.value)};`);
        return;
      case 'loadwords': {
        const a = this.expr(s.addr);
        const words = s.names.length === 4 ? this.words4(s.mem, a, indent, out) : s.names.map((_, i) => this.word(s.mem, i ? `(${a} + ${4 * i}i)` : a));
        s.names.forEach((x, i) => out.push(`${indent}${x} = ${I(words[i]!)};`));
        return;
      }
      case 'storewords': {
        const a = this.expr(s.addr);
        s.values.forEach((v, i) => out.push(indent + this.wordStore(s.mem, i ? `(${a} + ${4 * i}i)` : a, U(this.expr(v)))));
        return;
      }
      case 'copywords': {
        // WGSL has no asynchronous copies: the words move now (the asyncwait before the barrier is a no-op).
        const [from, to] = [this.expr(s.addr), this.expr(s.sharedAddr)];
        const at = (base: string, i: number): string => (i ? `(${base} + ${4 * i}i)` : base);
        const words = s.words === 4 ? this.words4(s.mem, from, indent, out) : Array.from({ length: s.words }, (_, i) => this.word(s.mem, at(from, i)));
        for (let i = 0; i < s.words; i++) out.push(indent + this.wordStore('shared', at(to, i), words[i]!));
        return;
      }
      case 'asynccommit':
      case 'asyncwait':
        return;
      case 'ldmatrix':
      case 'mma':
        // WGSL has no warp-wide MMA: the lowering expands it for targets without one (GpuFeatures.mma).
        throw new WgslEmitError(`${s.k} has no WGSL lowering (lower with mma: "emulate")`);
      case 'aset':
        out.push(`${indent}${s.array}[${this.expr(s.index)}] = ${this.expr(s.value)};`);
        return;
      case 'store': {
        if (s.mem === undefined) throw new WgslEmitError('a store to constant data');
        const addr = s.offset ? `(${this.expr(s.addr)} + ${s.offset}i)` : this.expr(s.addr);
        const value = typeOf(s.value, this.types) === 'f32' ? `bitcast<u32>(${this.expr(s.value)})` : U(this.expr(s.value));
        if (s.bits === 32) {
          out.push(indent + this.wordStore(s.mem, addr, value));
          return;
        }
        if (s.bits === 128) throw new WgslEmitError('128-bit stores have no WGSL lowering yet');
        // A narrow store: clear, then set, its bits of the word.
        const mask = s.bits === 16 ? '0xffffu' : '0xffu';
        const sh = `((${U(addr)} & 3u) * 8u)`;
        out.push(`${indent}{`, `${indent}  let a = ${U(addr)} >> 2u;`, `${indent}  let sh = ${sh};`);
        out.push(`${indent}  atomicAnd(&${ident(s.mem)}[a], ~(${mask} << sh));`, `${indent}  atomicOr(&${ident(s.mem)}[a], (${value} & ${mask}) << sh);`, `${indent}}`);
        return;
      }
      case 'atomic': {
        if (s.mem === undefined) throw new WgslEmitError('an atomic on constant data');
        const word = `&${ident(s.mem)}[${U(this.expr(s.addr))} >> 2u]`;
        if (s.op !== 'fadd') {
          out.push(`${indent}${{ and: 'atomicAnd', or: 'atomicOr', add: 'atomicAdd' }[s.op]}(${word}, ${U(this.expr(s.value))});`);
          return;
        }
        // WGSL has no float atomics: add to the word's f32 and compare-and-swap until no other
        // invocation wrote it in between (bits are compared, so NaNs end the loop too).
        out.push(
          `${indent}{`,
          `${indent}  let p = ${word};`,
          `${indent}  let v = ${this.expr(s.value)};`,
          `${indent}  var seen = atomicLoad(p);`,
          `${indent}  loop {`,
          `${indent}    let r = atomicCompareExchangeWeak(p, seen, bitcast<u32>(bitcast<f32>(seen) + v));`,
          `${indent}    if (r.exchanged) { break; }`,
          `${indent}    seen = r.old_value;`,
          `${indent}  }`,
          `${indent}}`,
        );
        return;
      }
      case 'for':
        out.push(`${indent}for (${s.var} = ${this.expr(s.start)}; ${s.var} < ${this.expr(s.end)}; ${s.var} = ${s.var} + ${this.expr(s.step)}) {`);
        this.stmts(s.body, indent + '  ', out);
        out.push(`${indent}}`);
        return;
      case 'if':
        out.push(`${indent}if ${this.cond(s.cond)} {`);
        this.stmts(s.then, indent + '  ', out);
        if (s.else.length) {
          out.push(`${indent}} else {`);
          this.stmts(s.else, indent + '  ', out);
        }
        out.push(`${indent}}`);
        return;
      case 'barrier':
        out.push(`${indent}workgroupBarrier();`);
        return;
      case 'trap':
        out.push(`${indent}atomicMax(&tb_err[0], ${s.code}u);`, `${indent}return;`);
        return;
      case 'return':
        out.push(`${indent}return ${this.expr(s.value)};`);
        return;
    }
  }
}

/** Whether parentheses in s balance (so that it is one operand). */
function balanced(s: string): boolean {
  let depth = 0;
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

/**
 * The bit-field reader of one memory (WGSL functions cannot take pointers to any address space). The
 * byte address is split into its word and the bits below it, so that no offset in bits is formed past
 * the lowering's small index * width (global fields are indexed within blocks of a few bytes,
 * passes/lower/memory.ts fieldBlock): tensors of up to 4 GiB.
 */
function bitsHelper(mem: string, atomic: boolean, vectors: ReadonlySet<string>): string {
  const id = ident(mem);
  const word = (i: string): string => (atomic ? `atomicLoad(&${id}[${i}])` : wordAt(mem, i, vectors));
  return `fn tb_bits_${id}(base: i32, index: i32, width: u32) -> i32 {
  let pos = (bitcast<u32>(base) & 3u) * 8u + bitcast<u32>(index) * width;
  let w = (bitcast<u32>(base) >> 2u) + (pos >> 5u);
  let sh = pos & 31u;
  var v = ${word('w')} >> sh;
  if (sh + width > 32u) { v = v | (${word('w + 1u')} << (32u - sh)); }
  return bitcast<i32>(v & ((1u << width) - 1u));
}`;
}

/** Memories that bit fields read. */
function bitFieldMemories(m: LModule): Set<string> {
  const out = new Set<string>();
  for (const f of m.functions) forEachExpr(f.body, (e) => e.k === 'bits' && e.mem && out.add(e.mem));
  return out;
}

function helperFunction(f: LFunction, atomics: ReadonlySet<string>, vectors: ReadonlySet<string>): string {
  const types = new Map<string, LType>([...f.params, ...f.locals].map((l) => [l.name, l.type]));
  const pr = new Printer(atomics, types, vectors);
  const out: string[] = [];
  // Parameters are immutable in WGSL: copy them into vars.
  out.push(`fn fn_${f.name}(${f.params.map((p) => `p_${p.name}: ${wtype(p.type)}`).join(', ')})${f.result ? ` -> ${wtype(f.result)}` : ''} {`);
  for (const p of f.params) out.push(`  var ${p.name}: ${wtype(p.type)} = p_${p.name};`);
  for (const l of f.locals) out.push(`  var ${l.name}: ${wtype(l.type)};`);
  pr.stmts(f.body, '  ', out);
  out.push('}');
  return out.join('\n');
}

/** The WGSL of one lowered kernel, with its bindings. */
export interface WgslOptions {
  /**
   * Unroll the loops the lowering marks (a thread's loops over its locals) up to this many iterations,
   * so that register arrays are indexed by constants; WGSL has no unroll attribute. Off by default:
   * SwiftShader compiles flash attention at 32-wide tiles in 3.0 s instead of 9.8 s this way, but crashes
   * outright on some unrolled kernels on this project's machines (8-bit dots with ten locals per
   * thread); on real GPUs it is still to be measured.
   */
  readonly unroll?: number;
}

export function emitWgsl(lowered: GpuLowering, options: WgslOptions = {}): WgslKernel {
  const m = options.unroll ? unrollLoops(lowered.module, options.unroll) : lowered.module;
  const atomics = atomicMemories(m);
  const vectors = vectorMemories(m, lowered, atomics);
  const bindings: WgslBinding[] = [];
  const out: string[] = [`// Generated by tilebit: kernel ${lowered.kernel.name}, ${lowered.threads} invocations per workgroup.`, ''];
  if (lowered.features.subgroups) {
    // Exchanges happen where every invocation of the workgroup runs (the lowering places them so), which
    // the uniformity analysis cannot see through the per-thread register arrays.
    out.push('enable subgroups;', 'diagnostic(off, subgroup_uniformity);', '');
  }
  for (const b of lowered.buffers) {
    const binding = bindings.length;
    const readOnly = !b.written && !atomics.has(b.mem);
    bindings.push({ binding, name: b.tensor, kind: 'tensor', readOnly });
    const elem = atomics.has(b.mem) ? 'atomic<u32>' : vectors.has(b.mem) ? 'vec4<u32>' : 'u32';
    out.push(`@group(0) @binding(${binding}) var<storage, ${readOnly ? 'read' : 'read_write'}> ${ident(b.mem)}: array<${elem}>;`);
  }
  bindings.push({ binding: bindings.length, name: 'tb_data', kind: 'data', readOnly: true });
  out.push(`@group(0) @binding(${bindings.length - 1}) var<storage, read> tb_data: array<u32>;`);
  bindings.push({ binding: bindings.length, name: 'tb_args', kind: 'args', readOnly: true });
  out.push(`@group(0) @binding(${bindings.length - 1}) var<storage, read> tb_args: array<u32>;`);
  bindings.push({ binding: bindings.length, name: 'tb_err', kind: 'error', readOnly: false });
  out.push(`@group(0) @binding(${bindings.length - 1}) var<storage, read_write> tb_err: array<atomic<u32>>;`);
  if (lowered.sharedBytes > 0) {
    out.push(`var<workgroup> smem: array<${atomics.has('shared') ? 'atomic<u32>' : 'u32'}, ${Math.ceil(lowered.sharedBytes / 4)}>;`);
  }
  out.push('', PRELUDE);
  for (const mem of bitFieldMemories(m)) out.push(bitsHelper(mem, atomics.has(mem), vectors), '');
  const block = m.functions.find((f) => f.name === 'block')!;
  for (const f of m.functions) if (f !== block) out.push(helperFunction(f, atomics, vectors), '');
  const types = new Map<string, LType>([...block.params, ...block.locals, ...(block.arrays ?? [])].map((l) => [l.name, l.type]));
  const pr = new Printer(atomics, types, vectors);
  out.push(`@compute @workgroup_size(${lowered.threads})`);
  out.push('fn main(@builtin(workgroup_id) tb_wg: vec3<u32>, @builtin(local_invocation_index) tb_lid: u32) {');
  out.push('  let bx = bitcast<i32>(tb_wg.x + tb_args[0]);', '  let by = bitcast<i32>(tb_wg.y + tb_args[1]);', '  let bz = bitcast<i32>(tb_wg.z + tb_args[2]);', '  let tid = bitcast<i32>(tb_lid);');
  lowered.args.forEach((a, i) => out.push(`  let ${a.name} = bitcast<${wtype(a.type)}>(tb_args[${3 + i}]);`));
  for (const l of block.locals) out.push(`  var ${l.name}: ${wtype(l.type)};`);
  for (const a of block.arrays ?? []) out.push(`  var ${a.name}: array<${wtype(a.type)}, ${a.length}>;`);
  pr.stmts(block.body, '  ', out);
  out.push('}', '');
  return { code: out.join('\n'), bindings, threads: lowered.threads, sharedBytes: lowered.sharedBytes };
}
