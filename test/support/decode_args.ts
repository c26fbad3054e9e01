// Tensors for a u4 decode-attention library kernel (f32 queries, outputs and per-token scales), as the
// bindings take them: deterministic codes and scales, shared by the build test and its WebGPU child.

export function decodeArgs(H: number, S: number, D: number) {
  const codes = (): Uint8Array => Uint8Array.from({ length: (H * S * D) / 2 }, (_, i) => (i * 37 + 11) % 256);
  return {
    q: { data: Float32Array.from({ length: H * D }, (_, i) => Math.sin(i)), shape: [H, D] },
    k: { data: codes(), shape: [H, S, D] }, v: { data: codes().reverse(), shape: [H, S, D] },
    ks: { data: Float32Array.from({ length: H * S }, (_, i) => 0.05 + (i % 7) / 50), shape: [H, S] },
    vs: { data: Float32Array.from({ length: H * S }, (_, i) => 0.05 + (i % 5) / 40), shape: [H, S] },
    o: { data: new Float32Array(H * D), shape: [H, D] },
  };
}
