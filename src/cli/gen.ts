// `tilebit gen KIND --option value ... > k.tile`: generated kernels as `.tile` source.

import { dequantGemm } from '../kernels/dequant_gemm.ts';
import { type Args, UsageError } from './args.ts';

const USAGE = `usage: tilebit gen dequant-gemm --weight T --group G [--act f16|bf16|f32] [--scale f16|bf16|f32|e8m0]
                    [--zero U] [--m M] [--bm N] [--bn N] [--bk N] [--name NAME]`;

export function genCommand(args: Args, print: (l: string) => void): number {
  const kind = args.positional[0];
  const one = (name: string): string | undefined => args.options.get(name)?.at(-1);
  const int = (name: string): number | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`--${name} ${v}: not a positive integer`);
    return Number(v);
  };
  if (kind !== 'dequant-gemm') throw new UsageError(kind ? `unknown kernel kind '${kind}'; the kinds are: dequant-gemm\n${USAGE}` : USAGE);
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
