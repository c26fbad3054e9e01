// The GPU instruction-selection rules (passes/gpu_rules.ts) and CUDA's own (backends/cuda/rules.ts) on
// lowered kernels: what they replace and what they leave. The shared rules' results are checked against
// the VM on WebGPU (test/backends/webgpu.test.ts, case f16_codes); everything is compiled with nvcc
// (test/backends/cuda.test.ts). CUDA's conversions run only on a GPU (scripts/gpu-check.sh).

import { describe, expect, it } from 'vitest';
import { type Expr, type LModule, f32, forEachExpr, get, op } from '../../ir/loop_ir.ts';
import { emitCudaFile, lowerForCuda } from '../../backends/cuda/emit.ts';
import { flashAttention } from '../../src/kernels/attention.ts';
import { CUDA_RULES } from '../../backends/cuda/rules.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { selectInstructions } from '../../passes/select_instructions.ts';
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

  it('leaves f16 and bf16 rounding to the helpers on WebGPU (WGSL lets conversions round either way), and to the conversions on CUDA', () => {
    const k = compile(`kernel narrow(x: f32[N], y: f16[N], z: bf16[N]) grid(cdiv(N, 128)) threads(64) {
      store y[block.x * 128 :+ 128] = cast<f16>(load x[block.x * 128 :+ 128]);
      store z[block.x * 128 :+ 128] = cast<bf16>(load x[block.x * 128 :+ 128]) * 3.0;
    }`);
    const names = (m: LModule) => kernelExprs(m).flatMap((e) => (e.k === 'intrinsic' ? [e.name] : e.k === 'call' ? [`call ${e.fn}`] : []));
    expect(names(lowerForGpu(k).module)).toEqual(expect.arrayContaining(['call f16_bits', 'call round_f16', 'call round_bf16']));
    const cuda = names(lowerForCuda(k).module);
    expect(cuda.filter((n) => n.startsWith('call '))).toEqual([]);
    // bf16 is rounded twice (the cast, then the product), each by cvt.rn.bf16.f32.
    expect(cuda).toEqual(expect.arrayContaining(['cuda.f16_bits', 'cuda.round_f16']));
    expect(cuda.filter((n) => n === 'cuda.round_bf16').length).toBeGreaterThanOrEqual(2);
  });

  it('on CUDA, drops a rounding to f16 that a conversion to f16 follows at once', () => {
    const select = (e: Expr): Expr => {
      const m: LModule = { functions: [{ name: 'block', result: 'i32', params: [], locals: [], body: [{ k: 'return', value: e }] }], traps: [], data: [], dataBytes: 0, scratchBytes: 0 };
      const [ret] = selectInstructions(m, CUDA_RULES).functions[0]!.body;
      return ret!.k === 'return' ? ret!.value : e;
    };
    const [x, y] = [get('x'), get('y')];
    const call = (fn: string, v: Expr): Expr => ({ k: 'call', fn, type: fn === 'f16_bits' ? 'i32' : 'f32', args: [v] });
    const intrinsic = (name: string, type: 'i32' | 'f32', ...args: Expr[]): Expr => ({ k: 'intrinsic', name, type, args });
    expect(select(intrinsic('gpu.pack_f16x2', 'i32', call('round_f16', x), call('round_f16', y)))).toEqual(intrinsic('gpu.pack_f16x2', 'i32', x, y));
    expect(select(call('f16_bits', call('round_f16', x)))).toEqual(intrinsic('cuda.f16_bits', 'i32', x));
    // Anything between them stays: f16(round(x) * 2) is not f16(x * 2) in general.
    expect(select(call('f16_bits', op('f32.mul', call('round_f16', x), f32(2))))).toEqual(intrinsic('cuda.f16_bits', 'i32', op('f32.mul', intrinsic('cuda.round_f16', 'f32', x), f32(2))));
  });

  it('on CUDA, flash attention reads K for q·kᵀ by ldmatrix from its shared tile and packs P straight from f32', () => {
    const lowered = lowerForCuda(compile(flashAttention({ headDim: 64, causal: true, target: 'gpu' }).source));
    const cu = emitCudaFile([lowered]);
    // K (transpose(load sk[...]) as the B operand) by plain ldmatrix, V by the transposing one: no
    // 16-bit codes go through f32 and back.
    expect(cu.match(/ldmatrix\.sync\.aligned\.m8n8\.x2\.shared\.b16/g)?.length).toBeGreaterThan(0);
    expect(cu.match(/ldmatrix\.sync\.aligned\.m8n8\.x2\.trans\.shared\.b16/g)?.length).toBeGreaterThan(0);
    // P = exp2(...) is packed into A fragments by one rounding conversion per pair, not rounded first.
    expect(cu).not.toMatch(/round_f16/);
    expect(cu).not.toMatch(/tb_pack_f16x2\(__half2float/);
    expect(cu).toMatch(/tb_pack_f16x2\(r_\d+\[/);
  });
});
