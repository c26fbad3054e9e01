// Whole files of bytes, in pieces: Node's readFileSync and writeFileSync stop at 2 GiB, and tensors (GPU
// ones up to 4 GiB, backends/gpu_addressing.ts) and their .npy files may be larger.

import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

const CHUNK = 1 << 30;

/** Writes `bytes` to the file at `path` (created or truncated), `chunk` bytes (a GiB) at a time. */
export function writeBytes(path: string, bytes: Uint8Array, chunk = CHUNK): void {
  const fd = openSync(path, 'w');
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, Math.min(chunk, bytes.length - at));
  } finally {
    closeSync(fd);
  }
}

/**
 * The bytes of the file at `path`, read `chunk` bytes (a GiB) at a time into `into` when given (the file
 * must hold exactly that many bytes), else into a new array of the file's size.
 */
export function readBytes(path: string, into?: Uint8Array, chunk = CHUNK): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (into && size !== into.length) throw new RangeError(`${path}: expected ${into.length} bytes, the file holds ${size}`);
    const out = into ?? new Uint8Array(size);
    for (let at = 0; at < out.length; ) {
      const n = readSync(fd, out, at, Math.min(chunk, out.length - at), at);
      if (n === 0) throw new RangeError(`${path}: expected ${out.length} bytes, the file ends after ${at}`);
      at += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
