// A pool of workers that split a grid's blocks over one shared WebAssembly memory: `worker_threads`
// in Node.js, Web Workers in browsers (which need a cross-origin-isolated page for shared memory).

import type { Tensor } from '../../src/vm/memory.ts';
import { type WasmKernel, WasmRunError, fillMemory, newMemory, planMemory, trapMessage } from './runtime.ts';

interface Job {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly argsAt: number;
  readonly scratchAt: number;
  readonly counterAt: number;
  readonly grid: readonly number[];
}

interface Reply {
  readonly code: number;
  readonly block: number[] | null;
}

/** One worker, whatever the platform: runs a job and answers once. */
interface PoolWorker {
  run(job: Job): Promise<Reply>;
  terminate(): Promise<void>;
}

const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
const workerUrl = new URL('./worker.js', import.meta.url);

// Node's modules load only in Node, so that a browser bundle never asks for them.
const node = isNode
  ? { os: await import('node:os'), threads: await import('node:worker_threads') }
  : null;

function nodeWorker(threads: typeof import('node:worker_threads')): PoolWorker {
  const w = new threads.Worker(workerUrl);
  w.unref(); // idle workers do not hold the process
  return {
    run: (job) => new Promise((resolve, reject) => {
      w.ref();
      const done = (m: Reply): void => {
        w.off('error', fail);
        w.unref();
        resolve(m);
      };
      const fail = (e: Error): void => {
        w.off('message', done);
        w.unref();
        reject(e);
      };
      w.once('message', done);
      w.once('error', fail);
      w.postMessage(job);
    }),
    terminate: async () => {
      await w.terminate();
    },
  };
}

function webWorker(): PoolWorker {
  const w = new Worker(workerUrl, { type: 'module' });
  return {
    run: (job) => new Promise((resolve, reject) => {
      w.onmessage = (e: MessageEvent<Reply>) => resolve(e.data);
      w.onerror = (e: ErrorEvent) => reject(new WasmRunError(`worker failed: ${e.message}`));
      w.postMessage(job);
    }),
    terminate: async () => w.terminate(),
  };
}

let pool: PoolWorker[] = [];

function workers(n: number): PoolWorker[] {
  while (pool.length < n) pool.push(node ? nodeWorker(node.threads) : webWorker());
  return pool.slice(0, n);
}

/** Stops the pool's workers (a Node process may exit anyway: idle workers do not hold it). */
export async function closeWorkers(): Promise<void> {
  const old = pool;
  pool = [];
  await Promise.all(old.map((w) => w.terminate()));
}

/** One worker per core. */
export const defaultWorkers = (): number =>
  Math.max(1, node ? node.os.availableParallelism() : ((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1));

/**
 * Whether workers can share a memory here: always in Node; in a browser only on a cross-origin-isolated
 * page (served with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
 * require-corp`), where SharedArrayBuffer exists.
 */
export const workersAvailable = (): boolean => node !== null || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;

/**
 * A launch bound to one memory: the tensors sit in it at fixed places, `views` are typed-array windows
 * onto them (write inputs there, read outputs there), and `run()` runs the grid again on the pool.
 */
export interface BoundLaunch {
  readonly memory: WebAssembly.Memory;
  readonly views: ReadonlyMap<string, Uint8Array>;
  run(): Promise<void>;
}

export function bindLaunch(wk: WasmKernel, tensors: ReadonlyMap<string, Tensor>, scalars: ReadonlyMap<string, number>, count = defaultWorkers()): BoundLaunch {
  if (!workersAvailable()) throw new WasmRunError('this page is not cross-origin isolated, so workers cannot share memory: serve it with COOP/COEP headers, or run on the calling thread');
  const plan = planMemory(wk, tensors, scalars, count);
  const memory = newMemory(plan.bytes);
  fillMemory(memory, plan, tensors);
  const counterAt = plan.argsAt - 16; // planMemory leaves the 64 bytes below the arguments free
  const views = new Map([...plan.tensorAt].map(([name, at]) => [name, new Uint8Array(memory.buffer, at, tensors.get(name)!.bytes.length)]));
  const run = async (): Promise<void> => {
    new Int32Array(memory.buffer, counterAt, 1)[0] = 0;
    const replies = await Promise.all(workers(count).map((w, i) =>
      w.run({ module: wk.module, memory, argsAt: plan.argsAt, scratchAt: plan.scratchAt + i * plan.scratchBytes, counterAt, grid: plan.grid })));
    const failed = replies.find((r) => r.code !== 0);
    if (failed) throw new WasmRunError(trapMessage(wk, failed.code, failed.block!));
  };
  return { memory, views, run };
}

/** Runs every block on `count` workers; outputs are written back into `tensors`. */
export async function runWasmOnWorkers(
  wk: WasmKernel, tensors: Map<string, Tensor>, scalars: ReadonlyMap<string, number>, outputs: Iterable<string>, count = defaultWorkers(),
): Promise<void> {
  const launch = bindLaunch(wk, tensors, scalars, count);
  await launch.run();
  for (const name of outputs) tensors.get(name)!.bytes.set(launch.views.get(name)!);
}
