// `tilebit gen KIND --option value ... > k.tile`: generated kernels as `.tile` source.

import { decodeAttention, flashAttention } from '../kernels/attention.ts';
import { type DequantGemmOptions, dequantGemm } from '../kernels/dequant_gemm.ts';
import { type Config, type TuneTarget, dequantGemmRequest, tune, tuneDevice } from '../tune.ts';
import { type Args, UsageError } from './args.ts';

const USAGE = `usage: tilebit gen dequant-gemm --weight T --group G [--act f16|bf16|f32] [--scale f16|bf16|f32|e8m0]
                    [--zero U] [--m M] [--bm N] [--bn N] [--bk N] [--stages N] [--threads T] [--split-k S] [--name NAME]
                    [--target wasm|webgpu|cuda]   (--split-k: S blocks along K add into an f32 C, which must start at zero)
                    [--weight-order rows|fragments|panels]   (fragments: the GPU tiles (M > 4) read W as tilebit quantize --order fragments writes it;
                                                              panels: every form reads W as tilebit quantize --order panels --panel BN writes it)
                    [--apply-scales sums|weights]   (weights: the GPU tiles multiply each weight by its scale in f16/bf16 before the dot)
                    [--rows-per-thread R]   (the GPU GEMV, M <= 4: R rows of each K tile per thread, zero and scale once per R rows; one block for up to --m 4 rows of A)
                    [--weight-operand a|b]   (the GPU MMA tiles: a, C^T = W^T . A^T with 8-row tiles, the default for M <= 8; b, C = A . W with 16-row tiles)
                    [--tune --k K --n N [--tune-cache FILE]]   (time tile candidates on the --target; cached)
       tilebit gen flash-attention --head-dim D [--causal] [--dtype f16|bf16|f32] [--bq N] [--bkv N] [--target wasm|webgpu|cuda]
       tilebit gen decode-attention --head-dim D --cache T [--scales token|channel] [--dtype f16|bf16|f32] [--bkv N]
                    [--split-kv P]   (P chunks of the cache: two kernels, NAME_partial then NAME_combine)`;
const KINDS = ['dequant-gemm', 'flash-attention', 'decode-attention'];

function weightOrder(v: string | undefined): 'rows' | 'fragments' | 'panels' | undefined {
  if (v !== undefined && v !== 'rows' && v !== 'fragments' && v !== 'panels') throw new UsageError(`--weight-order ${v}: rows, fragments or panels`);
  return v;
}

function weightOperand(v: string | undefined): 'a' | 'b' | undefined {
  if (v !== undefined && v !== 'a' && v !== 'b') throw new UsageError(`--weight-operand ${v}: a or b`);
  return v;
}

function applyScales(v: string | undefined): 'sums' | 'weights' | undefined {
  if (v !== undefined && v !== 'sums' && v !== 'weights') throw new UsageError(`--apply-scales ${v}: sums or weights`);
  return v;
}

export async function genCommand(args: Args, print: (l: string) => void): Promise<number> {
  const kind = args.positional[0];
  const one = (name: string): string | undefined => args.options.get(name)?.at(-1);
  const int = (name: string): number | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`--${name} ${v}: not a positive integer`);
    return Number(v);
  };
  if (!kind || !KINDS.includes(kind)) throw new UsageError(kind ? `unknown kernel kind '${kind}'; the kinds are: ${KINDS.join(', ')}\n${USAGE}` : USAGE);
  const target = one('target');
  if (target !== undefined && !['wasm', 'webgpu', 'cuda'].includes(target)) throw new UsageError(`--target ${target}: the tiles are shaped for wasm, webgpu or cuda`);
  const shapedFor = target === undefined || target === 'wasm' ? 'cpu' : 'gpu';
  // WebGPU has no asynchronous copies: its GPU forms load tiles straight into registers.
  const asyncCopies = target === 'webgpu' ? false : undefined;
  if (kind !== 'dequant-gemm') {
    const headDim = int('head-dim');
    if (headDim === undefined) throw new UsageError(USAGE);
    const scales = one('scales');
    if (scales !== undefined && scales !== 'token' && scales !== 'channel') throw new UsageError(`--scales ${scales}: token or channel`);
    const g = kind === 'flash-attention'
      ? flashAttention({ headDim, causal: args.options.has('causal'), dtype: one('dtype'), blockQ: int('bq'), blockKV: int('bkv'), target: shapedFor, asyncCopies, name: one('name') })
      : decodeAttention({ headDim, cache: one('cache') ?? 'f16', scales, dtype: one('dtype'), blockKV: int('bkv'), splitKV: int('split-kv'), name: one('name') });
    print(g.source.trimEnd());
    return 0;
  }
  const weight = one('weight');
  const group = int('group');
  if (!weight || group === undefined) throw new UsageError(USAGE);
  const options: DequantGemmOptions = {
    weight, groupSize: group, activation: one('act'), scale: one('scale'), zeroPoint: one('zero') ?? null,
    m: int('m'), blockM: int('bm'), blockN: int('bn'), blockK: int('bk'), stages: int('stages'), threads: int('threads'), splitK: int('split-k'), name: one('name'),
    rowsPerThread: int('rows-per-thread'), target: shapedFor, asyncCopies, weightOrder: weightOrder(one('weight-order')), applyScales: applyScales(one('apply-scales')),
    weightOperand: weightOperand(one('weight-operand')),
  };
  if (!args.options.has('tune')) {
    print(dequantGemm(options).source.trimEnd());
    return 0;
  }
  const [K, N, M] = [int('k'), int('n'), int('m') ?? 1];
  if (K === undefined || N === undefined) throw new UsageError('--tune needs the sizes it tunes for: --k K --n N (and --m M)');
  const on = target ?? 'wasm';
  // Each target times its own candidates: wasm here, WebGPU on this process's adapter, CUDA on this
  // machine's device (nvcc and a GPU).
  const request = dequantGemmRequest(options, { M, K, N }, on as TuneTarget);
  const r = await tune(request, { cache: one('tune-cache') ?? 'tilebit-tune.json', ...(await tuneDevice(on as TuneTarget)) });
  const describe = (c: Config): string => Object.entries(c).map(([k, v]) => `${k}=${v}`).join(', ');
  print(`// Tuned on ${on} for M=${M}, K=${K}, N=${N}: ${describe(r.config)}, ${r.ms.toFixed(3)} ms${r.fromCache ? ' (from the cache)' : ''}.`);
  for (const s of r.skipped) print(`// Not timed: ${describe(s.config)}: ${s.reason}`);
  print(request.source(r.config).trimEnd());
  return 0;
}
