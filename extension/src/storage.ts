/** What the extension keeps in `storage.local` (never `sync`: tokens stay on this device). */

/** The subset of chrome.storage.local the extension uses; unit tests pass an in-memory one. */
export interface KV {
  get(keys: string[]): Promise<Record<string, unknown>>;
  set(items: Record<string, unknown>): Promise<void>;
  remove(keys: string[]): Promise<void>;
}

export type Session =
  | {
      kind: 'password';
      username: string;
      accessToken: string;
      refreshToken: string;
      /** Epoch milliseconds when the access token expires. */
      expiresAt: number;
    }
  | { kind: 'token'; username: string; token: string };

/** One save that could not reach the server yet. */
export interface PendingSave {
  id: string;
  url: string;
  title?: string;
  notes?: string;
  tags?: string[];
  html?: string;
  /** The popup's "Archive" choice, kept until the save is delivered. */
  archived?: boolean;
  queuedAt: number;
  attempts: number;
  nextAttemptAt: number;
  lastError?: string;
}

/** A queued save the server refused for good (shown once in the popup). */
export interface FailedSave {
  url: string;
  message: string;
  at: number;
}

export const KEYS = {
  serverUrl: 'serverUrl',
  session: 'session',
  queue: 'queue',
  failed: 'failedSaves',
} as const;

export function memoryKV(initial: Record<string, unknown> = {}): KV & {
  data: Record<string, unknown>;
} {
  const data: Record<string, unknown> = structuredClone(initial);
  return {
    data,
    async get(keys) {
      const out: Record<string, unknown> = {};
      for (const k of keys) if (k in data) out[k] = structuredClone(data[k]);
      return out;
    },
    async set(items) {
      for (const [k, v] of Object.entries(items)) data[k] = structuredClone(v);
    },
    async remove(keys) {
      for (const k of keys) delete data[k];
    },
  };
}
