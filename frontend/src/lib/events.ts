/**
 * The live events stream (/api/events, server-sent events). EventSource cannot send headers,
 * and a token must not go in a URL: each connection is opened with a single-use ticket from
 * POST /api/events/ticket (sent with the access token, refreshed as any request is). The server
 * ends the stream with `session.ended` when its access token expires or its session is signed
 * out; a new ticket then reconnects at once, or finds the session over and signs out. Status
 * changes are written straight into the cached lists and details, so badges change without a
 * refetch; after a reconnection the lists are refetched, since events sent meanwhile are lost.
 */
import { type InfiniteData, type QueryClient, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, useSyncExternalStore } from 'react';

import { eventsCreateTicket } from '../client/sdk.gen';
import type { BookmarkDetail, BookmarkOut, BookmarkPage } from '../client/types.gen';
import { freshAccessToken } from './api';
import { useSession } from './auth';

export interface StatusEvent {
  id: string;
  status: BookmarkOut['status'];
  error_code: string | null;
  error_message: string | null;
  title: string | null;
}

/** A card picture made, or found missing (app/thumbnails/jobs.py). */
export interface ThumbnailEvent {
  id: string;
  thumbnail_status: BookmarkOut['thumbnail_status'];
  thumbnail_url: string | null;
}

export interface ImportProgressEvent {
  id: string;
  [key: string]: unknown;
}

type KeyHead = { _id?: string; path?: Record<string, string> };

// Items saved elsewhere (the extension, an import, another tab) that no loaded list shows yet:
// the library offers to show them rather than refetching every loaded page by itself.
let unseen = new Set<string>();
const unseenListeners = new Set<() => void>();
let unseenCount = 0;
const notifyUnseen = () => {
  unseenCount = unseen.size;
  unseenListeners.forEach((l) => l());
};

export function useUnseenItems(): number {
  return useSyncExternalStore(
    (l) => {
      unseenListeners.add(l);
      return () => unseenListeners.delete(l);
    },
    () => unseenCount,
  );
}

const known = new Set<string>();

/** An item this tab saved itself: its events never count as "new elsewhere". */
export function markSeen(id: string): void {
  known.add(id);
  if (unseen.delete(id)) notifyUnseen();
}

/** Items now on screen are not new any more. */
export function forgetUnseen(ids: Iterable<string>): void {
  let changed = false;
  for (const id of ids) changed = unseen.delete(id) || changed;
  if (changed) notifyUnseen();
}

export function clearUnseenItems(): void {
  unseen = new Set();
  notifyUnseen();
}

/** Write a status change into the cache; false when no cached list holds the item. */
export function applyStatusEvent(qc: QueryClient, ev: StatusEvent): boolean {
  let found = false;
  const patch = <T extends BookmarkOut>(b: T): T =>
    b.id !== ev.id
      ? b
      : {
          ...b,
          status: ev.status,
          error_code: ev.error_code,
          error_message: ev.error_message,
          title: ev.title ?? b.title,
        };
  qc.setQueriesData<InfiniteData<BookmarkPage>>(
    { predicate: (q) => (q.queryKey[0] as KeyHead)?._id === 'bookmarksListBookmarks' },
    (data) => {
      if (!data?.pages) return data;
      let changed = false;
      const pages = data.pages.map((page) => {
        if (!page.items.some((b) => b.id === ev.id)) return page;
        changed = true;
        found = true;
        return { ...page, items: page.items.map(patch) };
      });
      return changed ? { ...data, pages } : data;
    },
  );
  const detail = {
    predicate: (q: { queryKey: readonly unknown[] }) => {
      const head = q.queryKey[0] as KeyHead;
      return head?._id === 'bookmarksGetBookmark' && head.path?.bookmark_id === ev.id;
    },
  };
  qc.setQueriesData<BookmarkDetail>(detail, (b) => (b ? patch(b) : b));
  if (ev.status === 'ready' || ev.status === 'failed') {
    // The text, analysis and similar items arrive with the final status.
    void qc.invalidateQueries(detail);
    void qc.invalidateQueries({
      predicate: (q) => (q.queryKey[0] as KeyHead)?._id === 'searchSimilar',
    });
  }
  return found;
}

