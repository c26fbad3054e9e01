// `tilebit gen KIND --option value ... > k.tile`: generated kernels as `.tile` source.

import { decodeAttention, flashAttention } from '../kernels/attention.ts';
import { dequantGemm } from '../kernels/dequant_gemm.ts';
import { type Args, UsageError } from './args.ts';

const USAGE = `usage: tilebit gen dequant-gemm --weight T --group G [--act f16|bf16|f32] [--scale f16|bf16|f32|e8m0]
                    [--zero U] [--m M] [--bm N] [--bn N] [--bk N] [--name NAME]
       tilebit gen flash-attention --head-dim D [--causal] [--dtype f16|bf16|f32] [--bq N] [--bkv N]
       tilebit gen decode-attention --head-dim D --cache T [--scales token|channel] [--dtype f16|bf16|f32] [--bkv N]`;
const KINDS = ['dequant-gemm', 'flash-attention', 'decode-attention'];

export function genCommand(args: Args, print: (l: string) => void): number {
  const kind = args.positional[0];
  const one = (name: string): string | undefined => args.options.get(name)?.at(-1);
  const int = (name: string): number | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`--${name} ${v}: not a positive integer`);
    return Number(v);
  };
  if (!kind || !KINDS.includes(kind)) throw new UsageError(kind ? `unknown kernel kind '${kind}'; the kinds are: ${KINDS.join(', ')}\n${USAGE}` : USAGE);
  if (kind !== 'dequant-gemm') {
    const headDim = int('head-dim');
    if (headDim === undefined) throw new UsageError(USAGE);
    const scales = one('scales');
    if (scales !== undefined && scales !== 'token' && scales !== 'channel') throw new UsageError(`--scales ${scales}: token or channel`);
    const g = kind === 'flash-attention'
      ? flashAttention({ headDim, causal: args.options.has('causal'), dtype: one('dtype'), blockQ: int('bq'), blockKV: int('bkv'), name: one('name') })
      : decodeAttention({ headDim, cache: one('cache') ?? 'f16', scales, dtype: one('dtype'), blockKV: int('bkv'), name: one('name') });
    print(g.source.trimEnd());
    return 0;
  }
  const weight = one('weight');
  const group = int('group');
  if (!weight || group === undefined) throw new UsageError(USAGE);
  const g = dequantGemm({
    weight, groupSize: group, activation: one('act'), scale: one('scale'), zeroPoint: one('zero') ?? null,
    m: int('m'), blockM: int('bm'), blockN: int('bn'), blockK: int('bk'), name: one('name'),
  });
  print(g.source.trimEnd());
  return 0;
}
