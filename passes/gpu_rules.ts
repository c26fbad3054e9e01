// Instruction-selection rules shared by the GPU targets (CUDA C and WGSL), one row per instruction.
// Each intrinsic they introduce has one line in each GPU emitter.

import type { Expr } from '../ir/loop_ir.ts';
import type { Rule } from './select_instructions.ts';

const isOp = (e: Expr | undefined, name: string): e is Extract<Expr, { k: 'op' }> => e?.k === 'op' && e.op === name;
const isConst = (e: Expr | undefined, value: number): boolean => e?.k === 'const' && e.type === 'i32' && e.value === value;

/**
 * The f32 value of an f16 code by the hardware's conversion (`unpack2x16float` in WGSL, `__half2float`
 * in CUDA), which is exact for every code, subnormals, infinities and NaN included, instead of the
 * bit-twiddling helper `f16_value`. The helper reads only the low 16 bits of its argument, and so does
 * `gpu.f16_lo`; a code taken from the high half of a word (`(w >>> 16) & 0xffff`) becomes `gpu.f16_hi(w)`.
 */
const f16Unpack: Rule = {
  name: 'gpu.f16_unpack',
  rewrite: (e) => {
    if (e.k !== 'call' || e.fn !== 'f16_value') return null;
    let x = e.args[0]!;
    if (isOp(x, 'i32.and') && isConst(x.args[1], 0xffff)) x = x.args[0]!;
    if (isOp(x, 'i32.shr_u') && isConst(x.args[1], 16)) return { k: 'intrinsic', name: 'gpu.f16_hi', type: 'f32', args: [x.args[0]!] };
    return { k: 'intrinsic', name: 'gpu.f16_lo', type: 'f32', args: [x] };
  },
};

export const GPU_RULES: readonly Rule[] = [f16Unpack];
