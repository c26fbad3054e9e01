// Parser and elaborator robustness: random strings and mutations of the examples (tokens dropped,
// duplicated, swapped or inserted) either compile or give diagnostics with positions inside the
// source. No other exception escapes. CI runs a few thousand cases; `npm run fuzz` runs many more.

import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiagnosticError } from '../../dsl/diagnostics.ts';
import { checkSource } from '../../dsl/elaborate.ts';
import { verifyKernel } from '../../ir/tile_verify.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const TIMEOUT = 60_000 + RUNS * 50;
const dir = new URL('../../examples/', import.meta.url);
const examples = readdirSync(dir).filter((f) => f.endsWith('.tile')).map((f) => readFileSync(new URL(f, dir), 'utf8'));

const TOKEN = /\s+|\/\/[^\n]*|[A-Za-z_]\w*|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|:\+|<-|==|!=|<=|>=|&&|\|\||<<|>>|"[^"]*"|./g;
const tokenize = (s: string): string[] => s.match(TOKEN) ?? [];
const pool = [...new Set(examples.flatMap(tokenize))].filter((t) => t.trim() !== '');

/** Compiles; returns 'ok', or 'diagnostic' after checking every position lies inside the source. */
function outcome(source: string): 'ok' | 'diagnostic' {
  try {
    checkSource(source, 'fuzz.tile').forEach(verifyKernel);
    return 'ok';
  } catch (e) {
    if (!(e instanceof DiagnosticError)) throw e;
    for (const d of e.diagnostics) {
      if (!(d.span.start >= 0 && d.span.start <= source.length && d.span.end >= d.span.start)) throw new Error(`diagnostic outside the source: ${JSON.stringify(d)}`);
      if (d.message.length === 0) throw new Error('empty diagnostic');
    }
    return 'diagnostic';
  }
}

type Mutation = { kind: 'drop' | 'duplicate' | 'swap' | 'insert'; at: number; other: number; token: string };
const mutation = fc.record({
  kind: fc.constantFrom<Mutation['kind']>('drop', 'duplicate', 'swap', 'insert'),
  at: fc.nat(),
  other: fc.nat(),
  token: fc.constantFrom(...pool),
});

function mutate(tokens: string[], m: Mutation): string[] {
  const t = [...tokens];
  const i = m.at % t.length;
  const j = m.other % t.length;
  if (m.kind === 'drop') t.splice(i, 1);
  else if (m.kind === 'duplicate') t.splice(i, 0, t[i]!);
  else if (m.kind === 'swap') [t[i], t[j]] = [t[j]!, t[i]!];
  else t.splice(i, 0, ` ${m.token} `);
  return t;
}

describe('robustness', () => {
  it('every example compiles unmutated', () => {
    for (const e of examples) expect(outcome(e)).toBe('ok');
  });

  it('mutated examples compile or give positioned diagnostics', () => {
    const seen = { ok: 0, diagnostic: 0 };
    fc.assert(
      fc.property(fc.nat(examples.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), (which, ms) => {
        const source = ms.reduce(mutate, tokenize(examples[which]!)).join('');
        seen[outcome(source)]++;
      }),
      { numRuns: RUNS },
    );
    // Both outcomes must actually occur, or the mutations test nothing.
    expect(seen.ok).toBeGreaterThan(RUNS / 50);
    expect(seen.diagnostic).toBeGreaterThan(RUNS / 2);
  }, TIMEOUT);

  it('random text gives diagnostics, never a crash', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(fc.constantFrom(...pool), { maxLength: 60 }).map((t) => t.join(' '))), (s) => {
        outcome(s);
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);
});
