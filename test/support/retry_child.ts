// Runs a TypeScript file in a child Node.js process and returns its `RESULT <json>` line. WebGPU on CPU
// Vulkan drivers crashes now and then on these machines (see the README): a child that dies without a
// result (a signal, an abort, a hang) is started again, up to `attempts` times; a child that exits with
// an error, or a result that is wrong, is never retried.
//
// On Linux each child runs on one CPU (`taskset`), a different one for each child in turn: SwiftShader
// then starts fewer threads, and on these machines its crashes (futex and mutex assertions inside its
// thread pool) become rare — measured on one kernel: 9 of 10 runs pinned, 1 of 10 unpinned.

import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The TypeScript loader for children (tsx, with binaryen loaded outside it: see src/register.mjs). */
export const REGISTER = fileURLToPath(new URL('../../src/register.mjs', import.meta.url));

const TASKSET = process.platform === 'linux' && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
let nextCpu = process.pid;

/** The command line of a child: on one CPU where `taskset` works. */
function command(args: readonly string[]): [string, string[]] {
  if (!TASKSET) return [process.execPath, [...args]];
  const cpu = nextCpu++ % availableParallelism();
  return ['taskset', ['-c', String(cpu), process.execPath, ...args]];
}

export function runChild<T>(file: string, args: readonly string[], attempts = 8, timeoutMs = 30_000, options: { cwd?: string; env?: Record<string, string> } = {}): T {
  const crashes: string[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const [cmd, argv] = command(['--import', REGISTER, file, ...args]);
    const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: timeoutMs, cwd: options.cwd, env: { ...process.env, ...options.env } });
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (line) {
      if (crashes.length) console.warn(`${file}: the child died ${crashes.length} time(s) before a result: ${crashes.join('; ')}`);
      return JSON.parse(line.slice(7)) as T;
    }
    const died = r.signal !== null || r.status === 134 || r.status === 139 || r.error !== undefined;
    const why = `${r.signal ?? `exit ${r.status}`}: ${r.stderr.split('\n').filter((l) => l && !/^ - |^ {4}at |Warning/.test(l)).slice(0, 8).join(' | ')}`;
    if (!died) throw new Error(`the child failed (${why})`);
    crashes.push(why);
  }
  throw new Error(`the child died ${attempts} times:\n${crashes.join('\n')}`);
}
