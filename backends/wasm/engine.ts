// Engine settings for the wasm target under Node.js. Relaxed SIMD is behind a flag in Node 20, set
// process-wide when this module loads (worker threads share it). Kernels are compiled by the optimizing
// tier at once (compileKernel): V8 otherwise runs new code in its baseline tier (Liftoff) and tiers up
// only between calls, and a kernel's block function is called a few hundred times per run, each call
// long. Only the kernel's compilation turns Liftoff and lazy compilation off: binaryen, itself a
// WebAssembly module, keeps starting in Liftoff (with both off for the whole process, its first use
// took 1.5 s instead of 0.27 s on a 2-vCPU machine). In browsers nothing is set.

const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
const v8 = node ? await import('node:v8') : null;

v8?.setFlagsFromString('--experimental-wasm-relaxed-simd');

/** Flags the process was started with: those are left as they are. */
const given = new Set((globalThis as { process?: { execArgv?: string[] } }).process?.execArgv ?? []);

/**
 * Compiles a kernel's module with the optimizing compiler, every function at once (a single long call
 * never tiers up: one loop of 3e8 iterations took 1.24 s compiled lazily in Liftoff, 0.50 s this way).
 */
export function compileKernel(bytes: Uint8Array): WebAssembly.Module {
  if (!v8) return new WebAssembly.Module(bytes as BufferSource);
  v8.setFlagsFromString('--no-liftoff');
  v8.setFlagsFromString('--no-wasm-lazy-compilation');
  try {
    return new WebAssembly.Module(bytes as BufferSource);
  } finally {
    if (!given.has('--no-liftoff')) v8.setFlagsFromString('--liftoff');
    if (!given.has('--no-wasm-lazy-compilation')) v8.setFlagsFromString('--wasm-lazy-compilation');
  }
}
