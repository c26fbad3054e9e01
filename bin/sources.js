// The fingerprint of the compiler's sources that the compiled build (dist/) was made from: written by
// scripts/build-dist.mjs as dist/SOURCES, compared by bin/tilebit.js to decide whether dist/ is current.
// A content hash, not modification times, as npm's installs give files arbitrary times (about 5 ms
// for the 86 files).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export const SOURCE_FOLDERS = ['ir', 'src', 'dsl', 'passes', 'backends'];

/** SHA-256 over every file under the source folders of the package at `root` (a file: URL ending in /), by path and content. */
export function sourcesHash(root) {
  const hash = createHash('sha256');
  const walk = (dir, path) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.isDirectory()) walk(new URL(`${e.name}/`, dir), `${path}${e.name}/`);
      else {
        hash.update(`${path}${e.name}\0`);
        hash.update(readFileSync(new URL(e.name, dir)));
        hash.update('\0');
      }
    }
  };
  for (const d of SOURCE_FOLDERS) walk(new URL(`${d}/`, root), `${d}/`);
  return hash.digest('hex');
}
