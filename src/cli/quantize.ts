// `tilebit quantize WEIGHTS.npy --type T --group G [--scale f16] [--zero U] [--order rows|fragments|panels] [--panel P] --w W.npy --s S.npy [--z Z.npy]`

import { readBytes, writeBytes } from '../io/files.ts';
import { npyFromTensor, readNpy, tensorFromNpy, writeNpy } from '../io/npy.ts';
import { UNIT_K, fragmentOrderTensor } from '../kernels/fragment_order.ts';
import { panelOrderTensor } from '../kernels/panel_order.ts';
import { quantizationError, quantize } from '../quantize.ts';
import { tensorElements } from '../vm/memory.ts';
import { type Args, UsageError } from './args.ts';

const USAGE = `usage: tilebit quantize WEIGHTS.npy --type T --group G [--scale f16|bf16|f32|e8m0] [--zero U] [--order rows|fragments|panels]
                        [--panel P] --w W.npy --s S.npy [--z Z.npy]   (--order fragments: the codes as F[K / 16, ceil(N / 64), 32, 32],
                        for kernels generated with --weight-order fragments; --order panels: as P[ceil(N / P), K * P], panels of
                        P columns (default 64), for kernels generated with --weight-order panels and an N tile of P)`;

export function quantizeCommand(args: Args, print: (l: string) => void): number {
  const input = args.positional[0];
  const one = (name: string): string | undefined => args.options.get(name)?.at(-1);
  const [type, group, wOut, sOut] = [one('type'), one('group'), one('w'), one('s')];
  if (!input || !type || !group || !wOut || !sOut) throw new UsageError(USAGE);
  const zeroPoint = one('zero') ?? null;
  const zOut = one('z');
  if (zeroPoint && !zOut) throw new UsageError('--zero needs --z FILE.npy for the zero points');
  const order = one('order') ?? 'rows';
  if (order !== 'rows' && order !== 'fragments' && order !== 'panels') throw new UsageError(`--order ${order}: rows, fragments or panels`);
  const panel = Number(one('panel') ?? 64);
  if (one('panel') !== undefined && order !== 'panels') throw new UsageError('--panel goes with --order panels');
  if (!(Number.isInteger(panel) && panel >= 1)) throw new UsageError(`--panel ${one('panel')}: a positive integer (the kernel's N tile)`);
  const array = readNpy(readBytes(input), input);
  if (array.shape.length !== 2) throw new UsageError(`${input} must hold a 2-D float32 array W[K, N]; its shape is (${array.shape.join(', ')})`);
  const [K, N] = array.shape as [number, number];
  const x = Array.from(tensorElements(tensorFromNpy(array, 'f32', input)));
  const q = quantize(x, K, N, { weight: type, groupSize: Number(group), scale: one('scale') ?? 'f16', zeroPoint });
  if (order === 'fragments' && K % UNIT_K !== 0) throw new UsageError(`--order fragments needs K a multiple of ${UNIT_K}; K is ${K}`);
  const w = order === 'fragments' ? fragmentOrderTensor(q.w) : order === 'panels' ? panelOrderTensor(q.w, panel) : q.w;
  writeBytes(wOut, writeNpy(npyFromTensor(w)));
  writeBytes(sOut, writeNpy(npyFromTensor(q.s)));
  if (q.z && zOut) writeBytes(zOut, writeNpy(npyFromTensor(q.z)));
  const e = quantizationError(x, q);
  print(`${type} codes [${K}, ${N}]${order === 'fragments' ? ` in fragment order [${w.shape.join(', ')}]` : order === 'panels' ? ` in panels of ${panel} columns [${w.shape.join(', ')}]` : ''}, ${q.options.scale} scales [${K / q.options.groupSize}, ${N}]${q.z ? `, ${zeroPoint} zero points` : `, fixed zero ${q.fixedZero} (the kernel's ZERO)`}`);
  print(`error: max ${e.maxAbs.toPrecision(4)}, rms ${e.rms.toPrecision(4)}, relative rms ${e.relativeRms.toPrecision(4)}, SNR ${e.snrDb.toFixed(1)} dB`);
  return 0;
}
