// NumPy .npy files (format 1.0 to 3.0), mapped to tilebit tensors as DSL.md says: a type of 8 bits or
// fewer is a uint8 array of codes (signed types also accept int8 values), f16 is float16, bf16 is
// uint16 bit patterns, and f32, i32, u32, i16, u16 are themselves.

import { pack, unpack } from '../../ir/bitstream.ts';
import { dtype as parseDType } from '../../ir/dtype.ts';
import { type Tensor, elementCount } from '../vm/memory.ts';

export class NpyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpyError';
  }
}

export interface NpyArray {
  /** NumPy's descr, little-endian or byte-sized: '|u1', '<f2', '<f4', ... */
  readonly descr: string;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function readNpy(bytes: Uint8Array, what = 'the file'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyError(`${what} is not a .npy file`);
  const major = bytes[6]!;
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? bytes[8]! | (bytes[9]! << 8) : bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16) | (bytes[11]! << 24);
  const start = 8 + lenBytes;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new NpyError(`${what}: cannot read the .npy header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw new NpyError(`${what} is in Fortran order; save it C-contiguous (np.ascontiguousarray)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const itemSize = Number(descr.slice(2));
  const size = elementCount(shape) * itemSize;
  const data = bytes.slice(start + headerLen, start + headerLen + size);
  if (data.length !== size) throw new NpyError(`${what} is truncated: shape (${shape.join(', ')}) of ${descr} needs ${size} bytes of data, it has ${data.length}`);
  return { descr: descr.replace(/^=/, '<'), shape, data };
}

export function writeNpy(a: NpyArray): Uint8Array {
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${a.descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + a.data.length);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  out.set(new TextEncoder().encode(header), 10);
  out.set(a.data, 10 + header.length);
  return out;
}

/** The .npy descr a tensor of `dtype` is written as. */
export function descrOf(dtype: string): string {
  const t = parseDType(dtype);
  if (t.bits <= 8) return '|u1';
  const map: Record<string, string> = { f16: '<f2', bf16: '<u2', f32: '<f4', i32: '<i4', u32: '<u4', i16: '<i2', u16: '<u2' };
  return map[dtype]!;
}

const NAMES: Record<string, string> = {
  '|u1': 'uint8', '|i1': 'int8', '<f2': 'float16', '<f4': 'float32', '<i4': 'int32', '<u4': 'uint32', '<i2': 'int16', '<u2': 'uint16',
};
const numpyName = (descr: string): string => NAMES[descr] ?? descr;

/** A tensor from an array, checking the type mapping. */
export function tensorFromNpy(a: NpyArray, dtype: string, what: string): Tensor {
  const t = parseDType(dtype);
  const want = descrOf(dtype);
  const n = elementCount(a.shape);
  if (t.bits <= 8) {
    let codes: ArrayLike<number>;
    if (a.descr === '|u1') codes = a.data;
    else if (a.descr === '|i1' && t.kind === 'int') {
      const values = new Int8Array(a.data.buffer, a.data.byteOffset, n);
      const bad = values.findIndex((v) => v < t.min || v > t.max);
      if (bad >= 0) throw new NpyError(`${what}: element ${bad} is ${values[bad]}, outside ${dtype}'s range ${t.min}..${t.max}`);
      codes = Array.from(values, (v) => v & ((1 << t.bits) - 1));
    } else {
      throw new NpyError(`${what} holds ${numpyName(a.descr)}; a ${dtype} tensor is read from uint8 codes${t.kind === 'int' ? ' or int8 values' : ''}`);
    }
    const max = 2 ** t.bits;
    for (let i = 0; i < n; i++) if (codes[i]! >= max) throw new NpyError(`${what}: element ${i} is ${codes[i]}, not a ${t.bits}-bit code of ${dtype}`);
    const bytes = new Uint8Array(Math.ceil((n * t.bits) / 8));
    pack(codes, t.bits, bytes);
    return { dtype, shape: a.shape, bytes };
  }
  if (a.descr !== want) throw new NpyError(`${what} holds ${numpyName(a.descr)}; a ${dtype} tensor is read from ${numpyName(want)}${dtype === 'bf16' ? ' bit patterns' : ''}`);
  return { dtype, shape: a.shape, bytes: a.data };
}

/** A tensor as an array: codes of narrow types one per byte, wider types as their bytes. */
export function npyFromTensor(t: Tensor): NpyArray {
  const bits = parseDType(t.dtype).bits;
  const n = elementCount(t.shape);
  const data = bits < 8 ? Uint8Array.from(unpack(t.bytes, bits, n)) : t.bytes.slice(0, (n * bits) / 8);
  return { descr: descrOf(t.dtype), shape: t.shape, data };
}
