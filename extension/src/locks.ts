/** A named lock shared by every context of the extension (service worker, popup, options):
 * the Web Locks API where there is one, else a promise chain within this context. */
const chains = new Map<string, Promise<unknown>>();

interface LockManagerLike {
  request<T>(name: string, cb: () => Promise<T>): Promise<T>;
}

export function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks;
  if (locks?.request) return locks.request(name, fn);
  const previous = chains.get(name) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  chains.set(
    name,
    run.catch(() => undefined),
  );
  return run;
}
