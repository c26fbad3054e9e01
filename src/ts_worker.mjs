// Starts a worker thread that runs a TypeScript module of tilebit: registers the TypeScript loader in
// this thread (register.mjs), then imports the module named in workerData.module.
import { workerData } from 'node:worker_threads';

await import('./register.mjs');
await import(workerData.module);
