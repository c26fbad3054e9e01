// What the CPU and GPU lowerings share: the statement list being written, scalar values as locals,
// trap messages, and the structured statements (for, if, assert), which lower the same on every target
// because their conditions and bounds are block-uniform scalars; and which tile values may be fused
// into their single use.

import { type Expr, type LType, type Stmt, forLoop, get, i32, ifThen, op } from '../../ir/loop_ir.ts';
import { type Kernel, type Stmt as TStmt, type ValueId, operandsOf } from '../../ir/tile_ir.ts';

export abstract class LowererBase {
  out: Stmt[] = [];
  /** The local holding each scalar value, and its element type. */
  readonly scalars = new Map<ValueId, string>();
  readonly scalarTypes = new Map<ValueId, string>();
  /** Messages of trap codes 1, 2, ... */
  readonly traps: string[] = [];

  abstract fresh(prefix: string, type: LType): string;
  abstract stmt(s: TStmt): void;

  scalar(id: ValueId): Expr {
    return get(this.scalars.get(id)!);
  }

  body(stmts: readonly TStmt[]): void {
    for (const s of stmts) this.stmt(s);
  }

  /** The statements `f` writes, as a list of their own. */
  inBlock(f: () => void): Stmt[] {
    const saved = this.out;
    this.out = [];
    try {
      f();
      return this.out;
    } finally {
      this.out = saved;
    }
  }

  trap(message: string): number {
    this.traps.push(message);
    return this.traps.length;
  }

  /** for, if and assert. */
  control(s: Extract<TStmt, { kind: 'for' | 'if' | 'assert' }>): void {
    switch (s.kind) {
      case 'for': {
        const v = this.fresh(`${s.index.name ?? 'k'}_`, 'i32');
        this.scalars.set(s.index.id, v);
        this.scalarTypes.set(s.index.id, 'i32');
        const step = this.scalar(s.step);
        this.out.push(ifThen(op('i32.le_s', step, i32(0)), [{ k: 'trap', code: this.trap("a range's step must be positive") }]));
        const body = this.inBlock(() => this.body(s.body));
        this.out.push(forLoop(v, this.scalar(s.start), this.scalar(s.end), body, step));
        return;
      }
      case 'if': {
        const then = this.inBlock(() => this.body(s.then));
        const els = this.inBlock(() => this.body(s.else));
        this.out.push(ifThen(this.scalar(s.cond), then, els));
        return;
      }
      case 'assert':
        this.out.push(ifThen(op('i32.eqz', this.scalar(s.cond)), [{ k: 'trap', code: this.trap(`assertion failed: ${s.message}`) }]));
        return;
    }
  }
}

/** Tile values with exactly one use, in the statement list that defines them. */
export function fusibleValues(k: Kernel): Set<ValueId> {
  const uses = new Map<ValueId, number>();
  const home = new Map<ValueId, readonly TStmt[]>();
  const usedIn = new Map<ValueId, readonly TStmt[]>();
  const visit = (body: readonly TStmt[]): void => {
    for (const s of body) {
      if (s.kind === 'def' && s.result.type.kind === 'tile') home.set(s.result.id, body);
      for (const id of operandsOf(s)) {
        uses.set(id, (uses.get(id) ?? 0) + 1);
        usedIn.set(id, body);
      }
      if (s.kind === 'for') visit(s.body);
      if (s.kind === 'if') [s.then, s.else].forEach(visit);
    }
  };
  visit(k.body);
  return new Set([...home].filter(([id, body]) => uses.get(id) === 1 && usedIn.get(id) === body).map(([id]) => id));
}
