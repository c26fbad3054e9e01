import { describe, expect, it } from 'vitest';
import { NpyError, npyFromTensor, readNpy, tensorFromNpy, writeNpy } from '../../src/io/npy.ts';
import { tensorElements, tensorFrom } from '../../src/vm/memory.ts';

/** A .npy file written the way NumPy 1.x writes one, header text by hand. */
function numpyFile(descr: string, shape: string, data: number[]): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  return new Uint8Array([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0, header.length, 0, ...new TextEncoder().encode(header), ...data]);
}

describe('.npy files', () => {
  it('reads NumPy headers and writes headers NumPy accepts (64-byte aligned)', () => {
    const a = readNpy(numpyFile('<f2', '(2, 1)', [0x00, 0x3c, 0x00, 0xc0]));
    expect(a.shape).toEqual([2, 1]);
    const t = tensorFromNpy(a, 'f16', 'a.npy');
    expect(Array.from(tensorElements(t))).toEqual([1, -2]);
    const written = writeNpy(npyFromTensor(t));
    expect((written.length - 4) % 64).toBe(0);
    expect(new TextDecoder().decode(written.subarray(10, 80))).toContain("'descr': '<f2', 'fortran_order': False, 'shape': (2, 1)");
    expect(readNpy(written)).toEqual(a);
  });
  it('maps narrow types to one uint8 code per element, and accepts int8 for signed types', () => {
    const t = tensorFromNpy(readNpy(numpyFile('|u1', '(4,)', [1, 2, 3, 7])), 'u3', 'w.npy');
    expect(Array.from(t.bytes)).toEqual([0b11010001, 0b1110]);
    const s = tensorFromNpy(readNpy(numpyFile('|i1', '(3,)', [0xff, 0x01, 0xfc])), 'i3', 's.npy');
    expect(Array.from(tensorElements(s))).toEqual([7, 1, 4]); // codes of -1, 1, -4
    expect(Array.from(npyFromTensor(tensorFrom('u3', [4], [1, 2, 3, 7])).data)).toEqual([1, 2, 3, 7]);
  });
  it('says what is wrong with a file', () => {
    expect(() => tensorFromNpy(readNpy(numpyFile('<f4', '(1,)', [0, 0, 0, 0])), 'f16', 'a.npy')).toThrow('a.npy holds float32; a f16 tensor is read from float16');
    expect(() => tensorFromNpy(readNpy(numpyFile('|u1', '(1,)', [9])), 'u3', 'w.npy')).toThrow("w.npy: element 0 is 9, not a 3-bit code of u3");
    expect(() => tensorFromNpy(readNpy(numpyFile('|i1', '(1,)', [0x7f])), 'i4', 'w.npy')).toThrow("w.npy: element 0 is 127, outside i4's range -8..7");
    expect(() => readNpy(new Uint8Array([1, 2, 3]), 'x.npy')).toThrow(NpyError);
    expect(() => readNpy(numpyFile('<f2', '(4,)', [0, 0]), 'x.npy')).toThrow('x.npy is truncated: shape (4) of <f2 needs 8 bytes of data, it has 2');
  });
});
