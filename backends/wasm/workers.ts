// A pool of worker threads that split a grid's blocks over one shared WebAssembly memory.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Tensor } from '../../src/vm/memory.ts';
import { type WasmKernel, WasmRunError, fillMemory, newMemory, planMemory, trapMessage } from './runtime.ts';

let pool: Worker[] = [];

function workers(n: number): Worker[] {
  while (pool.length < n) pool.push(new Worker(new URL('./worker.js', import.meta.url)));
  return pool.slice(0, n);
}

/** Stops the pool's threads (a process may exit anyway: idle workers do not hold it). */
export async function closeWorkers(): Promise<void> {
  const old = pool;
  pool = [];
  await Promise.all(old.map((w) => w.terminate()));
}

export const defaultWorkers = (): number => Math.max(1, availableParallelism());

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
  const plan = planMemory(wk, tensors, scalars, count);
  const memory = newMemory(plan.bytes);
  fillMemory(memory, plan, tensors);
  const counterAt = plan.argsAt - 16; // planMemory leaves the 64 bytes below the arguments free
  const views = new Map([...plan.tensorAt].map(([name, at]) => [name, new Uint8Array(memory.buffer, at, tensors.get(name)!.bytes.length)]));
  const run = async (): Promise<void> => {
    new Int32Array(memory.buffer, counterAt, 1)[0] = 0;
    const replies = await Promise.all(workers(count).map((w, i) => new Promise<{ code: number; block: number[] | null }>((resolve, reject) => {
      w.ref();
      const done = (m: { code: number; block: number[] | null }): void => {
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
      w.postMessage({ module: wk.module, memory, argsAt: plan.argsAt, scratchAt: plan.scratchAt + i * plan.scratchBytes, counterAt, grid: plan.grid });
    })));
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
