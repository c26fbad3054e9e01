// `tilebit dtype NAME [--encode X ...] [--info]`: a type's codes and values, or the codes of values.

import { decode, encode } from '../../ir/codec.ts';
import { type DType, dtype } from '../../ir/dtype.ts';
import { printNumber } from '../../ir/tile_print.ts';
import { type Args, UsageError } from './args.ts';

/** A value as the CLI spells it: `nan`, `inf`, `-inf`, `-0`, otherwise the shortest exact decimal. */
export const formatValue = printNumber;

/** Reads a value the way formatValue writes it (and any JavaScript number literal). */
export function parseValue(text: string): number {
  const s = text.trim().toLowerCase();
  if (s === 'nan') return NaN;
  if (s === 'inf' || s === '+inf') return Infinity;
  if (s === '-inf') return -Infinity;
  const v = Number(s);
  if (s === '' || Number.isNaN(v)) throw new UsageError(`'${text}' is not a number (write a decimal, nan, inf or -inf)`);
  return v;
}

export function describe(t: DType): string[] {
  const lines = [
    `name ${t.name}`, `kind ${t.kind}`, `bits ${t.bits}`,
    `min ${formatValue(t.min)}`, `max ${formatValue(t.max)}`,
    `smallest normal ${formatValue(t.minNormal)}`, `smallest subnormal ${formatValue(t.minSubnormal)}`,
    `infinities ${t.hasInf ? 'yes' : 'no'}`, `nan ${t.hasNaN ? 'yes' : 'no'}`,
  ];
  if (t.kind === 'float') lines.splice(3, 0, `exponent bits ${t.exponentBits}`, `mantissa bits ${t.mantissaBits}`, `bias ${t.bias}`);
  return lines;
}

export function dtypeCommand(args: Args, print: (line: string) => void): number {
  const name = args.positional[0];
  if (!name) throw new UsageError('usage: tilebit dtype NAME [--encode X Y ...] [--info]');
  const t = dtype(name);
  if (args.options.has('encode')) {
    // `--encode X Y ...`: the values are the positionals after NAME (and any --encode=X).
    const values = [...args.options.get('encode')!.filter((v) => v !== ''), ...args.positional.slice(1)];
    if (values.length === 0) throw new UsageError('--encode needs at least one value');
    for (const v of values) print(String(encode(t, parseValue(v))));
    return 0;
  }
  if (args.options.has('info') || t.bits > 8) {
    describe(t).forEach((l) => print(l));
    if (t.bits > 8) print(`(${t.name} has ${2 ** t.bits} codes; only types of 8 bits or fewer are listed)`);
    return 0;
  }
  for (let c = 0; c < 2 ** t.bits; c++) print(`${c} ${formatValue(decode(t, c))}`);
  return 0;
}
