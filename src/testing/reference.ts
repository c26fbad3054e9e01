// Reference math in float64, from decoded inputs: what the kernels are checked against.

/** C[M, N] = A[M, K] . B[K, N], row-major arrays. */
export function gemm(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) {
    const x = a[m * K + k]!;
    for (let n = 0; n < N; n++) c[m * N + n]! += x * b[k * N + n]!;
  }
  return c;
}

export interface DequantWeights {
  /** Decoded weight values W[K, N]. */
  readonly w: ArrayLike<number>;
  /** Scales S[K / G, N]. */
  readonly scales: ArrayLike<number>;
  /** Zero points, one per scale (or a single value for all); none when absent. */
  readonly zeros?: ArrayLike<number> | number;
  readonly groupSize: number;
}

/** The dequantized weight matrix: (W - Z) * S, group-wise along K. */
export function dequantize(q: DequantWeights, K: number, N: number): Float64Array {
  const out = new Float64Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) {
    const g = Math.floor(k / q.groupSize) * N + n;
    const z = q.zeros === undefined ? 0 : typeof q.zeros === 'number' ? q.zeros : q.zeros[g]!;
    out[k * N + n] = (q.w[k * N + n]! - z) * q.scales[g]!;
  }
  return out;
}

/** C = A . dequantize(W). */
export function dequantGemm(a: ArrayLike<number>, q: DequantWeights, M: number, K: number, N: number): Float64Array {
  return gemm(a, dequantize(q, K, N), M, K, N);
}

/** Row-wise softmax of x[rows, cols]. */
export function softmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[r * cols + c]!);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += y[r * cols + c] = Math.exp(x[r * cols + c]! - max);
    for (let c = 0; c < cols; c++) y[r * cols + c]! /= sum;
  }
  return y;
}

/** Row-wise layer norm of x[rows, cols] with optional gain and bias per column. */
export function layerNorm(x: ArrayLike<number>, rows: number, cols: number, eps = 1e-5, gain?: ArrayLike<number>, bias?: ArrayLike<number>): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[r * cols + c]!;
    mean /= cols;
    let variance = 0;
    for (let c = 0; c < cols; c++) variance += (x[r * cols + c]! - mean) ** 2;
    variance /= cols;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c]! - mean) * inv * (gain ? gain[c]! : 1) + (bias ? bias[c]! : 0);
  }
  return y;
}

export interface AttentionShape {
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads; query head h reads kv head floor(h / (heads / kvHeads)). */
  readonly kvHeads: number;
  readonly queries: number;
  readonly keys: number;
  readonly headDim: number;
  readonly causal: boolean;
  readonly scale: number;
}

/**
 * O[h, i] = softmax_j(scale * Q[h, i] . K[hk, j]) V[hk, j], with q[H, Sq, D], k and v [Hkv, Sk, D].
 * Causal masking aligns the last query with the last key (j <= i + Sk - Sq).
 */
export function attention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, s: AttentionShape): Float64Array {
  const { heads, kvHeads, queries, keys, headDim: D } = s;
  const o = new Float64Array(heads * queries * D);
  const group = heads / kvHeads;
  const scores = new Float64Array(keys);
  for (let h = 0; h < heads; h++) {
    const hk = Math.floor(h / group);
    for (let i = 0; i < queries; i++) {
      const last = s.causal ? i + keys - queries : keys - 1;
      let max = -Infinity;
      for (let j = 0; j < keys; j++) {
        if (j > last) {
          scores[j] = -Infinity;
          continue;
        }
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(h * queries + i) * D + d]! * k[(hk * keys + j) * D + d]!;
        scores[j] = dot * s.scale;
        max = Math.max(max, scores[j]!);
      }
      let sum = 0;
      for (let j = 0; j < keys; j++) sum += scores[j] = j > last ? 0 : Math.exp(scores[j]! - max);
      for (let j = 0; j <= last && j < keys; j++) {
        const p = scores[j]! / sum;
        for (let d = 0; d < D; d++) o[(h * queries + i) * D + d]! += p * v[(hk * keys + j) * D + d]!;
      }
    }
  }
  return o;
}
