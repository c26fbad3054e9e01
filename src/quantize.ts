// The weight quantizer: f32 weights W[K, N] in, the tensors a dequant-GEMM kernel reads out: codes
// W[K, N] of any 1..8-bit integer or minifloat type, scales S[K / G, N] in f16, bf16, f32 or e8m0,
// and optionally zero points Z[K / G, N]. Scales are rounded to their type first, and the codes are
// computed against the stored scale, so what the kernel dequantizes is exactly what dequantize() gives.

import { decode, encode, quantize as roundTo } from '../ir/codec.ts';
import { type DType, dtype as parseDType } from '../ir/dtype.ts';
import { type Tensor, tensorElements, tensorFrom } from './vm/memory.ts';

export interface QuantizeOptions {
  /** The weight type: iN, uN (N = 1..8) or a minifloat. */
  readonly weight: string;
  /** Rows of K per scale; must divide K. */
  readonly groupSize: number;
  /** f16 (default), bf16, f32 or e8m0. */
  readonly scale?: string;
  /**
   * Asymmetric quantization with zero points of this unsigned type (integer weights only); without it
   * quantization is symmetric around the type's fixed zero: 0 for iN and minifloats, 2^(N-1) for uN.
   */
  readonly zeroPoint?: string | null;
}

export interface Quantized {
  readonly K: number;
  readonly N: number;
  readonly options: Required<QuantizeOptions>;
  /** Codes W[K, N]. */
  readonly w: Tensor;
  /** Scales S[K / G, N]. */
  readonly s: Tensor;
  /** Zero points Z[K / G, N], or null (symmetric: the fixed zero of `fixedZero`). */
  readonly z: Tensor | null;
  /** The zero a symmetric kernel subtracts (its ZERO template parameter). */
  readonly fixedZero: number;
}

export class QuantizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantizeError';
  }
}

/** The zero a symmetric scheme uses: the middle code of an unsigned type, else 0. */
export const symmetricZero = (t: DType): number => (t.kind === 'uint' ? 2 ** (t.bits - 1) : 0);

function check(K: number, N: number, o: QuantizeOptions): Required<QuantizeOptions> {
  const t = parseDType(o.weight);
  if (t.bits > 8 || t.kind === 'exponent') throw new QuantizeError(`weights are 1..8-bit integers or minifloats; got ${o.weight}`);
  const scale = o.scale ?? 'f16';
  if (!['f16', 'bf16', 'f32', 'e8m0'].includes(scale)) throw new QuantizeError(`scales are f16, bf16, f32 or e8m0; got ${scale}`);
  if (!(Number.isInteger(o.groupSize) && o.groupSize >= 1 && K % o.groupSize === 0)) {
    throw new QuantizeError(`the group size ${o.groupSize} must be a positive integer dividing K = ${K}`);
  }
  const zp = o.zeroPoint ?? null;
  if (zp !== null) {
    const z = parseDType(zp);
    if (z.kind !== 'uint') throw new QuantizeError(`zero points are unsigned integers; got ${zp}`);
    if (t.kind !== 'uint') throw new QuantizeError(`zero points go with unsigned weights; ${o.weight} is not`);
  }
  return { weight: o.weight, groupSize: o.groupSize, scale, zeroPoint: zp };
}

/** A scale of the scale type that is at least `wanted` when the type is e8m0 (nothing clamps). */
function storedScale(type: string, wanted: number): number {
  if (type === 'e8m0') {
    const e = Math.min(127, Math.max(-127, Math.ceil(Math.log2(wanted))));
    return 2 ** (2 ** e < wanted ? e + 1 : e);
  }
  return roundTo(parseDType(type), wanted);
}

