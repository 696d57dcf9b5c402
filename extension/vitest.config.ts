import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const client = fileURLToPath(new URL('../frontend/src/client', import.meta.url));

export default defineConfig({
  resolve: {
    // The SPA's generated client (tsconfig.json paths, for esbuild and tsc).
    alias: [
      { find: /^@fuze\/client\/client$/, replacement: `${client}/client/index.ts` },
      { find: /^@fuze\/client$/, replacement: `${client}/index.ts` },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