/** Write a card picture into the cached lists and details, so a card shows it at once. */
export function applyThumbnailEvent(qc: QueryClient, ev: ThumbnailEvent): void {
  const patch = <T extends BookmarkOut>(b: T): T =>
    b.id !== ev.id ? b : { ...b, thumbnail_status: ev.thumbnail_status, thumbnail_url: ev.thumbnail_url };
  qc.setQueriesData<InfiniteData<BookmarkPage>>(
    { predicate: (q) => (q.queryKey[0] as KeyHead)?._id === 'bookmarksListBookmarks' },
    (data) => {
      if (!data?.pages?.some((page) => page.items.some((b) => b.id === ev.id))) return data;
      return { ...data, pages: data.pages.map((page) => ({ ...page, items: page.items.map(patch) })) };
    },
  );
  qc.setQueriesData<BookmarkDetail>(
    {
      predicate: (q) => {
        const head = q.queryKey[0] as KeyHead;
        return head?._id === 'bookmarksGetBookmark' && head.path?.bookmark_id === ev.id;
      },
    },
    (b) => (b ? patch(b) : b),
  );
}

export type LiveState = 'off' | 'connecting' | 'live' | 'reconnecting';

/** Keep one events connection open while signed in; returns its state for an indicator. */
export function useLiveEvents(onImport?: (ev: ImportProgressEvent) => void): LiveState {
  const qc = useQueryClient();
  const session = useSession();
  const signedIn = Boolean(session);
  const [state, setState] = useState<LiveState>('off');

  useEffect(() => {
    if (!signedIn || typeof EventSource === 'undefined') return;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    let everOpened = false;
    let delay = 1000;

    const retry = () => {
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30_000);
    };

    const connect = async () => {
      setState(everOpened ? 'reconnecting' : 'connecting');
      let ticket: string | null = null;
      try {
        // The stream ends when the access token the ticket is made with expires: start fresh.
        await freshAccessToken(60);
        const { data } = await eventsCreateTicket({ throwOnError: true });
        ticket = data.ticket;
      } catch {
        ticket = null; // unreachable, or signed out (then this effect is torn down)
      }
      if (closed) return;
      if (!ticket) {
        retry();
        return;
      }
      source = new EventSource(`/api/events?ticket=${encodeURIComponent(ticket)}`);
      let openedAt = 0;
      // A stream that lived a while ended normally; one that ends at once again and again
      // (a clock far off the server's, a server in trouble) backs off.
      const lived = () => openedAt > 0 && Date.now() - openedAt > 10_000;
      source.onopen = () => {
        openedAt = Date.now();
        if (everOpened) void qc.invalidateQueries({ predicate: (q) => (q.queryKey[0] as KeyHead)?._id === 'bookmarksListBookmarks' });
        everOpened = true;
        setState('live');
      };
      source.addEventListener('bookmark.status', (e) => {
        const ev = JSON.parse((e as MessageEvent).data) as StatusEvent;
        if (!applyStatusEvent(qc, ev) && !known.has(ev.id) && !unseen.has(ev.id)) {
          unseen.add(ev.id);
          notifyUnseen();
        }
      });
      source.addEventListener('bookmark.thumbnail', (e) => {
        applyThumbnailEvent(qc, JSON.parse((e as MessageEvent).data) as ThumbnailEvent);
      });
      const onImportEvent = (e: Event) => {
        const data = JSON.parse((e as MessageEvent).data) as ImportProgressEvent;
        qc.setQueryData(['import', data.id], (old: object | undefined) => ({ ...old, ...data }));
        onImport?.(data);
      };
      for (const name of ['import.progress', 'import.status', 'import.done']) {
        source.addEventListener(name, onImportEvent);
      }
      source.addEventListener('session.ended', () => {
        // Token expired or session signed out: a new ticket tells which, without waiting.
        source?.close();
        source = null;
        if (closed) return;
        if (!lived()) return retry();
        delay = 1000;
        void connect();
      });
      source.onerror = () => {
        // The server restarted or went away (a ticket is single use: EventSource must not
        // retry with it): reconnect with a new ticket.
        source?.close();
        source = null;
        if (closed) return;
        if (lived()) delay = 1000;
        setState('reconnecting');
        retry();
      };
    };
    void connect();
    return () => {
      closed = true;
      clearTimeout(timer);
      source?.close();
      setState('off');
    };
  }, [signedIn, qc, onImport]);

  return signedIn ? state : 'off';
}
