/** The WebExtension API: Firefox's promise-based `browser`, else Chrome's `chrome` (MV3
 * methods return promises when called without a callback). */
export const ext: typeof chrome =
  (globalThis as unknown as { browser?: typeof chrome }).browser ?? globalThis.chrome;
