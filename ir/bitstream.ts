// Dense little-endian bit streams: element i of an N-bit tensor occupies bits [i*N, (i+1)*N), and bit
// k of the stream is bit k % 8 of byte k / 8. Widths 1..32. Writes touch no bit outside their range.
// Bit positions are numbers, not 32-bit integers: a stream past 512 MiB has bits past 2^32.

/** Reads one `width`-bit code that starts at bit `bit` of `bytes`. */
export function readBits(bytes: Uint8Array, bit: number, width: number): number {
  let value = 0;
  let done = 0;
  while (done < width) {
    const pos = bit + done;
    const off = pos & 7;
    const n = Math.min(8 - off, width - done);
    const piece = (bytes[(pos - off) / 8]! >>> off) & ((1 << n) - 1);
    value += piece * 2 ** done; // not `|`: a 32-bit code would turn negative
    done += n;
  }
  return value;
}

/** Writes the low `width` bits of `code` at bit `bit` of `bytes`, keeping every other bit. */
export function writeBits(bytes: Uint8Array, bit: number, width: number, code: number): void {
  let done = 0;
  while (done < width) {
    const pos = bit + done;
    const off = pos & 7;
    const n = Math.min(8 - off, width - done);
    const mask = ((1 << n) - 1) << off;
    const piece = (Math.floor(code / 2 ** done) & ((1 << n) - 1)) << off;
    const i = (pos - off) / 8;
    bytes[i] = (bytes[i]! & ~mask) | piece;
    done += n;
  }
}

/** Writes `codes` as consecutive `width`-bit elements starting at bit `bitOffset`. */
export function pack(codes: ArrayLike<number>, width: number, bytes: Uint8Array, bitOffset = 0): void {
  checkRange(bytes, width, bitOffset, codes.length, 'pack');
  if (width === 8 && bitOffset % 8 === 0) {
    bytes.set(codes, bitOffset / 8);
    return;
  }
  for (let i = 0; i < codes.length; i++) writeBits(bytes, bitOffset + i * width, width, codes[i]!);
}

/** Reads `count` consecutive `width`-bit codes starting at bit `bitOffset`. */
export function unpack(bytes: Uint8Array, width: number, count: number, bitOffset = 0): Uint32Array {
  checkRange(bytes, width, bitOffset, count, 'unpack');
  const out = new Uint32Array(count);
  if (width === 8 && bitOffset % 8 === 0) {
    out.set(bytes.subarray(bitOffset / 8, bitOffset / 8 + count));
    return out;
  }
  for (let i = 0; i < count; i++) out[i] = readBits(bytes, bitOffset + i * width, width);
  return out;
}

/** Bytes needed to hold `count` elements of `width` bits starting at bit 0. */
export const packedBytes = (width: number, count: number): number => Math.ceil((width * count) / 8);

function checkRange(bytes: Uint8Array, width: number, bitOffset: number, count: number, what: string): void {
  if (!Number.isInteger(width) || width < 1 || width > 32) throw new RangeError(`${what}: width ${width} is not 1..32`);
  if (!Number.isInteger(bitOffset) || bitOffset < 0) throw new RangeError(`${what}: bit offset ${bitOffset} is negative`);
  const end = bitOffset + width * count;
  if (end > bytes.length * 8) {
    throw new RangeError(`${what}: ${count} elements of ${width} bits at bit ${bitOffset} need ${Math.ceil(end / 8)} bytes; the buffer has ${bytes.length}`);
  }
}
