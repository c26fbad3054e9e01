// The order of the passes. Each is a pure function from IR to IR; `--dump-ir NAME` prints the IR after
// the pass of that name, and tests run the verifier after every one.

import type { Kernel } from '../ir/tile_ir.ts';
import { dce } from './dce.ts';

export interface TilePass {
  readonly name: string;
  readonly run: (k: Kernel) => Kernel;
}

/** Tile IR passes, after elaboration. */
export const tilePasses: readonly TilePass[] = [{ name: 'dce', run: dce }];

/** Every name --dump-ir accepts, in pipeline order. */
export const passNames = (): string[] => ['elaborate', ...tilePasses.map((p) => p.name)];

/** Runs the Tile IR passes; `after` sees the IR after each (and after elaboration, as 'elaborate'). */
export function runTilePasses(k: Kernel, after?: (name: string, k: Kernel) => void): Kernel {
  after?.('elaborate', k);
  return tilePasses.reduce((ir, p) => {
    const out = p.run(ir);
    after?.(p.name, out);
    return out;
  }, k);
}
