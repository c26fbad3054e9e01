// Vectorization for CPUs: an innermost counted loop whose body only stores 32-bit elements at
// consecutive addresses becomes a loop over four elements at a time on v128 values, followed by a
// scalar loop for the remainder. Loads at consecutive addresses become vector loads; loop-invariant
// values are splatted; f32 and i32 arithmetic becomes lane-wise arithmetic, and the f16/bf16 helpers
// their four-lane forms. Anything else (gathers, other calls, sub-word stores) leaves the loop as it is.
//
// Stores and loads of one loop never overlap at different offsets: the CPU lowering writes each
// tile into a fresh slot, and reads a slot it writes only at the same element (as a dot's accumulator).

import { type DataSegment, type Expr, type LFunction, type LModule, type Stmt, add, i32, loadV128 } from '../ir/loop_ir.ts';
import { FLOAT_HELPERS_X4 } from './lower/float_bits.ts';
import { fieldBitInByte, fieldByte } from './lower/memory.ts';

const LANES = 4;

/** The coefficient of `v` in an i32 expression affine in it, or null when it is not affine. */
export function coefficient(e: Expr, v: string): number | null {
  switch (e.k) {
    case 'const':
      return 0;
    case 'get':
      return e.name === v ? 1 : 0;
    case 'op': {
      const [a, b] = e.args;
      if (e.op === 'i32.add' || e.op === 'i32.sub') {
        const [x, y] = [coefficient(a!, v), coefficient(b!, v)];
        return x === null || y === null ? null : e.op === 'i32.add' ? x + y : x - y;
      }
      if (e.op === 'i32.mul') {
        const [x, y] = [coefficient(a!, v), coefficient(b!, v)];
        if (x === null || y === null) return null;
        if (x === 0 && y === 0) return 0;
        if (b!.k === 'const') return x * b!.value;
        if (a!.k === 'const') return y * a!.value;
        return null;
      }
      if (e.op === 'i32.shl' && b!.k === 'const') {
        const x = coefficient(a!, v);
        return x === null ? null : x * 2 ** b!.value;
      }
      return mentions(e, v) ? null : 0;
    }
    default:
      return mentions(e, v) ? null : 0;
  }
}

/**
 * Whether an i32 expression is affine in local `v` with coefficients that may be other locals:
 * sums, and products where one side does not read `v`.
 */
export function affineIn(e: Expr, v: string): boolean {
  if (!mentions(e, v)) return true;
  if (e.k === 'get') return true;
  if (e.k !== 'op') return false;
  const [a, b] = e.args;
  if (e.op === 'i32.add' || e.op === 'i32.sub') return affineIn(a!, v) && affineIn(b!, v);
  if (e.op === 'i32.mul') return (!mentions(a!, v) && affineIn(b!, v)) || (!mentions(b!, v) && affineIn(a!, v));
  if (e.op === 'i32.shl') return !mentions(b!, v) && affineIn(a!, v);
  return false;
}

/** Whether an expression reads local `v`. */
export const mentionsLocal = (e: Expr, v: string): boolean => mentions(e, v);

function mentions(e: Expr, v: string): boolean {
  switch (e.k) {
    case 'const':
    case 'vconst':
      return false;
    case 'get':
      return e.name === v;
    case 'load':
      return mentions(e.addr, v);
    case 'bits':
      return mentions(e.base, v) || mentions(e.index, v);
    case 'aget':
      return mentions(e.index, v);
    case 'op':
    case 'math':
    case 'call':
    case 'intrinsic':
      return e.args.some((a) => mentions(a, v));
    case 'select':
      return [e.cond, e.a, e.b].some((a) => mentions(a, v));
  }
}

const VECTOR_OPS: Readonly<Record<string, string>> = {
  'f32.add': 'f32x4.add', 'f32.sub': 'f32x4.sub', 'f32.mul': 'f32x4.mul', 'f32.div': 'f32x4.div',
  'i32.add': 'i32x4.add', 'i32.sub': 'i32x4.sub', 'i32.mul': 'i32x4.mul', 'i32.and': 'i32x4.and', 'i32.or': 'i32x4.or', 'i32.xor': 'i32x4.xor',
  'f32.from_i32_s': 'f32x4.from_i32x4_s',
};

/** Shifts of every lane by one (loop-invariant) amount. */
const SHIFTS: Readonly<Record<string, string>> = { 'i32.shl': 'i32x4.shl', 'i32.shr_s': 'i32x4.shr_s', 'i32.shr_u': 'i32x4.shr_u' };

