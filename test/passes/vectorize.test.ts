// Vectorization of table lookups, run as wasm: a loop that reads a 16-entry table of 32-bit words at
// each element's code becomes swizzles of the table's byte planes. Tables whose planes are partly zero
// take fewer lookups; entries of any value (entry 0 included) must come out whole.

import { describe, expect, it } from 'vitest';
import { emitWasm } from '../../backends/wasm/emit.ts';
import { MATH_IMPORTS } from '../../backends/wasm/runtime.ts';
import { type Expr, type LFunction, type LModule, type Stmt, add, forLoop, get, i32, loadI32, mul, op, store32 } from '../../ir/loop_ir.ts';
import { f16Value, roundBF16, roundF16 } from '../../passes/lower/float_bits.ts';
import { decode } from '../../ir/codec.ts';
import { dtype } from '../../ir/dtype.ts';
import { rng } from '../../src/testing/random.ts';
import { vectorizeLoops } from '../../passes/vectorize_loops.ts';

const TABLE = 64;
const CODES = 1024; // 64 one-byte codes
const OUT = 2048;

/** A block that writes out[i] = table[codes[i]] for 64 elements. */
function lookupModule(table: readonly number[]): LModule {
  const bytes = new Uint8Array(64);
  table.forEach((v, i) => new DataView(bytes.buffer).setUint32(4 * i, v >>> 0, true));
  const code = { k: 'load', type: 'i32', bits: 8, signed: false, addr: add(i32(CODES), get('i')), offset: 0 } as const;
  const body: Stmt[] = [forLoop('i', i32(0), i32(64), [store32(add(i32(OUT), mul(get('i'), i32(4))), loadI32(add(op('i32.shl', code, i32(2)), i32(TABLE))))])];
  return {
    functions: [{ name: 'block', result: 'i32', params: ['bx', 'by', 'bz', 'args', 'scratch'].map((name) => ({ name, type: 'i32' as const })), locals: [{ name: 'i', type: 'i32' }], body: [...body, { k: 'return', value: i32(0) }] }],
    traps: [], data: [{ offset: TABLE, bytes }], dataBytes: TABLE + 64, scratchBytes: 0,
  };
}

function run(m: LModule, codes: readonly number[]): number[] {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(emitWasm(m).bytes as BufferSource), { env: { memory, ...MATH_IMPORTS } });
  new Uint8Array(memory.buffer).set(codes, CODES);
  (instance.exports.block as (...a: number[]) => number)(0, 0, 0, 0, 0);
  return Array.from(new Int32Array(memory.buffer, OUT, 64));
}

describe('table lookups on four lanes', () => {
  const codes = Array.from({ length: 64 }, (_, i) => (i * 7 + 3) % 16);
  it.each([
    ['four planes', Array.from({ length: 16 }, (_, i) => (0x01020304 * (i + 1)) | 0)],
    ['one plane, entry 0 nonzero', Array.from({ length: 16 }, (_, i) => (i + 1) << 24)],
    ['two planes, entry 0 nonzero', Array.from({ length: 16 }, (_, i) => ((i + 3) << 16) | ((15 - i) << 8))],
    ['all zero', new Array(16).fill(0)],
  ])('%s', (_, table) => {
    const m = vectorizeLoops(lookupModule(table));
    const swizzles = JSON.stringify(m).split('i8x16.swizzle').length - 1;
    expect(swizzles).toBe(new Set([0, 1, 2, 3].filter((b) => table.some((v) => ((v >>> (8 * b)) & 0xff) !== 0))).size);
    expect(run(m, codes)).toEqual(codes.map((c) => table[c]! | 0));
  });
});

