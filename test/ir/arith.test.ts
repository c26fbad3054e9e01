// fma against exact arithmetic: each f32 as an integer times a power of two, a * b + c summed exactly in
// BigInt, then rounded to f32 (nearest, ties to even, subnormals, overflow to infinity) by integer
// arithmetic, independently of the f64 rounding to odd that ir/arith.ts uses.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fma } from '../../ir/arith.ts';
import { roundF32ToBF16, roundF32ToF16 } from '../../ir/half.ts';

/** A finite f32 value as m * 2^e with m an integer, |m| < 2^24. */
function split(x: number): { m: bigint; e: number } {
  if (x === 0) return { m: 0n, e: 0 };
  let e = -149;
  while (Math.abs(x) >= 2 ** (e + 24)) e++;
  return { m: BigInt(x / 2 ** e), e };
}

/** n * 2^e (n an integer) rounded once to f32. */
function roundExact(n: bigint, e: number): number {
  if (n === 0n) return 0;
  const sign = n < 0n ? -1 : 1;
  let m = n < 0n ? -n : n;
  const length = m.toString(2).length;
  // The exponent of the result's last place: 24 significant bits, or the subnormals' 2^-149.
  const last = Math.max(length + e - 24, -149);
  if (last > e) {
    const shift = BigInt(last - e);
    const [q, r, half] = [m >> shift, m & ((1n << shift) - 1n), 1n << (shift - 1n)];
    m = r > half || (r === half && (q & 1n) === 1n) ? q + 1n : q;
    e = last;
  }
  const v = Number(m) * 2 ** e;
  return sign * (v >= 2 ** 128 ? Infinity : v);
}

/** The f32 nearest a * b + c, for finite f32 a, b, c whose exact result is not zero. */
function exactFma(a: number, b: number, c: number): number {
  const [x, y, z] = [split(a), split(b), split(c)];
  const e = Math.min(x.e + y.e, z.e);
  return roundExact(((x.m * y.m) << BigInt(x.e + y.e - e)) + (z.m << BigInt(z.e - e)), e);
}

const f32 = fc.float({ noNaN: true, noDefaultInfinity: true });
/** Triples whose sum nearly cancels the product, or is a rounding boundary away from it: the hard cases. */
const near = fc.tuple(f32, f32, fc.integer({ min: -3, max: 3 })).map(([a, b, k]) => {
  const p = Math.fround(a * b);
  return [a, b, Math.fround(-p + k * 2 ** Math.max(-149, Math.floor(Math.log2(Math.abs(p) || 1)) - 24))] as const;
});

describe('fma', () => {
  it('rounds the exact a * b + c once to f32, on random and nearly cancelling triples', () => {
    fc.assert(fc.property(fc.oneof(fc.tuple(f32, f32, f32), near), ([a, b, c]) => {
      if (!Number.isFinite(c)) return;
      const want = exactFma(a, b, c);
      const got = fma('f32', a, b, c);
      if (want === 0) return; // the sign of an exact zero: IEEE's rules, not checked here
      expect(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `fma(${a}, ${b}, ${c}) = ${got}, want ${want}`).toBe(true);
    }), { numRuns: 20000, seed: 11 });
  });

  it('is not the product rounded and then added, where the two differ', () => {
    // (1 + 2^-23)^2 = 1 + 2^-22 + 2^-46: the product rounds to 1 + 2^-22, and the 2^-46 is lost.
    const a = 1 + 2 ** -23;
    expect(fma('f32', a, a, -(1 + 2 ** -22))).toBe(2 ** -46);
    expect(Math.fround(Math.fround(a * a) - (1 + 2 ** -22))).toBe(0);
    // A double rounding (to f64, then to f32) would land on a midpoint and round to even, the wrong way.
    const [x, y, z] = [1 + 2 ** -12, 1 + 2 ** -12, 2 ** -60];
    expect(fma('f32', x, y, z)).toBe(exactFma(x, y, z));
    expect(fma('f32', x, y, z)).toBe(1 + 2 ** -11 + 2 ** -23);
  });

  it('gives IEEE special values', () => {
    expect(fma('f32', Infinity, 0, 1)).toBeNaN();
    expect(fma('f32', Infinity, 2, -Infinity)).toBeNaN();
    expect(fma('f32', Infinity, 2, 1)).toBe(Infinity);
    expect(fma('f32', NaN, 1, 1)).toBeNaN();
    expect(fma('f32', 3.4e38, 10, 0)).toBe(Infinity);
    expect(fma('f32', 2 ** -100, 2 ** -49, 0)).toBe(2 ** -149); // a subnormal product kept
    expect(fma('f32', 2 ** -100, 2 ** -50, 0)).toBe(0); // half the smallest subnormal: ties to even, 0
  });

  it('in f16 and bf16 is the f32 fma rounded once more', () => {
    fc.assert(fc.property(fc.tuple(f32, f32, f32).map((t) => t.map(roundF32ToF16)), ([a, b, c]) => {
      expect(Object.is(fma('f16', a!, b!, c!), roundF32ToF16(fma('f32', a!, b!, c!)))).toBe(true);
      expect(Object.is(fma('bf16', a!, b!, c!), roundF32ToBF16(fma('f32', a!, b!, c!)))).toBe(true);
    }), { numRuns: 2000, seed: 12 });
  });
});
