// The playground's page logic in Node: every example compiles to every view, diagnostics land at their
// line and column, runs agree with the VM, and the TextMate grammar highlights the language.

import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { closeWorkers } from '../../backends/wasm/workers.ts';
import { type Grammar, tokenizer } from '../../playground/highlight.ts';
import { compileForPage, launchValues, runForPage } from '../../playground/session.ts';

afterAll(closeWorkers);

const examples = readdirSync('examples').filter((f) => f.endsWith('.tile'));
const grammar = JSON.parse(readFileSync('editors/tile.tmLanguage.json', 'utf8')) as Grammar;

describe('compileForPage', () => {
  it.each(examples)('%s: Tile IR, WGSL, CUDA C and wasm text', (file) => {
    const c = compileForPage(readFileSync(`examples/${file}`, 'utf8'), new Map());
    expect(c.markers).toEqual([]);
    for (const view of [c.tileIr, c.wgsl, c.cuda, c.wasm]) expect(view.ok ? view.text.length : view.error).toBeGreaterThan(0);
    expect(c.wgsl.ok && c.wgsl.text).toContain('@compute');
    expect(c.cuda.ok && c.cuda.text).toContain('extern "C" __global__');
    expect(c.wasm.ok && c.wasm.text).toContain('(func $block');
  });

  it('lists template parameters with their defaults, then sizes and scalars', () => {
    const c = compileForPage(readFileSync('examples/flash_attention.tile', 'utf8'), new Map());
    expect(c.settings.map((s) => `${s.kind}:${s.name}=${s.placeholder}`)).toEqual([
      'template:D=64', 'template:BQ=64', 'template:BKV=64', 'template:CAUSAL=1', 'size:H=', 'size:S=', 'scalar:scale=f32',
    ]);
  });

  it('applies template arguments from the settings', () => {
    const c = compileForPage(readFileSync('examples/dequant_gemm.tile', 'utf8'), new Map([['W', 'u3'], ['M', '4']]));
    expect(c.tileIr.ok && c.tileIr.text).toContain('load w[');
    expect(c.tileIr.ok && c.tileIr.text).toMatch(/u3\[64, 64\]/);
  });

  it('puts a diagnostic at its line and column, and keeps the template fields', () => {
    const source = readFileSync('examples/vector_add.tile', 'utf8').replace('load y[i0 :+ BLOCK]', 'load y[i0 :+ BLOCK] * nope');
    const lines = source.split('\n');
    const line = lines.findIndex((l) => l.includes('nope')) + 1;
    const column = lines[line - 1]!.indexOf('nope') + 1;
    const c = compileForPage(source, new Map());
    expect(c.kernel).toBeNull();
    expect(c.markers).toHaveLength(1);
    expect(c.markers[0]).toMatchObject({ line, column, endLine: line, endColumn: column + 4 });
    expect(c.markers[0]!.message).toContain('nope');
    expect(c.settings.map((s) => s.name)).toEqual(['BLOCK']);
    expect(c.wgsl.ok).toBe(false);
  });

  it('reports a syntax error at its place', () => {
    const c = compileForPage('kernel k(x: f32[N]) grid(1) threads(32) {\n    let a = ;\n}\n', new Map());
    expect(c.markers[0]).toMatchObject({ line: 2, column: 13 });
  });

  it('rejects a size that is not a number', () => {
    const c = compileForPage(readFileSync('examples/vector_add.tile', 'utf8'), new Map());
    expect(() => launchValues(c.kernel!, new Map([['N', 'many']]))).toThrow('N=many: not a number');
  });
});

describe('runForPage', () => {
  const source = readFileSync('examples/dequant_gemm.tile', 'utf8');
  const settings = new Map([['W', 'u3'], ['M', '5'], ['K', '256'], ['N', '70']]);
  it.each(['wasm', 'vm'] as const)('dequant_gemm W=u3 on %s agrees with the VM', async (target) => {
    const c = compileForPage(source, settings);
    const r = await runForPage(c.kernel!, target, settings, 3);
    expect(r.checks.map((x) => x.name)).toEqual(['c']);
    expect(r.ok).toBe(true);
    expect(r.ms).toBeGreaterThan(0);
  });

  it('runs at an edge size on wasm', async () => {
    const c = compileForPage(readFileSync('examples/vector_add.tile', 'utf8'), new Map([['N', '1033']]));
    const r = await runForPage(c.kernel!, 'wasm', new Map([['N', '1033']]), 1);
    expect(r.checks).toEqual([expect.objectContaining({ name: 'out', ok: true, mismatches: 0 })]);
  });
});

describe('TextMate grammar', () => {
  const tokenize = tokenizer(grammar);
  const scopes = (text: string): Array<[string, string | null]> => tokenize(text).filter((t) => text.slice(t.start, t.end).trim() !== '').map((t) => [text.slice(t.start, t.end).trim(), t.scope]);

  it('scopes keywords, types, numbers, strings, calls and comments', () => {
    expect(scopes('kernel k<W: dtype = u3>(x: f32[N]) // note\nassert N % 4 == 0, "N";\nlet t = cast<f16>(x) * 1.5e-3;')).toEqual([
      ['kernel', 'storage.type.tile'], ['k', 'entity.name.function.tile'], ['<', 'keyword.operator.tile'], ['W', null], [':', 'keyword.operator.tile'],
      ['dtype', 'support.type.tile'], ['=', 'keyword.operator.tile'], ['u3', 'support.type.tile'], ['>', 'keyword.operator.tile'], ['(x', null],
      [':', 'keyword.operator.tile'], ['f32', 'support.type.tile'], ['[N])', null], ['// note', 'comment.line.double-slash.tile'],
      ['assert', 'keyword.control.tile'], ['N', null], ['%', 'keyword.operator.tile'], ['4', 'constant.numeric.tile'], ['==', 'keyword.operator.tile'],
      ['0', 'constant.numeric.tile'], [',', null], ['"N"', 'string.quoted.double.tile'], [';', null], ['let', 'storage.type.tile'], ['t', null],
      ['=', 'keyword.operator.tile'], ['cast', 'keyword.other.tile'], ['<', 'keyword.operator.tile'], ['f16', 'support.type.tile'], ['>', 'keyword.operator.tile'],
      ['(x)', null], ['*', 'keyword.operator.tile'], ['1.5e-3', 'constant.numeric.tile'], [';', null],
    ]);
  });

  it('spans block comments over lines and covers the text exactly once', () => {
    const text = 'let a = 1; /* two\nlines */ let b = f4e2m1;';
    const tokens = tokenize(text);
    expect(tokens.map((t) => text.slice(t.start, t.end)).join('')).toBe(text);
    tokens.slice(1).forEach((t, i) => expect(t.start).toBe(tokens[i]!.end));
    expect(tokens.find((t) => t.scope === 'comment.block.tile') && text.slice(tokens.find((t) => t.scope === 'comment.block.tile')!.start, tokens.find((t) => t.scope === 'comment.block.tile')!.end)).toBe('/* two\nlines */');
    expect(scopes(text).at(-2)).toEqual(['f4e2m1', 'support.type.tile']);
  });

  it('gives every keyword of the grammar in tile.ohm a scope', () => {
    const ohm = readFileSync('dsl/tile.ohm', 'utf8');
    const keywords = [...ohm.matchAll(/kw<"(\w+)">/g)].map((m) => m[1]!);
    expect(keywords.length).toBeGreaterThan(20);
    for (const k of new Set(keywords)) expect([k, tokenize(`${k} `)[0]!.scope]).not.toEqual([k, null]);
  });
});
