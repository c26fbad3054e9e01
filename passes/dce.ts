// Dead-code elimination on Tile IR: drops definitions nothing reads. Every instruction is pure (loads
// have no effect a later statement could observe), so an unread definition can go.

import type { Kernel, Stmt, ValueId } from '../ir/tile_ir.ts';

function uses(s: Stmt, out: Set<ValueId>): void {
  const add = (...ids: (ValueId | null)[]): void => ids.forEach((id) => id !== null && out.add(id));
  switch (s.kind) {
    case 'def': {
      const i = s.inst;
      if ('x' in i) add(i.x);
      if (i.op === 'binary') add(i.a, i.b);
      if (i.op === 'select') add(i.cond, i.a, i.b);
      if (i.op === 'full') add(i.value);
      if (i.op === 'dot') add(i.a, i.b, i.c);
      if (i.op === 'load' || i.op === 'load_shared') add(...i.index.map((e) => e.offset));
      if (i.op === 'load_shared') add(i.shared);
      return;
    }
    case 'var':
      return add(s.init);
    case 'assign':
      return add(s.value);
    case 'store':
      return add(s.value, ...s.index.map((e) => e.offset));
    case 'store_shared':
      return add(s.shared, s.value, ...s.index.map((e) => e.offset));
    case 'copy_async':
      return add(s.shared, ...s.sharedIndex.map((e) => e.offset), ...s.index.map((e) => e.offset));
    case 'for':
      add(s.start, s.end, s.step);
      return s.body.forEach((b) => uses(b, out));
    case 'if':
      add(s.cond);
      return [...s.then, ...s.else].forEach((b) => uses(b, out));
    case 'assert':
      return add(s.cond);
    case 'commit_async':
    case 'wait_async':
    case 'sync':
      return;
  }
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