type Lanes = 'f32' | 'i32';
/** An expression over four consecutive iterations: a vector, or a value the same for all four. */
type Vec = { readonly vector: Expr; readonly lanes: Lanes } | { readonly invariant: Expr; readonly lanes: Lanes };

function lanesOf(op: string): Lanes {
  return op.startsWith('f32') ? 'f32' : 'i32';
}

function splat(v: Vec): Expr {
  return 'vector' in v ? v.vector : { k: 'op', op: v.lanes === 'f32' ? 'f32x4.splat' : 'i32x4.splat', args: [v.invariant] };
}

/** Constant tables of the module, by address: small ones become swizzles. */
let tables: ReadonlyMap<number, Uint8Array> = new Map();

/** Computes a vector once into a v128 local, for a value several lanes' computations read. */
export type Hoist = (e: Expr) => Expr;
let hoist: Hoist = (e) => e;

/**
 * Supplies the four lanes of a sub-byte field load from somewhere cheaper than a window per four
 * lanes (a caller that has loaded a whole row of fields once), or null to use the general form.
 */
export type FieldSource = (e: Extract<Expr, { k: 'bits' | 'load' }>) => Expr | null;
let fieldSource: FieldSource = () => null;

/**
 * A 32-bit load from a constant table of at most 16 entries, indexed by four lanes of codes: each
 * byte of the entries is one 16-byte plane, and i8x16.swizzle picks every lane's byte from each plane.
 */
function tableLookup(e: Extract<Expr, { k: 'load' }>, v: string, types: ReadonlyMap<string, 'i32' | 'f32' | 'v128'>): Vec | null {
  if (e.bits !== 32 || e.addr.k !== 'op' || e.addr.op !== 'i32.add') return null;
  const [x, y] = e.addr.args;
  const [scaled, base] = y!.k === 'const' ? [x!, y] : x!.k === 'const' ? [y!, x] : [null, null];
  if (!scaled || !base || base.k !== 'const' || scaled.k !== 'op' || scaled.op !== 'i32.shl') return null;
  const [code, two] = scaled.args;
  if (two!.k !== 'const' || two!.value !== 2) return null;
  const table = tables.get(base.value + e.offset);
  if (!table || table.length > 64) return null;
  const lanes = vectorize(code!, v, types);
  if (!lanes || !('vector' in lanes)) return null;
  // Byte planes that are zero for every entry need no lookup (the f32 values of 4-bit minifloats, say,
  // have zero low halves); the others each take a swizzle indexed by the code in their byte of the lane.
  const planes = [0, 1, 2, 3].map((b) => Array.from({ length: 16 }, (_, i) => table[4 * i + b] ?? 0)).map((plane, b) => ({ plane, b })).filter((p) => p.plane.some((x) => x !== 0));
  if (planes.length === 0) return { vector: { k: 'vconst', bytes: new Array(16).fill(0) }, lanes: e.type === 'f32' ? 'f32' : 'i32' };
  // The code in the bytes of the planes looked up (codes are below 16); the other bytes are 0x80, which
  // swizzles to zero, so no mask is needed.
  const spread = planes.reduce((m, p) => m + 2 ** (8 * p.b), 0);
  const filler = [0, 1, 2, 3].filter((b) => !planes.some((p) => p.b === b)).reduce((m, b) => m + 0x80 * 2 ** (8 * b), 0);
  const codes = { k: 'op', op: 'i32x4.mul', args: [lanes.vector, { k: 'op', op: 'i32x4.splat', args: [i32(spread | 0)] }] } as const;
  const index = hoist(filler ? { k: 'op', op: 'i32x4.or', args: [codes, { k: 'op', op: 'i32x4.splat', args: [i32(filler | 0)] }] } : codes);
  let out: Expr | null = null;
  for (const { plane, b } of planes) {
    const picked: Expr = { k: 'op', op: 'i8x16.swizzle', args: [{ k: 'vconst', bytes: plane }, index] };
    // With one plane, the filler bytes already zero the rest; with several, each keeps only its byte.
    const part: Expr = planes.length === 1 ? picked : { k: 'op', op: 'i32x4.and', args: [picked, { k: 'vconst', bytes: Array.from({ length: 16 }, (_, i) => (i % 4 === b ? 0xff : 0)) }] };
    out = out ? { k: 'op', op: 'i32x4.or', args: [out, part] } : part;
  }
  return { vector: out!, lanes: e.type === 'f32' ? 'f32' : 'i32' };
}

