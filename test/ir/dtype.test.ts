// The data types against decodings written here from the formats' definitions, not from ir/codec.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, quantize } from '../../ir/codec.ts';
import { type DType, DTypeError, allTypes, dtype, narrowTypes } from '../../ir/dtype.ts';
import { roundF32ToBF16, roundF32ToF16 } from '../../ir/half.ts';

/** The value of a code, read from its bit string: sign, exponent field, mantissa field. */
function referenceDecode(t: DType, code: number): number {
  const bits = code.toString(2).padStart(t.bits, '0');
  if (t.kind === 'uint') return parseInt(bits, 2);
  if (t.kind === 'int') return bits[0] === '1' ? parseInt(bits, 2) - 2 ** t.bits : parseInt(bits, 2);
  if (t.name === 'e8m0') return bits === '11111111' ? NaN : 2 ** (parseInt(bits, 2) - 127);
  const [, e, m] = /^f\d+e(\d+)m(\d+)$/.exec(t.name) ?? [, t.name === 'f16' ? '5' : '8', t.name === 'f16' ? '10' : t.name === 'bf16' ? '7' : '23'];
  const E = Number(e);
  const M = Number(m);
  const sign = bits[0] === '1' ? -1 : 1;
  const expField = bits.slice(1, 1 + E);
  const mantField = bits.slice(1 + E);
  const bias = 2 ** (E - 1) - 1;
  const allOnes = !expField.includes('0');
  if (allOnes && (t.name === 'f8e5m2' || t.bits > 8)) return mantField.includes('1') ? NaN : sign * Infinity;
  if (allOnes && t.name === 'f8e4m3' && !mantField.includes('0')) return NaN;
  let fraction = 0;
  for (let i = 0; i < M; i++) if (mantField[i] === '1') fraction += 2 ** -(i + 1);
  const field = E === 0 ? 0 : parseInt(expField, 2);
  return field === 0 ? sign * fraction * 2 ** (1 - bias) : sign * (1 + fraction) * 2 ** (field - bias);
}

const narrow = narrowTypes();
const codes = (t: DType): number[] => Array.from({ length: 2 ** t.bits }, (_, c) => c);

describe('data type names', () => {
  it('has every type of DESIGN.md', () => {
    expect(narrow.length).toBe(16 + 27 + 1); // integers, minifloats of 3..8 bits (N - 1 formats each), e8m0
    expect(allTypes().map((t) => t.name)).toEqual(expect.arrayContaining(['i16', 'u32', 'f16', 'bf16', 'f32', 'f8e4m3', 'f3e1m1', 'f8e7m0']));
  });
  it.each(['f7', 'u9', 'i0', 'f9e4m4', 'f8e0m7', 'f5e2m1', 'int4', 'F16', ''])('rejects %j and lists the forms', (name) => {
    expect(() => dtype(name)).toThrow(DTypeError);
    expect(() => dtype(name)).toThrow(/i1\.\.i8, u1\.\.u8, .*f<N>e<E>m<M>/);
  });
  it.each([
    // name, max, smallest normal, smallest subnormal, infinities, nan
    ['f8e4m3', 448, 2 ** -6, 2 ** -9, false, true],
    ['f8e5m2', 57344, 2 ** -14, 2 ** -16, true, true],
    ['f6e3m2', 28, 2 ** -2, 2 ** -4, false, false],
    ['f6e2m3', 7.5, 1, 2 ** -3, false, false],
    ['f5e2m2', 7, 1, 2 ** -2, false, false],
    ['f4e2m1', 6, 1, 0.5, false, false],
    ['f3e1m1', 3, 2, 1, false, false],
    ['f16', 65504, 2 ** -14, 2 ** -24, true, true],
    ['bf16', 3.3895313892515355e38, 2 ** -126, 2 ** -133, true, true],
    ['f32', 3.4028234663852886e38, 2 ** -126, 2 ** -149, true, true],
    ['e8m0', 2 ** 127, 2 ** -127, 2 ** -127, false, true],
  ] as const)('%s: max %d, normal %d, subnormal %d', (name, max, normal, sub, inf, nan) => {
    const t = dtype(name);
    expect([t.max, t.min, t.minNormal, t.minSubnormal, t.hasInf, t.hasNaN]).toEqual([max, name === 'e8m0' ? 2 ** -127 : -max, normal, sub, inf, nan]);
  });
  it('knows integer ranges', () => {
    expect([dtype('i1').min, dtype('i1').max]).toEqual([-1, 0]);
    expect([dtype('i3').min, dtype('i3').max, dtype('u3').max]).toEqual([-4, 3, 7]);
    expect([dtype('i32').min, dtype('u32').max]).toEqual([-(2 ** 31), 2 ** 32 - 1]);
  });
});

