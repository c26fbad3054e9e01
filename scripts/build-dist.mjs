// `npm run build` (and `prepare`, so installs from git and `npm pack` have it): compiles the library's
// TypeScript to JavaScript with declarations in dist/ (or the folder given), so that plain Node.js and
// bundlers import `tilebit` and `tilebit/testing` with no TypeScript loader. The layout mirrors the
// sources (dist/src, dist/backends, ...), and the files the code loads at run time beside itself are
// copied: the grammar, the wasm worker, the binaryen loader and the header that runs CUDA C on the CPU. dist/SOURCES fingerprints the sources it was
// made from, so that bin/tilebit.js runs it only while they are unchanged.
//
// Usage: node scripts/build-dist.mjs [OUT]

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sourcesHash } from '../bin/sources.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist'));
const tsc = join(root, 'node_modules', '.bin', 'tsc'); // typescript: a development dependency
rmSync(out, { recursive: true, force: true });
const hash = sourcesHash(pathToFileURL(`${root}/`)); // before compiling: the sources it compiles
const r = spawnSync(tsc, ['-p', join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
for (const f of ['dsl/tile.ohm', 'backends/wasm/worker.js', 'backends/wasm/load_binaryen.js', 'backends/wasm/load_binaryen.d.ts', 'backends/cuda/host/tilebit_host.h']) {
  mkdirSync(dirname(join(out, f)), { recursive: true });
  copyFileSync(join(root, f), join(out, f));
}
writeFileSync(join(out, 'SOURCES'), `${hash}\n`);
console.log(`tilebit: compiled to ${out}`);
