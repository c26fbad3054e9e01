// A build worker: compiles the kernel instances it is sent and answers with the artifacts and manifest
// entries, or with the first failure.

import { parentPort, workerData } from 'node:worker_threads';
import { type Job, compileInstance } from './build.ts';

const { jobs } = workerData as { jobs: Job[] };
for (const job of jobs) {
  try {
    parentPort!.postMessage({ name: job.instance.name, ...compileInstance(job) });
  } catch (e) {
    parentPort!.postMessage({ name: job.instance.name, error: (e as Error).message });
  }
}