/** Quantizes x[K, N] (row-major) group-wise along K. */
export function quantize(x: ArrayLike<number>, K: number, N: number, options: QuantizeOptions): Quantized {
  const o = check(K, N, options);
  if (x.length !== K * N) throw new QuantizeError(`expected ${K * N} weights for [${K}, ${N}], got ${x.length}`);
  const t = parseDType(o.weight);
  const groups = K / o.groupSize;
  const codes = new Array<number>(K * N);
  const scales = new Array<number>(groups * N);
  const zeros = o.zeroPoint ? new Array<number>(groups * N) : null;
  const levels = 2 ** t.bits - 1;
  for (let g = 0; g < groups; g++) {
    for (let n = 0; n < N; n++) {
      let [lo, hi, absmax] = [Infinity, -Infinity, 0];
      for (let k = g * o.groupSize; k < (g + 1) * o.groupSize; k++) {
        const v = x[k * N + n]!;
        if (!Number.isFinite(v)) throw new QuantizeError(`weight [${k}, ${n}] is ${v}; weights must be finite`);
        [lo, hi, absmax] = [Math.min(lo, v), Math.max(hi, v), Math.max(absmax, Math.abs(v))];
      }
      let zero = symmetricZero(t);
      let scale: number;
      if (t.kind === 'float') {
        scale = absmax === 0 ? 0 : storedScale(o.scale, absmax / t.max);
      } else if (zeros) {
        // Asymmetric: [min(lo, 0), max(hi, 0)] spans the codes; the zero point is where 0 lands.
        const [a, b] = [Math.min(lo, 0), Math.max(hi, 0)];
        scale = b === a ? 0 : storedScale(o.scale, (b - a) / levels);
        const zt = parseDType(o.zeroPoint!);
        zero = scale === 0 ? 0 : Math.min(zt.max, Math.max(0, Math.round(-a / scale)));
        zeros[g * N + n] = zero;
      } else {
        // Symmetric: the largest magnitude maps to the largest positive code above the zero.
        const positive = t.kind === 'uint' ? levels - zero : t.max;
        scale = absmax === 0 ? 0 : storedScale(o.scale, absmax / Math.max(1, positive));
      }
      if (o.scale === 'e8m0' && scale === 0) scale = 2 ** -127; // e8m0 has no zero
      scales[g * N + n] = scale;
      for (let k = g * o.groupSize; k < (g + 1) * o.groupSize; k++) {
        const v = x[k * N + n]!;
        const q = scale === 0 ? 0 : v / scale;
        // encode rounds to nearest (ties to even) and saturates, for integers and minifloats alike.
        codes[k * N + n] = t.kind === 'float' ? encode(t, q) : encode(t, Math.min(t.max, Math.max(t.min, q + zero)));
      }
    }
  }
  const scaleType = parseDType(o.scale);
  return {
    K, N, options: o,
    w: tensorFrom(o.weight, [K, N], codes),
    s: tensorFrom(o.scale, [groups, N], o.scale === 'e8m0' ? scales.map((v) => encode(scaleType, v)) : scales),
    z: zeros ? tensorFrom(o.zeroPoint!, [groups, N], zeros) : null,
    fixedZero: symmetricZero(t),
  };
}

/** The weights a kernel computes from quantized tensors: (decode(W) - Z) * S. */
export function dequantize(q: Quantized): Float64Array {
  const t = parseDType(q.options.weight);
  const st = parseDType(q.options.scale);
  const codes = tensorElements(q.w);
  const scales = Array.from(tensorElements(q.s), (h) => (q.options.scale === 'e8m0' ? decode(st, h) : h));
  const zeros = q.z ? tensorElements(q.z) : null;
  const out = new Float64Array(q.K * q.N);
  for (let k = 0; k < q.K; k++) {
    for (let n = 0; n < q.N; n++) {
      const g = Math.floor(k / q.options.groupSize) * q.N + n;
      const z = zeros ? zeros[g]! : q.fixedZero;
      out[k * q.N + n] = (decode(t, codes[k * q.N + n]!) - z) * scales[g]!;
    }
  }
  return out;
}

export interface QuantizationError {
  readonly maxAbs: number;
  readonly rms: number;
  /** RMS error over RMS of the weights. */
  readonly relativeRms: number;
  /** Signal-to-noise ratio in dB. */
  readonly snrDb: number;
}

export function quantizationError(x: ArrayLike<number>, q: Quantized): QuantizationError {
  const y = dequantize(q);
  let [maxAbs, se, sx] = [0, 0, 0];
  for (let i = 0; i < y.length; i++) {
    const d = y[i]! - x[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    se += d * d;
    sx += x[i]! * x[i]!;
  }
  const rms = Math.sqrt(se / y.length);
  const relativeRms = sx === 0 ? 0 : Math.sqrt(se / sx);
  return { maxAbs, rms, relativeRms, snrDb: se === 0 ? Infinity : 10 * Math.log10(sx / se) };
}
