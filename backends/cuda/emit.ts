// CUDA C emission: Loop IR of the GPU lowering printed as one `extern "C" __global__` kernel per Tile IR
// kernel. Every global buffer is an `unsigned char*` addressed in bytes, shared memory one byte array,
// constant tables a `__constant__` array of words. Arithmetic keeps the VM's semantics: i32 wraps
// (done in unsigned arithmetic, since signed overflow is undefined in C), shift counts are taken mod 32,
// f32 operations use the round-to-nearest intrinsics (`__fadd_rn`, ...) that the compiler never fuses,
// and min/max propagate NaN. A failed assert records its code in `tb_err` and ends the block.

import { type Expr, type LFunction, type LModule, type LType, type Stmt, dataImage, forEachExpr, typeOf } from '../../ir/loop_ir.ts';
import { printSym } from '../../ir/sym.ts';
import type { Kernel } from '../../ir/tile_ir.ts';
import type { GpuFeatures, GpuLowering } from '../../passes/lower_gpu.ts';
import { lowerForGpu } from '../../passes/pipeline.ts';
import { GPU_TENSOR_MAX_BYTES } from '../gpu_addressing.ts';
import { CUDA_RULES } from './rules.ts';

export class CudaEmitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CudaEmitError';
  }
}

const ctype = (t: LType): string => {
  if (t === 'v128') throw new CudaEmitError('v128 values have no CUDA lowering');
  return t === 'f32' ? 'float' : 'int';
};

/** A C identifier for a memory space. */
const memPointer = (mem: string): string => (mem === 'shared' ? 'smem' : `g_${mem.slice(2)}`);

/**
 * The byte pointer `addr` bytes (plus the constant `offset`) into a memory. Global offsets are unsigned,
 * so that a tensor may hold up to 4 GiB; the constant is added to the pointer, where nvcc folds it into
 * the access's immediate offset.
 */
const memAt = (mem: string, addr: string, offset = 0): string =>
  mem === 'shared' ? `(smem + (${addr})${offset ? ` + ${offset}` : ''})` : `(${memPointer(mem)} + (unsigned)(${addr})${offset ? ` + ${offset}` : ''})`;

/**
 * An address as a base and a constant: a global address x + c (c >= 0) is x bytes and then c more, the
 * same byte for every tensor below 4 GiB, and the constant becomes the access's immediate offset.
 */
function splitConstant(mem: string, addr: Expr, offset: number): { readonly base: Expr; readonly offset: number } {
  if (mem === 'shared') return { base: addr, offset };
  let [base, c] = [addr, offset];
  while (base.k === 'op' && base.op === 'i32.add' && base.args[1]!.k === 'const' && base.args[1]!.value >= 0) {
    c += base.args[1]!.value;
    base = base.args[0]!;
  }
  return { base, offset: c };
}

/**
 * The T at byte pointer p (global or shared memory), an lvalue: TB_REF, a plain dereference on the GPU,
 * through which the CPU build watches the accesses (TILEBIT_HOST_PROFILE).
 */
const memRef = (type: string, p: string): string => `TB_REF(${type}, ${p})`;

function f32Literal(v: number): string {
  if (Number.isNaN(v)) return '__int_as_float(0x7fc00000)';
  if (v === Infinity) return '__int_as_float(0x7f800000)';
  if (v === -Infinity) return '__int_as_float(0xff800000)';
  if (Object.is(v, -0)) return '(-0.0f)';
  const s = String(Math.fround(v));
  return `${/[.e]/.test(s) ? s : `${s}.0`}f`;
}

const i32Literal = (v: number): string => (v === -0x80000000 ? '(-2147483647 - 1)' : v < 0 ? `(${v})` : String(v));

const U = (x: string): string => `((unsigned)${x})`;

