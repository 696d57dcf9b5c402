import { useSyncExternalStore } from 'react';

import type { ApiError } from './api';

/** What the banner at the top says: the server is unreachable, or a limit was hit. */
export interface NetProblem {
  kind: 'unreachable' | 'rate_limited';
  message: string;
  until?: number;
}

let problem: NetProblem | null = null;
const listeners = new Set<() => void>();
const set = (p: NetProblem | null) => {
  if (p?.message === problem?.message && p?.kind === problem?.kind) return;
  problem = p;
  listeners.forEach((l) => l());
};

export function reportError(error: unknown): void {
  if (!(error instanceof Error) || error.name !== 'ApiError') return;
  const e = error as ApiError;
  if (e.status === 0) set({ kind: 'unreachable', message: e.message });
  else if (e.status === 429)
    set({ kind: 'rate_limited', message: e.message, until: Date.now() + (e.retryAfter ?? 10) * 1000 });
}

export function reportSuccess(): void {
  if (problem && (problem.kind === 'unreachable' || (problem.until ?? 0) < Date.now())) set(null);
}

export function clearProblem(): void {
  set(null);
}

export function useNetProblem(): NetProblem | null {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => problem,
  );
}

