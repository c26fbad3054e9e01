import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `tilebit` and `tilebit/testing` resolve to the TypeScript sources here, not to the compiled dist/.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'threads',
    // Two files at a time even on two CPUs (Vitest's default there is one): the slow files mostly wait
    // on child processes (WebGPU cases on one pinned CPU each, nvcc and g++ builds, large-tensor runs),
    // so a second file fills the other CPU instead of leaving it idle.
    maxWorkers: 2,
  },
});