const BINARY: Readonly<Record<string, (a: string, b: string) => string>> = {
  'i32.add': (a, b) => `((int)(${U(a)} + ${U(b)}))`,
  'i32.sub': (a, b) => `((int)(${U(a)} - ${U(b)}))`,
  'i32.mul': (a, b) => `((int)(${U(a)} * ${U(b)}))`,
  'i32.div_s': (a, b) => `(${a} / ${b})`,
  'i32.rem_s': (a, b) => `(${a} % ${b})`,
  'i32.div_u': (a, b) => `((int)(${U(a)} / ${U(b)}))`,
  'i32.rem_u': (a, b) => `((int)(${U(a)} % ${U(b)}))`,
  'i32.and': (a, b) => `(${a} & ${b})`,
  'i32.or': (a, b) => `(${a} | ${b})`,
  'i32.xor': (a, b) => `(${a} ^ ${b})`,
  'i32.shl': (a, b) => `((int)(${U(a)} << (${b} & 31)))`,
  'i32.shr_s': (a, b) => `(${a} >> (${b} & 31))`,
  'i32.shr_u': (a, b) => `((int)(${U(a)} >> (${b} & 31)))`,
  'i32.eq': (a, b) => `((int)(${a} == ${b}))`,
  'i32.ne': (a, b) => `((int)(${a} != ${b}))`,
  'i32.lt_s': (a, b) => `((int)(${a} < ${b}))`,
  'i32.le_s': (a, b) => `((int)(${a} <= ${b}))`,
  'i32.gt_s': (a, b) => `((int)(${a} > ${b}))`,
  'i32.ge_s': (a, b) => `((int)(${a} >= ${b}))`,
  'i32.lt_u': (a, b) => `((int)(${U(a)} < ${U(b)}))`,
  'i32.le_u': (a, b) => `((int)(${U(a)} <= ${U(b)}))`,
  'i32.gt_u': (a, b) => `((int)(${U(a)} > ${U(b)}))`,
  'i32.ge_u': (a, b) => `((int)(${U(a)} >= ${U(b)}))`,
  'i32.min_s': (a, b) => `min(${a}, ${b})`,
  'i32.max_s': (a, b) => `max(${a}, ${b})`,
  'f32.add': (a, b) => `__fadd_rn(${a}, ${b})`,
  'f32.sub': (a, b) => `__fsub_rn(${a}, ${b})`,
  'f32.mul': (a, b) => `__fmul_rn(${a}, ${b})`,
  'f32.div': (a, b) => `__fdiv_rn(${a}, ${b})`,
  'f32.min': (a, b) => `tb_fmin(${a}, ${b})`,
  'f32.max': (a, b) => `tb_fmax(${a}, ${b})`,
  'f32.copysign': (a, b) => `copysignf(${a}, ${b})`,
  'f32.eq': (a, b) => `((int)(${a} == ${b}))`,
  'f32.ne': (a, b) => `((int)(${a} != ${b}))`,
  'f32.lt': (a, b) => `((int)(${a} < ${b}))`,
  'f32.le': (a, b) => `((int)(${a} <= ${b}))`,
  'f32.gt': (a, b) => `((int)(${a} > ${b}))`,
  'f32.ge': (a, b) => `((int)(${a} >= ${b}))`,
};

const UNARY: Readonly<Record<string, (a: string) => string>> = {
  'i32.eqz': (a) => `((int)(${a} == 0))`,
  'i32.clz': (a) => `__clz(${a})`,
  'f32.abs': (a) => `fabsf(${a})`,
  'f32.neg': (a) => `(-${a})`,
  'f32.sqrt': (a) => `__fsqrt_rn(${a})`,
  'f32.nearest': (a) => `rintf(${a})`,
  'f32.floor': (a) => `floorf(${a})`,
  'f32.ceil': (a) => `ceilf(${a})`,
  'f32.trunc': (a) => `truncf(${a})`,
  'f32.from_i32_s': (a) => `__int2float_rn(${a})`,
  'f32.from_i32_u': (a) => `__uint2float_rn(${U(a)})`,
  // cvt.rzi saturates and maps NaN to 0, as the VM does.
  'i32.from_f32_sat_s': (a) => `__float2int_rz(${a})`,
  'i32.from_f32_sat_u': (a) => `((int)__float2uint_rz(${a}))`,
  'f32.from_bits': (a) => `__int_as_float(${a})`,
  'i32.bits_of': (a) => `__float_as_int(${a})`,
};

const MATH: Readonly<Record<string, string>> = { exp: 'expf', exp2: 'exp2f', log: 'logf', log2: 'log2f', rsqrt: 'rsqrtf', fmod: 'fmodf', fma: '__fmaf_rn' };

/**
 * Helpers every kernel file starts with. Each PTX instruction the kernels use is one helper here, so
 * that a host compilation (TILEBIT_HOST: backends/cuda/host/tilebit_host.h, for tests on machines
 * without a GPU) can give its own definition; the kernels themselves are plain CUDA C.
 */
