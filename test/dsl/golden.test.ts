// Golden Tile IR: the printed IR of two examples after the whole Tile IR pipeline. Regenerate with
// UPDATE_GOLDEN=1 after a deliberate change, and read the diff.

import { readFileSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { printKernel } from '../../ir/tile_print.ts';
import { compile } from '../../src/api.ts';

it.each(['vector_add', 'softmax', 'dequant_gemm'])('%s', (name) => {
  const source = readFileSync(new URL(`../../examples/${name}.tile`, import.meta.url), 'utf8');
  const text = printKernel(compile(source, { file: `${name}.tile` }));
  const golden = new URL(`./golden/${name}.tir`, import.meta.url);
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
  expect(text).toBe(readFileSync(golden, 'utf8'));
});
