// `tilebit build lib.json --out DIR [--targets wasm,cuda,wgsl] [--relaxed-simd] [--wgsl-subgroups N]`

import { build } from '../build.ts';
import { type Args, UsageError } from './args.ts';

export async function buildCommand(args: Args, print: (l: string) => void): Promise<number> {
  const lib = args.positional[0];
  const out = args.options.get('out')?.at(-1);
  if (!lib || !out) throw new UsageError('usage: tilebit build lib.json --out DIR [--targets wasm,cuda,wgsl] [--relaxed-simd] [--wgsl-subgroups N]');
  const targets = args.options.get('targets')?.at(-1)?.split(',').map((t) => t.trim()).filter(Boolean);
  const workers = args.options.has('workers') ? Number(args.options.get('workers')!.at(-1)) : undefined;
  const subgroups = args.options.get('wgsl-subgroups')?.at(-1);
  const wgslSubgroups = subgroups === undefined ? undefined : Number(subgroups);
  const report = await build(lib, { workers, out, targets, relaxedSimd: args.options.has('relaxed-simd'), wgslSubgroups, progress: print });
  print(`${out}: ${report.built.length} built, ${report.reused.length} unchanged`);
  return 0;
}
