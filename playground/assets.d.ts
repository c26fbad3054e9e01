// Built by scripts/playground.ts at bundle time: the example kernels and the TextMate grammar, read
// from examples/*.tile and editors/tile.tmLanguage.json, so the page carries no second copy of them.
declare module 'virtual:tilebit-assets' {
  import type { Grammar } from './highlight.ts';
  /** Example name (file name without .tile) -> source. */
  export const examples: Readonly<Record<string, string>>;
  export const grammar: Grammar;
}