const PRELUDE = `#ifdef TILEBIT_HOST
// CUDA C on the CPU (backends/cuda/host/tilebit_host.h): the CUDA API these kernels use and the helpers
// below that are PTX, each thread of a block a fiber.
#include "tilebit_host.h"
#else
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#pragma nv_diag_suppress 177
#pragma nv_diag_suppress 550
// The T at byte pointer p (CPU builds watch these accesses).
#define TB_REF(T, p) (*(T*)(p))
// The block's shared memory: static, or beyond the static 48 KB and sized at launch.
#define TB_SHARED(name, bytes) __shared__ __align__(16) unsigned char name[bytes]
#define TB_DYNAMIC_SHARED(name) extern __shared__ __align__(16) unsigned char name[]

// Two f16 pairs multiplied lane by lane, each product rounded once to nearest even (mul.rn: never
// contracted into a fused multiply-add; subnormals kept: no .ftz).
static __device__ __forceinline__ int tb_hmul2(int a, int b) {
  int d;
  asm("mul.rn.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}
// a * b + c on two bf16 pairs lane by lane, rounded once (fma.rn.bf16x2, which sm_80 has and which keeps
// subnormals: bf16 has no .ftz). The bf16x2 subtraction a - b is b * -1 + a (sm_80 has no bf16x2
// subtraction), the multiplication a * b is a * b + -0 (which leaves every product as it is, zeros'
// signs included).
static __device__ __forceinline__ int tb_bfma2(int a, int b, int c) {
  int d;
  asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}
// prmt.b32: byte n of the result is byte s_n & 7 of the eight of b:a (a's bytes 0..3, b's 4..7), s_n
// the selector's nibble n; where s_n's bit 3 is set, that byte's top bit in all eight (the default
// mode, which CUDA's __byte_perm does not document: it masks its selectors to their low three bits).
static __device__ __forceinline__ int tb_prmt(int a, int b, int s) {
  int d;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(s));
  return d;
}
// Two f32 values rounded to bf16 (to nearest even) as one word of bf16 codes, the first in the low half.
static __device__ __forceinline__ int tb_pack_bf16x2(float lo, float hi) {
  int d;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
}
// N bytes (4, 8 or 16) copied from global to shared memory by cp.async (sm_80 and later: .cg, L2 only,
// for 16 bytes, .ca for 4 and 8), in the thread's current group; a plain copy before sm_80.
template <int N>
static __device__ __forceinline__ void tb_cp_async(unsigned char* shared, const unsigned char* global) {
#if __CUDA_ARCH__ >= 800
  if (N == 16) asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\\n" :: "r"((unsigned)__cvta_generic_to_shared(shared)), "l"(global) : "memory");
  else asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\\n" :: "r"((unsigned)__cvta_generic_to_shared(shared)), "l"(global), "n"(N) : "memory");
#else
  struct W { int w[N / 4]; };
  *(W*)shared = *(const W*)global;
#endif
}
// Closes the thread's group of copies.
static __device__ __forceinline__ void tb_cp_async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\\n" ::: "memory");
#endif
}
// Waits until at most N of the thread's groups are still in flight.
template <int N>
static __device__ __forceinline__ void tb_cp_async_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\\n" :: "n"(N) : "memory");
#endif
}
// ldmatrix.m8n8 for 1, 2 or 4 matrices of 8 x 8 16-bit elements, transposed or not: lane l gives the
// address of row l % 8 of matrix l / 8 (in shared memory) and receives one word of each matrix.
template <bool Trans>
static __device__ __forceinline__ void tb_ldmatrix_x4(const unsigned char* p, int& r0, int& r1, int& r2, int& r3) {
  if (Trans) asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\\n" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"((unsigned)__cvta_generic_to_shared(p)));
  else asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\\n" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"((unsigned)__cvta_generic_to_shared(p)));
}
template <bool Trans>
static __device__ __forceinline__ void tb_ldmatrix_x2(const unsigned char* p, int& r0, int& r1) {
  if (Trans) asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\\n" : "=r"(r0), "=r"(r1) : "r"((unsigned)__cvta_generic_to_shared(p)));
  else asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\\n" : "=r"(r0), "=r"(r1) : "r"((unsigned)__cvta_generic_to_shared(p)));
}
template <bool Trans>
static __device__ __forceinline__ void tb_ldmatrix_x1(const unsigned char* p, int& r0) {
  if (Trans) asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\\n" : "=r"(r0) : "r"((unsigned)__cvta_generic_to_shared(p)));
  else asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\\n" : "=r"(r0) : "r"((unsigned)__cvta_generic_to_shared(p)));
}
// The tensor-core instruction of sm_80 and later, m16n8k16 with f32 accumulators read and written:
// a0..a3 and b0, b1 are the warp's A and B fragments (pairs of f16 or bf16 codes), d0..d3 its C.
static __device__ __forceinline__ void tb_mma_f16(float& d0, float& d1, float& d2, float& d3, int a0, int a1, int a2, int a3, int b0, int b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\\n"
    : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
static __device__ __forceinline__ void tb_mma_bf16(float& d0, float& d1, float& d2, float& d3, int a0, int a1, int a2, int a3, int b0, int b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\\n"
    : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
#endif

// min and max that propagate NaN and order -0 below +0, as the VM does.
static __device__ __forceinline__ float tb_fmax(float a, float b) {
  if (a != a || b != b) return __int_as_float(0x7fc00000);
  if (a == b) return __int_as_float(__float_as_int(a) & __float_as_int(b));
  return a > b ? a : b;
}
static __device__ __forceinline__ float tb_fmin(float a, float b) {
  if (a != a || b != b) return __int_as_float(0x7fc00000);
  if (a == b) return __int_as_float(__float_as_int(a) | __float_as_int(b));
  return a < b ? a : b;
}
// Two f32 values, each exactly an f16, as one word of f16 codes (the first in the low half).
static __device__ __forceinline__ int tb_pack_f16x2(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<int*>(&h);
}
// Two f16 pairs (words of two codes, low half first) subtracted lane by lane.
static __device__ __forceinline__ int tb_hsub2(int a, int b) {
  __half2 h = __hsub2(*reinterpret_cast<__half2*>(&a), *reinterpret_cast<__half2*>(&b));
  return *reinterpret_cast<int*>(&h);
}
// a * b + c on two f16 pairs lane by lane, rounded once (fma.rn.f16x2).
static __device__ __forceinline__ int tb_hfma2(int a, int b, int c) {
  __half2 h = __hfma2(*reinterpret_cast<__half2*>(&a), *reinterpret_cast<__half2*>(&b), *reinterpret_cast<__half2*>(&c));
  return *reinterpret_cast<int*>(&h);
}
// An f32 added atomically to the word at p, with subnormals kept (a compare-and-swap loop: atomicAdd on
// floats in global memory flushes subnormals to zero).
static __device__ __forceinline__ void tb_atomic_fadd(unsigned* p, float v) {
  unsigned old = *p, seen;
  do {
    seen = old;
    old = atomicCAS(p, seen, __float_as_uint(__fadd_rn(__uint_as_float(seen), v)));
  } while (old != seen);
}
// Field \`index\` of \`width\` bits (1..8) of the little-endian bit stream at p + base. The lowering keeps
// index * width small (global fields are indexed within blocks of a few bytes, passes/lower/memory.ts
// fieldBlock), so it fits 32 bits for tensors of up to 4 GiB.
static __device__ __forceinline__ int tb_bits(const unsigned char* p, int base, int index, int width) {
  unsigned bit = (unsigned)index * (unsigned)width;
  const unsigned char* q = p + (unsigned)base + (bit >> 3);
  unsigned sh = bit & 7u;
  unsigned v = TB_REF(const unsigned char, q);
  if (sh + (unsigned)width > 8u) v |= (unsigned)TB_REF(const unsigned char, q + 1) << 8;
  return (int)((v >> sh) & ((1u << width) - 1u));
}
// The same for widths dividing 8 (1, 2, 4, 8 bits), whose fields never straddle a byte: one byte read
// and no branch (nvcc does not prove that the straddle test above is always false).
static __device__ __forceinline__ int tb_bits_in_byte(const unsigned char* p, int base, int index, int width) {
  unsigned bit = (unsigned)index * (unsigned)width;
  return (int)(((unsigned)TB_REF(const unsigned char, p + (unsigned)base + (bit >> 3)) >> (bit & 7u)) & ((1u << width) - 1u));
}
`;

