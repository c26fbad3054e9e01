// The GPU instruction-selection rules (passes/gpu_rules.ts) on lowered kernels: what they replace and
// what they leave. Their results are checked against the VM on WebGPU (test/backends/webgpu.test.ts,
// case f16_codes) and compiled with nvcc (test/backends/cuda.test.ts).

import { describe, expect, it } from 'vitest';
import { type Expr, type LModule, forEachExpr } from '../../ir/loop_ir.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { compile } from '../../src/api.ts';

/** Every expression of the kernel's body (the lowering's function 'block'), not of its helpers. */
function kernelExprs(m: LModule): Expr[] {
  const out: Expr[] = [];
  for (const f of m.functions) if (f.name === 'block') forEachExpr(f.body, (e) => out.push(e));
  return out;
}

describe('GPU instruction selection', () => {
  it('turns f16 codes into f32 by the hardware conversion, taking the high half of a word directly', () => {
    const k = compile(`kernel halves(x: f16[N], y: f32[N]) grid(cdiv(N, 128)) threads(64) {
      store y[block.x * 128 :+ 128] = cast<f32>(load x[block.x * 128 :+ 128]);
    }`);
    const body = kernelExprs(lowerForGpu(k).module);
    const names = body.flatMap((e) => (e.k === 'intrinsic' ? [e.name] : e.k === 'call' ? [`call ${e.fn}`] : []));
    expect(names).not.toContain('call f16_value');
    expect(names).toContain('gpu.f16_lo');
    expect(names).toContain('gpu.f16_hi');
    // The high half is read from the word itself, with no shift or mask left around it.
    for (const e of body) if (e.k === 'intrinsic' && e.name === 'gpu.f16_hi') expect(e.args[0]!.k === 'op' && ['i32.shr_u', 'i32.and'].includes(e.args[0]!.op)).toBe(false);
  });

  it('leaves f16 stores to the rounding helpers (no conversion instruction rounds as the VM does everywhere)', () => {
    const k = compile(`kernel narrow(x: f32[N], y: f16[N]) grid(cdiv(N, 128)) threads(64) {
      store y[block.x * 128 :+ 128] = cast<f16>(load x[block.x * 128 :+ 128]);
    }`);
    const calls = kernelExprs(lowerForGpu(k).module).flatMap((e) => (e.k === 'call' ? [e.fn] : []));
    expect(calls).toContain('f16_bits');
  });
});
