// Lets Node.js run tilebit's TypeScript sources with no build step: registers tsx's loader. binaryen is
// loaded first, through Node's own loader: through tsx's hooks its 15 MB module took about 8 s on every
// start (`tilebit help`: 8.3 s before, 0.6 s after, on a 2-vCPU machine); load_binaryen.js says how it
// keeps V8 from re-optimizing binaryen in the background.
//
// Usage: node --import tilebit/src/register.mjs file.ts   (the CLI and the build's worker threads use it)

await import('../backends/wasm/load_binaryen.js');
const { register } = await import('tsx/esm/api');
register();