class Printer {
  constructor(readonly prefix: string) {}

  /** The byte pointer at address `addr` (plus `offset`) of a memory (memAt, splitConstant). */
  at(mem: string, addr: Expr, offset = 0): string {
    const split = splitConstant(mem, addr, offset);
    return memAt(mem, this.expr(split.base), split.offset);
  }

  expr(e: Expr): string {
    switch (e.k) {
      case 'const':
        return e.type === 'f32' ? f32Literal(e.value) : i32Literal(e.value);
      case 'vconst':
        throw new CudaEmitError('v128 constants have no CUDA lowering');
      case 'get':
        return e.name;
      case 'load': {
        if (e.mem === undefined) {
          if (e.bits !== 32) throw new CudaEmitError(`a ${e.bits}-bit load of constant data`);
          const w = `${this.prefix}_data[(${this.expr(e.addr)}${e.offset ? ` + ${e.offset}` : ''}) >> 2]`;
          return e.type === 'f32' ? `__int_as_float((int)${w})` : `((int)${w})`;
        }
        const p = this.at(e.mem, e.addr, e.offset);
        if (e.type === 'v128') throw new CudaEmitError('v128 loads have no CUDA lowering');
        const ref = (type: string): string => memRef(type, p);
        if (e.bits === 32) return ref(e.type === 'f32' ? 'const float' : 'const int');
        if (e.bits === 16) return `((int)${ref(e.signed ? 'const short' : 'const unsigned short')})`;
        if (e.bits === 8) return `((int)${ref(e.signed ? 'const signed char' : 'const unsigned char')})`;
        throw new CudaEmitError(`a ${e.bits}-bit load`);
      }
      case 'bits':
        if (e.mem === undefined) throw new CudaEmitError('a bit field of constant data');
        return `${8 % e.width === 0 ? 'tb_bits_in_byte' : 'tb_bits'}(${memPointer(e.mem)}, ${this.expr(e.base)}, ${this.expr(e.index)}, ${e.width})`;
      case 'op': {
        const args = e.args.map((a) => this.expr(a));
        const b = BINARY[e.op];
        if (b && args.length === 2) return b(args[0]!, args[1]!);
        const u = UNARY[e.op];
        if (u && args.length === 1) return u(args[0]!);
        throw new CudaEmitError(`operation ${e.op} has no CUDA lowering`);
      }
      case 'select':
        return `(${this.expr(e.cond)} ? ${this.expr(e.a)} : ${this.expr(e.b)})`;
      case 'math':
        return `${MATH[e.fn]}(${e.args.map((a) => this.expr(a)).join(', ')})`;
      case 'call':
        return `${this.prefix}_${e.fn}(${e.args.map((a) => this.expr(a)).join(', ')})`;
      case 'intrinsic': {
        const [x, y] = e.args.map((a) => this.expr(a));
        // Warps are 32 lanes, lane = thread index % 32, and the lowering exchanges only where every
        // thread of the block runs (blocks of whole warps: see CUDA_FEATURES).
        if (e.name === 'gpu.shuffle_xor') return `__shfl_xor_sync(0xffffffffu, ${x}, ${y})`;
        if (e.name === 'gpu.f16_lo') return `__half2float(__ushort_as_half((unsigned short)(${x})))`;
        if (e.name === 'gpu.f16_hi') return `__half2float(__ushort_as_half((unsigned short)(${U(x!)} >> 16)))`;
        if (e.name === 'gpu.pack_f16x2') return `tb_pack_f16x2(${x}, ${y})`;
        if (e.name === 'gpu.fma') return `__fmaf_rn(${x}, ${y}, ${this.expr(e.args[2]!)})`;
        if (e.name === 'gpu.f16x2_sub') return `tb_hsub2(${x}, ${y})`;
        if (e.name === 'gpu.f16x2_fma') return `tb_hfma2(${x}, ${y}, ${this.expr(e.args[2]!)})`;
        if (e.name === 'gpu.f16x2_mul') return `tb_hmul2(${x}, ${y})`;
        if (e.name === 'gpu.bf16x2_sub') return `tb_bfma2(${y}, (int)0xbf80bf80, ${x})`;
        if (e.name === 'gpu.bf16x2_mul') return `tb_bfma2(${x}, ${y}, (int)0x80008000)`;
        if (e.name === 'gpu.pack_bf16x2') return `tb_pack_bf16x2(${x}, ${y})`;
        // backends/cuda/rules.ts: rounding by the hardware's conversions.
        if (e.name === 'cuda.round_f16') return `__half2float(__float2half_rn(${x}))`;
        if (e.name === 'cuda.round_bf16') return `__bfloat162float(__float2bfloat16_rn(${x}))`;
        if (e.name === 'cuda.f16_bits') return `(int)__half_as_ushort(__float2half_rn(${x}))`;
        if (e.name === 'gpu.byte_perm') return `(int)__byte_perm((unsigned)(${x}), (unsigned)(${y}), (unsigned)(${this.expr(e.args[2]!)}))`;
        if (e.name === 'gpu.prmt') return `tb_prmt(${x}, ${y}, ${this.expr(e.args[2]!)})`;
        if (e.name === 'gpu.dot4_i8') return `__dp4a(${x}, ${y}, 0)`;
        if (e.name === 'gpu.dot4_u8') return `(int)__dp4a((unsigned)(${x}), (unsigned)(${y}), 0u)`;
        throw new CudaEmitError(`intrinsic ${e.name} has no CUDA lowering`);
      }
      case 'aget':
        return `${e.array}[${this.expr(e.index)}]`;
    }
  }