/** The four-lane form of `e`, or null when some part has none. */
function vectorize(e: Expr, v: string, types: ReadonlyMap<string, 'i32' | 'f32' | 'v128'>): Vec | null {
  const lanes = (x: Expr): Lanes => (x.k === 'const' ? (x.type === 'f32' ? 'f32' : 'i32') : x.k === 'get' ? (types.get(x.name) === 'f32' ? 'f32' : 'i32') : 'i32');
  if (!mentions(e, v)) {
    if (e.k === 'load') return { invariant: e, lanes: e.type === 'f32' ? 'f32' : 'i32' };
    if (e.k === 'op') return { invariant: e, lanes: resultLanes(e) };
    if (e.k === 'math') return { invariant: e, lanes: 'f32' };
    if (e.k === 'call' || e.k === 'intrinsic') return e.type === 'v128' ? null : { invariant: e, lanes: e.type === 'f32' ? 'f32' : 'i32' };
    if (e.k === 'select') {
      const a = vectorize(e.a, v, types);
      return a && { invariant: e, lanes: a.lanes };
    }
    return { invariant: e, lanes: lanes(e) };
  }
  switch (e.k) {
    case 'get': // the loop variable itself: lanes v, v+1, v+2, v+3
      return { vector: { k: 'op', op: 'i32x4.add', args: [{ k: 'op', op: 'i32x4.splat', args: [e] }, { k: 'vconst', bytes: [0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0] }] }, lanes: 'i32' };
    case 'load': {
      const supplied = e.bits === 8 ? fieldSource(e) : null;
      if (supplied) return { vector: supplied, lanes: 'i32' };
      if (e.bits === 8 && !e.signed && coefficient(e.addr, v) === 1) {
        // Four consecutive bytes, widened to i32 lanes.
        const bytes: Expr = { k: 'load', type: 'v128', bits: 32, signed: false, addr: e.addr, offset: e.offset };
        return { vector: { k: 'op', op: 'i32x4.widen_low_u8', args: [bytes] }, lanes: 'i32' };
      }
      if (e.bits === 16 && !e.signed && coefficient(e.addr, v) === 2) {
        // Four consecutive 16-bit codes (f16, bf16, u16), widened to i32 lanes.
        const halves: Expr = { k: 'load', type: 'v128', bits: 64, signed: false, addr: e.addr, offset: e.offset };
        return { vector: { k: 'op', op: 'i32x4.widen_low_u16', args: [halves] }, lanes: 'i32' };
      }
      if (e.bits !== 32) return null;
      if (coefficient(e.addr, v) !== 4) return tableLookup(e, v, types);
      return { vector: loadV128(e.addr, e.offset), lanes: e.type === 'f32' ? 'f32' : 'i32' };
    }
    case 'bits': {
      const supplied = fieldSource(e);
      return supplied ? { vector: supplied, lanes: 'i32' } : consecutiveFields(e, v);
    }
    case 'call': {
      // The float helpers have four-lane forms; the argument, read several times there, is computed once.
      const x4 = FLOAT_HELPERS_X4[e.fn] as ((x: Expr) => Expr) | undefined;
      const x = x4 && e.args.length === 1 ? vectorize(e.args[0]!, v, types) : null;
      return x && { vector: x4!(hoist(splat(x))), lanes: e.type === 'f32' ? 'f32' : 'i32' };
    }
    case 'math': {
      if (e.fn !== 'exp' && e.fn !== 'exp2') return null;
      const x = vectorize(e.args[0]!, v, types);
      return x && { vector: { k: 'math', fn: e.fn, args: [splat(x)] }, lanes: 'f32' };
    }
    case 'op': {
      if (e.op === 'f32.from_bits' || e.op === 'i32.bits_of') {
        // Reinterpreting lanes moves no bits: the vector is the same, read as the other lane type.
        const x = vectorize(e.args[0]!, v, types);
        return x && { vector: splat(x), lanes: e.op === 'f32.from_bits' ? 'f32' : 'i32' };
      }
      const shift = SHIFTS[e.op];
      if (shift) {
        const [x, n] = [vectorize(e.args[0]!, v, types), e.args[1]!];
        if (!x || mentions(n, v)) return null;
        return { vector: { k: 'op', op: shift, args: [splat(x), n] }, lanes: 'i32' };
      }
      const vop = VECTOR_OPS[e.op];
      if (!vop) return null;
      const args = e.args.map((a) => vectorize(a, v, types));
      if (args.some((a) => a === null)) return null;
      return { vector: { k: 'op', op: vop, args: (args as Vec[]).map(splat) }, lanes: lanesOf(vop) };
    }
    default:
      return null;
  }
}

