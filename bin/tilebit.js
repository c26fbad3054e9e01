#!/usr/bin/env node
// Runs the CLI compiled to dist/ (by `npm run build`, which `npm ci`, installs and `npm pack` run as
// `prepare`) when it was built from the sources as they are now; otherwise, in a checkout whose sources
// were edited since the last build or that has no build, from the TypeScript sources through tsx. Both
// are the same program; the compiled one starts faster. TILEBIT_FROM_SOURCE=1 forces the sources.
// `tilebit version` says which one ran.
import { readFileSync } from 'node:fs';
import { sourcesHash } from './sources.js';

const root = new URL('../', import.meta.url);

function useCompiled() {
  if (process.env.TILEBIT_FROM_SOURCE === '1') return false;
  let built;
  try {
    built = readFileSync(new URL('dist/SOURCES', root), 'utf8').trim();
  } catch {
    return false; // not built
  }
  return built === sourcesHash(root);
}

// `tilebit ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
let main;
if (useCompiled()) {
  ({ main } = await import(new URL('dist/src/cli/main.js', root).href));
} else {
  await import('../src/register.mjs');
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
