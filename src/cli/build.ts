// `tilebit build lib.json --out DIR [--targets wasm,cuda,wgsl] [--relaxed-simd] [--wgsl-subgroups N] [--tune[=TARGETS]] [--tune-cache FILE]`

import { build } from '../build.ts';
import { type Args, UsageError } from './args.ts';

const USAGE = `usage: tilebit build lib.json --out DIR [--targets wasm,cuda,wgsl] [--workers N] [--relaxed-simd] [--wgsl-subgroups N]
                      [--tune[=TARGETS]] [--tune-cache FILE]   (time the tiles of declarations with "tune" on this machine's
                      devices: every target built, or those named; otherwise the cache's choices are used)`;

export async function buildCommand(args: Args, print: (l: string) => void): Promise<number> {
  const lib = args.positional[0];
  const out = args.options.get('out')?.at(-1);
  if (!lib || !out) throw new UsageError(USAGE);
  const targets = args.options.get('targets')?.at(-1)?.split(',').map((t) => t.trim()).filter(Boolean);
  const workers = args.options.has('workers') ? Number(args.options.get('workers')!.at(-1)) : undefined;
  const subgroups = args.options.get('wgsl-subgroups')?.at(-1);
  const wgslSubgroups = subgroups === undefined ? undefined : Number(subgroups);
  // --tune times every target built; --tune=wasm,wgsl only those named.
  const tuneValue = args.options.get('tune')?.at(-1);
  const tune = tuneValue === undefined ? [] : tuneValue === '' ? (targets ?? ['wasm']) : tuneValue.split(',').map((t) => t.trim()).filter(Boolean);
  const tuneCache = args.options.get('tune-cache')?.at(-1);
  const report = await build(lib, { workers, out, targets, relaxedSimd: args.options.has('relaxed-simd'), wgslSubgroups, tune, tuneCache, progress: print });
  print(`${out}: ${report.built.length} built, ${report.reused.length} unchanged`);
  return 0;
}
