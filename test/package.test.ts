// What `npm pack` ships: the compiler's sources and what they load at run time, not the tests, the
// benchmarks or the playground; every relative import and `new URL(..., import.meta.url)` in a shipped
// file resolves to a shipped file (a source file that reaches outside `files` would break installs).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

function packedFiles(): string[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
}

describe('the npm package', () => {
  const files = packedFiles();
  const shipped = new Set(files);

  it('ships the CLI, both entry points and their run-time files, and no tests, benchmarks or playground', () => {
    for (const f of ['bin/tilebit.js', 'src/index.ts', 'src/testing/index.ts', 'backends/wasm/worker.js', 'dsl/tile.ohm', 'src/ts_worker.mjs', 'src/register.mjs', 'scripts/setup-webgpu.sh', 'package.json', 'README.md']) {
      expect(shipped.has(f), f).toBe(true);
    }
    expect(files.filter((f) => /^(test|bench|scratch|playground|out|docs)\//.test(f))).toEqual([]);
  });

  it('resolves every relative import of a shipped source to a shipped file', () => {
    const unresolved: string[] = [];
    let checked = 0;
    for (const f of files.filter((x) => /\.(ts|js|mjs)$/.test(x))) {
      const text = readFileSync(f, 'utf8');
      const specifiers = [...text.matchAll(/(?:from |import\()'(\.{1,2}\/[^']+)'|new URL\('(\.{1,2}\/[^']*)', import\.meta\.url\)/g)].map((m) => m[1] ?? m[2]!);
      for (const s of specifiers) {
        if (s.endsWith('/')) continue; // a folder (the generated bindings' base URL)
        checked++;
        const target = normalize(join(dirname(f), s));
        if (!shipped.has(target)) unresolved.push(`${f}: ${s}`);
      }
    }
    expect(unresolved).toEqual([]);
    expect(checked).toBeGreaterThan(200);
  });
});
