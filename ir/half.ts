// Fast rounding of f32 values to f16 and bf16 precision (kept as numbers), by the same bit operations
// the backends use. They agree with ir/codec.ts on every f32 input (tests check it); arithmetic in the
// VM calls them because the general codec is too slow for every element of every tile.

const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);

/** x (an f32 value) rounded to the nearest f16 value: ties to even, overflow to infinity. */
export function roundF32ToF16(x: number): number {
  f[0] = x;
  const a = u[0]! & 0x7fffffff;
  const s = u[0]! & 0x80000000;
  if (a > 0x7f800000) return x;
  if (a >= 0x477ff000) return s ? -Infinity : Infinity;
  if (a < 0x38800000) {
    // Below 2^-14 the f16 quantum is 2^-24, the f32 quantum of 0.5.
    u[0] = a;
    const r = Math.fround(Math.fround(f[0]! + 0.5) - 0.5);
    return s ? -r : r;
  }
  u[0] = (s | ((a + 0xfff + ((a >>> 13) & 1)) & ~0x1fff)) >>> 0;
  return f[0]!;
}

/** x (an f32 value) rounded to the nearest bf16 value. */
export function roundF32ToBF16(x: number): number {
  f[0] = x;
  const a = u[0]!;
  if ((a & 0x7fffffff) > 0x7f800000) return x;
  u[0] = ((a + 0x7fff + ((a >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f[0]!;
}
