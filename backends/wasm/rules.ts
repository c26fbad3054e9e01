// Instruction-selection rules for WebAssembly, one row per instruction.

import type { Expr } from '../../ir/loop_ir.ts';
import type { Rule } from '../../passes/select_instructions.ts';

const isOp = (e: Expr | undefined, name: string): e is Extract<Expr, { k: 'op' }> => e?.k === 'op' && e.op === name;

/** a + b * c as one fused (or not: the engine chooses) multiply-add, where relaxed SIMD exists. */
const relaxedMadd: Rule = {
  name: 'f32x4.relaxed_madd',
  rewrite: (e) => {
    if (!isOp(e, 'f32x4.add')) return null;
    const [a, b] = e.args;
    const [acc, product] = isOp(b, 'f32x4.mul') ? [a!, b] : isOp(a, 'f32x4.mul') ? [b!, a] : [null, null];
    if (!acc || !product) return null;
    return { k: 'intrinsic', name: 'wasm.f32x4.relaxed_madd', type: 'v128', args: [product.args[0]!, product.args[1]!, acc] };
  },
};

export interface WasmFeatures {
  readonly relaxedSimd: boolean;
}

export const wasmRules = (features: WasmFeatures): Rule[] => (features.relaxedSimd ? [relaxedMadd] : []);

/** Whether this engine compiles relaxed SIMD: a module with one f32x4.relaxed_madd. */
export function detectFeatures(): WasmFeatures {
  // (module (func (param v128) (result v128) local.get 0 local.get 0 local.get 0 f32x4.relaxed_madd))
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7b, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
    0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x00, 0x20, 0x00, 0xfd, 0x85, 0x02, 0x0b,
  ]);
  return { relaxedSimd: WebAssembly.validate(bytes) };
}
