// What `npm pack` ships: the compiler's sources and what they load at run time, not the tests, the
// benchmarks or the playground; every relative import and `new URL(..., import.meta.url)` in a shipped
// file resolves to a shipped file (a source file that reaches outside `files` would break installs).

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

function packedFiles(): string[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
}

describe('the npm package', () => {
  const files = packedFiles();
  const shipped = new Set(files);

  // dist/ is there after `npm ci` or `npm run build` (the `prepare` script), as it is when npm packs.
  it('ships the CLI, both entry points (sources and compiled) and their run-time files, and no tests, benchmarks or playground', () => {
    for (const f of ['bin/tilebit.js', 'src/index.ts', 'src/testing/index.ts', 'backends/wasm/worker.js', 'dsl/tile.ohm', 'src/ts_worker.mjs', 'src/register.mjs', 'scripts/setup-webgpu.sh', 'package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/testing/index.js', 'dist/src/cli/main.js', 'dist/SOURCES', 'bin/sources.js']) {
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
        // build.ts starts its workers from the sources (TypeScript loader, .ts module) or, compiled,
        // from dist/src/build_worker.js: each form's reference to the other's worker is never followed.
        if (/(^|\/)src\/build\.(ts|js)$/.test(f) && ['./ts_worker.mjs', './build_worker.ts', './build_worker.js'].includes(s)) continue;
        checked++;
        // Declarations keep the sources' .ts specifiers; TypeScript resolves them to the .d.ts beside.
        const target = normalize(join(dirname(f), f.endsWith('.d.ts') ? s.replace(/\.ts$/, '.d.ts') : s));
        if (!shipped.has(target)) unresolved.push(`${f}: ${s}`);
      }
    }
    expect(unresolved).toEqual([]);
    expect(checked).toBeGreaterThan(200);
  });
});

describe('the compiled build (npm run build: dist/)', () => {
  it('runs in plain Node.js, with no TypeScript loader: compile, run on wasm and the VM, build a library on worker threads, the testing kit', () => {
    // Inside the repository, so that the build's imports of binaryen, ohm-js and fast-check resolve.
    const dir = mkdtempSync(resolve('.tmp-dist-'));
    try {
      const built = spawnSync(process.execPath, ['scripts/build-dist.mjs', join(dir, 'dist')], { encoding: 'utf8' });
      expect(built.status, built.stderr).toBe(0);
      for (const f of ['src/index.js', 'src/index.d.ts', 'src/testing/index.js', 'src/testing/index.d.ts', 'dsl/tile.ohm', 'backends/wasm/worker.js', 'backends/wasm/load_binaryen.js']) {
        expect(readFileSync(join(dir, 'dist', f)).length, f).toBeGreaterThan(0);
      }
      writeFileSync(join(dir, 'lib.json'), JSON.stringify({ kernels: [{ name: 'g_{weight}', generator: 'dequant-gemm', product: { weight: ['u3', 'u4'] }, options: { groupSize: 32, activation: 'f32', m: 1 } }] }));
      writeFileSync(join(dir, 'use.mjs'), `
        const tilebit = await import('./dist/src/index.js');
        const k = tilebit.compile('kernel add(x: f32[N], y: f32[N], out: f32[N]) grid(cdiv(N, 256)) threads(128) { store out[block.x * 256 :+ 256] = load x[block.x * 256 :+ 256] + load y[block.x * 256 :+ 256]; }');
        const values = new Map([['N', 1000]]);
        const wasm = tilebit.prepareTensors(k, { values, seed: 1 }, new Set(['out']));
        const vm = tilebit.cloneTensors(wasm);
        await tilebit.run('wasm', k, wasm, values, { workers: 2 });
        await tilebit.run('vm', k, vm, values);
        const same = Buffer.compare(wasm.get('out').bytes, vm.get('out').bytes) === 0;
        const sum = Array.from(tilebit.tensorElements(vm.get('out'))).reduce((a, b) => a + Math.abs(b), 0);
        const { build } = await import('./dist/src/build.js');
        const report = await build(${JSON.stringify(join(dir, 'lib.json'))}, { out: ${JSON.stringify(join(dir, 'out'))}, workers: 2 });
        const testing = await import('./dist/src/testing/index.js');
        console.log('RESULT ' + JSON.stringify({ same, sum, built: report.built, kit: typeof testing.checkKernel }));
        process.exit(0);`);
      const r = spawnSync(process.execPath, [join(dir, 'use.mjs')], { encoding: 'utf8', cwd: dir });
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('RESULT '))!.slice(7));
      expect(result).toMatchObject({ same: true, built: ['g_u3', 'g_u4'], kit: 'function' });
      expect(result.sum).toBeGreaterThan(100); // 1000 sums of random inputs, not zeros

      // The `tilebit` command of a package laid out like this one: bin/tilebit.js runs the compiled CLI
      // while dist/ was built from the sources as they are, the sources once one has changed, or when asked to.
      mkdirSync(join(dir, 'bin'));
      for (const f of ['tilebit.js', 'sources.js']) copyFileSync(join('bin', f), join(dir, 'bin', f));
      copyFileSync('package.json', join(dir, 'package.json'));
      for (const d of ['src', 'ir', 'dsl', 'passes', 'backends']) symlinkSync(resolve(d), join(dir, d));
      const tilebit = (args: string[], env: Record<string, string> = {}) => {
        const c = spawnSync(process.execPath, [join(dir, 'bin', 'tilebit.js'), ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, ...env } });
        expect(c.status, c.stderr).toBe(0);
        return c.stdout;
      };
      const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
      expect(tilebit(['version'])).toBe(`tilebit ${version} (compiled: dist/)\n`);
      expect(tilebit(['run', resolve('examples/vector_add.tile'), '--set', 'N=300', '--check'])).toMatch(/check out: agrees with the VM/);
      expect(tilebit(['version'], { TILEBIT_FROM_SOURCE: '1' })).toBe(`tilebit ${version} (from the TypeScript sources)\n`);
      writeFileSync(join(dir, 'dist', 'SOURCES'), '0'.repeat(64)); // built from other sources (edited since)
      expect(tilebit(['version'])).toBe(`tilebit ${version} (from the TypeScript sources)\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