/**
 * Four consecutive bit fields as i32 lanes. One 32-bit window, shifted to the first field, holds all
 * four when 7 + 4 * width <= 32 (or the fields are whole bytes); multiplying lane l by 2^(32-(l+1)w)
 * moves field l to the top, and a logical shift brings it down: a per-lane shift without one.
 */
function consecutiveFields(e: Extract<Expr, { k: 'bits' }>, v: string): Vec | null {
  const w = e.width;
  if (coefficient(e.index, v) !== 1 || mentions(e.base, v) || (w !== 8 && 7 + 4 * w > 32)) return null;
  // The first field's byte and bit from its index (its bit offset would wrap past 512 MiB).
  const at: Expr = { k: 'op', op: 'i32.add', args: [e.base, fieldByte(e.index, w)] };
  const window: Expr = { k: 'op', op: 'i32.shr_u', args: [{ k: 'load', type: 'i32', bits: 32, signed: false, addr: at, offset: 0 }, fieldBitInByte(e.index, w)] };
  const bytes = [0, 1, 2, 3].flatMap((l) => {
    const m = 2 ** (32 - (l + 1) * w) >>> 0;
    return [m & 0xff, (m >>> 8) & 0xff, (m >>> 16) & 0xff, (m >>> 24) & 0xff];
  });
  const spread: Expr = { k: 'op', op: 'i32x4.mul', args: [{ k: 'op', op: 'i32x4.splat', args: [window] }, { k: 'vconst', bytes }] };
  return { vector: { k: 'op', op: 'i32x4.shr_u', args: [spread, i32(32 - w)] }, lanes: 'i32' };
}

function resultLanes(e: Extract<Expr, { k: 'op' }>): Lanes {
  return e.op.startsWith('f32.') && !['f32.eq', 'f32.ne', 'f32.lt', 'f32.le', 'f32.gt', 'f32.ge'].includes(e.op) ? 'f32' : 'i32';
}

/**
 * The v128 value of `e` over four consecutive values of the i32 local `lane` (starting at its current
 * value), or null when `e` has no four-lane form.
 */
export function vectorizeExpr(e: Expr, lane: string, types: ReadonlyMap<string, 'i32' | 'f32' | 'v128'>, hoisting: Hoist, fields: FieldSource = () => null): Expr | null {
  const [savedHoist, savedFields] = [hoist, fieldSource];
  [hoist, fieldSource] = [hoisting, fields];
  try {
    const v = vectorize(e, lane, types);
    return v && splat(v);
  } finally {
    [hoist, fieldSource] = [savedHoist, savedFields];
  }
}

/** Lane l of four consecutive `width`-bit fields from `first` in a 16-byte row: its first byte and bit offset. */
function fieldPlaces(first: number, width: number): { byte: number; shift: number }[] {
  return [0, 1, 2, 3].map((l) => ({ byte: ((first + l) * width) >> 3, shift: ((first + l) * width) & 7 }));
}

/** Swizzle indices that put each lane's two bytes (the field's first and the next) in its low half. */
const fieldBytes = (places: readonly { byte: number }[]): number[] => places.flatMap(({ byte }) => [byte, byte + 1 < 16 ? byte + 1 : 0x80, 0x80, 0x80]);

const u32Bytes = (m: number): number[] => [m & 0xff, (m >>> 8) & 0xff, (m >>> 16) & 0xff, (m >>> 24) & 0xff];

/**
 * Fields `first .. first + 3` of a row of `width`-bit fields packed from bit 0 of the v128 `row`, as
 * i32 lanes (fields must end within the row's 16 bytes). Each lane swizzles in the two bytes its field
 * touches; multiplying by 2^(32 - shift - width) moves the field to the top, and a logical shift brings
 * it down (a per-lane shift without one).
 */
