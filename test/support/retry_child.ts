// Runs a TypeScript file in a child Node.js process and returns its `RESULT <json>` line. WebGPU on CPU
// Vulkan drivers crashes now and then on these machines (see the README): a child that dies without a
// result (a signal, an abort, a hang) is started again, up to `attempts` times; a child that exits with
// an error, or a result that is wrong, is never retried.

import { spawnSync } from 'node:child_process';

export function runChild<T>(file: string, args: readonly string[], attempts = 8, timeoutMs = 30_000, options: { cwd?: string; env?: Record<string, string> } = {}): T {
  const crashes: string[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { encoding: 'utf8', timeout: timeoutMs, cwd: options.cwd, env: { ...process.env, ...options.env } });
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