  stmts(body: readonly Stmt[], indent: string, out: string[]): void {
    for (const s of body) this.stmt(s, indent, out);
  }

  stmt(s: Stmt, indent: string, out: string[]): void {
    switch (s.k) {
      case 'set':
        out.push(`${indent}${s.name} = ${this.expr(s.value)};`);
        return;
      case 'loadwords': {
        const p = this.at(s.mem, s.addr);
        const n = s.names.length;
        if (n === 1) out.push(`${indent}${s.names[0]} = ${memRef('const int', p)};`);
        else {
          const lanes = ['x', 'y', 'z', 'w'];
          out.push(`${indent}{ const int${n} v_ = ${memRef(`const int${n}`, p)}; ${s.names.map((x, i) => `${x} = v_.${lanes[i]};`).join(' ')} }`);
        }
        return;
      }
      case 'storewords': {
        const p = this.at(s.mem, s.addr);
        const n = s.values.length;
        const vs = s.values.map((v) => this.expr(v));
        out.push(n === 1 ? `${indent}${memRef('int', p)} = ${vs[0]};` : `${indent}${memRef(`int${n}`, p)} = make_int${n}(${vs.join(', ')});`);
        return;
      }
      case 'copywords': {
        const [from, to] = [this.at(s.mem, s.addr), memAt('shared', this.expr(s.sharedAddr))];
        out.push(`${indent}tb_cp_async<${4 * s.words}>(${to}, ${from});`);
        return;
      }
      case 'asynccommit':
        out.push(`${indent}tb_cp_async_commit();`);
        return;
      case 'asyncwait':
        out.push(`${indent}tb_cp_async_wait<${s.pending}>();`);
        return;
      case 'ldmatrix':
        out.push(`${indent}tb_ldmatrix_x${s.names.length}<${s.trans}>(smem + (${this.expr(s.addr)}), ${s.names.join(', ')});`);
        return;
      case 'mma': {
        // The accumulator registers are read and written.
        const acc = s.at.map((j) => `${s.acc}[${this.expr(j)}]`);
        const ins = [...s.a, ...s.b].map((w) => this.expr(w));
        out.push(`${indent}tb_mma_${s.type}(${acc.join(', ')},`, `${indent}  ${ins.join(', ')});`);
        return;
      }
      case 'aset':
        out.push(`${indent}${s.array}[${this.expr(s.index)}] = ${this.expr(s.value)};`);
        return;
      case 'store': {
        if (s.mem === undefined) throw new CudaEmitError('a store to constant data');
        const p = this.at(s.mem, s.addr, s.offset);
        const v = this.expr(s.value);
        if (s.bits === 32) out.push(`${indent}${memRef('int', p)} = ${v};`);
        else if (s.bits === 16) out.push(`${indent}${memRef('unsigned short', p)} = (unsigned short)${v};`);
        else if (s.bits === 8) out.push(`${indent}${memRef('unsigned char', p)} = (unsigned char)${v};`);
        else throw new CudaEmitError('128-bit stores have no CUDA lowering yet');
        return;
      }
      case 'atomic': {
        if (s.mem === undefined) throw new CudaEmitError('an atomic on constant data');
        const p = `&${memRef('unsigned', this.at(s.mem, s.addr))}`;
        if (s.op === 'fadd') out.push(`${indent}tb_atomic_fadd(${p}, ${this.expr(s.value)});`);
        else out.push(`${indent}${{ and: 'atomicAnd', or: 'atomicOr', add: 'atomicAdd' }[s.op]}(${p}, ${U(this.expr(s.value))});`);
        return;
      }
      case 'for':
        if (s.unroll !== undefined) out.push(`${indent}#pragma unroll${s.unroll ? '' : ' 1'}`);
        out.push(`${indent}for (${s.var} = ${this.expr(s.start)}; ${s.var} < ${this.expr(s.end)}; ${s.var} += ${this.expr(s.step)}) {`);
        this.stmts(s.body, indent + '  ', out);
        out.push(`${indent}}`);
        return;
      case 'if':
        out.push(`${indent}if (${this.expr(s.cond)}) {`);
        this.stmts(s.then, indent + '  ', out);
        if (s.else.length) {
          out.push(`${indent}} else {`);
          this.stmts(s.else, indent + '  ', out);
        }
        out.push(`${indent}}`);
        return;
      case 'barrier':
        out.push(`${indent}__syncthreads();`);
        return;
      case 'trap':
        out.push(`${indent}{ atomicCAS(tb_err, 0, ${s.code}); return; }`);
        return;
      case 'return':
        out.push(`${indent}return ${this.expr(s.value)};`);
        return;
    }
  }

