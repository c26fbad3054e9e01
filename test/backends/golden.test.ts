// Golden Loop IR of the wasm backend (after instruction selection, without relaxed SIMD so that the
// output does not depend on the engine). Regenerate with UPDATE_GOLDEN=1 after a deliberate change.

import { readFileSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { compileWasm } from '../../backends/wasm/runtime.ts';
import { printModule } from '../../ir/loop_print.ts';
import { compile } from '../../src/api.ts';
import { dequantGemm } from '../../src/kernels/dequant_gemm.ts';

const cases: Record<string, string> = {
  vector_add: readFileSync(new URL('../../examples/vector_add.tile', import.meta.url), 'utf8'),
  dequant_gemv_u4: dequantGemm({ weight: 'u4', groupSize: 32, activation: 'f32', m: 1 }).source,
};

it.each(Object.keys(cases))('%s', (name) => {
  let text = '';
  compileWasm(compile(cases[name]!), { relaxedSimd: false, after: (pass, m) => pass === 'isel' && (text = printModule(m)) });
  const golden = new URL(`./golden/${name}.loop`, import.meta.url);
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
  expect(text).toBe(readFileSync(golden, 'utf8'));
});
