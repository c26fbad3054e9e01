// VM semantics that the examples do not reach: the async-copy rule, masking, sub-byte stores that share
// bytes with neighbours, casts and views, launch checks, runtime asserts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readBits } from '../../ir/bitstream.ts';
import { decode, encode, quantize } from '../../ir/codec.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { outputTensors } from '../../ir/tile_ir.ts';
import { compile, prepareTensors, runOnVM } from '../../src/api.ts';
import { VMError } from '../../src/vm/interpret.ts';
import { type Tensor, allocTensor, tensorElements, tensorFrom } from '../../src/vm/memory.ts';

function run(source: string, tensors: Record<string, Tensor>, values: Record<string, number> = {}): Map<string, Tensor> {
  const k = compile(source);
  const vals = new Map(Object.entries(values));
  const all = prepareTensors(k, { tensors: new Map(Object.entries(tensors)), values: vals }, new Set(outputTensors(k)));
  return runOnVM(k, all, vals);
}

describe('asynchronous copies', () => {
  const kernel = (between: string) => `kernel k(a: f32[N], o: f32[N]) grid(1) threads(32) {
    let s = shared<f32>[8];
    copy_async s[0 :+ 8] <- a[0 :+ 8];
    ${between}
    store o[0 :+ 8] = load s[0 :+ 8];
  }`;
  const a = tensorFrom('f32', [6], [1, 2, 3, 4, 5, 6]);
  it('reading a region an unfinished copy writes is an error', () => {
    expect(() => run(kernel('sync;'), { a })).toThrow(/reads shared memory that an unfinished copy_async writes/);
    expect(() => run(kernel('wait_async(1);'), { a })).toThrow(VMError);
  });
  it('after wait_async the data has arrived, and elements outside the tensor arrive as 0', () => {
    const out = run(kernel('wait_async(0);'), { a });
    expect(Array.from(tensorElements(out.get('o')!))).toEqual([1, 2, 3, 4, 5, 6]);
  });
  it('groups complete oldest first: wait_async(1) finishes all but the newest group', () => {
    const src = `kernel k(a: f32[N], o: f32[N]) grid(1) threads(32) {
      let s = shared<f32>[2, 4];
      copy_async s[0, 0 :+ 4] <- a[0 :+ 4];
      sync;
      copy_async s[1, 0 :+ 4] <- a[4 :+ 4];
      wait_async(1);
      store o[0 :+ 4] = load s[0, 0 :+ 4];
      store o[4 :+ 4] = load s[1, 0 :+ 4];
    }`;
    expect(() => run(src, { a: tensorFrom('f32', [8], [1, 2, 3, 4, 5, 6, 7, 8]) })).toThrow(/unfinished copy_async/);
    const ok = src.replace('wait_async(1);', 'wait_async(1);\n store o[0 :+ 4] = load s[0, 0 :+ 4];\n wait_async(0);');
    expect(Array.from(tensorElements(run(ok, { a: tensorFrom('f32', [8], [1, 2, 3, 4, 5, 6, 7, 8]) }).get('o')!))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
  it('copies in one run of statements form one group', () => {
    const src = `kernel k(a: f32[N], o: f32[N]) grid(1) threads(32) {
      let s = shared<f32>[2, 4];
      copy_async s[0, 0 :+ 4] <- a[0 :+ 4];
      copy_async s[1, 0 :+ 4] <- a[4 :+ 4];
      wait_async(0);
      store o[0 :+ 4] = load s[1, 0 :+ 4];
    }`;
    expect(Array.from(tensorElements(run(src, { a: tensorFrom('f32', [8], [1, 2, 3, 4, 5, 6, 7, 8]) }).get('o')!)).slice(0, 4)).toEqual([5, 6, 7, 8]);
  });
});

describe('sub-byte stores', () => {
  it.each([1, 2, 3, 5, 6, 7])('u%i: blocks writing neighbouring elements of one byte keep each other\'s bits', (bits) => {
    // Each block stores 3 elements at offset 3 * block.x: every store starts and ends inside a byte.
    const src = `kernel k(x: u${bits}[N], o: u${bits}[N]) grid(cdiv(N, 3)) threads(32) {
      store o[block.x * 3 :+ 3] = load x[block.x * 3 :+ 3];
    }`;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), (N, seed) => {
        const codes = Array.from({ length: N }, (_, i) => (i * 7 + seed) % 2 ** bits);
        const out = run(src, { x: tensorFrom(`u${bits}`, [N], codes) }).get('o')!;
        return codes.every((c, i) => readBits(out.bytes, i * bits, bits) === c);
      }),
      { numRuns: 30 },
    );
  });
  it('a store never touches bits past the tensor end', () => {
    const src = 'kernel k(o: u3[N]) grid(1) threads(32) { store o[0 :+ 8] = cast<u3>(iota<i32>[8](0)); }';
    const k = compile(src);
    const o = allocTensor('u3', [5]); // 15 bits in 2 bytes: the 16th bit must stay as it was
    o.bytes[1] = 0x80;
    runOnVM(k, new Map([['o', o]]));
    expect(o.bytes[1]! & 0x80).toBe(0x80);
    expect(Array.from(tensorElements(o))).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('casts and views', () => {
  it('casts follow the codec (round to nearest even, saturate, NaN rules)', () => {
    const src = 'kernel k(x: f32[N], a: f8e4m3[N], b: i4[N], c: f4e2m1[N], d: u8[N]) grid(1) threads(32) {\n' +
      '  let t = load x[0 :+ 8];\n  store a[0 :+ 8] = cast<f8e4m3>(t);\n  store b[0 :+ 8] = cast<i4>(t);\n' +
      '  store c[0 :+ 8] = cast<f4e2m1>(t);\n  store d[0 :+ 8] = cast<u8>(t);\n}';
    const xs = [0.5, 2.5, -3.5, 1000, -1e9, NaN, Infinity, 5];
    const out = run(src, { x: tensorFrom('f32', [8], xs) });
    for (const [name, type] of [['a', 'f8e4m3'], ['b', 'i4'], ['c', 'f4e2m1'], ['d', 'u8']] as const) {
      const t = parseDType(type);
      expect(Array.from(tensorElements(out.get(name)!)), name).toEqual(xs.map((v) => encode(t, Math.fround(v))));
    }
  });
  it('view reinterprets bits: u8 as u4 splits each byte low nibble first', () => {
    const src = 'kernel k(x: u8[N], o: u4[M]) grid(1) threads(32) { store o[0 :+ 8] = view<u4>(load x[0 :+ 4]); }';
    const out = run(src, { x: tensorFrom('u8', [4], [0x21, 0x43, 0x65, 0x87]) }, { M: 8 });
    expect(Array.from(tensorElements(out.get('o')!))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
  it('f16 arithmetic is the f32 operation rounded once to f16', () => {
    const src = 'kernel k(x: f16[N], y: f16[N], o: f16[N]) grid(1) threads(32) { store o[0 :+ 4] = load x[0 :+ 4] * load y[0 :+ 4] + load x[0 :+ 4]; }';
    const f16 = parseDType('f16');
    const [x, y] = [[1.5, 1000, 3e-5, 65504], [1.0009765625, 70, 3e-3, 2]].map((v) => v.map((a) => quantize(f16, a)));
    const out = Array.from(tensorElements(run(src, { x: tensorFrom('f16', [4], x!), y: tensorFrom('f16', [4], y!) }).get('o')!));
    const r = (v: number): number => quantize(f16, Math.fround(v));
    expect(out).toEqual(x!.map((a, i) => r(r(a * y![i]!) + a)));
    expect(out[3]).toBe(Infinity);
  });
  it('loads outside the tensor read as 0; stores outside are skipped', () => {
    const src = 'kernel k(x: i8[N], o: i8[N]) grid(1) threads(32) { store o[-1 :+ 8] = load x[1 :+ 8]; }';
    const out = run(src, { x: tensorFrom('i8', [5], [1, 2, 3, 4, 5].map((v) => v)) });
    expect(Array.from(tensorElements(out.get('o')!)).map((c) => decode(parseDType('i8'), c))).toEqual([3, 4, 5, 0, 0]);
  });
});

describe('launch', () => {
  it('checks declared shapes against the tensors given', () => {
    const src = 'kernel k(a: f16[K, N], s: f16[K / 4, N], o: f16[N]) grid(1) threads(32) { }';
    expect(() => run(src, { a: allocTensor('f16', [8, 3]), s: allocTensor('f16', [3, 3]) })).toThrow(
      "tensor 's' has shape [3, 3]; its declaration [K / 4, N] needs [2, 3] (K = 8, N = 3)",
    );
    expect(() => run(src, { a: allocTensor('f32', [8, 3]) })).toThrow("tensor 'a' must hold f16; got f32");
  });
  it('checks that each tensor holds the bytes of its elements (packed: 5 u3 in 2 bytes)', () => {
    const src = 'kernel k(x: u3[N], o: f32[N]) grid(1) threads(32) { store o[0 :+ 8] = cast<f32>(load x[0 :+ 8]); }';
    const short = { dtype: 'u3', shape: [6], bytes: new Uint8Array(2) };
    expect(() => run(src, { x: short })).toThrow("tensor 'x' (u3[6]) has 2 bytes; its elements need 3");
    expect(Array.from(tensorElements(run(src, { x: { dtype: 'u3', shape: [5], bytes: new Uint8Array([0xff, 0x7f]) } }).get('o')!))).toEqual([7, 7, 7, 7, 7]);
  });
  it('runs runtime asserts per block and names the block', () => {
    const src = 'kernel k(o: f32[N]) grid(4) threads(32) { assert block.x < 3, "too far"; }';
    expect(() => run(src, { o: allocTensor('f32', [4]) })).toThrow('block (3, 0, 0): assertion failed: too far');
  });
  it('needs scalar parameters', () => {
    const src = 'kernel k(o: f32[N], alpha: f32) grid(1) threads(32) { store o[0 :+ 2] = full<f32>[2](alpha); }';
    expect(() => run(src, { o: allocTensor('f32', [2]) })).toThrow(/scalar parameter 'alpha' \(f32\) has no value/);
    expect(Array.from(tensorElements(run(src, { o: allocTensor('f32', [2]) }, { alpha: 0.1 }).get('o')!))).toEqual([Math.fround(0.1), Math.fround(0.1)]);
  });
  it('integer division truncates toward zero and i32 wraps', () => {
    const src = 'kernel k(x: i32[N], y: i32[N], q: i32[N], r: i32[N], p: i32[N]) grid(1) threads(32) {\n' +
      '  let a = load x[0 :+ 4];\n  let b = load y[0 :+ 4];\n  store q[0 :+ 4] = a / b;\n  store r[0 :+ 4] = a % b;\n  store p[0 :+ 4] = a * b;\n}';
    const out = run(src, { x: tensorFrom('i32', [4], [7, -7, 2147483647, 5]), y: tensorFrom('i32', [4], [2, 2, 2, 0]) });
    expect(Array.from(tensorElements(out.get('q')!))).toEqual([3, -3, 1073741823, 0]);
    expect(Array.from(tensorElements(out.get('r')!))).toEqual([1, -1, 1, 0]);
    expect(Array.from(tensorElements(out.get('p')!))).toEqual([14, -14, -2, 0]);
  });
});