describe('every code of every type of 8 bits or fewer', () => {
  it.each(narrow.map((t) => [t.name, t] as const))('%s decodes as its bit string says', (_, t) => {
    for (const c of codes(t)) {
      const want = referenceDecode(t, c);
      const got = decode(t, c);
      if (Number.isNaN(want)) expect(got).toBeNaN();
      else expect(Object.is(got, want) ? true : `code ${c}: ${got} != ${want}`).toBe(true);
    }
  });

  it.each(narrow.map((t) => [t.name, t] as const))('%s: encode(decode(c)) == c for every non-NaN code', (_, t) => {
    for (const c of codes(t)) if (!Number.isNaN(decode(t, c))) expect(encode(t, decode(t, c))).toBe(c);
  });

  it.each(narrow.map((t) => [t.name, t] as const))('%s: every midpoint rounds to the even code', (_, t) => {
    const finite = codes(t).filter((c) => Number.isFinite(decode(t, c)) && !Object.is(decode(t, c), -0));
    finite.sort((a, b) => decode(t, a) - decode(t, b));
    for (let i = 0; i + 1 < finite.length; i++) {
      const [lo, hi] = [finite[i]!, finite[i + 1]!];
      const mid = (decode(t, lo) + decode(t, hi)) / 2;
      const even = lo % 2 === 0 ? lo : hi;
      expect(hi % 2 !== lo % 2, `${t.name}: neighbours ${lo} and ${hi} have the same parity`).toBe(true);
      const got = encode(t, mid);
      // A midpoint between 0 and the smallest negative value rounds to -0, which has its own code.
      if (mid < 0 && decode(t, even) === 0) expect(got).toBe(encode(t, -0));
      else expect(got, `${t.name}: midpoint ${mid} of ${lo} and ${hi}`).toBe(even);
      // Just off the midpoint, the nearer neighbour wins.
      const eps = (decode(t, hi) - decode(t, lo)) / 1024;
      expect(decode(t, encode(t, mid - eps)) + 0).toBe(decode(t, lo) + 0); // +0: either zero is nearest
      expect(decode(t, encode(t, mid + eps)) + 0).toBe(decode(t, hi) + 0);
    }
  });
});

