// Instruction-selection rules for CUDA only, one row per instruction: f32 to f16 and bf16 rounding by
// the hardware's conversions (cvt.rn.f16.f32, cvt.rn.bf16.f32 on sm_80 and later), which round to
// nearest, ties to even, keep subnormals and overflow to infinity exactly as the branchy helpers of
// passes/lower/float_bits.ts do. WebGPU keeps the helpers: WGSL leaves the rounding of its f32-to-f16
// conversions to the implementation. A NaN stays a NaN, possibly with another payload (DESIGN.md fixes
// none): the conversions give the canonical one.

import type { Expr } from '../../ir/loop_ir.ts';
import type { Rule } from '../../passes/select_instructions.ts';

const intrinsic = (name: string, type: 'i32' | 'f32', ...args: Expr[]): Expr => ({ k: 'intrinsic', name, type, args });
const isIntrinsic = (e: Expr | undefined, name: string): e is Extract<Expr, { k: 'intrinsic' }> => e?.k === 'intrinsic' && e.name === name;

/** A call of a float_bits helper as the intrinsic that does it in hardware. */
const helper = (fn: string, name: string, type: 'i32' | 'f32'): Rule => ({
  name,
  rewrite: (e) => (e.k === 'call' && e.fn === fn ? intrinsic(name, type, e.args[0]!) : null),
});

/**
 * A rounding to f16 whose result is converted to f16 again (packed as a pair, or taken as a code)
 * disappears: that conversion rounds to nearest even itself, and rounding twice to one format gives what
 * rounding once does.
 */
const roundThenConvert: Rule = {
  name: 'cuda.round_f16 folded into the conversion',
  rewrite: (e) => {
    if (e.k !== 'intrinsic' || !['gpu.pack_f16x2', 'cuda.f16_bits'].includes(e.name) || !e.args.some((a) => isIntrinsic(a, 'cuda.round_f16'))) return null;
    return { ...e, args: e.args.map((a) => (isIntrinsic(a, 'cuda.round_f16') ? a.args[0]! : a)) };
  },
};

export const CUDA_RULES: readonly Rule[] = [
  helper('round_f16', 'cuda.round_f16', 'f32'),
  helper('round_bf16', 'cuda.round_bf16', 'f32'),
  // The f16 code of an f32 that holds an f16 value: the conversion is exact there.
  helper('f16_bits', 'cuda.f16_bits', 'i32'),
  roundThenConvert,
];
