import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `tilebit` and `tilebit/testing` resolve to the TypeScript sources here, not to the compiled dist/.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'threads',
  },
});