describe('saturation, infinities, NaN and the sign of zero', () => {
  const minifloats = narrow.filter((t) => t.kind === 'float');
  it.each(minifloats.map((t) => [t.name, t] as const))('%s', (_, t) => {
    const maxCode = encode(t, t.max);
    const signBit = 2 ** (t.bits - 1);
    expect(decode(t, encode(t, t.max * 1.5))).toBe(t.max);
    expect(decode(t, encode(t, -t.max * 1e6))).toBe(-t.max);
    expect(decode(t, encode(t, Infinity))).toBe(t.hasInf ? Infinity : t.max);
    expect(decode(t, encode(t, -Infinity))).toBe(t.hasInf ? -Infinity : -t.max);
    if (t.hasNaN) expect(decode(t, encode(t, NaN))).toBeNaN();
    else expect(encode(t, NaN)).toBe(maxCode);
    expect(encode(t, 0)).toBe(0);
    expect(encode(t, -0)).toBe(signBit);
    expect(Object.is(decode(t, signBit), -0)).toBe(true);
    // Below half the smallest subnormal: a signed zero.
    expect(encode(t, -t.minSubnormal / 4)).toBe(signBit);
  });
  it('f8e4m3 has NaN only at S.1111.111', () => {
    const t = dtype('f8e4m3');
    expect(codes(t).filter((c) => Number.isNaN(decode(t, c)))).toEqual([0x7f, 0xff]);
    expect(encode(t, 464)).toBe(0x7e); // the midpoint of 448 and 480 saturates
  });
  it('integers round half to even, saturate, and send NaN to 0', () => {
    const [i4, u4, i1] = [dtype('i4'), dtype('u4'), dtype('i1')];
    expect([2.5, 3.5, -2.5, -0.5, 100, -100, Infinity, NaN].map((x) => decode(i4, encode(i4, x)))).toEqual([2, 4, -2, 0, 7, -8, 7, 0]);
    expect([2.5, -3, 15.5, 16, NaN].map((x) => decode(u4, encode(u4, x)))).toEqual([2, 0, 15, 15, 0]);
    expect([-1, 0, 1, -0.6].map((x) => decode(i1, encode(i1, x)))).toEqual([-1, 0, 0, -1]);
  });
  it('e8m0 holds powers of two and saturates', () => {
    const t = dtype('e8m0');
    expect([1, 2, 0.5, 3, 6, 0, -4, 2 ** 200, NaN].map((x) => encode(t, x))).toEqual([127, 128, 126, 128, 130, 0, 0, 254, 255]);
  });
});

/** Rounds an f32 value to a float with `p` significant bits, exponent range of f16 or bf16, using
 * only f32 arithmetic: adding 1.5 * 2^(e + 24 - p) makes the f32 sum round exactly there. */
function roundWithFround(x: number, p: number, minExp: number, max: number): number {
  if (Number.isNaN(x) || !Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  e = Math.max(e, minExp);
  // Far up the range the constant would overflow f32: work 2^64 lower, which is exact there.
  const down = e > 64 ? 2 ** 64 : 1;
  const c = Math.fround(1.5 * 2 ** (e + 24 - p) / down);
  const r = Math.fround(Math.fround(a / down + c) - c) * down;
  const rounded = r > max ? Infinity : r;
  return x < 0 ? -rounded : rounded;
}

describe('f16, bf16 and f32 on random f32 values', () => {
  const cases = [
    ['f16', 11, -14, 65504],
    ['bf16', 8, -126, dtype('bf16').max],
  ] as const;
  it.each(cases)('%s agrees with a rounding built on Math.fround (100,000 values)', (name, p, minExp, max) => {
    const t = dtype(name);
    fc.assert(
      fc.property(fc.float(), (x) => {
        const want = roundWithFround(x, p, minExp, max);
        const got = quantize(t, x);
        return Number.isNaN(want) ? Number.isNaN(got) : Object.is(got, want);
      }),
      { numRuns: 100_000 },
    );
  });
  it('f32 encodes doubles as Math.fround rounds them', () => {
    const t = dtype('f32');
    fc.assert(
      fc.property(fc.double(), (x) => {
        const got = decode(t, encode(t, x));
        return Number.isNaN(x) ? Number.isNaN(got) : Object.is(got, Math.fround(x));
      }),
      { numRuns: 20_000 },
    );
  });
  it('the fast f16 and bf16 rounding of ir/half.ts agrees with the general codec', () => {
    const [h, b] = [dtype('f16'), dtype('bf16')];
    fc.assert(
      fc.property(fc.float(), (x) => {
        const [a1, a2] = [decode(h, encode(h, x)), roundF32ToF16(x)];
        const [b1, b2] = [decode(b, encode(b, x)), roundF32ToBF16(x)];
        return (Object.is(a1, a2) || (Number.isNaN(a1) && Number.isNaN(a2))) && (Object.is(b1, b2) || (Number.isNaN(b1) && Number.isNaN(b2)));
      }),
      { numRuns: 100_000 },
    );
  });
  it('f16 round-trips every code', () => {
    const t = dtype('f16');
    for (let c = 0; c < 65536; c++) {
      const v = decode(t, c);
      if (!Number.isNaN(v)) expect(encode(t, v)).toBe(c);
    }
  });
});
