// binaryen, loaded so that V8 never re-optimizes binaryen's own code in the background.
//
// binaryen is itself a WebAssembly module. V8 starts it in its baseline compiler and, as its functions
// get hot, recompiles them with the optimizing compiler on background threads. Those jobs kept running
// after a kernel's compilation and took the cores from the kernel's first run: on a 2-vCPU machine the
// README's main job compiled in 240-290 ms and ran in 260-380 ms; with binaryen kept in the baseline
// tier, 115 ms and 140-180 ms (and a library of 7 kernels for 3 targets built in 2.4-2.6 s instead of
// 3.0-3.2 s). V8 reads the tiering budget when a module is instantiated, so the budget is raised only
// while binaryen loads, then set back to V8's default; a budget given on the command line is left alone.
// Kernels are not affected: they are compiled with the optimizing compiler at once (engine.ts).
// Outside Node.js this is plain binaryen.

const proc = /** @type {{ versions?: { node?: string }, execArgv?: string[] } | undefined} */ (/** @type {any} */ (globalThis).process);
const v8 = proc?.versions?.node ? await import('node:v8') : null;
const given = (proc?.execArgv ?? []).some((a) => a.startsWith('--wasm-tiering-budget'));
const hold = v8 !== null && !given;
if (hold) v8.setFlagsFromString('--wasm-tiering-budget=2147483647');
let binaryen;
try {
  binaryen = (await import('binaryen')).default;
} finally {
  if (hold) v8.setFlagsFromString('--wasm-tiering-budget=1800000');
}
export default binaryen;
