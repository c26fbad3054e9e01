// Global tensors in the VM: a data type, a shape, and a dense little-endian bit stream (DESIGN.md).
// Elements are read and written as the VM holds them: values for compute types, codes otherwise.

import { readBits, writeBits } from '../../ir/bitstream.ts';
import { decodeTable } from '../../ir/codec.ts';
import { codeOf, heldAsCode } from '../../ir/cast.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';

export interface Tensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** The bit stream: element i at bits [i * bits, (i + 1) * bits). */
  readonly bytes: Uint8Array;
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The bytes of a tensor's packed elements. */
export const tensorBytes = (dtype: string, shape: readonly number[]): number => Math.ceil((elementCount(shape) * parseDType(dtype).bits) / 8);

/** A zero-filled tensor. */
export function allocTensor(dtype: string, shape: readonly number[]): Tensor {
  return { dtype, shape: [...shape], bytes: new Uint8Array(tensorBytes(dtype, shape)) };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Reads the code of element i. */
export function readCode(bytes: Uint8Array, bits: number, i: number): number {
  switch (bits) {
    case 8:
      return bytes[i]!;
    case 16:
      return bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
    case 32:
      return (bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)) >>> 0;
    default:
      return readBits(bytes, i * bits, bits);
  }
}

/** Writes the code of element i, leaving every other bit as it was. */
export function writeCode(bytes: Uint8Array, bits: number, i: number, code: number): void {
  switch (bits) {
    case 8:
      bytes[i] = code;
      return;
    case 16:
      bytes[2 * i] = code & 0xff;
      bytes[2 * i + 1] = code >>> 8;
      return;
    case 32:
      for (let k = 0; k < 4; k++) bytes[4 * i + k] = (code >>> (8 * k)) & 0xff;
      return;
    default:
      writeBits(bytes, i * bits, bits, code);
  }
}

/** A function that reads element i as the VM holds it. */
export function elementReader(dtype: string): (bytes: Uint8Array, i: number) => number {
  const bits = parseDType(dtype).bits;
  if (heldAsCode(dtype)) return (bytes, i) => readCode(bytes, bits, i);
  switch (dtype) {
    case 'f32':
      return (bytes, i) => {
        u32[0] = readCode(bytes, 32, i);
        return f32[0]!;
      };
    case 'i32':
      return (bytes, i) => readCode(bytes, 32, i) | 0;
    case 'u32':
      return (bytes, i) => readCode(bytes, 32, i);
    default: {
      const table = decodeTable(parseDType(dtype)); // f16, bf16
      return (bytes, i) => table[readCode(bytes, 16, i)]!;
    }
  }
}

/** A function that writes a held element i. */
export function elementWriter(dtype: string): (bytes: Uint8Array, i: number, held: number) => void {
  const bits = parseDType(dtype).bits;
  if (dtype === 'f32') {
    return (bytes, i, v) => {
      f32[0] = v;
      writeCode(bytes, 32, i, u32[0]!);
    };
  }
  if (heldAsCode(dtype)) return (bytes, i, code) => writeCode(bytes, bits, i, code);
  return (bytes, i, v) => writeCode(bytes, bits, i, codeOf(dtype, v));
}

/** A tensor filled from held values in row-major order. */
export function tensorFrom(dtype: string, shape: readonly number[], held: ArrayLike<number>): Tensor {
  const t = allocTensor(dtype, shape);
  const bits = parseDType(dtype).bits;
  if (heldAsCode(dtype) && bits < 8) {
    // Codes narrower than a byte, streamed into the zeroed bytes (8 bytes of 3-bit codes at a time).
    const mask = (1 << bits) - 1;
    let [acc, pending, at] = [0, 0, 0];
    for (let i = 0; i < held.length; i++) {
      acc |= (held[i]! & mask) << pending;
      pending += bits;
      if (pending >= 8) {
        t.bytes[at++] = acc & 0xff;
        acc >>>= 8;
        pending -= 8;
      }
    }
    if (pending > 0) t.bytes[at] = acc;
    return t;
  }
  const write = elementWriter(dtype);
  for (let i = 0; i < held.length; i++) write(t.bytes, i, held[i]!);
  return t;
}

/** Every element as held, row-major. */
export function tensorElements(t: Tensor): Float64Array {
  const read = elementReader(t.dtype);
  const out = new Float64Array(elementCount(t.shape));
  for (let i = 0; i < out.length; i++) out[i] = read(t.bytes, i);
  return out;
}