  helper(f: LFunction): string {
    const out: string[] = [];
    const params = f.params.map((p) => `${ctype(p.type)} ${p.name}`).join(', ');
    out.push(`static __device__ ${f.result ? ctype(f.result) : 'void'} ${this.prefix}_${f.name}(${params}) {`);
    for (const l of f.locals) out.push(`  ${ctype(l.type)} ${l.name} = 0;`);
    this.stmts(f.body, '  ', out);
    out.push('}');
    return out.join('\n');
  }
}

/** 32-bit stores of f32 values store their bits: every store the printer sees writes an int. */
function typedStores(f: LFunction): LFunction {
  const types = new Map<string, LType>([...f.params, ...f.locals, ...(f.arrays ?? [])].map((l) => [l.name, l.type]));
  const fix = (body: readonly Stmt[]): Stmt[] =>
    body.map((s): Stmt => {
      if (s.k === 'store' && typeOf(s.value, types) === 'f32') return { ...s, value: { k: 'op', op: 'i32.bits_of', args: [s.value] } };
      if (s.k === 'for') return { ...s, body: fix(s.body) };
      if (s.k === 'if') return { ...s, then: fix(s.then), else: fix(s.else) };
      return s;
    });
  return { ...f, body: fix(f.body) };
}

/**
 * CUDA's limits: 1024 threads per block; 48 KiB of static shared memory, and up to 227 KiB per block
 * dynamically (sm_90; sm_80 allows 163 KiB: the launch then fails with the driver's message). Kernels
 * that need more than the static limit declare their shared memory `extern` and are launched with its
 * size, after cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes).
 */
export const CUDA_LIMITS = { threads: 1024, staticSharedBytes: 48 * 1024, sharedBytes: 227 * 1024 } as const;

