import { defineConfig } from 'vitest/config';

import unit from './vitest.config.ts';

// One real Fuze and one browser for the whole file; nothing runs in parallel.
export default defineConfig({
  resolve: unit.resolve,
  test: {
    include: ['e2e/**/*.e2e.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
