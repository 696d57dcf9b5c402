import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const client = fileURLToPath(new URL('../frontend/src/client', import.meta.url));

export default defineConfig({
  resolve: {
    // The SPA's generated client (tsconfig.json paths, for esbuild and tsc).
    alias: [
      // The shared e2e harness (frontend/e2e/support) imports it; ours serves both, so the
      // extension's tests do not need the web app's node_modules.
      { find: /^playwright-core$/, replacement: fileURLToPath(import.meta.resolve('playwright-core')) },
      { find: /^@fuze\/client\/client$/, replacement: `${client}/client/index.ts` },
      { find: /^@fuze\/client$/, replacement: `${client}/index.ts` },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
