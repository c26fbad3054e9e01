import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pack, packedBytes, readBits, unpack, writeBits } from '../../ir/bitstream.ts';
import { tensorElements, tensorFrom } from '../../src/vm/memory.ts';

/** Bit k of a byte array, read the way DESIGN.md defines the stream. */
const bitAt = (bytes: Uint8Array, k: number): number => (bytes[Math.floor(k / 8)]! >> (k % 8)) & 1;

const widths = [1, 2, 3, 4, 5, 6, 7, 8, 16, 32];

describe('bit-stream packing', () => {
  it.each(widths)('width %i: pack then unpack round-trips at random offsets and leaves other bits alone', (width) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.integer({ min: 0, max: 2 ** width - 1 }), { maxLength: 70 }),
        fc.uint8Array({ minLength: 400, maxLength: 400 }),
        (offset, codes, background) => {
          const bytes = background.slice();
          pack(codes, width, bytes, offset);
          expect(Array.from(unpack(bytes, width, codes.length, offset))).toEqual(codes);
          const end = offset + width * codes.length;
          for (let k = 0; k < bytes.length * 8; k++) {
            if (k < offset || k >= end) {
              if (bitAt(bytes, k) !== bitAt(background, k)) return false;
            } else {
              // Bit k is bit (k - offset) % width of element (k - offset) / width.
              const code = codes[Math.floor((k - offset) / width)]!;
              if (Math.floor(code / 2 ** ((k - offset) % width)) % 2 !== bitAt(bytes, k)) return false;
            }
          }
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is little-endian within and across bytes', () => {
    const bytes = new Uint8Array(2);
    pack([0b101, 0b011, 0b110], 3, bytes);
    // Elements at bits 0-2, 3-5, 6-8: 101 | 011 << 3 | 110 << 6 = 0b1_1001_1101
    expect(Array.from(bytes)).toEqual([0b10011101, 0b1]);
    expect(readBits(bytes, 6, 3)).toBe(0b110);
    writeBits(bytes, 5, 2, 0b00);
    expect(Array.from(bytes)).toEqual([0b10011101 & ~0b01100000, 0b1]);
  });

  it('reads and writes 32-bit codes above 2^31 as unsigned', () => {
    const bytes = new Uint8Array(9);
    pack([0xffffffff, 0x80000001], 32, bytes, 4);
    expect(Array.from(unpack(bytes, 32, 2, 4))).toEqual([0xffffffff, 0x80000001]);
  });

  it('addresses bits past 2^32 (streams past 512 MiB), not wrapping them onto the stream\'s head', () => {
    const bytes = new Uint8Array(2 ** 29 + 8);
    // Element 2^30 + 1 of 4 bits starts at bit 2^32 + 4; 3 bits at 2^32 + 1 straddle nothing.
    writeBits(bytes, 2 ** 32 + 4, 4, 0xa);
    pack([5, 3], 3, bytes, 2 ** 32 + 9);
    expect(bytes[2 ** 29]).toBe(0xa0);
    expect(bytes[0]).toBe(0);
    expect(bytes[1]).toBe(0);
    expect(readBits(bytes, 2 ** 32 + 4, 4)).toBe(0xa);
    expect(Array.from(unpack(bytes, 3, 2, 2 ** 32 + 9))).toEqual([5, 3]);
    pack([7], 8, bytes, 2 ** 32 + 32);
    expect(Array.from(unpack(bytes, 8, 1, 2 ** 32 + 32))).toEqual([7]);
    expect(bytes[2 ** 29 + 4]).toBe(7);
  });

  it('refuses ranges outside the buffer and widths outside 1..32', () => {
    expect(() => pack([1, 2, 3], 3, new Uint8Array(1))).toThrow(/need 2 bytes; the buffer has 1/);
    expect(() => unpack(new Uint8Array(4), 33, 1)).toThrow(/width 33/);
    expect(packedBytes(3, 8)).toBe(3);
    expect(packedBytes(5, 3)).toBe(2);
  });
});

describe('tensors from codes (src/vm/memory.ts)', () => {
  it('streams codes narrower than a byte into exactly the bytes pack writes, and reads them back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 70 }), fc.integer(), (bits, n, seed) => {
        const codes = Array.from({ length: n }, (_, i) => (Math.imul(seed ^ i, 0x9e3779b1) >>> 7) & ((1 << bits) - 1));
        const name = `u${bits}`;
        const t = tensorFrom(name, [n], codes);
        const expected = new Uint8Array(packedBytes(bits, n));
        pack(codes, bits, expected);
        expect(t.bytes).toEqual(expected);
        expect(Array.from(tensorElements(t))).toEqual(codes);
      }),
      { numRuns: 300 },
    );
  });
});
