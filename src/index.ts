// The tilebit library: compile `.tile` source, run kernels on a target, quantize weights, generate
// kernels. `tilebit/testing` holds the property-testing kit.

export { compile, prepareTensors, cloneTensors, type CompileOptions, type Inputs } from './api.ts';
export { runOn as run, TARGETS, type Target, TargetUnavailable } from './targets.ts';
export { type Tensor, allocTensor, tensorFrom, tensorElements } from './vm/memory.ts';
export { quantize, dequantize, quantizationError, type Quantized, type QuantizeOptions } from './quantize.ts';
export { dequantGemm } from './kernels/dequant_gemm.ts';
export { fragmentOrderTensor, fragmentShape, toFragmentOrder, fromFragmentOrder } from './kernels/fragment_order.ts';
export { panelOrderTensor, panelShape, toPanelOrder, fromPanelOrder } from './kernels/panel_order.ts';
export { flashAttention, decodeAttention } from './kernels/attention.ts';
export { DiagnosticError } from '../dsl/diagnostics.ts';
export { dtype } from '../ir/dtype.ts';
export { encode, decode } from '../ir/codec.ts';
