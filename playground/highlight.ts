// Syntax highlighting from a TextMate grammar (editors/tile.tmLanguage.json, the same file editors
// use): the subset of TextMate that grammar needs — `match` rules with `name` and `captures`,
// `begin`/`end` regions, `include` of repository entries — over JavaScript regular expressions.
// At each position the rule whose match starts first wins, earlier rules winning ties, as in TextMate.

export interface GrammarRule {
  readonly name?: string;
  readonly match?: string;
  readonly captures?: Readonly<Record<string, { readonly name: string }>>;
  readonly begin?: string;
  readonly end?: string;
  readonly include?: string;
  readonly patterns?: readonly GrammarRule[];
}

export interface Grammar {
  readonly scopeName: string;
  readonly patterns: readonly GrammarRule[];
  readonly repository?: Readonly<Record<string, GrammarRule>>;
}

/** A run of the source with the scope it is in (null: no rule matched it). */
export interface Token {
  readonly start: number;
  readonly end: number;
  readonly scope: string | null;
}

interface Compiled {
  readonly re: RegExp;
  readonly rule: GrammarRule;
  readonly end: RegExp | null;
}

/** The grammar's top-level rules with includes resolved, in order. */
function flatten(g: Grammar, rules: readonly GrammarRule[], seen: Set<string> = new Set()): GrammarRule[] {
  return rules.flatMap((r): GrammarRule[] => {
    if (r.include) {
      const key = r.include.replace(/^#/, '');
      const target = g.repository?.[key];
      if (!target) throw new Error(`grammar ${g.scopeName}: include ${r.include} names no repository entry`);
      if (seen.has(key)) return [];
      return flatten(g, target.patterns ?? [target], new Set([...seen, key]));
    }
    if (r.patterns && !r.match && !r.begin) return flatten(g, r.patterns, seen);
    return [r];
  });
}

/** A function that splits a text into tokens by `grammar`. */
export function tokenizer(grammar: Grammar): (text: string) => Token[] {
  const rules: Compiled[] = flatten(grammar, grammar.patterns).map((rule) => {
    const source = rule.match ?? rule.begin;
    if (source === undefined) throw new Error(`grammar ${grammar.scopeName}: a rule has neither match nor begin`);
    return { rule, re: new RegExp(source, 'gmd'), end: rule.end !== undefined ? new RegExp(rule.end, 'gm') : null };
  });
  return (text) => {
    const out: Token[] = [];
    const plain = (start: number, end: number): void => {
      if (end > start) out.push({ start, end, scope: null });
    };
    let at = 0;
    while (at < text.length) {
      let best: { c: Compiled; m: RegExpExecArray } | null = null;
      for (const c of rules) {
        c.re.lastIndex = at;
        const m = c.re.exec(text);
        if (m && (!best || m.index < best.m.index)) best = { c, m };
      }
      if (!best) break;
      const { c, m } = best;
      plain(at, m.index);
      let end = m.index + m[0].length;
      if (c.end) {
        c.end.lastIndex = end;
        const e = c.end.exec(text);
        end = e ? e.index + e[0].length : text.length;
        out.push({ start: m.index, end, scope: c.rule.name ?? null });
      } else if (c.rule.captures && m.indices) {
        let pos = m.index;
        for (let g = 1; g < m.length; g++) {
          const span = m.indices[g];
          const name = c.rule.captures[String(g)]?.name;
          if (!span || !name) continue;
          plain(pos, span[0]);
          out.push({ start: span[0], end: span[1], scope: name });
          pos = span[1];
        }
        plain(pos, end);
      } else {
        out.push({ start: m.index, end, scope: c.rule.name ?? null });
      }
      at = end > m.index ? end : m.index + 1;
      if (end === m.index) plain(m.index, at);
    }
    plain(at, text.length);
    return out;
  };
}

/** The CSS class of a scope: its first segment (`keyword.control.tile` -> `tok-keyword`). */
export const scopeClass = (scope: string | null): string => (scope ? `tok-${scope.split('.')[0]}` : '');