/** The bytes of dynamic shared memory a kernel is launched with: 0 where static shared memory holds it. */
export const dynamicSharedBytes = (lowered: GpuLowering): number => (lowered.sharedBytes > CUDA_LIMITS.staticSharedBytes ? lowered.sharedBytes : 0);

/**
 * What every CUDA GPU tilebit targets (sm_80 and later) offers the lowering: warps of 32 lanes for
 * reductions by shuffle (used only in blocks of whole warps), __dp4a for 8-bit dots, and mma.sync
 * (m16n8k16) for f16 and bf16 dots; minifloats of 5 to 8 bits decode by arithmetic, not from tables in
 * constant memory.
 */
export const CUDA_FEATURES: GpuFeatures = { subgroupMinSize: 32, dot4x8: true, mma: 'native', minifloatArithmetic: true, bytePermute: true };

/** What CUDA C adds to a kernel's launch: the minimum blocks per SM of its `__launch_bounds__`. */
export interface CudaOptions {
  /**
   * Blocks that must fit on one SM together: ptxas then caps each thread's registers at what allows
   * them (and spills what does not fit). Default: 1 for kernels on tensor cores (no cap; capping spilled
   * the u2 dequant GEMM at 16 rows), none for the others (ptxas's own choice, which favours occupancy).
   * Flash attention at head size 64: 155 registers and 3 blocks per SM; with 4, 128 registers, no spills.
   */
  readonly minBlocksPerSm?: number;
}

/** A kernel lowered for CUDA, with the options of its launch bounds. */
export type CudaLowering = GpuLowering & CudaOptions;

/** Tile IR -> Loop IR for CUDA: the GPU lowering with CUDA_FEATURES, and CUDA's instruction-selection rules. */
export function lowerForCuda(k: Kernel, after?: (name: string, m: LModule) => void, options: CudaOptions = {}): CudaLowering {
  const lowered = lowerForGpu(k, after, CUDA_FEATURES, CUDA_RULES);
  const blocks = options.minBlocksPerSm;
  if (blocks === undefined) return lowered;
  // An SM holds at most 2048 threads (sm_80, sm_90) and 32 blocks.
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > 32 || blocks * lowered.threads > 2048) {
    throw new CudaEmitError(`kernel ${k.name}: ${blocks} blocks of ${lowered.threads} threads cannot share one SM (at most 2048 threads and 32 blocks)`);
  }
  return { ...lowered, minBlocksPerSm: blocks };
}

/** The CUDA C of one lowered kernel (without the file's prelude). */
export function emitCudaKernel(lowered: CudaLowering): string {
  const name = lowered.kernel.name;
  if (lowered.threads > CUDA_LIMITS.threads) {
    throw new CudaEmitError(`kernel ${name} has ${lowered.threads} threads per block; CUDA allows ${CUDA_LIMITS.threads} (${lowered.threads - CUDA_LIMITS.threads} too many)`);
  }
  if (lowered.sharedBytes > CUDA_LIMITS.sharedBytes) {
    throw new CudaEmitError(
      `kernel ${name} needs ${lowered.sharedBytes} bytes of shared memory (its allocations and the scratch its layout conversions use); a block may have at most ${CUDA_LIMITS.sharedBytes} bytes (sm_90; ${lowered.sharedBytes - CUDA_LIMITS.sharedBytes} over)`,
    );
  }
  const m: LModule = lowered.module;
  const pr = new Printer(name);
  const out: string[] = [];
  const image = dataImage(m);
  const words = new Uint32Array(image.buffer, image.byteOffset, image.length / 4);
  out.push(`__constant__ unsigned int ${name}_data[${words.length}] = {${[...words].map((w) => `0x${w.toString(16)}u`).join(', ')}};`, '');
  const block = m.functions.find((f) => f.name === 'block')!;
  const used = usedHelpers(m);
  for (const f of m.functions) if (f !== block && used.has(f.name)) out.push(pr.helper(f), '');
  const params = [
    ...lowered.buffers.map((b) => `unsigned char* __restrict__ g_${b.tensor}`),
    ...lowered.args.map((a) => `${ctype(a.type)} ${a.name}`),
    'int* __restrict__ tb_err',
    ...(lowered.blockOffsets ? ['int tb_by0', 'int tb_bz0'] : []),
  ];
  // Kernels on tensor cores also say "one block per SM is enough": without it ptxas may cap their
  // registers to fit more blocks and spill (the u2 dequant GEMM at 16 rows: 80 registers and 60 bytes
  // of spills; with it 109 and none). Others keep ptxas's default, which favours occupancy (the
  // memory-bound GEMV: 123 registers, 146 with the hint).
  const minBlocks = lowered.minBlocksPerSm ?? (lowered.features.mma ? 1 : null);
  const bounds = minBlocks === null ? `${lowered.threads}` : `${lowered.threads}, ${minBlocks}`;
  out.push(`extern "C" __global__ void __launch_bounds__(${bounds}) ${name}(${params.join(', ')}) {`);
  if (dynamicSharedBytes(lowered) > 0) out.push(`  TB_DYNAMIC_SHARED(smem);  // ${lowered.sharedBytes} bytes, given at launch`);
  else if (lowered.sharedBytes > 0) out.push(`  TB_SHARED(smem, ${lowered.sharedBytes});`);
  // A grid past 65535 blocks along y or z is launched in pieces (blockOffsets): each block's place in
  // the whole grid is its place in the piece plus the piece's first block.
  const [by, bz] = lowered.blockOffsets ? ['blockIdx.y + tb_by0', 'blockIdx.z + tb_bz0'] : ['blockIdx.y', 'blockIdx.z'];
  out.push(`  const int bx = blockIdx.x, by = ${by}, bz = ${bz}, tid = threadIdx.x;`);
  const typed = typedStores(block);
  for (const l of typed.locals) out.push(`  ${ctype(l.type)} ${l.name} = 0;`);
  for (const a of typed.arrays ?? []) out.push(`  ${ctype(a.type)} ${a.name}[${a.length}];`);
  pr.stmts(typed.body, '  ', out);
  out.push('}');
  return out.join('\n');
}

