// The text of tile.ohm. Node reads the file beside this module; the browser bundle of the playground
// replaces this module with the file's contents (scripts/playground.ts), so tile.ohm stays the one source.

import { readFileSync } from 'node:fs';

export const grammarSource = readFileSync(new URL('./tile.ohm', import.meta.url), 'utf8');
