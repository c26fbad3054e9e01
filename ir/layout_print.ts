// Prints a register layout in the DSL's syntax, as a product of atoms:
// `local(2, 1) * spatial(8, 4) * local(1, 2)`.

import { type RegisterLayout, canonical } from './layout.ts';

/**
 * Peels atoms off the outer end: an atom is a run at the head of the spatial or local list whose modes
 * are each the outermost remaining mode of their dimension, in increasing (row-major) or decreasing
 * (column-major) dimension order. A layout that does not factor this way prints in its raw form.
 */
export function printLayout(layout: RegisterLayout): string {
  const l = canonical(layout);
  const rank = l.shape.length;
  // Both orders of preference are tried; the shorter product wins.
  const a = peel(l, ['local', 'spatial']);
  const b = peel(l, ['spatial', 'local']);
  const best = a && b ? (b.length < a.length ? b : a) : (a ?? b);
  if (!best) return rawLayout(l);
  // A layout made only of replication still has a rank, which the product must show.
  if (rank > 0 && !best.some((atom) => !atom.startsWith('replicated'))) best.unshift(`local(${new Array(rank).fill(1).join(', ')})`);
  if (best.length === 0) return `local(${new Array(Math.max(rank, 1)).fill(1).join(', ')})`;
  return best.join(' * ');
}

function peel(l: RegisterLayout, preference: readonly ('spatial' | 'local')[]): string[] | undefined {
  const rank = l.shape.length;
  const heads = l.shape.map((_, d) => l.modes.map((m, i) => (m.dim === d ? i : -1)).filter((i) => i >= 0));
  const lists = { spatial: [...l.spatial], local: [...l.local] };
  const atoms: string[] = [];
  const isHead = (e: number): boolean => e >= 0 && heads[l.modes[e]!.dim]![0] === e;
  while (lists.spatial.length + lists.local.length > 0) {
    let progressed = false;
    for (const kind of preference) {
      const list = lists[kind];
      if (list.length === 0) continue;
      if (list[0]! < 0) {
        atoms.push(`replicated(${-list.shift()!})`);
        progressed = true;
        break;
      }
      if (!isHead(list[0]!)) continue;
      const run = [list[0]!];
      const dimOf = (e: number): number => l.modes[e]!.dim;
      let dir = 0;
      while (run.length < list.length) {
        const next = list[run.length]!;
        if (!isHead(next)) break;
        const step = Math.sign(dimOf(next) - dimOf(run[run.length - 1]!));
        if (step === 0 || (dir !== 0 && step !== dir)) break;
        dir = step;
        run.push(next);
      }
      const extents = new Array<number>(rank).fill(1);
      for (const e of run) {
        extents[dimOf(e)] = l.modes[e]!.extent;
        heads[dimOf(e)]!.shift();
      }
      list.splice(0, run.length);
      const name = dir < 0 ? (kind === 'spatial' ? 'column_spatial' : 'column_local') : kind;
      atoms.push(`${name}(${extents.join(', ')})`);
      progressed = true;
      break;
    }
    if (!progressed) return undefined;
  }
  return atoms;
}

/** The representation itself, for layouts that are not a product of atoms. */
export function rawLayout(l: RegisterLayout): string {
  const modes = l.modes.map((m) => `${m.dim}:${m.extent}`).join(', ');
  return `layout(shape=[${l.shape.join(', ')}], modes=[${modes}], spatial=[${l.spatial.join(', ')}], local=[${l.local.join(', ')}])`;
}
