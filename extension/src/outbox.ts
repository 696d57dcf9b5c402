/**
 * Saves that survive an unreachable server: a save that cannot be delivered now is kept in
 * storage and delivered later, in order, by `flush()` (run by an alarm, when the service
 * worker starts, when the browser comes back online, and after any save that got through).
 * Delivering twice is harmless: the server answers a second save of one address with the
 * bookmark it already has.
 */
import type { BookmarkOut } from '@fuze/client';

import { ApiError, type Fuze, type SaveInput, SignedOut, Unreachable } from './api';
import { withLock } from './locks';
import { type FailedSave, KEYS, type KV, type PendingSave } from './storage';

export type SaveResult =
  | { kind: 'saved'; bookmark: BookmarkOut; created: boolean }
  | { kind: 'queued'; pending: number; reason: string };

export interface FlushResult {
  delivered: number;
  remaining: number;
  failed: number;
}

/** chrome.storage.local holds 10 MB; the queue keeps its captured pages under this. */
export const QUEUE_BUDGET_BYTES = 8_000_000;
/** Failed deliveries kept for the popup to show. */
const MAX_FAILED = 20;

/** After `attempts` failed retries: 1 minute, doubling, at most 15 minutes. (A fresh entry is
 * due at once: the next alarm, once a minute, tries it.) */
export function backoffMs(attempts: number): number {
  return Math.min(60_000 * 2 ** Math.max(0, attempts - 1), 15 * 60_000);
}

function sizeOf(items: PendingSave[]): number {
  return new TextEncoder().encode(JSON.stringify(items)).length;
}

export interface OutboxDeps {
  fuze: Fuze;
  storage: KV;
  now?: () => number;
  newId?: () => string;
}

export class Outbox {
  private readonly fuze: Fuze;
  private readonly storage: KV;
  private readonly now: () => number;
  private readonly newId: () => string;

  constructor(deps: OutboxDeps) {
    this.fuze = deps.fuze;
    this.storage = deps.storage;
    this.now = deps.now ?? Date.now;
    this.newId = deps.newId ?? (() => crypto.randomUUID());
  }

  async pending(): Promise<PendingSave[]> {
    const got = await this.storage.get([KEYS.queue]);
    return (got[KEYS.queue] as PendingSave[] | undefined) ?? [];
  }

  /** Read-modify-write of the queue, one at a time across the extension. */
  private edit<T>(change: (queue: PendingSave[]) => T): Promise<T> {
    return withLock('fuze-queue', async () => {
      const queue = await this.pending();
      const out = change(queue);
      if (queue.length) await this.storage.set({ [KEYS.queue]: queue });
      else await this.storage.remove([KEYS.queue]);
      return out;
    });
  }

  /** Save now if the server answers; else queue it. A refusal (4xx) is thrown to the caller. */
  async save(input: SaveInput): Promise<SaveResult> {
    try {
      const { bookmark, created } = await this.fuze.save(input);
      return { kind: 'saved', bookmark, created };
    } catch (err) {
      if (err instanceof Unreachable || (err instanceof SignedOut && (await this.fuze.serverUrl()))) {
        const pending = await this.enqueue(input, err.message);
        return { kind: 'queued', pending, reason: err.message };
      }
      throw err;
    }
  }

  /** Queue a save (a second one of the same address replaces the first); the queue length. */
  async enqueue(input: SaveInput, reason: string): Promise<number> {
    return this.edit((queue) => {
      const previous = queue.findIndex((p) => p.url === input.url);
      const item: PendingSave = {
        id: this.newId(),
        ...input,
        queuedAt: this.now(),
        attempts: 0,
        nextAttemptAt: this.now(),
        lastError: reason,
      };
      if (previous >= 0) {
        const old = queue[previous];
        item.tags = [...new Set([...(old.tags ?? []), ...(input.tags ?? [])])];
        item.notes = input.notes ?? old.notes;
        item.archived = input.archived ?? old.archived;
        item.queuedAt = old.queuedAt;
        queue.splice(previous, 1);
      }
      queue.push(item);
      if (item.html && sizeOf(queue) > QUEUE_BUDGET_BYTES) {
        // Too big to keep here: the server will fetch the page itself when it gets the save.
        delete item.html;
      }
      return queue.length;
    });
  }

  /**
   * Deliver what is due (everything with `force`), oldest first. The first unreachable answer
   * stops the round: the server is down, and one probe per round is enough.
   */
  async flush({ force = false } = {}): Promise<FlushResult> {
    return withLock('fuze-flush', async () => {
      let delivered = 0;
      let failed = 0;
      for (const item of await this.pending()) {
        if (!force && item.nextAttemptAt > this.now()) continue;
        const { url, title, notes, tags, html, archived } = item;
        try {
          await this.fuze.save({ url, title, notes, tags, html, archived });
          delivered += 1;
          await this.edit((queue) => {
            const at = queue.findIndex((p) => p.id === item.id);
            if (at >= 0) queue.splice(at, 1);
          });
        } catch (err) {
          if (err instanceof Unreachable || err instanceof SignedOut) {
            await this.edit((queue) => {
              const entry = queue.find((p) => p.id === item.id);
              if (entry) {
                entry.attempts += 1;
                entry.nextAttemptAt = this.now() + backoffMs(entry.attempts);
                entry.lastError = err.message;
              }
            });
            break;
          }
          failed += 1;
          const message = err instanceof ApiError ? err.message : String(err);
          await this.edit((queue) => {
            const at = queue.findIndex((p) => p.id === item.id);
            if (at >= 0) queue.splice(at, 1);
          });
          await this.recordFailure({ url, message, at: this.now() });
        }
      }
      return { delivered, remaining: (await this.pending()).length, failed };
    });
  }

  private recordFailure(failure: FailedSave): Promise<void> {
    return withLock('fuze-failed', async () => {
      const got = await this.storage.get([KEYS.failed]);
      const list = ((got[KEYS.failed] as FailedSave[] | undefined) ?? []).concat(failure);
      await this.storage.set({ [KEYS.failed]: list.slice(-MAX_FAILED) });
    });
  }

  /** Queued saves the server refused since the last call (the popup shows them once). */
  takeFailures(): Promise<FailedSave[]> {
    return withLock('fuze-failed', async () => {
      const got = await this.storage.get([KEYS.failed]);
      await this.storage.remove([KEYS.failed]);
      return (got[KEYS.failed] as FailedSave[] | undefined) ?? [];
    });
  }
}
