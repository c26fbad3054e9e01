// Engine settings for the wasm target under Node.js: relaxed SIMD (behind a flag in Node 20) and
// optimizing compilation from the start. V8 otherwise runs new code in its baseline tier until enough
// calls have been counted, and a kernel's block function is called only a few hundred times per run.
// The flags are process-wide and must be set before the first module is compiled; worker threads
// share them. In browsers this module does nothing.

const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;

if (node) {
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  v8.setFlagsFromString('--no-liftoff');
}

export const engineConfigured = true;
