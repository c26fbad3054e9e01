// `npm run playground`: bundles the compiler and the page with esbuild into playground/dist/, then serves
// playground/ on http://localhost (cross-origin isolated, so wasm workers can share memory).
//
//   npx tsx scripts/playground.ts [--port 8080] [--build-only]

import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const PLAYGROUND_DIR = join(root, 'playground');

/** The example kernels and the TextMate grammar as one module, and tile.ohm inlined into the parser. */
const assets: esbuild.Plugin = {
  name: 'tilebit-assets',
  setup(build) {
    build.onResolve({ filter: /^virtual:tilebit-assets$/ }, () => ({ path: 'assets', namespace: 'tilebit' }));
    build.onLoad({ filter: /.*/, namespace: 'tilebit' }, () => {
      const dir = join(root, 'examples');
      const examples = Object.fromEntries(readdirSync(dir).filter((f) => f.endsWith('.tile')).sort().map((f) => [f.replace(/\.tile$/, ''), readFileSync(join(dir, f), 'utf8')]));
      const grammar = readFileSync(join(root, 'editors/tile.tmLanguage.json'), 'utf8');
      return { contents: `export const examples = ${JSON.stringify(examples)};\nexport const grammar = ${grammar};\n`, loader: 'js', watchFiles: [join(root, 'editors/tile.tmLanguage.json')] };
    });
    build.onLoad({ filter: /[\\/]dsl[\\/]grammar_source\.ts$/ }, () => ({
      contents: `export const grammarSource = ${JSON.stringify(readFileSync(join(root, 'dsl/tile.ohm'), 'utf8'))};\n`,
      loader: 'ts',
    }));
  },
};

/** Writes playground/dist/: main.js (and its chunks) and worker.js, the wasm runtime's Web Worker. */
export async function buildPlayground(): Promise<void> {
  const out = join(PLAYGROUND_DIR, 'dist');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: [join(PLAYGROUND_DIR, 'main.ts')],
    outdir: out,
    bundle: true,
    splitting: true, // Node-only modules (Dawn's adapter) stay in chunks the page never loads
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: ['node:*', 'webgpu'],
    plugins: [assets],
    logLevel: 'warning',
  });
  // The wasm runtime starts its workers from new URL('./worker.js', import.meta.url): next to the chunks.
  copyFileSync(join(root, 'backends/wasm/worker.js'), join(out, 'worker.js'));
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml', '.wasm': 'application/wasm',
};

/** Serves playground/ on localhost; `port` 0 picks a free one. Resolves once listening. */
export function servePlayground(port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = resolve(PLAYGROUND_DIR, `.${path.endsWith('/') ? `${path}index.html` : path}`);
    // Cross-origin isolation: SharedArrayBuffer, hence wasm memory shared with Web Workers.
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cache-Control', 'no-store');
    if (!(file === PLAYGROUND_DIR || file.startsWith(PLAYGROUND_DIR + sep)) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, 'localhost', () => {
      const address = server.address();
      ok({ server, url: `http://localhost:${typeof address === 'object' && address ? address.port : port}/` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const portAt = args.indexOf('--port');
  const port = portAt >= 0 ? Number(args[portAt + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('usage: tsx scripts/playground.ts [--port N] [--build-only]');
    process.exit(2);
  }
  const started = performance.now();
  await buildPlayground();
  console.log(`playground: built playground/dist in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (!args.includes('--build-only')) {
    try {
      const { url } = await servePlayground(port);
      console.log(`playground: serving ${url} (Ctrl-C stops)`);
    } catch (e) {
      console.error(`playground: cannot listen on port ${port}: ${(e as Error).message} (choose another with --port N)`);
      process.exit(1);
    }
  }
}