export function rowFields(row: Expr, first: number, width: number): Expr {
  if (width === 8) {
    // Whole bytes: the swizzle alone zero-extends them.
    const bytes = [0, 1, 2, 3].flatMap((l) => [first + l, 0x80, 0x80, 0x80]);
    return { k: 'op', op: 'i8x16.swizzle', args: [row, { k: 'vconst', bytes }] };
  }
  const places = fieldPlaces(first, width);
  const picked: Expr = { k: 'op', op: 'i8x16.swizzle', args: [row, { k: 'vconst', bytes: fieldBytes(places) }] };
  const scale = places.flatMap(({ shift }) => u32Bytes(2 ** (32 - shift - width) >>> 0));
  return { k: 'op', op: 'i32x4.shr_u', args: [{ k: 'op', op: 'i32x4.mul', args: [picked, { k: 'vconst', bytes: scale }] }, i32(32 - width)] };
}

/**
 * The same four fields left at their bit offsets: lane l holds field * 2^shift(l), masked, where
 * shift(l) is the field's offset in its first byte (rowFieldShifts). One swizzle and one mask.
 */
export function rowFieldsInPlace(row: Expr, first: number, width: number): Expr {
  const places = fieldPlaces(first, width);
  const picked: Expr = { k: 'op', op: 'i8x16.swizzle', args: [row, { k: 'vconst', bytes: fieldBytes(places) }] };
  const mask = places.flatMap(({ shift }) => u32Bytes(((1 << width) - 1) << shift));
  return { k: 'op', op: 'i32x4.and', args: [picked, { k: 'vconst', bytes: mask }] };
}

/** The bit offsets rowFieldsInPlace leaves fields `first .. first + 3` at. */
export const rowFieldShifts = (first: number, width: number): number[] => fieldPlaces(first, width).map((p) => p.shift);

function vectorLoop(s: Extract<Stmt, { k: 'for' }>, types: Map<string, 'i32' | 'f32' | 'v128'>): Stmt[] | null {
  if (s.start.k !== 'const' || s.end.k !== 'const' || s.step.k !== 'const' || s.step.value !== 1) return null;
  const trip = s.end.value - s.start.value;
  if (trip < LANES) return null;
  const body: Stmt[] = [];
  const saved = hoist;
  hoist = (e) => {
    const name = `vt${types.size}`;
    types.set(name, 'v128');
    body.push({ k: 'set', name, value: e });
    return { k: 'get', name };
  };
  try {
    for (const st of s.body) {
      if (st.k !== 'store' || st.bits !== 32 || coefficient(st.addr, s.var) !== 4) return null;
      const value = vectorize(st.value, s.var, types);
      if (!value) return null;
      body.push({ k: 'store', bits: 128, addr: st.addr, offset: st.offset, value: splat(value) });
    }
  } finally {
    hoist = saved;
  }
  const split = s.start.value + trip - (trip % LANES);
  const vector: Stmt = { ...s, end: i32(split), step: i32(LANES), body };
  return split === s.end.value ? [vector] : [vector, { ...s, start: add(i32(split), i32(0)) }];
}

function visit(body: readonly Stmt[], types: Map<string, 'i32' | 'f32' | 'v128'>): Stmt[] {
  return body.flatMap((s): Stmt[] => {
    if (s.k === 'for') {
      const innermost = s.body.every((b) => b.k !== 'for' && b.k !== 'if');
      if (innermost) return vectorLoop(s, types) ?? [s];
      return [{ ...s, body: visit(s.body, types) }];
    }
    if (s.k === 'if') return [{ ...s, then: visit(s.then, types), else: visit(s.else, types) }];
    return [s];
  });
}

function vectorizeFunction(f: LFunction): LFunction {
  const types = new Map([...f.params, ...f.locals].map((l) => [l.name, l.type]));
  const known = new Set(types.keys());
  const body = visit(f.body, types);
  const added = [...types].filter(([n]) => !known.has(n)).map(([name, type]) => ({ name, type }));
  return { ...f, locals: [...f.locals, ...added], body };
}

/** Vectorizes the innermost contiguous loops of every function. */
export function vectorizeLoops(m: LModule): LModule {
  tables = tablesOf(m.data);
  return { ...m, functions: m.functions.map(vectorizeFunction) };
}

/** Tells vectorizeExpr which constant tables a module will have. */
export function useTables(data: readonly DataSegment[]): void {
  tables = tablesOf(data);
}

const tablesOf = (data: readonly DataSegment[]): Map<number, Uint8Array> => new Map(data.map((d) => [d.offset, d.bytes]));