// The f16 and bf16 helpers on four lanes: a loop that applies a helper to each element, vectorized,
// must give the bits of the same loop left scalar (the scalar helpers are checked against the codec
// on every f16 and bf16 code in test/vm), on every f16 code and on the edges of rounding.
describe('float helpers on four lanes', () => {
  const IN = 65536;
  const blockParams = ['bx', 'by', 'bz', 'args', 'scratch'].map((name) => ({ name, type: 'i32' as const }));

  /** out[i] = helper(in[i]) for n elements of `inBits` bits (16 or 32) each. */
  function helperModule(helper: LFunction, n: number, inBits: 16 | 32): { m: LModule; out: number } {
    const out = IN + n * 4;
    const x: Expr = { k: 'load', type: helper.params[0]!.type === 'f32' ? 'f32' : 'i32', bits: inBits, signed: false, addr: add(i32(IN), mul(get('i'), i32(inBits / 8))), offset: 0 };
    const body: Stmt[] = [forLoop('i', i32(0), i32(n), [store32(add(i32(out), mul(get('i'), i32(4))), { k: 'call', fn: helper.name, type: helper.result as 'i32' | 'f32', args: [x] })])];
    const block: LFunction = { name: 'block', result: 'i32', params: blockParams, locals: [{ name: 'i', type: 'i32' }], body: [...body, { k: 'return', value: i32(0) }] };
    return { m: { functions: [block, helper], traps: [], data: [], dataBytes: 0, scratchBytes: 0 }, out };
  }

  function runHelper(m: LModule, out: number, input: Uint8Array, n: number): Uint32Array {
    const pages = Math.ceil((out + 4 * n) / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(emitWasm(m).bytes as BufferSource), { env: { memory, ...MATH_IMPORTS } });
    new Uint8Array(memory.buffer).set(input, IN);
    (instance.exports.block as (...a: number[]) => number)(0, 0, 0, 0, 0);
    return new Uint32Array(memory.buffer.slice(out, out + 4 * n));
  }

  /** The helper's outputs vectorized and scalar, after checking that the loop was vectorized. */
  function both(helper: LFunction, words: Uint32Array | Uint16Array): [Uint32Array, Uint32Array] {
    const n = words.length - 3; // not a multiple of four: the remainder runs scalar
    const { m, out } = helperModule(helper, n, words instanceof Uint16Array ? 16 : 32);
    const vectorized = vectorizeLoops(m);
    expect(JSON.stringify(vectorized.functions[0])).toContain('v128.bitselect');
    expect(JSON.stringify(vectorized.functions[0])).not.toContain(`"fn":"${helper.name}","type":"v128"`);
    const input = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
    return [runHelper(vectorized, out, input, n), runHelper(m, out, input, n)];
  }

  /** The first element where the vectorized helper differs, with its input, or null. */
  function firstDifference(words: Uint32Array | Uint16Array, [got, want]: [Uint32Array, Uint32Array]): string | null {
    const i = got.findIndex((g, j) => g !== want[j]);
    const hex = (x: number): string => `0x${x.toString(16)}`;
    return i < 0 ? null : `input ${hex(words[i]!)}: four lanes give ${hex(got[i]!)}, the scalar helper ${hex(want[i]!)}`;
  }

  /** n random 32-bit words. */
  const random = (n: number, seed: number): number[] => {
    const next = rng(seed);
    return Array.from({ length: n }, () => Math.floor(next() * 2 ** 32));
  };
  const f32Bits = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0]!;

  it('round_f16: every f16 value, its neighbours, ties, overflow, subnormals, NaN payloads', () => {
    const inputs: number[] = [];
    for (let c = 0; c < 65536; c++) {
      const v = new Float32Array([decode(dtype('f16'), c)]);
      const b = new Uint32Array(v.buffer)[0]!;
      // The value, one f32 ulp either side, the tie above it and one ulp either side of the tie.
      inputs.push(b, b + 1, b - 1, b + 0x1000, b + 0xfff, b + 0x1001);
    }
    inputs.push(f32Bits(65519.99), f32Bits(65520), f32Bits(65504), f32Bits(1e-45), f32Bits(-1e-45), f32Bits(2 ** -25), f32Bits(3 * 2 ** -26), 0x7fc00001, 0xffa00000, 0x7f800000, 0x80000000, ...random(4096, 7));
    const words = new Uint32Array(inputs.map((x) => x >>> 0));
    expect(firstDifference(words, both(roundF16, words))).toBeNull();
  });
  it('round_bf16: every bf16 value with low halves at the ties and around them, NaN payloads', () => {
    const inputs: number[] = [];
    for (let c = 0; c < 65536; c++) for (const low of [0, 1, 0x7fff, 0x8000, 0x8001, 0xffff]) inputs.push(c * 65536 + low);
    const words = new Uint32Array([...inputs, ...random(4096, 11)].map((x) => x >>> 0));
    expect(firstDifference(words, both(roundBF16, words))).toBeNull();
  });
  it('f16_value: every code, read as 16-bit loads and as 32-bit words with other high bits', () => {
    const codes = Uint16Array.from({ length: 65536 + 3 }, (_, c) => c & 0xffff);
    const from16 = both(f16Value, codes);
    expect(firstDifference(codes, from16)).toBeNull();
    expect(from16[0][0x3c00]).toBe(f32Bits(1));
    const high = random(65536 + 3, 5);
    const words = Uint32Array.from(high, (h, c) => ((c & 0xffff) | (h << 16)) >>> 0);
    expect(firstDifference(words, both(f16Value, words))).toBeNull();
  });
});
