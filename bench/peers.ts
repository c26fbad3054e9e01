// The benchmark peers, loaded from bench/peers/node_modules (installed by the bench:* scripts).

import { createRequire } from 'node:module';

/** The part of onnxruntime's API (web and node share it) the benchmarks use. */
export interface Session {
  run(feeds: Record<string, unknown>): Promise<unknown>;
}
export interface Ort {
  env: { wasm: { numThreads: number } };
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<Session> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

const modules = new URL('./peers/node_modules/', import.meta.url);
export const requirePeer = createRequire(new URL('./peers/package.json', import.meta.url));

/** onnxruntime-web on one thread (its thread count is fixed per process). */
export async function onnxruntimeWeb(): Promise<Ort> {
  const ort = (await import(new URL('onnxruntime-web/dist/ort.node.min.mjs', modules).href)) as Ort;
  ort.env.wasm.numThreads = 1;
  return ort;
}

export const onnxruntimeNode = (): Ort => requirePeer('onnxruntime-node') as Ort;
export const peerPath = (path: string): string => new URL(path, modules).pathname;
