// Vectorization of table lookups, run as wasm: a loop that reads a 16-entry table of 32-bit words at
// each element's code becomes swizzles of the table's byte planes. Tables whose planes are partly zero
// take fewer lookups; entries of any value (entry 0 included) must come out whole.

import { describe, expect, it } from 'vitest';
import { emitWasm } from '../../backends/wasm/emit.ts';
import { MATH_IMPORTS } from '../../backends/wasm/runtime.ts';
import { type LModule, type Stmt, add, forLoop, get, i32, loadI32, mul, op, store32 } from '../../ir/loop_ir.ts';
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
