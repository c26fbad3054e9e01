// Dead-code elimination on Tile IR: drops definitions nothing reads. Every instruction is pure (loads
// have no effect a later statement could observe), so an unread definition can go.

import { type Kernel, type Stmt, type ValueId, operandsOf } from '../ir/tile_ir.ts';

function uses(s: Stmt, out: Set<ValueId>): void {
  for (const id of operandsOf(s)) out.add(id);
  if (s.kind === 'for') s.body.forEach((b) => uses(b, out));
  if (s.kind === 'if') [...s.then, ...s.else].forEach((b) => uses(b, out));
}

function sweep(body: readonly Stmt[], live: ReadonlySet<ValueId>): Stmt[] {
  return body.flatMap((s): Stmt[] => {
    if (s.kind === 'def') return live.has(s.result.id) ? [s] : [];
    if (s.kind === 'for') return [{ ...s, body: sweep(s.body, live) }];
    if (s.kind === 'if') return [{ ...s, then: sweep(s.then, live), else: sweep(s.else, live) }];
    return [s];
  });
}

export function dce(k: Kernel): Kernel {
  let body = k.body;
  for (;;) {
    const live = new Set<ValueId>();
    body.forEach((s) => uses(s, live));
    const next = sweep(body, live);
    const count = (b: readonly Stmt[]): number => b.reduce((n, s) => n + 1 + (s.kind === 'for' ? count(s.body) : s.kind === 'if' ? count(s.then) + count(s.else) : 0), 0);
    if (count(next) === count(body)) return { ...k, body };
    body = next;
  }
}
