// A worker that runs blocks of a tilebit kernel from a shared memory: a `worker_threads` worker in
// Node.js, a module Web Worker in browsers. Plain JavaScript: it needs nothing but the compiled module,
// so it starts without a TypeScript loader or a bundler.
//
// Each job: { module, memory, argsAt, scratchAt, counterAt, grid }. Blocks are claimed one at a time
// with an atomic counter, so fast and slow workers balance. The reply is { code, block } (code 0: ok).

const inNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
const port = inNode ? (await import('node:worker_threads')).parentPort : null;
const reply = (m) => (port ? port.postMessage(m) : globalThis.postMessage(m));

const math = {
  exp: Math.exp,
  exp2: (x) => 2 ** x,
  log: Math.log,
  log2: Math.log2,
  rsqrt: (x) => 1 / Math.sqrt(x),
  fmod: (a, b) => a % b,
};

let cached = null;

function runJob(job) {
  if (!cached || cached.module !== job.module || cached.memory !== job.memory) {
    const instance = new WebAssembly.Instance(job.module, { env: { memory: job.memory, ...math } });
    cached = { module: job.module, memory: job.memory, block: instance.exports.block };
  }
  const counter = new Int32Array(job.memory.buffer, job.counterAt, 1);
  const [gx, gy, gz] = job.grid;
  const total = gx * gy * gz;
  for (;;) {
    const i = Atomics.add(counter, 0, 1);
    if (i >= total) break;
    const x = i % gx;
    const y = Math.floor(i / gx) % gy;
    const z = Math.floor(i / (gx * gy));
    const code = cached.block(x, y, z, job.argsAt, job.scratchAt);
    if (code !== 0) {
      Atomics.store(counter, 0, total); // the others stop claiming blocks
      reply({ code, block: [x, y, z] });
      return;
    }
  }
  reply({ code: 0, block: null });
}

if (port) port.on('message', runJob);
else globalThis.onmessage = (e) => runJob(e.data);
