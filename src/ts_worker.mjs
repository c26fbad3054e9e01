// Starts a worker thread that runs a TypeScript module of tilebit: registers the TypeScript loader in
// this thread, then imports the module named in workerData.module.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.module);