/** Helper functions reachable from the block function. */
function usedHelpers(m: LModule): Set<string> {
  const byName = new Map(m.functions.map((f) => [f.name, f]));
  const used = new Set<string>();
  const visit = (body: readonly Stmt[]): void =>
    forEachExpr(body, (e) => {
      if (e.k === 'call' && !used.has(e.fn)) {
        used.add(e.fn);
        visit(byName.get(e.fn)!.body);
      }
    });
  visit(m.functions.find((f) => f.name === 'block')!.body);
  return used;
}

/** A C header: each kernel's prototype, launch shape and shared memory. */
export function emitCudaHeader(kernels: readonly { kernel: Kernel; lowered: GpuLowering }[], guard = 'TILEBIT_KERNELS_H'): string {
  const out = [`#ifndef ${guard}`, `#define ${guard}`, '#ifdef __cplusplus', 'extern "C" {', '#endif', ''];
  for (const { kernel, lowered } of kernels) {
    const shared = dynamicSharedBytes(lowered)
      ? `${lowered.sharedBytes} bytes of dynamic shared memory (launch with them, after cudaFuncSetAttribute(${kernel.name}, cudaFuncAttributeMaxDynamicSharedMemorySize, ${lowered.sharedBytes}))`
      : `${lowered.sharedBytes} bytes of static shared memory`;
    out.push(`/* ${kernel.name}: grid (${kernel.grid.map(printSym).join(', ')}), ${lowered.threads} threads, ${shared}.`);
    for (const p of kernel.params) {
      out.push(p.kind === 'tensor' ? ` *   ${p.name}: ${p.dtype}[${p.shape.map(printSym).join(', ')}], row-major, packed little-endian` : ` *   ${p.name}: ${p.dtype} scalar`);
    }
    out.push(` *   tb_err: one int, 0 before the launch; a failed assert leaves its code (1-based) there.`);
    out.push(` *   Each tensor holds at most ${GPU_TENSOR_MAX_BYTES} bytes and 2^32 - 1 elements, 2^31 - 1 along a dimension (offsets are`);
    out.push(` *   32-bit: larger ones wrap, unchecked here);`);
    out.push(lowered.blockOffsets
      ? ` *   tb_by0, tb_bz0: the first block along y and z of this launch. The grid has at most 2^31 - 1 blocks along x; where it has at most\n *   65535 along y and z (CUDA's limit), launch it whole with 0, 0; else in pieces of at most 65535 along y and z, each with its offsets. */`
      : ` *   The grid, at most 2^31 - 1 blocks along x, is launched whole. */`);
    const params = [
      ...lowered.buffers.map((b) => `unsigned char* g_${b.tensor}`),
      ...lowered.args.map((a) => `${ctype(a.type)} ${a.name}`),
      'int* tb_err',
      ...(lowered.blockOffsets ? ['int tb_by0', 'int tb_bz0'] : []),
    ];
    out.push(`__global__ void ${kernel.name}(${params.join(', ')});`, '');
  }
  out.push('#ifdef __cplusplus', '}', '#endif', `#endif /* ${guard} */`, '');
  return out.join('\n');
}

/** A whole `.cu` file for several lowered kernels. */
export function emitCudaFile(kernels: readonly CudaLowering[]): string {
  const names = kernels.map((k) => k.kernel.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new CudaEmitError(`two kernels of one .cu are named ${twice}`);
  return [`// Generated by tilebit. Compile with nvcc -arch=sm_80 (or newer), without -ftz=true or --use_fast_math: the\n// kernels keep f32 and f16 subnormals, as the VM does (minifloat weights decode through them).`, PRELUDE, ...kernels.map(emitCudaKernel), ''].join('\n');
}
