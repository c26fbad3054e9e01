// Whole files in pieces (src/io/files.ts), as the CUDA runtime and the CLI read and write tensors and
// .npy files that may pass Node's 2 GiB per call (a 2 GiB tensor goes through them in
// test/backends/gpu_addressing.test.ts); here with pieces of a few bytes.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBytes, writeBytes } from '../../src/io/files.ts';

const dir = mkdtempSync(join(tmpdir(), 'tilebit-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('files of bytes in pieces', () => {
  it('write and read back every byte, whatever the piece size', () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff);
    for (const chunk of [1, 7, 999, 1000, 4096]) {
      const path = join(dir, `b${chunk}`);
      writeBytes(path, bytes, chunk);
      expect(new Uint8Array(readFileSync(path))).toEqual(bytes);
      expect(readBytes(path, undefined, chunk)).toEqual(bytes);
      const into = new Uint8Array(1000);
      expect(readBytes(path, into, chunk)).toBe(into);
      expect(into).toEqual(bytes);
    }
  });

  it('refuse a file of another size than the array it fills', () => {
    const path = join(dir, 'short');
    writeFileSync(path, new Uint8Array(10));
    expect(() => readBytes(path, new Uint8Array(11))).toThrow(`${path}: expected 11 bytes, the file holds 10`);
  });
});
